//! The ward hub this device serves itself: a coordinator's laptop on the ward LAN, or the demo
//! ward a first run can try (generated here, imported into a hub of this device's own, and
//! joined as its coordinator).

use std::path::PathBuf;

use chrono::Utc;
use doorstep_domain::demo::{generate, DemoSpec};
use doorstep_domain::Role;
use doorstep_hub::{AtRest, Enrolment, Hub};
use doorstep_proto::api::InviteRequest;
use doorstep_store::Store;

use crate::{now, App, AppError, Overview, Result};

/// Where a hub this device holds is served, and how large a demo ward is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosting {
    /// The address to serve on, e.g. `0.0.0.0:7300` for the ward LAN.
    pub listen: String,
    /// Households in a demo ward.
    pub demo_households: u32,
    /// Build the demo ward at the first unlock of a device that holds no ward.
    pub demo_on_first_run: bool,
}

impl Default for Hosting {
    fn default() -> Self {
        Hosting {
            listen: "0.0.0.0:7300".into(),
            demo_households: 5000,
            demo_on_first_run: false,
        }
    }
}

/// A hub this app serves in the background.
pub(crate) struct Hosted {
    pub(crate) url: String,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    pub(crate) fn hub_dir(&self) -> PathBuf {
        self.data_dir.join("hub")
    }

    /// The key of the hub this device holds: derived from the device's own (unlocked) key, so
    /// one PIN opens both; plaintext only beside a plaintext device database.
    pub(crate) async fn hub_at_rest(&self) -> Result<AtRest> {
        Ok(match self.store().await?.key() {
            Some(key) => AtRest::Encrypted(key.derive("hosted hub")),
            None => AtRest::Plaintext,
        })
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
        let listen_failed = |source| AppError::Listen {
            addr: listen.to_string(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(listen_failed)?;
        let addr = listener.local_addr().map_err(listen_failed)?;
        // The LAN address devices reach it at (never 0.0.0.0), for invite links.
        let url = format!("https://{}", doorstep_hub::advertised_addr(addr));
        let dir = self.hub_dir();
        let at_rest = self.hub_at_rest().await?;
        Hub::open(&dir, &at_rest)?;
        let task = tokio::spawn(async move {
            let serving = Default::default();
            if let Err(e) = doorstep_hub::serve(&dir, &at_rest, listener, serving, |_| {}).await {
                tracing::error!(error = %e, "the hosted hub stopped");
            }
        });
        *hosted = Some(Hosted {
            url: url.clone(),
            task,
        });
        Ok(url)
    }

    /// Serves the hub this device holds where `Hosting` says; on loopback when that address
    /// cannot be had (another app holds the port, no LAN).
    pub async fn host_hub_here(&self) -> Result<String> {
        match self.host_hub(&self.hosting.listen.clone()).await {
            Ok(url) => Ok(url),
            Err(e) => {
                tracing::warn!(error = %e, code = %e.code(), "serving the ward hub on loopback");
                self.host_hub("127.0.0.1:0").await
            }
        }
    }

    /// Stops serving the hosted hub (its data stays).
    pub async fn stop_hub(&self) {
        if let Some(h) = self.hosted.lock().await.take() {
            h.task.abort();
        }
    }

    /// First run: a demo ward, hosted by this device's own hub, which this device joins as
    /// its coordinator.
    pub async fn try_demo(&self) -> Result<Overview> {
        if self.store().await?.ward_id()?.is_some() {
            return Err(AppError::AlreadyHasWard);
        }
        if !self.has_hub() {
            let spec = DemoSpec::new(self.hosting.demo_households, 1, now().date_naive());
            let demo = generate(&spec);
            let seed_path = self.data_dir.join("demo-seed.sqlite");
            {
                // A throwaway key: the seed is deleted once imported.
                let seed_key = AtRest::Encrypted(doorstep_hub::DatabaseKey::random()?);
                let mut seed = Store::open(&seed_path, &seed_key)?;
                let total = demo.households.len() as u64;
                let mut done = 0;
                let built = seed.insert_demo(&demo, |p| {
                    done += p.households as u64;
                    self.set_progress(Some(crate::Progress {
                        task: crate::ProgressTask::Demo,
                        done,
                        total,
                        documents_done: 0,
                        documents_total: 0,
                    }));
                });
                self.set_progress(None);
                built?;
                let documents = seed.export_documents()?;
                Hub::import(
                    &self.hub_dir(),
                    &demo.ward,
                    &documents,
                    &self.hub_at_rest().await?,
                )?;
            }
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", seed_path.display()));
            }
        }
        let url = self.host_hub_here().await?;
        let invite = Enrolment::open(&self.hub_dir(), &self.hub_at_rest().await?)?.invite(
            &InviteRequest {
                role: Role::Coordinator,
                name: "Điều phối viên (demo)".into(),
                groups: vec![],
                point: None,
                expires_hours: Some(1),
            },
            Utc::now(),
        )?;
        let pin = doorstep_hub::HubTls::ensure(&self.hub_dir())
            .map_err(doorstep_hub::HubError::from)?
            .pin;
        self.join(url, invite.code, Some(pin)).await
    }
}
