//! The hub's own key and self-signed certificate, kept in its data directory (the key 0600):
//! made by `hub init` (or on first serve of a hub from before HTTPS), served with rustls, and
//! pinned by devices when they join (`doorstep_proto::pin`). Wards have no certificate
//! authority and often no internet, so the trust travels with the invite instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use doorstep_proto::pin::certificate_pin;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

const CERT_FILE: &str = "hub-cert.pem";
const KEY_FILE: &str = "hub-key.pem";

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
}

/// The hub's certificate and key, and the pin devices trust it by.
#[derive(Clone)]
pub struct HubTls {
    cert: CertificateDer<'static>,
    key_pem: Vec<u8>,
    /// The pin devices check the hub's certificate against.
    pub pin: String,
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

impl HubTls {
    /// The TLS identity of the hub in `dir`, made now if it has none.
    pub fn ensure(dir: &Path) -> Result<HubTls, TlsError> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if !cert_path.exists() || !key_path.exists() {
            let made = rcgen::generate_simple_self_signed(vec!["doorstep-hub".to_string()])?;
            let _ = std::fs::remove_file(&cert_path);
            let _ = std::fs::remove_file(&key_path);
            write_private(&key_path, made.signing_key.serialize_pem().as_bytes())?;
            write_private(&cert_path, made.cert.pem().as_bytes())?;
        }
        let cert_pem = std::fs::read(&cert_path).map_err(file_error(&cert_path))?;
        let key_pem = std::fs::read(&key_path).map_err(file_error(&key_path))?;
        let cert = CertificateDer::from_pem_slice(&cert_pem)
            .map_err(|e| TlsError::Pem(e.to_string()))?
            .into_owned();
        let pin = certificate_pin(&cert).map_err(|e| TlsError::Pem(e.to_string()))?;
        Ok(HubTls { cert, key_pem, pin })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_private_and_the_pin_stays_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let made = HubTls::ensure(dir.path()).unwrap();
        let again = HubTls::ensure(dir.path()).unwrap();
        assert_eq!(made.pin, again.pin);
        assert!(made.server_config().is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
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
}
