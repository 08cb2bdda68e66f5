//! What the Doorstep app does, without a window: the one façade the Tauri shell's commands
//! call (each command is a one-line call here), so that everything the app does is testable
//! without a WebView and the shell stays thin.
//!
//! The app holds one device store, and optionally hosts the ward hub itself (the coordinator's
//! laptop on the ward LAN, or the demo ward), served in the background on the same runtime.
//! Its commands are listed once (`for_each_command!`, in `commands.rs`); their argument and
//! answer types are in `views`, and `bindings` declares them all to the UI in TypeScript.
//!
//! By concern: `device` (who this device is, sync), `hosting` (the hub this device serves, the
//! demo), `enrolment` (joining, invites, devices), `field` (walk list, households, visits),
//! `point` (literacy-point sessions and walk-ins), `dashboard` (the coordinator's picture and
//! exports).

pub mod bindings;
mod commands;
mod dashboard;
mod device;
mod duplicates;
mod enrolment;
mod error;
mod export;
mod field;
mod hosting;
pub mod keystore;
mod lock;
mod paper;
mod point;
mod views;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use doorstep_store::Store;
use doorstep_vault::Keystore;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

pub use dashboard::needs_point;
pub use error::{AppError, Result};
pub use export::ExportFormat;
pub use hosting::Hosting;
pub use lock::{LockState, Unlocked};
pub use views::*;

/// Every type a command takes or gives, under the names `for_each_command!` uses.
pub mod command_types {
    pub use crate::lock::{LockState, Unlocked};
    pub use crate::views::*;
    pub use crate::ExportFormat;
    pub use crate::Progress;
    pub use chrono::NaiveDate;
    pub use doorstep_domain::report::RangeReport;
    pub use doorstep_domain::walk::{WalkQuery, WalkWindow};
    pub use doorstep_domain::{
        ConsentPurpose, Household, Id, ReportBy, Review, ReviewItem, ReviewState, Visit, WalkRow,
    };
    pub use doorstep_print::SheetKind;
    pub use doorstep_proto::api::{DeviceInfo, Erasure, HistoryEntry, InviteRequest};
    pub use doorstep_sync::SyncReport;
}

/// What a long task has done so far (`App::progress`): a sync counts bytes (and documents),
/// building the demo ward counts households.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Progress {
    pub task: ProgressTask,
    pub done: u64,
    pub total: u64,
    pub documents_done: u64,
    pub documents_total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ProgressTask {
    Sync,
    Demo,
}

impl App {
    /// The long task under way, if any: the UI polls this while a sync or the demo ward runs.
    pub async fn progress(&self) -> Result<Option<Progress>> {
        Ok(self.progress.lock().map(|p| p.clone()).unwrap_or_default())
    }

    fn set_progress(&self, progress: Option<Progress>) {
        set_progress(&self.progress, progress);
    }
}

fn set_progress(slot: &std::sync::Mutex<Option<Progress>>, progress: Option<Progress>) {
    if let Ok(mut slot) = slot.lock() {
        *slot = progress;
    }
}

/// The app: a device store (open only while unlocked) and, optionally, the ward hub it hosts.
pub struct App {
    data_dir: PathBuf,
    hosting: Hosting,
    /// `None` while locked: nothing of the ward is readable until the PIN opens it.
    store: Mutex<Option<Store>>,
    hosted: Mutex<Option<hosting::Hosted>>,
    /// One sync at a time (the timer's and the button's): two would race to rotate the
    /// device's token. Held across the network; the store is not.
    syncing: Mutex<()>,
    /// The long task under way (a sync, building the demo ward), for the UI's progress bar.
    progress: Arc<std::sync::Mutex<Option<Progress>>>,
    /// The OS keystore the PIN's wrap of the data key is bound to, where the platform has one
    /// (see [`keystore::system_keystore`]).
    keystore: Option<Arc<dyn Keystore>>,
}

/// Record times in milliseconds, as documents store them.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

impl App {
    /// Opens (creating) the app's data directory `data_dir`, locked (see `unlock`);
    /// `hosting` says where a hub this device holds is served and how large a demo ward is.
    pub fn open(data_dir: &Path, hosting: Hosting) -> Result<App> {
        let data_dir_error = |source| AppError::DataDir {
            path: data_dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(data_dir_error)?;
        // The app's data (its database, its hub's, its TLS keys) is its user's only.
        #[cfg(unix)]
        std::fs::set_permissions(
            data_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .map_err(data_dir_error)?;
        Ok(App {
            data_dir: data_dir.to_path_buf(),
            hosting,
            store: Mutex::new(None),
            hosted: Mutex::new(None),
            syncing: Mutex::new(()),
            progress: Arc::default(),
            keystore: None,
        })
    }

    /// Binds the PIN to `keystore` (the platform's, from [`keystore::system_keystore`]): a
    /// PIN set from now on also needs the keystore's secret to open the data.
    pub fn with_keystore(mut self, keystore: Option<Arc<dyn Keystore>>) -> App {
        self.keystore = keystore;
        self
    }
}

impl App {
    /// The device's database.
    pub(crate) fn database_path(&self) -> PathBuf {
        self.data_dir.join("device.sqlite")
    }

    /// The open store, or `locked`.
    pub(crate) async fn store(&self) -> Result<MappedMutexGuard<'_, Store>> {
        MutexGuard::try_map(self.store.lock().await, Option::as_mut).map_err(|_| AppError::Locked)
    }
}
