//! A device's store behind its user's PIN: the key file beside the database holds the
//! database's key wrapped by the PIN (and by a recovery code); the first unlock makes both, and
//! encrypts a plaintext database from before in place, losing nothing. Where the platform has a
//! keystore the app passes it in: the PIN's wrap is then bound to a secret kept there (see
//! `doorstep_vault::Keystore`), so a copy of the files cannot be tried PIN by PIN elsewhere.
//!
//! A forgotten PIN: the recovery code shown at the first unlock opens the key and sets a new
//! PIN ([`Store::recover`]). Without it, the data cannot be read by anyone: the device must
//! join again (its synced work is at the hub); its unsynced work is lost, which is why the app
//! says so before it may be reset, and why it syncs whenever it can.

use std::path::{Path, PathBuf};

use doorstep_vault::{AtRest, Kdf, KeyFile, Keystore, RecoveryCode, SecretKind, VaultError};

use crate::{Result, Store, StoreError};

fn private_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Private {
        path: path.display().to_string(),
        source,
    }
}

const RECOVERY_CODE: &str = "recovery_code";

/// A store opened with a PIN.
pub struct Unlocked {
    pub store: Store,
    /// Made by this unlock (the first): shown once, to be written down.
    pub recovery_code: Option<RecoveryCode>,
}

impl Store {
    /// Whether the database at `path` is locked by a PIN (it has a key file).
    pub fn has_pin(path: &Path) -> bool {
        KeyFile::exists(path)
    }

    /// Wrong PINs in a row for the database at `path`, and the seconds before the next try is
    /// accepted at `now` (Unix seconds).
    pub fn wrong_pins(path: &Path, now: i64) -> (u32, u64) {
        match KeyFile::read(path) {
            Ok(file) => (file.failed(), file.wait_seconds(now)),
            Err(_) => (0, 0),
        }
    }

    /// Opens the database at `path` with `pin` (`now`: Unix seconds, for the wrong-PIN
    /// count). With no key file yet, `pin` becomes the PIN: a new key is made, a database from
    /// before is encrypted with it, and the recovery code is returned.
    pub fn unlock(
        path: &Path,
        pin: &str,
        now: i64,
        keystore: Option<&dyn Keystore>,
    ) -> Result<Unlocked> {
        if KeyFile::exists(path) {
            let key = KeyFile::read(path)?.unlock(pin, now, keystore)?;
            return Ok(Unlocked {
                store: Store::open(path, &AtRest::Encrypted(key))?,
                recovery_code: None,
            });
        }
        if path.metadata().is_ok_and(|m| m.len() > 0) && !doorstep_vault::is_plaintext(path)? {
            // Encrypted, but its key file is gone: no PIN can open it.
            return Err(VaultError::NoKeyFile {
                path: path.display().to_string(),
            }
            .into());
        }
        let (key, code) = KeyFile::create(path, pin, SecretKind::Pin, Kdf::DEFAULT, keystore)?;
        let store = Store::open(path, &AtRest::Encrypted(key))?;
        crate::set_meta(&store.conn, RECOVERY_CODE, code.as_str())?;
        Ok(Unlocked {
            store,
            recovery_code: Some(code),
        })
    }

    /// The recovery code, kept inside the encrypted database so that whoever holds the PIN
    /// can read it again to write it down (whoever holds the PIN can read everything anyway).
    pub fn recovery_code(&self) -> Result<Option<String>> {
        crate::meta(&self.conn, RECOVERY_CODE)
    }

    /// Opens the database at `path` with its recovery code, and sets `new_pin` as its PIN.
    pub fn recover(
        path: &Path,
        code: &str,
        new_pin: &str,
        now: i64,
        keystore: Option<&dyn Keystore>,
    ) -> Result<Store> {
        let key = KeyFile::read(path)?.recover(code, new_pin, now, keystore)?;
        Store::open(path, &AtRest::Encrypted(key))
    }

    /// Erases this device's data from its disk: the key file first (without it no PIN opens
    /// the database, whatever copies of it exist), overwritten with zeros then removed; then
    /// the database, its WAL and shared-memory files. For a revoked device: its unsynced work
    /// goes too, by design (the phone is lost, or its holder left the campaign). Its keystore
    /// entry, if any, is forgotten first.
    pub fn erase_files(path: &Path, keystore: Option<&dyn Keystore>) -> Result<()> {
        if let Ok(file) = KeyFile::read(path) {
            file.forget_keystore_entry(keystore);
        }
        let key = KeyFile::path_for(path);
        for file in [
            key.clone(),
            path.to_path_buf(),
            PathBuf::from(format!("{}-wal", path.display())),
            PathBuf::from(format!("{}-shm", path.display())),
        ] {
            if let Ok(meta) = std::fs::metadata(&file) {
                if file == key {
                    std::fs::write(&file, vec![0u8; meta.len() as usize])
                        .and_then(|_| std::fs::File::open(&file)?.sync_all())
                        .map_err(|source| private_error(&file, source))?;
                }
                std::fs::remove_file(&file).map_err(|source| private_error(&file, source))?;
            }
        }
        Ok(())
    }

    /// Changes the PIN (the current one must be right).
    pub fn change_pin(
        path: &Path,
        pin: &str,
        new_pin: &str,
        now: i64,
        keystore: Option<&dyn Keystore>,
    ) -> Result<()> {
        KeyFile::read(path)?.change(pin, new_pin, now, keystore)?;
        Ok(())
    }
}
