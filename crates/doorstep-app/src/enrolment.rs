//! Devices joining the ward and the coordinator's part in it: join with a typed code or a
//! pasted join link; invites (code, link and QR code), the device list and revocation, through
//! the hub this device hosts or through its hub's API.

use chrono::Utc;
use doorstep_domain::Id;
use doorstep_hub::Hub;
use doorstep_proto::api::{DeviceInfo, InviteRequest};
use doorstep_sync::HubClient;

use crate::{App, InviteView, Overview, Result};

impl App {
    /// First run: join a ward's hub with an invite code (typed, or a pasted join link).
    pub async fn join(&self, hub_url: String, code: String) -> Result<Overview> {
        let (hub_url, code) = match parse_join_link(&code) {
            Some((hub, code)) => (hub, code),
            None => (hub_url.trim().to_string(), code.trim().to_string()),
        };
        doorstep_sync::join_shared(&self.store, &hub_url, &code).await?;
        doorstep_sync::sync_shared(&self.store, None).await?;
        self.overview().await
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
    fn join_links_round_trip() -> Result<()> {
        let link = join_link("http://192.168.1.10:7300", "K7P2Q-9XMTR");
        assert_eq!(
            parse_join_link(&link),
            Some(("http://192.168.1.10:7300".into(), "K7P2Q-9XMTR".into()))
        );
        assert_eq!(parse_join_link("K7P2Q-9XMTR"), None);
        assert!(qr_svg(&link)?.starts_with("<?xml"));
        Ok(())
    }
}
