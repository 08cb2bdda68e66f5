//! Citizens' data at rest. Every database Doorstep writes (a device's, a hub's) is a SQLCipher
//! file encrypted with a random 256-bit key ([`DatabaseKey`]); that key is never stored as
//! is, only wrapped ([`KeyFile`]): by a key derived with Argon2id from the user's PIN (or a
//! hub's passphrase) and bound to a secret in the OS keystore where there is one
//! ([`Keystore`]), and by a recovery code shown once when the key is made. A plaintext
//! database from before is encrypted in place the first time it is opened with a key
//! ([`open_database`]).
//!
//! Shared by the device store and the hub, so it links neither. What is kept where: the
//! database (`device.sqlite`, all of it encrypted: pages, WAL, free pages), its key file beside
//! it (`device.sqlite.key`, JSON: Argon2id parameters, salts, the wrapped keys and the count of
//! wrong PINs, nothing secret in clear).

mod key;
mod keyfile;
mod keystore;
mod sqlcipher;

pub use key::{AtRest, DatabaseKey};
pub use keyfile::{write_private, Kdf, KeyFile, RecoveryCode, SecretKind};
#[cfg(feature = "os-keystore")]
pub use keystore::SecretService;
pub use keystore::{Keystore, KeystoreError};
pub use sqlcipher::{is_plaintext, open_database};

/// What can go wrong keeping data at rest.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("wrong {kind}: {failed} wrong in a row{}", wait_note(*wait_seconds))]
    WrongSecret {
        kind: SecretKind,
        failed: u32,
        /// Seconds before the next try is accepted (0: at once).
        wait_seconds: u64,
    },
    #[error("too many wrong tries: wait {wait_seconds} s before trying again")]
    TooSoon { wait_seconds: u64 },
    #[error("{0}")]
    WeakSecret(String),
    #[error("wrong recovery code")]
    WrongRecoveryCode,
    #[error("the system keystore is needed to open this data with the PIN: {reason}; the recovery code opens it without")]
    KeystoreUnavailable { reason: String },
    #[error("{path} has no key file: it was never locked with a PIN or passphrase")]
    NoKeyFile { path: String },
    #[error("{path} already has a key file")]
    KeyFileExists { path: String },
    #[error("the key file {path} is damaged: {reason}")]
    BadKeyFile { path: String, reason: String },
    #[error("{path} is encrypted: it opens only with its key")]
    Encrypted { path: String },
    #[error("{path} does not open with this key (a wrong key, or not a Doorstep database)")]
    WrongKey { path: String },
    #[error("the system's random source failed: {0}")]
    Random(String),
    #[error("key derivation failed: {0}")]
    Kdf(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl VaultError {
    /// The stable code of this error.
    pub fn code(&self) -> doorstep_domain::ErrorCode {
        use doorstep_domain::ErrorCode;
        match self {
            VaultError::WrongSecret { .. } => ErrorCode::WrongPin,
            VaultError::TooSoon { .. } => ErrorCode::WaitBeforeRetry,
            VaultError::WeakSecret(_) => ErrorCode::WeakPin,
            VaultError::WrongRecoveryCode => ErrorCode::WrongRecoveryCode,
            VaultError::KeystoreUnavailable { .. } => ErrorCode::KeystoreUnavailable,
            VaultError::WrongKey { .. } => ErrorCode::WrongDatabaseKey,
            VaultError::Encrypted { .. } | VaultError::NoKeyFile { .. } => {
                ErrorCode::DatabaseEncrypted
            }
            VaultError::KeyFileExists { .. }
            | VaultError::BadKeyFile { .. }
            | VaultError::Random(_)
            | VaultError::Kdf(_)
            | VaultError::Io { .. }
            | VaultError::Sqlite(_) => ErrorCode::Internal,
        }
    }
}

fn wait_note(wait_seconds: u64) -> String {
    if wait_seconds == 0 {
        String::new()
    } else {
        format!("; wait {wait_seconds} s before the next try")
    }
}

pub type Result<T, E = VaultError> = std::result::Result<T, E>;

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `N` bytes from the operating system's random source (keys, device keys).
pub fn random<const N: usize>() -> Result<[u8; N]> {
    use rand_core::TryRngCore;
    let mut bytes = [0u8; N];
    rand_core::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| VaultError::Random(e.to_string()))?;
    Ok(bytes)
}
