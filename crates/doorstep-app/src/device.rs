//! Who this device is and what it holds (the home screen's question), and syncing with its
//! hub.

use doorstep_domain::Role;
use doorstep_proto::api::Named;
use doorstep_store::DeviceIdentity;
use doorstep_sync::{SyncError, SyncReport};

use crate::{App, Overview, Result, SyncStatus};

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
        })
    }

    /// Syncs with the hub; the error names the record and the reason. The store is not held
    /// while the hub is waited for: visits are recorded meanwhile.
    pub async fn sync(&self) -> Result<SyncReport> {
        let _one_at_a_time = self.syncing.lock().await;
        Ok(doorstep_sync::sync_shared(&self.store, None).await?)
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
