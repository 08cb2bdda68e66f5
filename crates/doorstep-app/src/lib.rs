//! What the Doorstep app does, without a window: the one façade the Tauri shell's commands
//! call (each command is a one-line call here), so that everything the app does is testable
//! without a WebView and the shell stays thin.
//!
//! The app holds one device store, and optionally hosts the ward hub itself (the coordinator's
//! laptop on the ward LAN, or the demo ward), served in the background on the same runtime.

mod export;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use doorstep_domain::demo::{generate, DemoSpec};
use doorstep_domain::report::Report;
use doorstep_domain::*;
use doorstep_hub::Hub;
use doorstep_store::{DeviceIdentity, Store, StoreError};
pub use doorstep_sync::api::Named;
use doorstep_sync::api::{DeviceInfo, InviteRequest, InviteResponse};
use doorstep_sync::{HubClient, SyncError, SyncReport};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::Mutex;

pub use export::ExportFormat;

/// Why an app action failed, as the person holding the device should read it.
#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Hub(#[from] doorstep_hub::HubError),
    #[error("{0}")]
    Other(String),
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Who this device is and what it holds: decides the home screen.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub has_ward: bool,
    pub ward: Option<String>,
    /// `None` before joining a hub (a device with a local ward acts as coordinator).
    pub role: Option<Role>,
    pub device_name: Option<String>,
    pub groups: Vec<Named>,
    pub points: Vec<Named>,
    /// The groups and points this device works in (all of them for a coordinator).
    pub my_groups: Vec<Id>,
    pub my_points: Vec<Id>,
    pub hub_url: Option<String>,
    /// The address this device serves the ward hub on, when it hosts it.
    pub hosting: Option<String>,
}

/// The sync bar: always visible.
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub joined: bool,
    pub outbox: u64,
    pub last_sync: Option<DateTime<Utc>>,
    pub hub_url: Option<String>,
}

/// A household with its group's name and its visits, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct HouseholdCard {
    pub household: Household,
    pub group: String,
    pub visits: Vec<Visit>,
}

/// A visit as the visit form sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct VisitInput {
    pub household_id: Id,
    pub outcome: Outcome,
    #[serde(default)]
    pub assists: Vec<Assist>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub follow_up: Option<FollowUp>,
}

/// A household as the household form sends it (no id: a new household).
#[derive(Debug, Clone, Deserialize)]
pub struct HouseholdInput {
    pub id: Option<Id>,
    pub group_id: Id,
    #[serde(flatten)]
    pub household: HouseholdDraft,
}

/// A walk-in as the literacy-point screen sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct WalkInInput {
    pub point_id: Id,
    pub service: Service,
    pub result: AssistResult,
    pub age_band: Option<AgeBand>,
    #[serde(default)]
    pub priority: PriorityFlags,
}

/// An open literacy-point session and its running counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    pub point_id: Id,
    pub started_at: DateTime<Utc>,
    pub session_count: u64,
    pub day_count: u64,
}

/// Campaign targets the coordinator sets, in percent of households.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Targets {
    pub online_percent: f64,
    pub vneid_activated_percent: f64,
    pub visited_percent: f64,
}

impl Default for Targets {
    fn default() -> Self {
        // Kien Hung ward's goal: over 80 % of households online.
        Targets {
            online_percent: 80.0,
            vneid_activated_percent: 80.0,
            visited_percent: 100.0,
        }
    }
}

/// A group ranked by how much it needs a literacy point.
#[derive(Debug, Clone, Serialize)]
pub struct PointNeed {
    pub group: String,
    pub households: u64,
    pub unvisited: u64,
    pub priority_unvisited: u64,
    pub without_internet: u64,
    pub score: f64,
}

/// The coordinator's dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub report: Report,
    pub targets: Targets,
    pub progress: Targets,
    pub needs_point: Vec<PointNeed>,
}

/// An invite with what to show: the code, a join link and its QR code.
#[derive(Debug, Clone, Serialize)]
pub struct InviteView {
    pub invite: InviteResponse,
    pub link: String,
    pub qr_svg: String,
}

/// A hub this app serves in the background.
struct Hosted {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

/// The app: a device store and, optionally, the ward hub it hosts.
pub struct App {
    data_dir: PathBuf,
    store: Mutex<Store>,
    hosted: Mutex<Option<Hosted>>,
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

impl App {
    /// Opens (creating) the app's data in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<App> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| AppError::Other(format!("cannot create {}: {e}", data_dir.display())))?;
        let store = Store::open(&data_dir.join("device.sqlite"))?;
        Ok(App {
            data_dir: data_dir.to_path_buf(),
            store: Mutex::new(store),
            hosted: Mutex::new(None),
        })
    }

    fn hub_dir(&self) -> PathBuf {
        self.data_dir.join("hub")
    }

    /// Whether this device holds a hub of its own (it created the demo ward, or hosts one).
    pub fn has_hub(&self) -> bool {
        self.hub_dir().join("hub.sqlite").exists()
    }

    /// Serves the hub this device holds on `listen` (e.g. 0.0.0.0:7300 for the ward LAN).
    pub async fn host_hub(&self, listen: &str) -> Result<String> {
        let mut hosted = self.hosted.lock().await;
        if let Some(h) = hosted.as_ref() {
            return Ok(h.url.clone());
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| AppError::Other(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| AppError::Other(e.to_string()))?;
        let url = format!("http://{addr}");
        let dir = self.hub_dir();
        Hub::open(&dir)?;
        let task = tokio::spawn(async move {
            if let Err(e) = doorstep_hub::serve(&dir, listener, |_| {}).await {
                tracing::error!(error = %e, "the hosted hub stopped");
            }
        });
        *hosted = Some(Hosted {
            url: url.clone(),
            task,
        });
        Ok(url)
    }

    /// Stops serving the hosted hub (its data stays).
    pub async fn stop_hub(&self) {
        if let Some(h) = self.hosted.lock().await.take() {
            h.task.abort();
        }
    }

    pub async fn overview(&self) -> Result<Overview> {
        let store = self.store.lock().await;
        let ward = store.ward_name()?;
        let identity = store.identity()?;
        let groups: Vec<Named> = store
            .groups()?
            .into_iter()
            .map(|g| Named {
                id: g.id,
                name: g.name,
            })
            .collect();
        let points: Vec<Named> = store
            .points()?
            .into_iter()
            .map(|p| Named {
                id: p.id,
                name: p.name,
            })
            .collect();
        let (my_groups, my_points) = match &identity {
            Some(i) if i.role != Role::Coordinator => (i.groups.clone(), i.points.clone()),
            _ => (
                groups.iter().map(|g| g.id).collect(),
                points.iter().map(|p| p.id).collect(),
            ),
        };
        Ok(Overview {
            has_ward: ward.is_some(),
            ward,
            role: identity.as_ref().map(|i| i.role),
            device_name: identity.as_ref().map(|i| i.name.clone()),
            groups,
            points,
            my_groups,
            my_points,
            hub_url: identity.map(|i| i.hub_url),
            hosting: self.hosted.lock().await.as_ref().map(|h| h.url.clone()),
        })
    }

    /// First run: join a ward's hub with an invite code (typed, or a pasted join link).
    pub async fn join(&self, hub_url: &str, code: &str) -> Result<Overview> {
        let (hub_url, code) = match parse_join_link(code) {
            Some((hub, code)) => (hub, code),
            None => (hub_url.trim().to_string(), code.trim().to_string()),
        };
        {
            let mut store = self.store.lock().await;
            doorstep_sync::join(&mut store, &hub_url, &code).await?;
            doorstep_sync::sync(&mut store, None).await?;
        }
        self.overview().await
    }

    /// First run: a demo ward of `households`, hosted by this device's own hub, which this
    /// device joins as its coordinator.
    pub async fn try_demo(&self, households: u32, listen: &str) -> Result<Overview> {
        if self.store.lock().await.ward_id()?.is_some() {
            return Err(AppError::Other("this device already holds a ward".into()));
        }
        if !self.has_hub() {
            let demo = generate(&DemoSpec::new(households, 1, now().date_naive()));
            let seed_path = self.data_dir.join("demo-seed.sqlite");
            {
                let mut seed = Store::open(&seed_path)?;
                seed.insert_demo(&demo, |_| {})?;
                Hub::import(&self.hub_dir(), &demo.ward, &seed.export_documents()?)?;
            }
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", seed_path.display()));
            }
        }
        let url = self.host_hub(listen).await?;
        let invite = Hub::open(&self.hub_dir())?.invite(
            &InviteRequest {
                role: Role::Coordinator,
                name: "Điều phối viên (demo)".into(),
                groups: vec![],
                point: None,
                expires_hours: Some(1),
            },
            Utc::now(),
        )?;
        self.join(&url, &invite.code).await
    }

    pub async fn status(&self) -> Result<SyncStatus> {
        let mut store = self.store.lock().await;
        let identity = store.identity()?;
        Ok(SyncStatus {
            joined: identity.is_some(),
            outbox: store.outbox_count()?,
            last_sync: store.last_sync()?,
            hub_url: identity.map(|i| i.hub_url),
        })
    }

    /// Syncs with the hub; the error names the record and the reason.
    pub async fn sync(&self) -> Result<SyncReport> {
        let mut store = self.store.lock().await;
        Ok(doorstep_sync::sync(&mut store, None).await?)
    }

    pub async fn walk_list(&self) -> Result<Vec<WalkRow>> {
        Ok(self.store.lock().await.walk_list()?)
    }

    pub async fn household_card(&self, id: Id) -> Result<HouseholdCard> {
        let store = self.store.lock().await;
        let household = store.household(id)?;
        let group = store
            .groups()?
            .into_iter()
            .find(|g| g.id == household.group_id)
            .map(|g| g.name)
            .unwrap_or_default();
        Ok(HouseholdCard {
            visits: store.visits(Some(id))?,
            household,
            group,
        })
    }

    fn volunteer(store: &Store) -> Result<String> {
        Ok(store
            .identity()?
            .map(|i| i.name)
            .unwrap_or_else(|| "Doorstep".into()))
    }

    pub async fn record_visit(&self, input: VisitInput) -> Result<Visit> {
        let mut store = self.store.lock().await;
        let volunteer = Self::volunteer(&store)?;
        let draft = VisitDraft {
            household_id: input.household_id,
            device_time: now(),
            volunteer,
            outcome: input.outcome,
            note: input.note.filter(|n| !n.trim().is_empty()),
            follow_up: input.follow_up,
            assists: input.assists,
        };
        Ok(store.add_visit(draft, now())?)
    }

    pub async fn save_household(&self, input: HouseholdInput) -> Result<Household> {
        let mut store = self.store.lock().await;
        let wanted = input.household.normalized();
        match input.id {
            None => Ok(store.add_household(input.group_id, wanted, now())?),
            Some(id) => {
                let current = store.household(id)?;
                let patch = HouseholdPatch::to_reach(&current, &wanted);
                if patch.is_empty() {
                    return Ok(current);
                }
                Ok(store.update_household(id, &patch)?)
            }
        }
    }

    /// Opens a session at a literacy point (replacing any open one).
    pub async fn open_session(&self, point_id: Id) -> Result<Session> {
        let store = self.store.lock().await;
        if !store.points()?.iter().any(|p| p.id == point_id) {
            return Err(StoreError::UnknownPoint(point_id.to_string()).into());
        }
        store.set_setting(
            "session",
            &format!("{point_id} {}", now().timestamp_millis()),
        )?;
        drop(store);
        self.session()
            .await?
            .ok_or_else(|| AppError::Other("session not saved".into()))
    }

    /// The open session and its counts, if any.
    pub async fn session(&self) -> Result<Option<Session>> {
        let store = self.store.lock().await;
        let Some(value) = store.setting("session")? else {
            return Ok(None);
        };
        let Some((point, started)) = value.split_once(' ') else {
            return Ok(None);
        };
        let (Ok(point_id), Some(started_at)) = (
            Id::parse_str(point),
            started
                .parse::<i64>()
                .ok()
                .and_then(DateTime::<Utc>::from_timestamp_millis),
        ) else {
            return Ok(None);
        };
        let walkins = store.walkins(Some(point_id))?;
        let today = now().date_naive();
        Ok(Some(Session {
            point_id,
            started_at,
            session_count: walkins
                .iter()
                .filter(|w| w.device_time >= started_at)
                .count() as u64,
            day_count: walkins
                .iter()
                .filter(|w| w.device_time.date_naive() == today)
                .count() as u64,
        }))
    }

    pub async fn close_session(&self) -> Result<()> {
        self.store.lock().await.set_setting("session", "")?;
        Ok(())
    }

    /// Records a walk-in and returns the session's counts.
    pub async fn record_walkin(&self, input: WalkInInput) -> Result<Option<Session>> {
        {
            let mut store = self.store.lock().await;
            let t = now();
            store.add_walkin(
                &WalkIn {
                    id: new_id(),
                    point_id: input.point_id,
                    device_time: t,
                    service: input.service,
                    result: input.result,
                    age_band: input.age_band,
                    priority: input.priority,
                },
                t,
            )?;
        }
        self.session().await
    }

    pub async fn targets(&self) -> Result<Targets> {
        let store = self.store.lock().await;
        Ok(store
            .setting("targets")?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    pub async fn set_targets(&self, targets: Targets) -> Result<Targets> {
        let json = serde_json::to_string(&targets).map_err(|e| AppError::Other(e.to_string()))?;
        self.store.lock().await.set_setting("targets", &json)?;
        Ok(targets)
    }

    pub async fn dashboard(&self, today: Option<NaiveDate>) -> Result<Dashboard> {
        let targets = self.targets().await?;
        let mut store = self.store.lock().await;
        let report = store.report(today.unwrap_or_else(|| now().date_naive()))?;
        let rows = store.walk_list()?;
        drop(store);
        let pct = |part: u64| {
            if report.households == 0 {
                0.0
            } else {
                100.0 * part as f64 / report.households as f64
            }
        };
        let activated = report
            .assists_by_service
            .get(&Service::VneidActivate)
            .copied()
            .unwrap_or(0);
        let progress = Targets {
            online_percent: pct(report.households_with_internet),
            vneid_activated_percent: pct(activated.min(report.households)),
            visited_percent: pct(report.households_visited),
        };
        Ok(Dashboard {
            needs_point: needs_point(&rows),
            progress,
            targets,
            report,
        })
    }

    /// The hub this device joined, and its token.
    async fn identity(&self) -> Result<DeviceIdentity> {
        Ok(self
            .store
            .lock()
            .await
            .identity()?
            .ok_or(SyncError::NotJoined)?)
    }

    /// An invite through the hub this device hosts, or through its hub's API.
    pub async fn invite(&self, request: InviteRequest) -> Result<InviteView> {
        let (invite, hub_url) = if self.has_hub() {
            let invite = Hub::open(&self.hub_dir())?.invite(&request, Utc::now())?;
            let url = self.hosted.lock().await.as_ref().map(|h| h.url.clone());
            (invite, url)
        } else {
            let identity = self.identity().await?;
            let invite = HubClient::new(&identity.hub_url)?
                .invite(&identity.token, &request)
                .await?;
            (invite, Some(identity.hub_url))
        };
        let link = join_link(hub_url.as_deref().unwrap_or(""), &invite.code);
        let qr_svg = qr_svg(&link)?;
        Ok(InviteView {
            invite,
            link,
            qr_svg,
        })
    }

    pub async fn devices(&self) -> Result<Vec<DeviceInfo>> {
        if self.has_hub() {
            return Ok(Hub::open(&self.hub_dir())?.devices()?);
        }
        let identity = self.identity().await?;
        Ok(HubClient::new(&identity.hub_url)?
            .devices(&identity.token)
            .await?)
    }

    pub async fn revoke(&self, device: Id) -> Result<Vec<DeviceInfo>> {
        if self.has_hub() {
            Hub::open(&self.hub_dir())?.revoke(device, Utc::now())?;
        } else {
            let identity = self.identity().await?;
            HubClient::new(&identity.hub_url)?
                .revoke(&identity.token, device)
                .await?;
        }
        self.devices().await
    }

    /// Writes the ward report to `path` (CSV or XLSX) and returns the path.
    pub async fn export(&self, format: ExportFormat, path: &Path) -> Result<PathBuf> {
        let report = self.store.lock().await.report(now().date_naive())?;
        export::write(&report, format, path)?;
        Ok(path.to_path_buf())
    }

    /// Where exports go by default.
    pub fn export_path(&self, format: ExportFormat) -> PathBuf {
        let name = format!(
            "doorstep-report-{}.{}",
            now().format("%Y-%m-%d"),
            format.extension()
        );
        self.data_dir.join("exports").join(name)
    }
}

/// Groups ranked by need for a literacy point: unvisited households, weighted up for
/// priority households and homes without internet.
pub fn needs_point(rows: &[WalkRow]) -> Vec<PointNeed> {
    let mut by_group: Vec<PointNeed> = Vec::new();
    for r in rows {
        let i = match by_group.iter().position(|g| g.group == r.group) {
            Some(i) => i,
            None => {
                by_group.push(PointNeed {
                    group: r.group.clone(),
                    households: 0,
                    unvisited: 0,
                    priority_unvisited: 0,
                    without_internet: 0,
                    score: 0.0,
                });
                by_group.len() - 1
            }
        };
        let g = &mut by_group[i];
        g.households += 1;
        if r.visits == 0 {
            g.unvisited += 1;
            if r.priority.any() {
                g.priority_unvisited += 1;
            }
        }
        if r.internet == Internet::No {
            g.without_internet += 1;
        }
    }
    for g in &mut by_group {
        g.score = if g.households == 0 {
            0.0
        } else {
            (g.unvisited as f64 + 2.0 * g.priority_unvisited as f64 + g.without_internet as f64)
                / g.households as f64
        };
    }
    by_group.sort_by(|a, b| b.score.total_cmp(&a.score));
    by_group
}

/// The link a QR code carries: the hub and the code, for a device's first run.
pub fn join_link(hub_url: &str, code: &str) -> String {
    format!("doorstep://join?hub={hub_url}&code={code}")
}

/// Reads a pasted join link back into (hub, code).
pub fn parse_join_link(text: &str) -> Option<(String, String)> {
    let query = text.trim().strip_prefix("doorstep://join?")?;
    let mut hub = None;
    let mut code = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("hub", v)) => hub = Some(v.to_string()),
            Some(("code", v)) => code = Some(v.to_string()),
            _ => {}
        }
    }
    Some((hub?, code?))
}

fn qr_svg(text: &str) -> Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| AppError::Other(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_links_round_trip() {
        let link = join_link("http://192.168.1.10:7300", "K7P2Q-9XMTR");
        assert_eq!(
            parse_join_link(&link),
            Some(("http://192.168.1.10:7300".into(), "K7P2Q-9XMTR".into()))
        );
        assert_eq!(parse_join_link("K7P2Q-9XMTR"), None);
        assert!(qr_svg(&link).unwrap().starts_with("<?xml"));
    }

    #[tokio::test]
    async fn the_demo_ward_is_hosted_joined_and_recorded_in() {
        let dir = tempfile::TempDir::new().unwrap();
        let app = App::open(dir.path()).unwrap();
        let overview = app.try_demo(300, "127.0.0.1:0").await.unwrap();
        assert_eq!(overview.role, Some(Role::Coordinator));
        assert!(overview.hosting.is_some());
        let rows = app.walk_list().await.unwrap();
        assert_eq!(rows.len(), 300);
        let visit = app
            .record_visit(VisitInput {
                household_id: rows[0].id,
                outcome: Outcome::Assisted,
                assists: vec!["vneid_activate:done:60_plus".parse().unwrap()],
                note: None,
                follow_up: None,
            })
            .await
            .unwrap();
        assert_eq!(app.status().await.unwrap().outbox, 1);
        app.sync().await.unwrap();
        assert_eq!(app.status().await.unwrap().outbox, 0);
        let card = app.household_card(rows[0].id).await.unwrap();
        assert!(card.visits.iter().any(|v| v.id == visit.id));
        let point = overview.points[0].id;
        app.open_session(point).await.unwrap();
        let s = app
            .record_walkin(WalkInInput {
                point_id: point,
                service: Service::Etax,
                result: AssistResult::Done,
                age_band: None,
                priority: PriorityFlags::default(),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.session_count, 1);
        let dash = app.dashboard(None).await.unwrap();
        assert_eq!(dash.report.households, 300);
        assert!(!dash.needs_point.is_empty());
        let invite = app
            .invite(InviteRequest {
                role: Role::Volunteer,
                name: "Lan".into(),
                groups: vec![overview.groups[0].name.clone()],
                point: None,
                expires_hours: None,
            })
            .await
            .unwrap();
        assert!(invite.link.contains(&invite.invite.code));
        assert_eq!(app.devices().await.unwrap().len(), 1);
        for format in [ExportFormat::Csv, ExportFormat::Xlsx] {
            let path = app.export(format, &app.export_path(format)).await.unwrap();
            assert!(std::fs::metadata(path).unwrap().len() > 100);
        }
        let added = app
            .save_household(HouseholdInput {
                id: None,
                group_id: rows[0].group_id,
                household: HouseholdDraft {
                    alley: " Ngõ 9 ".into(),
                    number: "4".into(),
                    ..Default::default()
                },
            })
            .await
            .unwrap();
        assert_eq!(added.alley, "Ngõ 9");
        let corrected = app
            .save_household(HouseholdInput {
                id: Some(added.id),
                group_id: added.group_id,
                household: HouseholdDraft {
                    alley: "Ngõ 9".into(),
                    number: "4".into(),
                    members: Some(3),
                    ..Default::default()
                },
            })
            .await
            .unwrap();
        assert_eq!(
            (corrected.alley.as_str(), corrected.members),
            ("Ngõ 9", Some(3))
        );
        app.sync().await.unwrap();
        app.stop_hub().await;
    }
}
