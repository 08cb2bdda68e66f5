//! Who this device is and what it holds (the home screen's question), and syncing with its
//! hub.

use doorstep_domain::{ErrorCode, Id, Role};
use doorstep_proto::api::Named;
use doorstep_proto::api::{Erasure, HistoryEntry};
use doorstep_store::DeviceIdentity;
use doorstep_store::Store;
use doorstep_sync::{SyncError, SyncReport};

use crate::{App, AppError, Overview, Result, SyncStatus};

impl App {
    pub async fn overview(&self) -> Result<Overview> {
        let store = self.store().await?;
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

    pub async fn status(&self) -> Result<SyncStatus> {
        let mut store = self.store().await?;
        let identity = store.identity()?;
        Ok(SyncStatus {
            joined: identity.is_some(),
            outbox: store.outbox_count()?,
            last_sync: store.last_sync()?,
            hub_url: identity.map(|i| i.hub_url),
            problems: store.sync_problems()?,
        })
    }

    /// Syncs with the hub; the error names the record and the reason. The store is not held
    /// while the hub is waited for: visits are recorded meanwhile.
    pub async fn sync(&self) -> Result<SyncReport> {
        let _one_at_a_time = self.syncing.lock().await;
        let slot = self.progress.clone();
        let shown = move |p: &doorstep_sync::SyncProgress| {
            crate::set_progress(
                &slot,
                Some(crate::Progress {
                    task: crate::ProgressTask::Sync,
                    done: p.bytes_done,
                    total: p.bytes_total,
                    documents_done: p.documents_done,
                    documents_total: p.documents_total,
                }),
            )
        };
        let synced = doorstep_sync::sync_shared_with(&self.store, None, &shown).await;
        self.set_progress(None);
        match synced {
            Err(e) if e.code() == ErrorCode::DeviceRevoked => {
                self.wipe().await?;
                Err(AppError::Wiped)
            }
            answer => {
                let report = answer?;
                if report.epochs_adopted > 0 {
                    self.remove_exports()?;
                }
                Ok(report)
            }
        }
    }

    /// Erases a household at the hub at its citizen's request (a coordinator's device,
    /// online), then syncs so this device holds the erasure too.
    pub async fn erase_household(&self, id: Id) -> Result<Erasure> {
        let _one_at_a_time = self.syncing.lock().await;
        let (erasure, _) = doorstep_sync::erase_household(&self.store, id).await?;
        self.remove_exports()?;
        Ok(erasure)
    }

    /// A household's history from the hub's audit log (a coordinator's device, online).
    pub async fn household_history(&self, id: Id) -> Result<Vec<HistoryEntry>> {
        let identity = self.identity().await?;
        Ok(
            doorstep_sync::HubClient::for_identity(&identity.hub_url, &identity)?
                .history(&identity.token, id)
                .await?,
        )
    }

    /// Reports exported before an erasure may name what it erased (a follow-up's reason):
    /// they are removed; a new export is one tap away.
    fn remove_exports(&self) -> Result<()> {
        let exports = self.data_dir.join("exports");
        if exports.exists() {
            std::fs::remove_dir_all(&exports).map_err(|source| AppError::DataDir {
                path: exports.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// Revoked: this device's data, keys and exports are erased from it; it starts again at
    /// the lock screen (a new PIN, then joining anew).
    async fn wipe(&self) -> Result<()> {
        self.stop_hub().await;
        self.store.lock().await.take();
        Store::erase_files(&self.database_path(), self.keystore.as_deref())?;
        self.remove_exports()?;
        tracing::warn!("revoked by the hub: this device's data and keys were erased");
        Ok(())
    }

    /// The hub this device joined, and its token.
    pub(crate) async fn identity(&self) -> Result<DeviceIdentity> {
        Ok(self
            .store()
            .await?
            .identity()?
            .ok_or(SyncError::NotJoined)?)
    }
}
