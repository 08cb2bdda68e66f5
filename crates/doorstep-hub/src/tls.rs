//! The hub's own key and self-signed certificate, kept in its data directory (the key 0600),
//! or in its database for a hub on PostgreSQL (every hub process of a city deployment serves
//! the same key): made by `hub init` (or on first serve of a hub from before HTTPS), served with rustls, and
//! pinned by devices when they join (`doorstep_proto::pin`). Wards have no certificate
//! authority and often no internet, so the trust travels with the invite instead.
//!
//! Rotation (`hub rotate-cert`): the next key and certificate are made beside the current
//! ones and the next pin is signed by the current key; the serving hub announces it on every
//! sync answer and devices add it to the pins they trust. `hub rotate-cert --finish` then
//! serves the next certificate; a serving hub picks up either step within seconds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use doorstep_proto::pin::certificate_pin;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

use crate::storage::HubStorage;

const CERT_FILE: &str = "hub-cert.pem";
const KEY_FILE: &str = "hub-key.pem";
const NEXT_CERT_FILE: &str = "hub-next-cert.pem";
const NEXT_KEY_FILE: &str = "hub-next-key.pem";
/// The next pin's announcement, signed by the current key: written last, so a rotation is
/// under way only once it exists.
const NEXT_PIN_FILE: &str = "hub-next-pin";

/// Why the hub's TLS identity could not be made or read.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("hub TLS file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the hub's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the hub's certificate or key is not readable: {0}")]
    Pem(String),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("no certificate rotation is under way: run `doorstep hub rotate-cert` first")]
    NoRotation,
}

/// The hub's certificate and key, and the pin devices trust it by.
#[derive(Clone)]
pub struct HubTls {
    cert: CertificateDer<'static>,
    key_pem: Vec<u8>,
    /// The pin devices check the hub's certificate against.
    pub pin: String,
    /// During a rotation: the next key's pin, and its announcement signed by the current key
    /// (`doorstep_proto::pin::NEXT_PIN_HEADER`).
    pub next: Option<NextPin>,
}

/// The next certificate key's pin and its signed announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPin {
    pub pin: String,
    pub announcement: String,
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::File {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to a new file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(file_error(path))?;
    file.write_all(bytes).map_err(file_error(path))?;
    file.sync_all().map_err(file_error(path))
}

fn read_certificate(path: &Path) -> Result<CertificateDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(file_error(path))?;
    Ok(CertificateDer::from_pem_slice(&pem)
        .map_err(|e| TlsError::Pem(e.to_string()))?
        .into_owned())
}

/// Where a hub on PostgreSQL keeps its TLS identity: in its storage's settings, so that every
/// hub process of a city deployment serves the same key (the one devices pinned).
const KEY_SETTING: &str = "tls.key_pem";
const CERT_SETTING: &str = "tls.cert_pem";

impl HubTls {
    /// The TLS identity kept in `storage` (a hub on PostgreSQL), made now if it has none.
    pub fn ensure_in(storage: &mut dyn HubStorage) -> Result<HubTls, crate::HubError> {
        if storage.setting(KEY_SETTING)?.is_none() || storage.setting(CERT_SETTING)?.is_none() {
            let made = rcgen::generate_simple_self_signed(vec!["doorstep-hub".to_string()])
                .map_err(TlsError::from)?;
            storage.set_setting(KEY_SETTING, &made.signing_key.serialize_pem())?;
            storage.set_setting(CERT_SETTING, &made.cert.pem())?;
        }
        let missing =
            || TlsError::Pem("the hub's TLS identity is missing from its database".into());
        let key_pem = storage.setting(KEY_SETTING)?.ok_or_else(missing)?;
        let cert_pem = storage.setting(CERT_SETTING)?.ok_or_else(missing)?;
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| TlsError::Pem(e.to_string()))?
            .into_owned();
        let pin = certificate_pin(&cert).map_err(|e| TlsError::Pem(e.to_string()))?;
        Ok(HubTls {
            cert,
            key_pem: key_pem.into_bytes(),
            pin,
            next: None,
        })
    }

    /// The TLS identity of the hub in `dir`, made now if it has none.
    pub fn ensure(dir: &Path) -> Result<HubTls, TlsError> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        Self::finish_interrupted(dir)?;
        if !cert_path.exists() || !key_path.exists() {
            let made = rcgen::generate_simple_self_signed(vec!["doorstep-hub".to_string()])?;
            let _ = std::fs::remove_file(&cert_path);
            let _ = std::fs::remove_file(&key_path);
            write_private(&key_path, made.signing_key.serialize_pem().as_bytes())?;
            write_private(&cert_path, made.cert.pem().as_bytes())?;
        }
        Self::read(dir)
    }

    /// A finished rotation cut short between its two renames (the key moved, the certificate
    /// did not yet) is completed.
    fn finish_interrupted(dir: &Path) -> Result<(), TlsError> {
        let next_cert = dir.join(NEXT_CERT_FILE);
        if next_cert.exists() && !dir.join(NEXT_KEY_FILE).exists() {
            let cert_path = dir.join(CERT_FILE);
            std::fs::rename(&next_cert, &cert_path).map_err(file_error(&cert_path))?;
        }
        Ok(())
    }

    /// The TLS identity of the hub in `dir` as its files hold it, never a new one: what a
    /// serving hub re-reads (a file gone missing is an error, not a new key devices would
    /// refuse).
    pub fn read(dir: &Path) -> Result<HubTls, TlsError> {
        Self::finish_interrupted(dir)?;
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        let next_cert = dir.join(NEXT_CERT_FILE);
        let key_pem = std::fs::read(&key_path).map_err(file_error(&key_path))?;
        let cert = read_certificate(&cert_path)?;
        let pin = certificate_pin(&cert).map_err(|e| TlsError::Pem(e.to_string()))?;
        let announced = dir.join(NEXT_PIN_FILE);
        let next = match std::fs::read_to_string(&announced) {
            Ok(announcement) => {
                let next = read_certificate(&next_cert)?;
                let next_pin = certificate_pin(&next).map_err(|e| TlsError::Pem(e.to_string()))?;
                Some(NextPin {
                    pin: next_pin,
                    announcement: announcement.trim().to_string(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(file_error(&announced)(e)),
        };
        Ok(HubTls {
            cert,
            key_pem,
            pin,
            next,
        })
    }

    /// Starts a rotation: makes the next key and certificate (unless one is under way) and
    /// signs the next pin with the current key. The hub keeps serving the current one.
    pub fn rotate(dir: &Path) -> Result<HubTls, TlsError> {
        let current = Self::ensure(dir)?;
        if current.next.is_some() {
            return Ok(current);
        }
        for file in [NEXT_CERT_FILE, NEXT_KEY_FILE] {
            let _ = std::fs::remove_file(dir.join(file));
        }
        let made = rcgen::generate_simple_self_signed(vec!["doorstep-hub".to_string()])?;
        write_private(
            &dir.join(NEXT_KEY_FILE),
            made.signing_key.serialize_pem().as_bytes(),
        )?;
        write_private(&dir.join(NEXT_CERT_FILE), made.cert.pem().as_bytes())?;
        let next_pin =
            certificate_pin(made.cert.der()).map_err(|e| TlsError::Pem(e.to_string()))?;
        let signature = current.sign(&doorstep_proto::pin::next_pin_message(&next_pin))?;
        let announcement = doorstep_proto::pin::next_pin_announcement(&next_pin, &signature);
        write_private(&dir.join(NEXT_PIN_FILE), announcement.as_bytes())?;
        Self::ensure(dir)
    }

    /// Ends a rotation: the next key and certificate become the hub's. Devices that learnt
    /// the next pin follow; any other must join again.
    pub fn finish_rotation(dir: &Path) -> Result<HubTls, TlsError> {
        if Self::ensure(dir)?.next.is_none() {
            return Err(TlsError::NoRotation);
        }
        let rename = |from: &str, to: &str| {
            std::fs::rename(dir.join(from), dir.join(to)).map_err(file_error(&dir.join(to)))
        };
        std::fs::remove_file(dir.join(NEXT_PIN_FILE))
            .map_err(file_error(&dir.join(NEXT_PIN_FILE)))?;
        rename(NEXT_KEY_FILE, KEY_FILE)?;
        rename(NEXT_CERT_FILE, CERT_FILE)?;
        Self::ensure(dir)
    }

    /// Signs `message` with the hub's key (ECDSA P-256, as rcgen makes it).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TlsError> {
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| TlsError::Pem(e.to_string()))?;
        let signer = rustls::crypto::ring::sign::any_ecdsa_type(&key)?
            .choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256])
            .ok_or_else(|| TlsError::Pem("the hub's key is not ECDSA P-256".into()))?;
        Ok(signer.sign(message)?)
    }

    /// The rustls server configuration (ring's cryptography, TLS 1.2 and 1.3).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| TlsError::Pem(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)?;
        Ok(Arc::new(config))
    }
}

/// Puts the TLS identity of the hub in `dir` into `storage`'s settings (a backup's copy:
/// encrypted with the database, never a plain file in the backup).
pub(crate) fn keep_files_in(
    dir: &Path,
    storage: &mut dyn crate::storage::HubStorage,
) -> Result<(), crate::HubError> {
    for (file, setting) in [(KEY_FILE, KEY_SETTING), (CERT_FILE, CERT_SETTING)] {
        let path = dir.join(file);
        let pem = std::fs::read_to_string(&path).map_err(file_error(&path))?;
        storage.set_setting(setting, &pem)?;
    }
    Ok(())
}

/// Writes the TLS identity a restored backup holds back as the files of the hub in `dir`
/// (the key 0600), so that devices' pins still match.
pub(crate) fn write_files_from(
    storage: &dyn crate::storage::HubStorage,
    dir: &Path,
) -> Result<(), crate::HubError> {
    for (file, setting) in [(KEY_FILE, KEY_SETTING), (CERT_FILE, CERT_SETTING)] {
        if let Some(pem) = storage.setting(setting)? {
            let path = dir.join(file);
            doorstep_vault::write_private(&path, pem.as_bytes())
                .map_err(crate::storage::StorageError::from)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hub's key file is readable and writable by its owner only.
    fn assert_key_is_private(dir: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_key_is_private_and_the_pin_stays_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let made = HubTls::ensure(dir.path()).unwrap();
        let again = HubTls::ensure(dir.path()).unwrap();
        assert_eq!(made.pin, again.pin);
        assert!(made.server_config().is_ok());
        assert_key_is_private(dir.path());
        let other = tempfile::tempdir().unwrap();
        assert_ne!(HubTls::ensure(other.path()).unwrap().pin, made.pin);
    }

    /// A damaged certificate or key file (a half-written copy, a restored backup gone wrong) is
    /// an error that names the file's trouble, never a panic or a silently new identity.
    #[test]
    fn damaged_tls_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        HubTls::ensure(dir.path()).unwrap();
        std::fs::write(
            dir.path().join(CERT_FILE),
            "-----BEGIN CERTIFICATE-----\nnot base64\n",
        )
        .unwrap();
        assert!(matches!(HubTls::ensure(dir.path()), Err(TlsError::Pem(_))));
        let other = tempfile::tempdir().unwrap();
        let tls = HubTls::ensure(other.path()).unwrap();
        std::fs::write(other.path().join(KEY_FILE), "garbage").unwrap();
        assert!(HubTls::ensure(other.path()).is_ok_and(|again| again.pin == tls.pin));
        assert!(matches!(
            HubTls::ensure(other.path()).and_then(|t| t.server_config()),
            Err(TlsError::Pem(_))
        ));
    }

    /// A rotation announces a next pin signed by the current key and keeps serving the
    /// current certificate; asked again it changes nothing; finishing serves the next one;
    /// finishing with none under way is refused.
    #[test]
    fn a_rotation_announces_then_serves_the_next_key() {
        let dir = tempfile::tempdir().unwrap();
        let first = HubTls::ensure(dir.path()).unwrap();
        assert!(first.next.is_none());
        assert!(matches!(
            HubTls::finish_rotation(dir.path()),
            Err(TlsError::NoRotation)
        ));
        let rotating = HubTls::rotate(dir.path()).unwrap();
        assert_eq!(rotating.pin, first.pin);
        let next = rotating.next.clone().unwrap();
        assert_ne!(next.pin, first.pin);
        assert_eq!(HubTls::rotate(dir.path()).unwrap().next, Some(next.clone()));
        let (pin, signature) =
            doorstep_proto::pin::parse_next_pin_announcement(&next.announcement).unwrap();
        assert_eq!(pin, next.pin);
        // The current key's signature, checked as a device checks it.
        let public = doorstep_proto::pin::certificate_public_key(&first.cert).unwrap();
        let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let ecdsa = algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == rustls::SignatureScheme::ECDSA_NISTP256_SHA256)
            .unwrap()
            .1;
        let message = doorstep_proto::pin::next_pin_message(&pin);
        assert!(ecdsa
            .iter()
            .any(|alg| alg.verify_signature(&public, &message, &signature).is_ok()));
        let finished = HubTls::finish_rotation(dir.path()).unwrap();
        assert_eq!(finished.pin, next.pin);
        assert!(finished.next.is_none());
        assert!(finished.server_config().is_ok());
        assert_key_is_private(dir.path());
    }

    /// A damaged next certificate (a half-copied data directory) is an error to read and to
    /// finish with, and the current key and certificate stay as they were.
    #[test]
    fn a_damaged_next_certificate_is_refused_and_the_current_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = HubTls::ensure(dir.path()).unwrap();
        HubTls::rotate(dir.path()).unwrap();
        std::fs::write(dir.path().join(NEXT_CERT_FILE), "not a certificate").unwrap();
        assert!(matches!(HubTls::read(dir.path()), Err(TlsError::Pem(_))));
        assert!(HubTls::finish_rotation(dir.path()).is_err());
        for file in [NEXT_CERT_FILE, NEXT_KEY_FILE, NEXT_PIN_FILE] {
            std::fs::remove_file(dir.path().join(file)).unwrap();
        }
        let kept = HubTls::read(dir.path()).unwrap();
        assert_eq!(kept.pin, first.pin);
        assert!(kept.server_config().is_ok());
    }

    /// Reading never makes a key: with the files gone it is an error (a serving hub keeps
    /// what it serves), while `ensure` makes a new identity.
    #[test]
    fn reading_never_makes_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let first = HubTls::ensure(dir.path()).unwrap();
        assert_eq!(HubTls::read(dir.path()).unwrap().pin, first.pin);
        std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        assert!(matches!(
            HubTls::read(dir.path()),
            Err(TlsError::File { .. })
        ));
        assert!(!dir.path().join(KEY_FILE).exists());
        assert_ne!(HubTls::ensure(dir.path()).unwrap().pin, first.pin);
    }

    /// A finish cut short after the key moved and before the certificate did is completed
    /// when the hub next reads its TLS files.
    #[test]
    fn a_finish_cut_short_is_completed() {
        let dir = tempfile::tempdir().unwrap();
        HubTls::ensure(dir.path()).unwrap();
        let next = HubTls::rotate(dir.path()).unwrap().next.unwrap();
        std::fs::remove_file(dir.path().join(NEXT_PIN_FILE)).unwrap();
        std::fs::rename(dir.path().join(NEXT_KEY_FILE), dir.path().join(KEY_FILE)).unwrap();
        let recovered = HubTls::ensure(dir.path()).unwrap();
        assert_eq!(recovered.pin, next.pin);
        assert!(recovered.server_config().is_ok());
    }
}
