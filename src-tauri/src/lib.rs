//! The Doorstep app's Tauri shell. Each command is one call into `doorstep-app`, generated from
//! the app's one list of commands (`doorstep_app::for_each_command!`); nothing here decides
//! anything. The data directory is `$DOORSTEP_DATA` or the platform's app data directory; a
//! device that holds a hub serves it on `$DOORSTEP_HUB_LISTEN` (default 0.0.0.0:7300, the ward
//! LAN); `DOORSTEP_DEMO=N` builds a demo ward of N households at the first unlock.

use doorstep_app::command_types::*;
use doorstep_app::{App, AppError, Hosting};
use tauri::{Manager, Runtime, State};

/// One Tauri command per entry of the list, each a call of the same name on `App` whose
/// failure is logged (code and message) before the UI receives `{code, message}`.
macro_rules! tauri_commands {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(
            #[tauri::command]
            async fn $name(app: State<'_, App>, $($arg: $ty),*) -> Result<$ret, AppError> {
                let result = app.$name($($arg),*).await;
                if let Err(e) = &result {
                    tracing::warn!(command = stringify!($name), code = %e.code(), error = %e, "command failed");
                }
                result
            }
        )*

        fn invoke_handler<R: Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($name),*]
        }
    };
}

doorstep_app::for_each_command!(tauri_commands);

/// Where a hub this device holds is served and how large a demo ward is, from the environment.
fn hosting() -> Hosting {
    let mut hosting = Hosting::default();
    if let Ok(listen) = std::env::var("DOORSTEP_HUB_LISTEN") {
        hosting.listen = listen;
    }
    if let Some(n) = std::env::var("DOORSTEP_DEMO")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
    {
        hosting.demo_households = n;
    }
    hosting.demo_on_first_run = std::env::var("DOORSTEP_DEMO").is_ok();
    hosting
}

/// Builds the app on any runtime (the mock runtime in tests, Wry in the real window).
pub fn build<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .setup(|handle| {
            let dir = match std::env::var_os("DOORSTEP_DATA") {
                Some(dir) => dir.into(),
                None => handle.path().app_data_dir()?,
            };
            // Opened locked: the UI's lock screen unlocks it (and then the hub it holds is
            // served, or a first run's demo ward built).
            // The PIN is bound to the OS keystore where one answers (DOORSTEP_KEYSTORE=none:
            // never).
            let keystore = match std::env::var("DOORSTEP_KEYSTORE").as_deref() {
                Ok("none") => None,
                _ => doorstep_app::keystore::system_keystore(std::time::Duration::from_secs(3)),
            };
            handle.manage(App::open(&dir, hosting())?.with_keystore(keystore));
            Ok(())
        })
        .invoke_handler(invoke_handler())
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
    macro_rules! command_names {
        ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
            [$(stringify!($name)),*]
        };
    }

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
        let mut expected: Vec<String> = doorstep_app::for_each_command!(command_names)
            .iter()
            .map(|c| format!("allow-{}", c.replace('_', "-")))
            .collect();
        granted.sort();
        expected.sort();
        assert_eq!(granted, expected);
    }
}
