//! The app lock: nothing of the ward is readable until the PIN opens the device's database
//! (the first PIN typed sets it, and makes the recovery code shown once); the UI locks again
//! after the idle time a coordinator's device sets, and the store is closed.
//!
//! A locked app keeps serving the hub it hosts (devices of the ward sync with the
//! coordinator's laptop while its screen is locked); that hub's key stays in the serving task.

use doorstep_domain::Role;
use doorstep_store::Store;
use serde::Serialize;
use ts_rs::TS;

use crate::{App, AppError, Overview, Result};

/// Minutes of no touch before the app locks, unless a coordinator set otherwise.
/// Until a coordinator sets the ward's (synced in the ward document to every device).
const IDLE_LOCK_MINUTES: u32 = 5;

/// What the lock screen shows.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LockState {
    /// A PIN was set (otherwise the lock screen asks for a new one, twice).
    pub has_pin: bool,
    pub locked: bool,
    /// Wrong PINs in a row, kept across restarts.
    pub failed: u32,
    /// Seconds before another try is accepted.
    pub wait_seconds: u64,
    /// Minutes of no touch before the app locks (0: never).
    pub idle_lock_minutes: u32,
}

/// What an unlock gives: the home screen, and the recovery code when this unlock set the PIN.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Unlocked {
    pub overview: Overview,
    /// Shown once, to be written down and kept apart from the phone.
    pub recovery_code: Option<String>,
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl App {
    pub async fn lock_state(&self) -> Result<LockState> {
        let path = self.database_path();
        let (failed, wait_seconds) = Store::wrong_pins(&path, unix_now());
        let mut store = self.store.lock().await;
        let idle_lock_minutes = match store.as_mut() {
            Some(store) => store.ward_idle_lock_minutes()?.unwrap_or(IDLE_LOCK_MINUTES),
            None => IDLE_LOCK_MINUTES,
        };
        Ok(LockState {
            has_pin: Store::has_pin(&path),
            locked: store.is_none(),
            failed,
            wait_seconds,
            idle_lock_minutes,
        })
    }

    /// Opens the device's data with `pin` (setting it on first use), then starts what the
    /// device does: serving the hub it holds, or building the demo ward on a first run.
    pub async fn unlock(&self, pin: String) -> Result<Unlocked> {
        let path = self.database_path();
        let keystore = self.keystore.clone();
        let opened = tokio::task::spawn_blocking(move || {
            Store::unlock(&path, &pin, unix_now(), keystore.as_deref())
        })
        .await
        .map_err(doorstep_hub::HubError::from)??;
        let recovery_code = opened.recovery_code.map(|c| c.as_str().to_string());
        *self.store.lock().await = Some(opened.store);
        self.start().await?;
        Ok(Unlocked {
            overview: self.overview().await?,
            recovery_code,
        })
    }

    /// Forgotten PIN: opens the data with the recovery code and sets `new_pin`.
    pub async fn recover_pin(&self, code: String, new_pin: String) -> Result<Unlocked> {
        let path = self.database_path();
        let keystore = self.keystore.clone();
        let store = tokio::task::spawn_blocking(move || {
            Store::recover(&path, &code, &new_pin, unix_now(), keystore.as_deref())
        })
        .await
        .map_err(doorstep_hub::HubError::from)??;
        *self.store.lock().await = Some(store);
        self.start().await?;
        Ok(Unlocked {
            overview: self.overview().await?,
            recovery_code: None,
        })
    }

    /// Changes the PIN (the current one must be right).
    pub async fn change_pin(&self, pin: String, new_pin: String) -> Result<()> {
        let path = self.database_path();
        let keystore = self.keystore.clone();
        tokio::task::spawn_blocking(move || {
            Store::change_pin(&path, &pin, &new_pin, unix_now(), keystore.as_deref())
        })
        .await
        .map_err(doorstep_hub::HubError::from)??;
        Ok(())
    }

    /// Closes the store: the ward is unreadable until the PIN is typed again.
    pub async fn lock(&self) -> Result<()> {
        self.store.lock().await.take();
        Ok(())
    }

    /// Sets the idle time before the app locks (1–60 minutes) on every device of the ward: a
    /// coordinator's device only (and the hub refuses the ward document's change from any
    /// other); the others take it at their next sync.
    pub async fn set_idle_lock(&self, minutes: u32) -> Result<LockState> {
        {
            let mut store = self.store().await?;
            let role = store.identity()?.map(|i| i.role);
            if !matches!(role, None | Some(Role::Coordinator)) {
                return Err(AppError::CoordinatorOnly);
            }
            store.set_ward_idle_lock_minutes(minutes)?;
        }
        self.lock_state().await
    }

    /// What an unlocked app starts: the hub it holds, or a first run's demo ward.
    async fn start(&self) -> Result<()> {
        if self.has_hub() {
            self.host_hub_here().await?;
        } else if self.hosting.demo_on_first_run && !self.overview().await?.has_ward {
            self.try_demo().await?;
        }
        Ok(())
    }
}
