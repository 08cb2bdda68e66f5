//! Devices joining the ward and the coordinator's part in it: join with a typed code or a
//! pasted join link; invites (code, link and QR code), the device list and revocation, through
//! the hub this device hosts or through its hub's API.

use chrono::Utc;
use doorstep_domain::Id;
use doorstep_hub::{Enrolment, HubTls};
use doorstep_proto::api::{DeviceInfo, InviteRequest};
use doorstep_proto::pin::JoinLink;
use doorstep_store::DeviceIdentity;
use doorstep_sync::HubClient;

use crate::{App, InviteView, Overview, Result};

impl App {
    /// First run: join a ward's hub with an invite code and the hub's pin (typed), or with a
    /// pasted or scanned join link in place of the code.
    pub async fn join(
        &self,
        hub_url: String,
        code: String,
        pin: Option<String>,
    ) -> Result<Overview> {
        let link = JoinLink::parse(&code).unwrap_or(JoinLink {
            hub: hub_url.trim().to_string(),
            code: code.trim().to_string(),
            pin: pin.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()),
        });
        {
            let _one_at_a_time = self.syncing.lock().await;
            doorstep_sync::join_shared(&self.store, &link.hub, &link.code, link.pin.as_deref())
                .await?;
            doorstep_sync::sync_shared(&self.store, None).await?;
        }
        self.overview().await
    }

    /// An invite through the hub this device hosts, or through its hub's API, with the join
    /// link (hub address, code, pin) and its QR code.
    pub async fn invite(&self, request: InviteRequest) -> Result<InviteView> {
        let link = if self.has_hub() {
            let invite = Enrolment::open(&self.hub_dir(), &self.hub_at_rest().await?)?
                .invite(&request, Utc::now())?;
            let hub = self.hosted.lock().await.as_ref().map(|h| h.url.clone());
            let pin = HubTls::ensure(&self.hub_dir())
                .map_err(doorstep_hub::HubError::from)?
                .pin;
            (invite, hub.unwrap_or_default(), Some(pin))
        } else {
            let identity = self.identity().await?;
            let invite = self
                .client(&identity)?
                .invite(&identity.token, &request)
                .await?;
            (invite, identity.hub_url, identity.pin)
        };
        let (invite, hub, pin) = link;
        let link = JoinLink {
            hub,
            code: invite.code.clone(),
            pin,
        }
        .to_link();
        let qr_svg = qr_svg(&link)?;
        Ok(InviteView {
            invite,
            link,
            qr_svg,
        })
    }

    /// A client for the hub this device joined, trusting its pinned key.
    fn client(&self, identity: &DeviceIdentity) -> Result<HubClient> {
        Ok(HubClient::for_identity(&identity.hub_url, identity)?)
    }

    pub async fn devices(&self) -> Result<Vec<DeviceInfo>> {
        if self.has_hub() {
            return Ok(Enrolment::open(&self.hub_dir(), &self.hub_at_rest().await?)?.devices()?);
        }
        let identity = self.identity().await?;
        Ok(self.client(&identity)?.devices(&identity.token).await?)
    }

    pub async fn revoke(&self, device: Id) -> Result<Vec<DeviceInfo>> {
        if self.has_hub() {
            Enrolment::open(&self.hub_dir(), &self.hub_at_rest().await?)?
                .revoke(device, Utc::now())?;
        } else {
            let identity = self.identity().await?;
            self.client(&identity)?
                .revoke(&identity.token, device)
                .await?;
        }
        self.devices().await
    }
}

fn qr_svg(text: &str) -> Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_link_draws_as_a_qr_code() -> Result<()> {
        let link = JoinLink {
            hub: "https://192.168.1.10:7300".into(),
            code: "K7P2Q-9XMTR".into(),
            pin: Some("n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg".into()),
        };
        assert!(qr_svg(&link.to_link())?.starts_with("<?xml"));
        Ok(())
    }
}
