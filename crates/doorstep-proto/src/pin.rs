//! Trust without a certificate authority: a ward hub's certificate is self-signed, and a
//! device trusts exactly the certificate key whose pin it was given with its invite (in the
//! join link or its QR code, beside the invite code), forever after. The pin is the SHA-256 of
//! the certificate's SubjectPublicKeyInfo, base64url without padding (43 characters).
//!
//! A hub changes its key without losing its devices by announcing the next key's pin on its
//! sync answers (`NEXT_PIN_HEADER`), signed by the current key: a device that checks the
//! signature against the certificate it is talking to trusts both pins until the hub serves
//! the next one, then only that one.

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

/// The header on a hub's answer that announces the pin of its next certificate key:
/// `PIN.SIGNATURE`, the signature (base64url) made by the current key over
/// `next_pin_message(PIN)`.
pub const NEXT_PIN_HEADER: &str = "doorstep-next-pin";

/// What the current key signs to vouch for the next one.
pub fn next_pin_message(next_pin: &str) -> Vec<u8> {
    format!("doorstep: the next certificate key of this hub has pin {next_pin}").into_bytes()
}

/// A next-pin announcement as the header carries it.
pub fn next_pin_announcement(next_pin: &str, signature: &[u8]) -> String {
    format!(
        "{next_pin}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Reads a next-pin announcement: the pin and the signature bytes.
pub fn parse_next_pin_announcement(header: &str) -> Option<(String, Vec<u8>)> {
    let (pin, signature) = header.trim().split_once('.')?;
    if pin.len() != 43 {
        return None;
    }
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .ok()?;
    Some((pin.to_string(), signature))
}

/// The public key of a DER certificate (the subjectPublicKey bits of its SPKI), to check
/// what it signed.
pub fn certificate_public_key(der: &[u8]) -> Result<Vec<u8>, PinError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PinError(e.to_string()))?;
    Ok(cert.public_key().subject_public_key.data.to_vec())
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

    #[test]
    fn next_pin_announcements_round_trip_and_junk_is_none() {
        let pin = "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg";
        let header = next_pin_announcement(pin, &[1, 2, 3]);
        assert_eq!(
            parse_next_pin_announcement(&header),
            Some((pin.to_string(), vec![1, 2, 3]))
        );
        for junk in ["", "abc", "short.AQID", &format!("{pin}.!!")] {
            assert_eq!(parse_next_pin_announcement(junk), None, "{junk}");
        }
    }
}
