//! Citizens' data stays with the device's user: the database and its WAL are readable and
//! writable by the owner only (0600), whatever the umask. SQLite gives its WAL and shared-memory
//! files the database file's mode, so the database is made 0600 before SQLite first opens it.

use std::path::Path;

use crate::{Result, StoreError};

/// Makes `path` (created empty if missing) and its `-wal` and `-shm` files owner-only; a
/// database from before is tightened on open.
pub fn make_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let fail = |path: &Path, source: std::io::Error| StoreError::Private {
            path: path.display().to_string(),
            source,
        };
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| fail(path, e))?;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| fail(&file, e))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// A new database and its WAL are the owner's only; one made readable by others before
    /// is tightened when opened.
    #[test]
    fn the_database_and_its_wal_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.sqlite");
        let mut store = crate::Store::open(&db, &crate::AtRest::Plaintext).unwrap();
        store
            .init_ward("Phường Thử", &["Tổ 1".to_string()])
            .unwrap();
        let wal = dir.path().join("device.sqlite-wal");
        assert!(wal.exists());
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        drop(store);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        crate::Store::open(&db, &crate::AtRest::Plaintext).unwrap();
        assert_eq!(mode(&db), 0o600);
    }
}
