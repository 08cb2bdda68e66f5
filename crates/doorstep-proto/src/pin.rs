//! Trust without a certificate authority: a ward hub's certificate is self-signed, and a
//! device trusts exactly the certificate key whose pin it was given with its invite (in the
//! join link or its QR code, beside the invite code), forever after. The pin is the SHA-256 of
//! the certificate's SubjectPublicKeyInfo, base64url without padding (43 characters).

use base64::Engine;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why a certificate has no pin.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("not an X.509 certificate: {0}")]
pub struct PinError(String);

/// The pin of a DER certificate: SHA-256 of its SubjectPublicKeyInfo, base64url.
pub fn certificate_pin(der: &[u8]) -> Result<String, PinError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PinError(e.to_string()))?;
    Ok(spki_pin(cert.public_key().raw))
}

/// The pin of a DER SubjectPublicKeyInfo.
pub fn spki_pin(spki: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(spki))
}

/// What a join link carries: the hub's address, the invite code and the hub's pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinLink {
    pub hub: String,
    pub code: String,
    pub pin: Option<String>,
}

impl JoinLink {
    /// The link a QR code carries: `doorstep://join?hub=URL&code=CODE&pin=PIN`.
    pub fn to_link(&self) -> String {
        let mut link = format!("doorstep://join?hub={}&code={}", self.hub, self.code);
        if let Some(pin) = &self.pin {
            link.push_str(&format!("&pin={pin}"));
        }
        link
    }

    /// Reads a pasted or scanned join link; `None` when the text is not one.
    pub fn parse(text: &str) -> Option<JoinLink> {
        let query = text.trim().strip_prefix("doorstep://join?")?;
        let (mut hub, mut code, mut pin) = (None, None, None);
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("hub", v)) => hub = Some(v.to_string()),
                Some(("code", v)) => code = Some(v.to_string()),
                Some(("pin", v)) => pin = Some(v.to_string()),
                _ => {}
            }
        }
        Some(JoinLink {
            hub: hub?,
            code: code?,
            pin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_links_round_trip() {
        let link = JoinLink {
            hub: "https://192.168.1.10:7300".into(),
            code: "K7P2Q-9XMTR".into(),
            pin: Some("n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg".into()),
        };
        assert_eq!(JoinLink::parse(&link.to_link()), Some(link));
        assert_eq!(JoinLink::parse("K7P2Q-9XMTR"), None);
    }

    #[test]
    fn a_pin_is_the_certificate_key_not_the_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let a = rcgen::CertificateParams::new(vec!["a".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let b = rcgen::CertificateParams::new(vec!["b".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pin = certificate_pin(a.der()).unwrap();
        assert_eq!(pin.len(), 43);
        assert_eq!(certificate_pin(b.der()).unwrap(), pin);
        assert_eq!(
            spki_pin(&rcgen::PublicKeyData::subject_public_key_info(&key)),
            pin
        );
        assert!(certificate_pin(b"not a certificate").is_err());
    }
}
