//! The key file beside a database: its data key wrapped twice (by the PIN or passphrase through
//! Argon2id, and by a recovery code), and the count of wrong tries, which survives restarts.
//!
//! Wrong tries slow down: the first four are free, the fifth and each after it make the next
//! try wait 30 s, doubling up to an hour. Nothing is ever wiped for wrong tries: a device's
//! unsynced work must not be lost to a child playing with the phone. The count is written
//! before the PIN is tried, so a process killed mid-try has still spent it. (Someone who copies
//! the files can try PINs offline, at Argon2id's cost each; that is why the count is a brake on
//! the person holding the phone, and why a PIN is at least six digits.)

use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{io, random, DatabaseKey, Keystore, Result, VaultError};

/// Tries that cost nothing before the waits begin.
const FREE_TRIES: u32 = 4;
/// The first wait; each wrong try after doubles it, up to [`MAX_WAIT_SECONDS`].
const FIRST_WAIT_SECONDS: u64 = 30;
const MAX_WAIT_SECONDS: u64 = 3600;
/// Bound to every wrapped key: a wrapped key cut from another file format does not unwrap.
const ASSOCIATED_DATA: &[u8] = b"doorstep data key v1";

/// What unlocks a key file: a device user's PIN or a hub's passphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// At least six digits, typed on the phone's number pad.
    Pin,
    /// At least ten characters.
    Passphrase,
}

impl std::fmt::Display for SecretKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecretKind::Pin => "PIN",
            SecretKind::Passphrase => "passphrase",
        })
    }
}

impl SecretKind {
    /// Refuses a PIN or passphrase too weak to stand for the data.
    pub fn check(self, secret: &str) -> Result<()> {
        match self {
            SecretKind::Pin if secret.len() < 6 || !secret.bytes().all(|b| b.is_ascii_digit()) => {
                Err(VaultError::WeakSecret(
                    "a PIN is at least 6 digits (0–9), nothing else".into(),
                ))
            }
            SecretKind::Passphrase if secret.chars().count() < 10 => Err(VaultError::WeakSecret(
                "a passphrase is at least 10 characters".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Argon2id's cost, kept in the key file so that a file made with other costs still opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kdf {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Kdf {
    /// 64 MiB, 3 passes, one lane: RFC 9106's second recommended setting with one lane (phones
    /// run the derivation on one core). About a third of a second here; see BENCHMARKS.md.
    pub const DEFAULT: Kdf = Kdf {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    fn derive(&self, secret: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|e| VaultError::Kdf(e.to_string()))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(secret, salt, out.as_mut_slice())
            .map_err(|e| VaultError::Kdf(e.to_string()))?;
        Ok(out)
    }
}

/// A code that unlocks the data key when the PIN is forgotten: 24 letters and digits (about
/// 120 bits), shown once when the key is made, to be written down and kept apart from the
/// phone (the coordinator's sheet).
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    const ALPHABET: &'static [u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    fn random() -> Result<RecoveryCode> {
        let bytes: [u8; 24] = random()?;
        let chars: Vec<u8> = bytes
            .iter()
            .map(|b| Self::ALPHABET[usize::from(*b) % Self::ALPHABET.len()])
            .collect();
        let groups: Vec<&str> = chars
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        Ok(RecoveryCode(Zeroizing::new(groups.join("-"))))
    }

    /// As printed: six groups of four, e.g. `ABCD-EFGH-…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case, spaces and dashes do not matter when typed back.
    fn normalized(typed: &str) -> Zeroizing<String> {
        Zeroizing::new(
            typed
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        )
    }
}

#[derive(Serialize, Deserialize, Clone)]
struct Wrapped {
    salt: String,
    nonce: String,
    key: String,
}

impl Wrapped {
    fn seal(data_key: &DatabaseKey, wrapping: &[u8; 32], salt: [u8; 16]) -> Result<Wrapped> {
        let nonce: [u8; 24] = random()?;
        let cipher = XChaCha20Poly1305::new(wrapping.into());
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: data_key.as_bytes(),
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| VaultError::Kdf("sealing the data key failed".into()))?;
        Ok(Wrapped {
            salt: B64.encode(salt),
            nonce: B64.encode(nonce),
            key: B64.encode(sealed),
        })
    }

    fn salt(&self) -> Option<Vec<u8>> {
        B64.decode(&self.salt).ok()
    }

    /// The data key, or `None` when `wrapping` is not the key it was sealed with.
    fn open(&self, wrapping: &[u8; 32]) -> Option<DatabaseKey> {
        let nonce = B64.decode(&self.nonce).ok().filter(|n| n.len() == 24)?;
        let sealed = B64.decode(&self.key).ok()?;
        let plain = Zeroizing::new(
            XChaCha20Poly1305::new(wrapping.into())
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed,
                        aad: ASSOCIATED_DATA,
                    },
                )
                .ok()?,
        );
        let bytes: [u8; 32] = plain.as_slice().try_into().ok()?;
        Some(DatabaseKey::from_bytes(bytes))
    }
}

#[derive(Serialize, Deserialize, Clone)]
struct Contents {
    version: u32,
    kind: SecretKind,
    kdf: Kdf,
    secret: Wrapped,
    recovery: Wrapped,
    failed: u32,
    last_failure_at: Option<i64>,
    /// The keystore entry whose secret the PIN's wrap also needs (see `keystore.rs`); none
    /// where the platform has no keystore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keystore: Option<String>,
}

/// The key file of one database.
pub struct KeyFile {
    path: PathBuf,
    contents: Contents,
}

/// The recovery code is random and long: a keyed hash of it (HMAC-SHA256 with the salt) is key
/// enough, no slow derivation needed.
fn recovery_wrapping(code: &str, salt: &[u8]) -> Zeroizing<[u8; 32]> {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(salt).expect("HMAC takes a key of any length");
    mac.update(RecoveryCode::normalized(code).as_bytes());
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The key that wraps the data key for a PIN or passphrase: Argon2id of it, bound to the
/// keystore's secret when there is one.
fn secret_wrapping(
    kdf: &Kdf,
    secret: &str,
    salt: &[u8],
    keystore_secret: Option<&[u8]>,
) -> Result<Zeroizing<[u8; 32]>> {
    use hmac::{Hmac, Mac};
    let derived = kdf.derive(secret.as_bytes(), salt)?;
    let Some(keystore_secret) = keystore_secret else {
        return Ok(derived);
    };
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(keystore_secret)
        .expect("HMAC takes a key of any length");
    mac.update(derived.as_slice());
    Ok(Zeroizing::new(mac.finalize().into_bytes().into()))
}

/// A new random secret kept in `keystore` under a new entry; `None` when there is no keystore
/// or it cannot keep one (the PIN's wrap then stands alone).
fn new_keystore_secret(
    keystore: Option<&dyn Keystore>,
) -> Result<Option<(String, Zeroizing<[u8; 32]>)>> {
    let Some(keystore) = keystore else {
        return Ok(None);
    };
    let name: [u8; 12] = random()?;
    let entry = format!(
        "data key {}",
        name.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let secret = Zeroizing::new(random::<32>()?);
    Ok(keystore
        .put(&entry, secret.as_slice())
        .ok()
        .map(|()| (entry, secret)))
}

impl KeyFile {
    /// Where the key file of the database at `database` is: beside it, `NAME.key`.
    pub fn path_for(database: &Path) -> PathBuf {
        PathBuf::from(format!("{}.key", database.display()))
    }

    pub fn exists(database: &Path) -> bool {
        Self::path_for(database).exists()
    }

    /// Makes a new random data key for `database`, wrapped by `secret` (bound to a new secret
    /// in `keystore`, when one is given and keeps it) and by a new recovery code, and writes
    /// the key file (0600). Refused when one exists: a second key would make the database
    /// unreadable.
    pub fn create(
        database: &Path,
        secret: &str,
        kind: SecretKind,
        kdf: Kdf,
        keystore: Option<&dyn Keystore>,
    ) -> Result<(DatabaseKey, RecoveryCode)> {
        kind.check(secret)?;
        let path = Self::path_for(database);
        if path.exists() {
            return Err(VaultError::KeyFileExists {
                path: path.display().to_string(),
            });
        }
        let key = DatabaseKey::random()?;
        let code = RecoveryCode::random()?;
        let salt: [u8; 16] = random()?;
        let kept = new_keystore_secret(keystore)?;
        let wrapping = secret_wrapping(
            &kdf,
            secret,
            &salt,
            kept.as_ref().map(|(_, s)| s.as_slice()),
        )?;
        let secret_wrapped = Wrapped::seal(&key, &wrapping, salt)?;
        let recovery_salt: [u8; 16] = random()?;
        let recovery = Wrapped::seal(
            &key,
            &recovery_wrapping(code.as_str(), &recovery_salt),
            recovery_salt,
        )?;
        let file = KeyFile {
            path,
            contents: Contents {
                version: 1,
                kind,
                kdf,
                secret: secret_wrapped,
                recovery,
                failed: 0,
                last_failure_at: None,
                keystore: kept.map(|(entry, _)| entry),
            },
        };
        file.save()?;
        Ok((key, code))
    }

    /// Reads the key file of `database`.
    pub fn read(database: &Path) -> Result<KeyFile> {
        let path = Self::path_for(database);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::NoKeyFile {
                    path: database.display().to_string(),
                })
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let contents: Contents =
            serde_json::from_str(&text).map_err(|e| VaultError::BadKeyFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(KeyFile { path, contents })
    }

    pub fn kind(&self) -> SecretKind {
        self.contents.kind
    }

    /// Wrong tries in a row so far.
    pub fn failed(&self) -> u32 {
        self.contents.failed
    }

    /// Seconds until another try is accepted, at `now` (Unix seconds).
    pub fn wait_seconds(&self, now: i64) -> u64 {
        let Some(last) = self.contents.last_failure_at else {
            return 0;
        };
        let until = last
            .saturating_add(i64::try_from(wait_after(self.contents.failed)).unwrap_or(i64::MAX));
        u64::try_from(until.saturating_sub(now)).unwrap_or(0)
    }

    /// The keystore entry the PIN's wrap is bound to, if any.
    pub fn keystore(&self) -> Option<&str> {
        self.contents.keystore.as_deref()
    }

    /// The secret of this file's keystore entry, when its PIN wrap is bound to one. Asked
    /// before a try is counted: a keystore that does not answer is not a wrong PIN.
    fn keystore_secret(
        &self,
        keystore: Option<&dyn Keystore>,
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let Some(entry) = &self.contents.keystore else {
            return Ok(None);
        };
        let keystore = keystore.ok_or_else(|| VaultError::KeystoreUnavailable {
            reason: "this key file needs the system keystore, and there is none here".into(),
        })?;
        match keystore.get(entry) {
            Ok(Some(secret)) => Ok(Some(secret)),
            Ok(None) => Err(VaultError::KeystoreUnavailable {
                reason: format!("the {} no longer holds this device's key", keystore.name()),
            }),
            Err(e) => Err(VaultError::KeystoreUnavailable {
                reason: e.to_string(),
            }),
        }
    }

    /// Forgets this file's keystore entry (for a wiped device); a keystore that does not
    /// answer is left as it is (its secret opens nothing without the key file).
    pub fn forget_keystore_entry(&self, keystore: Option<&dyn Keystore>) {
        if let (Some(entry), Some(keystore)) = (&self.contents.keystore, keystore) {
            let _ = keystore.delete(entry);
        }
    }

    /// The data key, when `secret` is right; a wrong one is counted (in the file, before
    /// trying) and answered with how long the next try must wait. A key file bound to the
    /// keystore needs it (`keystore_unavailable` otherwise: the recovery code still opens).
    pub fn unlock(
        &mut self,
        secret: &str,
        now: i64,
        keystore: Option<&dyn Keystore>,
    ) -> Result<DatabaseKey> {
        let keystore_secret = self.keystore_secret(keystore)?;
        self.before_try(now)?;
        let wrapping = self.contents.secret.salt().map(|salt| {
            secret_wrapping(
                &self.contents.kdf,
                secret,
                &salt,
                keystore_secret.as_deref().map(Vec::as_slice),
            )
        });
        let key = match wrapping {
            Some(wrapping) => self.contents.secret.open(&*wrapping?),
            None => None,
        };
        self.after_try(key)
    }

    /// The data key from the recovery code, re-wrapped by `new_secret` (the forgotten PIN no
    /// longer opens it) and a new keystore secret when `keystore` keeps one. Wrong codes count
    /// as wrong tries; the keystore is not needed to recover.
    pub fn recover(
        &mut self,
        code: &str,
        new_secret: &str,
        now: i64,
        keystore: Option<&dyn Keystore>,
    ) -> Result<DatabaseKey> {
        self.contents.kind.check(new_secret)?;
        self.before_try(now)?;
        let key = self
            .contents
            .recovery
            .salt()
            .and_then(|salt| self.contents.recovery.open(&recovery_wrapping(code, &salt)));
        let key = match self.after_try(key) {
            Err(VaultError::WrongSecret { .. }) => return Err(VaultError::WrongRecoveryCode),
            other => other?,
        };
        self.rewrap(&key, new_secret, keystore)?;
        Ok(key)
    }

    /// Changes the PIN or passphrase (the old one must be right).
    pub fn change(
        &mut self,
        old: &str,
        new: &str,
        now: i64,
        keystore: Option<&dyn Keystore>,
    ) -> Result<DatabaseKey> {
        self.contents.kind.check(new)?;
        let key = self.unlock(old, now, keystore)?;
        self.rewrap(&key, new, keystore)?;
        Ok(key)
    }

    /// Wraps `key` by `secret` anew, bound to a new keystore entry when `keystore` keeps one;
    /// the old entry is forgotten once the file no longer names it.
    fn rewrap(
        &mut self,
        key: &DatabaseKey,
        secret: &str,
        keystore: Option<&dyn Keystore>,
    ) -> Result<()> {
        let salt: [u8; 16] = random()?;
        let kept = new_keystore_secret(keystore)?;
        let wrapping = secret_wrapping(
            &self.contents.kdf,
            secret,
            &salt,
            kept.as_ref().map(|(_, s)| s.as_slice()),
        )?;
        self.contents.secret = Wrapped::seal(key, &wrapping, salt)?;
        let old = std::mem::replace(&mut self.contents.keystore, kept.map(|(entry, _)| entry));
        self.save()?;
        if let (Some(old), Some(keystore)) = (old, keystore) {
            let _ = keystore.delete(&old);
        }
        Ok(())
    }

    fn before_try(&mut self, now: i64) -> Result<()> {
        let wait_seconds = self.wait_seconds(now);
        if wait_seconds > 0 {
            return Err(VaultError::TooSoon { wait_seconds });
        }
        self.contents.failed = self.contents.failed.saturating_add(1);
        self.contents.last_failure_at = Some(now);
        self.save()
    }

    fn after_try(&mut self, key: Option<DatabaseKey>) -> Result<DatabaseKey> {
        match key {
            Some(key) => {
                self.contents.failed = 0;
                self.contents.last_failure_at = None;
                self.save()?;
                Ok(key)
            }
            None => Err(VaultError::WrongSecret {
                kind: self.contents.kind,
                failed: self.contents.failed,
                wait_seconds: wait_after(self.contents.failed),
            }),
        }
    }

    /// Writes the file whole (a temporary file, synced, renamed over), owner-only.
    fn save(&self) -> Result<()> {
        let text =
            serde_json::to_vec_pretty(&self.contents).map_err(|e| VaultError::BadKeyFile {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            })?;
        write_private(&self.path, &text)
    }
}

/// How long a try must wait after `failed` wrong ones in a row.
fn wait_after(failed: u32) -> u64 {
    if failed <= FREE_TRIES {
        return 0;
    }
    let doublings = (failed - FREE_TRIES - 1).min(16);
    (FIRST_WAIT_SECONDS << doublings).min(MAX_WAIT_SECONDS)
}

/// Writes `bytes` to `path` whole and owner-only (0600): a temporary file beside it, synced,
/// renamed over.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap costs: these tests are about the file, not Argon2id's strength.
    const CHEAP: Kdf = Kdf {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn the_pin_unlocks_the_key_and_a_wrong_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.sqlite");
        let (key, code) = KeyFile::create(&db, "123456", SecretKind::Pin, CHEAP, None).unwrap();
        assert_eq!(code.as_str().len(), 29);
        let mut file = KeyFile::read(&db).unwrap();
        assert_eq!(
            file.unlock("123456", 0, None).unwrap().as_bytes(),
            key.as_bytes()
        );
        assert!(matches!(
            file.unlock("654321", 0, None),
            Err(VaultError::WrongSecret {
                failed: 1,
                wait_seconds: 0,
                ..
            })
        ));
        // The file holds neither the key nor the PIN in clear.
        let text = std::fs::read_to_string(KeyFile::path_for(&db)).unwrap();
        assert!(!text.contains("123456"));
        assert!(!text.contains(&B64.encode(key.as_bytes())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(KeyFile::path_for(&db))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            KeyFile::create(&db, "123456", SecretKind::Pin, CHEAP, None),
            Err(VaultError::KeyFileExists { .. })
        ));
    }

    /// Wrong PINs slow down, and the count survives a restart (a new read of the file).
    #[test]
    fn wrong_tries_slow_down_and_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.sqlite");
        KeyFile::create(&db, "123456", SecretKind::Pin, CHEAP, None).unwrap();
        for n in 1..=4 {
            let mut file = KeyFile::read(&db).unwrap();
            match file.unlock("000000", 100, None) {
                Err(VaultError::WrongSecret {
                    failed,
                    wait_seconds,
                    ..
                }) => {
                    assert_eq!((failed, wait_seconds), (n, 0))
                }
                other => panic!("{other:?}"),
            }
        }
        let mut file = KeyFile::read(&db).unwrap();
        assert!(matches!(
            file.unlock("000000", 100, None),
            Err(VaultError::WrongSecret {
                failed: 5,
                wait_seconds: 30,
                ..
            })
        ));
        // Restarted: even the right PIN waits.
        let mut file = KeyFile::read(&db).unwrap();
        assert_eq!(file.failed(), 5);
        assert!(matches!(
            file.unlock("123456", 110, None),
            Err(VaultError::TooSoon { wait_seconds: 20 })
        ));
        assert!(matches!(
            file.unlock("000000", 130, None),
            Err(VaultError::WrongSecret {
                failed: 6,
                wait_seconds: 60,
                ..
            })
        ));
        assert!(matches!(
            KeyFile::read(&db).unwrap().unlock("123456", 150, None),
            Err(VaultError::TooSoon { wait_seconds: 40 })
        ));
        file.unlock("123456", 190, None).unwrap();
        assert_eq!(KeyFile::read(&db).unwrap().failed(), 0);
        assert_eq!(wait_after(40), MAX_WAIT_SECONDS);
    }

    /// A forgotten PIN: the recovery code opens the key and sets a new PIN; the old PIN is dead.
    #[test]
    fn the_recovery_code_replaces_a_forgotten_pin() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.sqlite");
        let (key, code) = KeyFile::create(&db, "123456", SecretKind::Pin, CHEAP, None).unwrap();
        let mut file = KeyFile::read(&db).unwrap();
        assert!(matches!(
            file.recover("AAAA-BBBB", "222222", 0, None),
            Err(VaultError::WrongRecoveryCode)
        ));
        let typed = code.as_str().to_lowercase().replace('-', " ");
        let recovered = file.recover(&typed, "222222", 0, None).unwrap();
        assert_eq!(recovered.as_bytes(), key.as_bytes());
        let mut file = KeyFile::read(&db).unwrap();
        assert!(file.unlock("123456", 0, None).is_err());
        assert_eq!(
            file.unlock("222222", 0, None).unwrap().as_bytes(),
            key.as_bytes()
        );
    }

    #[test]
    fn weak_secrets_and_damaged_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hub.sqlite");
        for (secret, kind) in [
            ("12345", SecretKind::Pin),
            ("12345a", SecretKind::Pin),
            ("short pass", SecretKind::Pin),
            ("too short", SecretKind::Passphrase),
        ] {
            assert!(matches!(
                KeyFile::create(&db, secret, kind, CHEAP, None),
                Err(VaultError::WeakSecret(_))
            ));
        }
        assert!(matches!(
            KeyFile::read(&db),
            Err(VaultError::NoKeyFile { .. })
        ));
        std::fs::write(KeyFile::path_for(&db), b"{not json").unwrap();
        assert!(matches!(
            KeyFile::read(&db),
            Err(VaultError::BadKeyFile { .. })
        ));
    }
}
