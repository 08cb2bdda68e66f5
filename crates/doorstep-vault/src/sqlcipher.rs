//! Opening a SQLCipher database, and encrypting a plaintext one in place.
//!
//! Encrypting in place: the plaintext database's WAL is checkpointed into it, the whole is
//! exported into a new encrypted file beside it (`sqlcipher_export`, with its `user_version`),
//! synced, and renamed over the original; the original's bytes are then overwritten with zeros
//! before being unlinked (on flash storage the controller may still keep old blocks: that is
//! why the plaintext era should be short, not a reason to skip it). A process killed at any
//! point leaves either the plaintext database or the encrypted one, never neither: the next
//! open finishes the job.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode};

use crate::{io, AtRest, DatabaseKey, Result, VaultError};

const HEADER: &[u8; 16] = b"SQLite format 3\0";

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// The first 16 bytes of `path`, or fewer when it is shorter (none when missing).
fn head(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let mut head = Vec::with_capacity(16);
    file.by_ref()
        .take(16)
        .read_to_end(&mut head)
        .map_err(io(path))?;
    Ok(head)
}

/// Whether `path` is an unencrypted SQLite database (a missing or empty file is not).
pub fn is_plaintext(path: &Path) -> Result<bool> {
    Ok(head(path)?.as_slice() == HEADER)
}

/// Opens the database at `path` as `at_rest` says: with a key, a plaintext database is first
/// encrypted in place and a wrong key is [`VaultError::WrongKey`]; without one, an encrypted
/// database is refused.
pub fn open_database(path: &Path, at_rest: &AtRest) -> Result<Connection> {
    finish_encrypting(path)?;
    match at_rest {
        AtRest::Plaintext => {
            let head = head(path)?;
            if !head.is_empty() && head.as_slice() != HEADER {
                return Err(VaultError::Encrypted {
                    path: path.display().to_string(),
                });
            }
            Ok(Connection::open(path)?)
        }
        AtRest::Encrypted(key) => {
            if is_plaintext(path)? {
                encrypt_in_place(path, key)?;
            }
            let conn = Connection::open(path)?;
            keyed(&conn, key)?;
            match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            }) {
                Ok(_) => {
                    tuned(&conn)?;
                    Ok(conn)
                }
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::NotADatabase => {
                    Err(VaultError::WrongKey {
                        path: path.display().to_string(),
                    })
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn keyed(conn: &Connection, key: &DatabaseKey) -> Result<()> {
    let statement = zeroize::Zeroizing::new(format!("PRAGMA key = \"{}\";", *key.sqlcipher_key()));
    conn.execute_batch(&statement)?;
    Ok(())
}

/// Settings of an encrypted connection whose key proved right.
fn tuned(conn: &Connection) -> Result<()> {
    // Zeroing every freed allocation costs SQLCipher much of its speed, and guards little here:
    // the open documents sit in the process's memory anyway.
    conn.execute_batch("PRAGMA cipher_memory_security = OFF;")?;
    // Decrypted pages stay cached (32 MiB at most, used as needed): a page read again is not
    // decrypted and authenticated again. With it an encrypted device syncs as fast as a
    // plaintext one (BENCHMARKS.md).
    conn.execute_batch("PRAGMA cache_size = -32768;")?;
    Ok(())
}

fn encrypt_in_place(path: &Path, key: &DatabaseKey) -> Result<()> {
    let encrypting = sibling(path, ".encrypting");
    remove_if_present(&encrypting)?;
    create_private(&encrypting)?;
    {
        let plain = Connection::open(path)?;
        let busy: i64 = plain.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                Some(format!(
                    "{} is in use by another process; close it to encrypt it",
                    path.display()
                )),
            )
            .into());
        }
        let version: i64 = plain.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        plain.execute(
            "ATTACH DATABASE ?1 AS encrypted KEY ?2",
            rusqlite::params![
                encrypting.display().to_string(),
                key.sqlcipher_key().as_str()
            ],
        )?;
        plain.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
        plain.execute_batch(&format!(
            "PRAGMA encrypted.user_version = {version}; DETACH DATABASE encrypted;"
        ))?;
    }
    std::fs::File::open(&encrypting)
        .and_then(|f| f.sync_all())
        .map_err(io(&encrypting))?;
    // The plaintext file keeps a second name until its bytes are overwritten.
    let plaintext = sibling(path, ".plaintext");
    remove_if_present(&plaintext)?;
    std::fs::hard_link(path, &plaintext).map_err(io(&plaintext))?;
    std::fs::rename(&encrypting, path).map_err(io(path))?;
    sync_dir(path)?;
    finish_encrypting(path)
}

/// Completes an encryption cut short: the plaintext copy is overwritten and unlinked once the
/// encrypted database has taken its name (only unlinked while it still is the database), and the
/// plaintext WAL and shared-memory files go with it.
fn finish_encrypting(path: &Path) -> Result<()> {
    let plaintext = sibling(path, ".plaintext");
    if !plaintext.exists() {
        return Ok(());
    }
    if !is_plaintext(path)? {
        for suffix in ["-wal", "-shm"] {
            remove_if_present(&sibling(path, suffix))?;
        }
        overwrite_with_zeros(&plaintext)?;
    }
    remove_if_present(&plaintext)?;
    remove_if_present(&sibling(path, ".encrypting"))?;
    sync_dir(path)
}

fn overwrite_with_zeros(path: &Path) -> Result<()> {
    use std::io::Write;
    let len = std::fs::metadata(path).map_err(io(path))?.len();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(path))?;
    let zeros = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n]).map_err(io(path))?;
        left -= n as u64;
    }
    file.sync_all().map_err(io(path))
}

fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(io(path))?;
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn all_bytes(dir: &Path) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        bytes
    }

    #[test]
    fn an_encrypted_database_holds_no_plaintext_and_opens_only_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.sqlite");
        let key = DatabaseKey::random().unwrap();
        let conn = open_database(&db, &AtRest::Encrypted(key.clone())).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (name TEXT); INSERT INTO t VALUES ('Nguyễn Văn Hiếm');")
            .unwrap();
        assert!(!contains(&all_bytes(dir.path()), "Văn Hiếm".as_bytes()));
        drop(conn);
        assert!(!is_plaintext(&db).unwrap());
        assert!(matches!(
            open_database(&db, &AtRest::Encrypted(DatabaseKey::random().unwrap())),
            Err(VaultError::WrongKey { .. })
        ));
        assert!(matches!(
            open_database(&db, &AtRest::Plaintext),
            Err(VaultError::Encrypted { .. })
        ));
        let conn = open_database(&db, &AtRest::Encrypted(key)).unwrap();
        let name: String = conn
            .query_row("SELECT name FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "Nguyễn Văn Hiếm");
    }

    /// A plaintext database, with rows still in its WAL, is encrypted in place: every row and
    /// the schema version kept, no plaintext left in any file of the directory.
    #[test]
    fn a_plaintext_database_is_encrypted_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.sqlite");
        let plain = open_database(&db, &AtRest::Plaintext).unwrap();
        plain
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA user_version = 7;
                 CREATE TABLE t (name TEXT); INSERT INTO t VALUES ('Trần Thị Chưa Đồng Bộ');",
            )
            .unwrap();
        // Kept open: the row is in the WAL only until it is checkpointed.
        assert!(contains(&all_bytes(dir.path()), "Chưa Đồng Bộ".as_bytes()));
        drop(plain);
        let key = DatabaseKey::random().unwrap();
        let conn = open_database(&db, &AtRest::Encrypted(key)).unwrap();
        let name: String = conn
            .query_row("SELECT name FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "Trần Thị Chưa Đồng Bộ");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 7);
        drop(conn);
        assert!(!contains(&all_bytes(dir.path()), "Chưa Đồng Bộ".as_bytes()));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["device.sqlite"]);
    }

    /// Killed after the encrypted copy took the database's name but before the plaintext copy
    /// was overwritten: the next open overwrites it. Killed before: the plaintext copy is the
    /// database and is left alone.
    #[test]
    fn an_encryption_cut_short_is_finished_on_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("device.sqlite");
        let plain = open_database(&db, &AtRest::Plaintext).unwrap();
        plain
            .execute_batch("CREATE TABLE t (name TEXT); INSERT INTO t VALUES ('Lê Văn Sót');")
            .unwrap();
        drop(plain);
        // Cut before the rename: only a second name of the same plaintext file.
        std::fs::hard_link(&db, sibling(&db, ".plaintext")).unwrap();
        let key = DatabaseKey::random().unwrap();
        let conn = open_database(&db, &AtRest::Encrypted(key.clone())).unwrap();
        assert_eq!(
            conn.query_row("SELECT name FROM t", [], |r| r.get::<_, String>(0))
                .unwrap(),
            "Lê Văn Sót"
        );
        drop(conn);
        // Cut after the rename: a plaintext copy lies beside the encrypted database.
        std::fs::write(sibling(&db, ".plaintext"), b"SQLite format 3\0 Le Van Sot").unwrap();
        open_database(&db, &AtRest::Encrypted(key)).unwrap();
        assert!(!sibling(&db, ".plaintext").exists());
        assert!(!contains(&all_bytes(dir.path()), b"Le Van Sot"));
    }
}
