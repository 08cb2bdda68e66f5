//! The Doorstep app's Tauri shell. Each command is one call into `doorstep-app`; nothing here
//! decides anything. The data directory is `$DOORSTEP_DATA` or the platform's app data
//! directory; a device that holds a hub serves it on `$DOORSTEP_HUB_LISTEN` (default
//! 0.0.0.0:7300, the ward LAN); `DOORSTEP_DEMO=N` builds a demo ward of N households on first
//! start.

#[cfg(test)]
mod commands;

use doorstep_app::*;
use doorstep_domain::{Id, WalkRow};
use doorstep_sync::api::{DeviceInfo, InviteRequest};
use doorstep_sync::SyncReport;
use tauri::{Manager, Runtime, State};

type Res<T> = Result<T, AppError>;

#[tauri::command]
async fn overview(app: State<'_, App>) -> Res<Overview> {
    app.overview().await
}

#[tauri::command]
async fn join(app: State<'_, App>, hub_url: String, code: String) -> Res<Overview> {
    app.join(&hub_url, &code).await
}

#[tauri::command]
async fn try_demo(app: State<'_, App>) -> Res<Overview> {
    app.try_demo(demo_households(), &hub_listen()).await
}

#[tauri::command]
async fn status(app: State<'_, App>) -> Res<SyncStatus> {
    app.status().await
}

#[tauri::command]
async fn sync(app: State<'_, App>) -> Res<SyncReport> {
    app.sync().await
}

#[tauri::command]
async fn walk_list(app: State<'_, App>) -> Res<Vec<WalkRow>> {
    app.walk_list().await
}

#[tauri::command]
async fn household_card(app: State<'_, App>, id: Id) -> Res<HouseholdCard> {
    app.household_card(id).await
}

#[tauri::command]
async fn record_visit(app: State<'_, App>, input: VisitInput) -> Res<doorstep_domain::Visit> {
    app.record_visit(input).await
}

#[tauri::command]
async fn save_household(
    app: State<'_, App>,
    input: HouseholdInput,
) -> Res<doorstep_domain::Household> {
    app.save_household(input).await
}

#[tauri::command]
async fn open_session(app: State<'_, App>, point_id: Id) -> Res<Session> {
    app.open_session(point_id).await
}

#[tauri::command]
async fn session(app: State<'_, App>) -> Res<Option<Session>> {
    app.session().await
}

#[tauri::command]
async fn close_session(app: State<'_, App>) -> Res<()> {
    app.close_session().await
}

#[tauri::command]
async fn record_walkin(app: State<'_, App>, input: WalkInInput) -> Res<Option<Session>> {
    app.record_walkin(input).await
}

#[tauri::command]
async fn dashboard(app: State<'_, App>) -> Res<Dashboard> {
    app.dashboard(None).await
}

#[tauri::command]
async fn set_targets(app: State<'_, App>, targets: Targets) -> Res<Targets> {
    app.set_targets(targets).await
}

#[tauri::command]
async fn invite(app: State<'_, App>, request: InviteRequest) -> Res<InviteView> {
    app.invite(request).await
}

#[tauri::command]
async fn devices(app: State<'_, App>) -> Res<Vec<DeviceInfo>> {
    app.devices().await
}

#[tauri::command]
async fn revoke(app: State<'_, App>, device: Id) -> Res<Vec<DeviceInfo>> {
    app.revoke(device).await
}

#[tauri::command]
async fn export_report(app: State<'_, App>, format: ExportFormat) -> Res<String> {
    let path = app.export(format, &app.export_path(format)).await?;
    Ok(path.display().to_string())
}

fn hub_listen() -> String {
    std::env::var("DOORSTEP_HUB_LISTEN").unwrap_or_else(|_| "0.0.0.0:7300".into())
}

fn demo_households() -> u32 {
    std::env::var("DOORSTEP_DEMO")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(5000)
}

/// Builds the app on any runtime (the mock runtime in tests, Wry in the real window).
pub fn build<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .setup(|handle| {
            let dir = match std::env::var_os("DOORSTEP_DATA") {
                Some(dir) => dir.into(),
                None => handle.path().app_data_dir()?,
            };
            let app = App::open(&dir)?;
            let auto_demo = std::env::var("DOORSTEP_DEMO").is_ok();
            tauri::async_runtime::block_on(async {
                if app.has_hub() {
                    if let Err(e) = app.host_hub(&hub_listen()).await {
                        tracing::warn!(error = %e, "cannot serve the ward hub on the LAN; serving on loopback");
                        app.host_hub("127.0.0.1:0").await?;
                    }
                } else if auto_demo && !app.overview().await?.has_ward {
                    app.try_demo(demo_households(), &hub_listen()).await?;
                }
                Ok::<_, AppError>(())
            })?;
            handle.manage(app);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            overview,
            join,
            try_demo,
            status,
            sync,
            walk_list,
            household_card,
            record_visit,
            save_household,
            open_session,
            session,
            close_session,
            record_walkin,
            dashboard,
            set_targets,
            invite,
            devices,
            revoke,
            export_report
        ])
}

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    build(tauri::Builder::default())
        .run(tauri::generate_context!())
        .expect("error while running the Doorstep app");
}

#[cfg(test)]
mod tests {
    /// The main window may call exactly the app's commands: one permission each, no more.
    #[test]
    fn the_capability_allows_exactly_the_commands() {
        let text = include_str!("../capabilities/default.json");
        let capability: serde_json::Value = serde_json::from_str(text).expect("capability JSON");
        let mut granted: Vec<String> = capability["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .map(|p| p.as_str().unwrap_or_default().to_string())
            .collect();
        let mut expected: Vec<String> = super::commands::COMMANDS
            .iter()
            .map(|c| format!("allow-{}", c.replace('_', "-")))
            .collect();
        granted.sort();
        expected.sort();
        assert_eq!(granted, expected);
    }
}
