//! The operating system's keystore as a second lock on the data key, where the platform has one.
//!
//! A six-digit PIN has a million values: whoever copies a device's files (a backup of the
//! phone, a disk image of a lost laptop) could try them all offline at Argon2id's cost, about
//! two days on one core. So when a keystore is there, the PIN's wrap of the data key also needs
//! a random 256-bit secret that lives only in the keystore (Android Keystore, the desktop's
//! Secret Service): the key file's wrapping key is `HMAC-SHA256(keystore secret, Argon2id(PIN))`.
//! The files alone are then worth nothing, and the PIN still guards the phone in hand.
//!
//! The recovery code's wrap does not need the keystore: when the keystore forgets its secret
//! (an OS reinstall, a reset keyring), the recovery code still opens the data and sets a new
//! PIN, wrapped with a new keystore secret when one can be made. A platform without a usable
//! keystore gets the PIN's wrap alone, as before; [`KeyFile::keystore`](crate::KeyFile::keystore)
//! says which.
//!
//! The trait is filled per platform by the app: [`SecretService`] on Linux desktops (feature
//! `os-keystore`); Android's Keystore through a Tauri plugin (not built on this machine).

use zeroize::Zeroizing;

/// What a keystore can fail at: answering at all, or keeping a secret.
#[derive(Debug, thiserror::Error)]
#[error("the {keystore} did not answer: {reason}")]
pub struct KeystoreError {
    pub keystore: &'static str,
    pub reason: String,
}

/// A place outside the app's files that keeps small secrets for this user of this device.
pub trait Keystore: Send + Sync {
    /// Its name, for messages ("Secret Service", "Android Keystore").
    fn name(&self) -> &'static str;
    /// The secret kept under `entry`; `None` when there is none.
    fn get(&self, entry: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeystoreError>;
    /// Keeps `secret` under `entry`, replacing what was there.
    fn put(&self, entry: &str, secret: &[u8]) -> Result<(), KeystoreError>;
    /// Forgets `entry` (nothing when there is none).
    fn delete(&self, entry: &str) -> Result<(), KeystoreError>;
}

/// The desktop keystore of the freedesktop Secret Service API (GNOME Keyring, KWallet), through
/// the `keyring` crate; every entry is under the service name `doorstep`.
#[cfg(feature = "os-keystore")]
#[derive(Debug, Default, Clone, Copy)]
pub struct SecretService;

#[cfg(feature = "os-keystore")]
impl SecretService {
    const SERVICE: &'static str = "doorstep";

    fn entry(entry: &str) -> Result<keyring::Entry, KeystoreError> {
        keyring::Entry::new(Self::SERVICE, entry).map_err(Self::error)
    }

    fn error(e: keyring::Error) -> KeystoreError {
        KeystoreError {
            keystore: "Secret Service",
            reason: e.to_string(),
        }
    }

    /// Whether a Secret Service answers on this session's bus, with a secret written, read back
    /// and deleted; never a prompt (a locked keyring answers with an error, not a dialog).
    pub fn available(&self) -> bool {
        let probe = "probe";
        self.put(probe, b"probe").is_ok()
            && self
                .get(probe)
                .is_ok_and(|s| s.is_some_and(|s| s.as_slice() == b"probe"))
            && self.delete(probe).is_ok()
    }
}

#[cfg(feature = "os-keystore")]
impl Keystore for SecretService {
    fn name(&self) -> &'static str {
        "Secret Service"
    }

    fn get(&self, entry: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeystoreError> {
        match Self::entry(entry)?.get_secret() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(Self::error(e)),
        }
    }

    fn put(&self, entry: &str, secret: &[u8]) -> Result<(), KeystoreError> {
        Self::entry(entry)?.set_secret(secret).map_err(Self::error)
    }

    fn delete(&self, entry: &str) -> Result<(), KeystoreError> {
        match Self::entry(entry)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(Self::error(e)),
        }
    }
}
