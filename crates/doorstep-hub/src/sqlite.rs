//! The hub's embedded storage: one SQLite file in the hub's data directory (WAL, fsync on
//! commit), so that the admin commands can work on it while the hub serves.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use doorstep_doc::{DocId, PublicKey};
use doorstep_domain::{Id, Role};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::storage::*;
use doorstep_vault::{AtRest, Kdf, KeyFile, RecoveryCode, SecretKind, VaultError};

/// The hub database's migrations: `PRAGMA user_version` counts those that ran. They only ever
/// append; the first is written `IF NOT EXISTS` because hubs made before versioning hold its
/// tables at version 0.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS documents (
    doc_id       TEXT PRIMARY KEY,
    snapshot     BLOB NOT NULL DEFAULT X'',
    snapshot_seq INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE IF NOT EXISTS changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id      TEXT NOT NULL REFERENCES documents(doc_id),
    hash        BLOB NOT NULL UNIQUE,
    origin      TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    bytes       BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS changes_by_doc ON changes(doc_id, seq);
-- Every pull asks which snapshots are newer than its cursor. Without this index SQLite reads
-- each row's snapshot_seq, which sits after the snapshot blob, through its overflow pages:
-- every document's bytes read on every sync round.
CREATE INDEX IF NOT EXISTS documents_by_snapshot_seq ON documents(snapshot_seq);
-- Kept when changes are compacted away: a retried push learns the first receive time.
CREATE TABLE IF NOT EXISTS receipts (
    hash        BLOB PRIMARY KEY,
    received_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS devices (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    role             TEXT NOT NULL,
    groups           TEXT NOT NULL,
    points           TEXT NOT NULL,
    token_hash       TEXT NOT NULL UNIQUE,
    token_expires_at INTEGER NOT NULL,
    joined_at        INTEGER NOT NULL,
    last_seen_at     INTEGER,
    revoked_at       INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS invites (
    code_hash  TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    name       TEXT NOT NULL,
    groups     TEXT NOT NULL,
    points     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    used_by    TEXT
) STRICT;
"#,
    // 1: token rotation. A device's previous token stays valid until its new one is first
    // used (the answer carrying the new one may be lost on the way).
    r#"
ALTER TABLE devices ADD COLUMN previous_token_hash TEXT;
ALTER TABLE devices ADD COLUMN token_issued_at INTEGER;
UPDATE devices SET token_issued_at = joined_at;
CREATE UNIQUE INDEX devices_by_previous_token ON devices(previous_token_hash);
"#,
    // 2: certificate rotation: the next pin each device was told of.
    r#"
ALTER TABLE devices ADD COLUMN next_pin TEXT;
"#,
    // 3: erasure (issue 12). A document's epoch (it goes up when the hub rewrites the document
    // without its history), and the audit log, which nothing deletes: who changed or erased
    // which records and fields, when, never a value.
    r#"
ALTER TABLE documents ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    device  TEXT NOT NULL,
    doc_id  TEXT NOT NULL,
    event   TEXT NOT NULL,
    change  TEXT,
    records TEXT NOT NULL
) STRICT;
CREATE TABLE audit_records (
    audit_seq INTEGER NOT NULL REFERENCES audit(seq),
    record    TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_record ON audit_records(record);
CREATE TRIGGER audit_is_append_only BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_unchangeable BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    // 4: signed changes (issue 24). A device's Ed25519 key, given at join; who signed each
    // change and the signature, kept with its receipt (through compaction and new epochs).
    r#"
ALTER TABLE devices ADD COLUMN key BLOB;
ALTER TABLE receipts ADD COLUMN signer TEXT;
ALTER TABLE receipts ADD COLUMN signature BLOB;
"#,
];

/// Brings the hub database to the newest schema, in one transaction.
fn migrate(conn: &mut Connection) -> StorageResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(StorageError::Corrupt {
            what: "hub schema version (made by a newer doorstep)",
            value: version.to_string(),
        });
    }
    for sql in &MIGRATIONS[version..] {
        tx.execute_batch(sql)?;
    }
    if version < MIGRATIONS.len() {
        tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// The hub's directory is its owner's only (0700), and its database (0600, made so before
/// SQLite first opens it: the WAL and shared-memory files take the database's mode); a hub
/// from before is tightened when opened.
fn keep_private(dir: &Path, db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(db)?;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, db);
    Ok(())
}

/// The hub's database in `dir`.
pub fn database_path(dir: &Path) -> PathBuf {
    dir.join("hub.sqlite")
}

/// Whether the hub in `dir` has a passphrase (its key file).
pub fn has_passphrase(dir: &Path) -> bool {
    KeyFile::exists(&database_path(dir))
}

/// The hub's database key, unwrapped by `passphrase` (`now`: Unix seconds, for the count of
/// wrong tries). A hub without a key file yet takes `passphrase` as its passphrase: a new key
/// is made (its recovery code returned, to be written down) and a plaintext hub database from
/// before is encrypted with it on open.
pub fn unlock(
    dir: &Path,
    passphrase: &str,
    now: i64,
) -> Result<(AtRest, Option<RecoveryCode>), VaultError> {
    let db = database_path(dir);
    if KeyFile::exists(&db) {
        let key = KeyFile::read(&db)?.unlock(passphrase, now, None)?;
        return Ok((AtRest::Encrypted(key), None));
    }
    if db.metadata().is_ok_and(|m| m.len() > 0) && !doorstep_vault::is_plaintext(&db)? {
        return Err(VaultError::NoKeyFile {
            path: db.display().to_string(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| VaultError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let (key, code) = KeyFile::create(&db, passphrase, SecretKind::Passphrase, Kdf::DEFAULT, None)?;
    Ok((AtRest::Encrypted(key), Some(code)))
}

/// What a pull from `cursor` up to `last` still holds for a device (`storage::remaining_in`):
/// lengths only, summed by SQLite without reading the bytes.
fn remaining_after(
    conn: &Connection,
    cursor: i64,
    last: i64,
    scope: Option<&HashSet<DocId>>,
    origin: &str,
) -> StorageResult<u64> {
    let mut sums = Vec::new();
    let mut read = |mut rows: rusqlite::Rows<'_>| -> StorageResult<()> {
        while let Some(row) = rows.next()? {
            let doc: String = row.get(0)?;
            if let Ok(doc) = doc.parse::<DocId>() {
                sums.push((doc, row.get::<_, i64>(1)?));
            }
        }
        Ok(())
    };
    read(
        conn.prepare_cached(
            "SELECT doc_id, length(snapshot) FROM documents
             WHERE snapshot_seq > ?1 AND snapshot_seq <= ?2",
        )?
        .query(params![cursor, last])?,
    )?;
    read(
        conn.prepare_cached(
            "SELECT doc_id, sum(length(bytes)) FROM changes
             WHERE seq > ?1 AND seq <= ?2 AND origin != ?3 GROUP BY doc_id",
        )?
        .query(params![cursor, last, origin])?,
    )?;
    Ok(remaining_in(sums, scope))
}

/// Appends audit lines inside the caller's transaction.
fn insert_audit(tx: &rusqlite::Transaction<'_>, entries: &[AuditEntry]) -> StorageResult<()> {
    let mut entry = tx.prepare_cached(
        "INSERT INTO audit (at, device, doc_id, event, change, records)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut record =
        tx.prepare_cached("INSERT INTO audit_records (audit_seq, record) VALUES (?1, ?2)")?;
    for e in entries {
        let records = serde_json::to_string(&e.records).unwrap_or_else(|_| "[]".into());
        entry.execute(params![
            ms(e.at),
            e.device,
            e.doc,
            e.event,
            e.change,
            records
        ])?;
        let seq = tx.last_insert_rowid();
        for r in &e.records {
            record.execute(params![seq, r.id.to_string()])?;
            if let Some(h) = r.household {
                record.execute(params![seq, h.to_string()])?;
            }
        }
    }
    Ok(())
}

/// The hub's SQLite file.
pub struct SqliteStorage {
    conn: Connection,
}

fn bad_row(what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("bad {what}").into(),
    )
}

/// A pulled change's signature, kept with its receipt.
const SIGNATURE: &str = "(SELECT signature FROM receipts r WHERE r.hash = changes.hash)";

const DEVICE_COLUMNS: &str = "id, name, role, groups, points, joined_at, last_seen_at, \
     revoked_at, token_expires_at, coalesce(token_issued_at, joined_at), \
     previous_token_hash IS NOT NULL, next_pin, key";

fn device(row: &Row) -> rusqlite::Result<DeviceRecord> {
    let id: String = row.get(0)?;
    let role: String = row.get(2)?;
    Ok(DeviceRecord {
        id: Id::parse_str(&id).map_err(|_| bad_row("device id"))?,
        name: row.get(1)?,
        role: role.parse().map_err(|_| bad_row("role"))?,
        groups: ids(&row.get::<_, String>(3)?),
        points: ids(&row.get::<_, String>(4)?),
        joined_at: time(row.get(5)?),
        last_seen_at: row.get::<_, Option<i64>>(6)?.map(time),
        revoked_at: row.get::<_, Option<i64>>(7)?.map(time),
        token_expires_at: time(row.get(8)?),
        token_issued_at: time(row.get(9)?),
        rotating: row.get(10)?,
        next_pin: row.get(11)?,
        key: match row.get::<_, Option<Vec<u8>>>(12)? {
            Some(bytes) => Some(PublicKey::from_slice(&bytes).ok_or_else(|| bad_row("key"))?),
            None => None,
        },
    })
}

impl SqliteStorage {
    /// Opens (creating if needed) `hub.sqlite` in `dir`, kept at rest as `at_rest` says.
    pub fn open(dir: &Path, at_rest: &AtRest) -> StorageResult<Self> {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
        let path = database_path(dir);
        keep_private(dir, &path).map_err(|source| StorageError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
        Self::from_connection(doorstep_vault::open_database(&path, at_rest)?)
    }

    /// The hub's storage on an open connection (a backup's copy).
    pub(crate) fn from_connection(mut conn: Connection) -> StorageResult<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Deleted rows (an erased document's changes) are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", true)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut conn)?;
        Ok(SqliteStorage { conn })
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl HubStorage for SqliteStorage {
    fn ward(&self) -> StorageResult<Option<(Id, String)>> {
        let get = |key: &str| -> StorageResult<Option<String>> {
            Ok(self
                .conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        };
        Ok(match (get("ward_id")?, get("ward_name")?) {
            (Some(id), Some(name)) => Id::parse_str(&id).ok().map(|id| (id, name)),
            _ => None,
        })
    }

    fn set_ward(&mut self, id: Id, name: &str) -> StorageResult<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('ward_id', ?1)",
            [id.to_string()],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('ward_name', ?1)",
            [name],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn document_ids(&self) -> StorageResult<Vec<DocId>> {
        let mut stmt = self
            .conn
            .prepare("SELECT doc_id FROM documents ORDER BY doc_id")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.iter()
            .map(|s| {
                s.parse().map_err(|_| StorageError::Corrupt {
                    what: "document id",
                    value: s.clone(),
                })
            })
            .collect()
    }

    fn append_changes(
        &mut self,
        changes: &[NewChange],
        origin: &str,
        received_at: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StorageResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        check_epochs(changes, |key| {
            Ok(tx
                .prepare_cached("SELECT epoch FROM documents WHERE doc_id = ?1")?
                .query_row([key], |r| r.get::<_, i64>(0))
                .optional()?)
        })?;
        {
            let mut doc =
                tx.prepare_cached("INSERT OR IGNORE INTO documents (doc_id) VALUES (?1)")?;
            let mut change = tx.prepare_cached(
                "INSERT OR IGNORE INTO changes (doc_id, hash, origin, received_at, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut receipt = tx.prepare_cached(
                "INSERT OR IGNORE INTO receipts (hash, received_at, signer, signature)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for c in changes {
                let key = c.doc.to_string();
                doc.execute([&key])?;
                change.execute(params![
                    key,
                    c.hash.to_vec(),
                    origin,
                    ms(received_at),
                    c.bytes
                ])?;
                let (signer, signature) = match &c.signed {
                    Some((signer, signature)) => (Some(signer.to_string()), Some(signature)),
                    None => (None, None),
                };
                receipt.execute(params![c.hash.to_vec(), ms(received_at), signer, signature])?;
            }
        }
        insert_audit(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn receipts(&self, hashes: &[[u8; 32]]) -> StorageResult<Vec<ChangeReceipt>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT received_at FROM receipts WHERE hash = ?1")?;
        let mut out = Vec::new();
        for h in hashes {
            if let Some(at) = stmt
                .query_row([h.to_vec()], |r| r.get::<_, i64>(0))
                .optional()?
            {
                out.push((*h, time(at)));
            }
        }
        Ok(out)
    }

    fn signatures(&self, hashes: &[[u8; 32]]) -> StorageResult<Vec<ChangeSignature>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT signer, signature FROM receipts WHERE hash = ?1 AND signature IS NOT NULL",
        )?;
        let mut out = Vec::new();
        for h in hashes {
            let found = stmt
                .query_row([h.to_vec()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            if let Some((signer, signature)) = found {
                let signer = Id::parse_str(&signer).map_err(|_| StorageError::Corrupt {
                    what: "signer",
                    value: signer.clone(),
                })?;
                out.push((*h, signer, signature));
            }
        }
        Ok(out)
    }

    fn changes_since_snapshot(&self, doc: DocId) -> StorageResult<u64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM changes WHERE doc_id = ?1")?
            .query_row([doc.to_string()], |r| r.get::<_, i64>(0))? as u64)
    }

    fn compact(&mut self, doc: DocId, bytes: &[u8], through: u64) -> StorageResult<()> {
        let key = doc.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: Option<i64> = tx.query_row(
            "SELECT max(seq) FROM changes WHERE doc_id = ?1",
            [&key],
            |r| r.get(0),
        )?;
        let through = last.map(|last| last.min(i64::try_from(through).unwrap_or(i64::MAX)));
        if let Some(through) = through {
            tx.execute(
                "UPDATE documents SET snapshot = ?2, snapshot_seq = ?3
                 WHERE doc_id = ?1 AND snapshot_seq < ?3",
                params![key, bytes, through],
            )?;
            tx.execute(
                "DELETE FROM changes WHERE doc_id = ?1 AND seq <= ?2",
                params![key, through],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn last_sequence(&self) -> StorageResult<u64> {
        let last: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'changes'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(u64::try_from(last.unwrap_or(0)).unwrap_or(0))
    }

    fn document_after(&self, doc: DocId, seq: u64) -> StorageResult<Stored> {
        let key = doc.to_string();
        let after = i64::try_from(seq).unwrap_or(i64::MAX);
        let Some((snapshot, snapshot_seq)) = self
            .conn
            .prepare_cached("SELECT snapshot, snapshot_seq FROM documents WHERE doc_id = ?1")?
            .query_row([&key], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?
        else {
            return Ok(Stored::Absent);
        };
        let whole = seq == 0 || snapshot_seq > after;
        let from = if whole { snapshot_seq } else { after };
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, bytes FROM changes WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq",
        )?;
        let mut last = from;
        let mut changes = Vec::new();
        let mut rows = stmt.query(params![key, from])?;
        while let Some(row) = rows.next()? {
            last = row.get(0)?;
            changes.push(row.get::<_, Vec<u8>>(1)?);
        }
        Ok(Stored::of(whole.then_some(snapshot), last, changes))
    }

    fn epochs(&self) -> StorageResult<HashMap<DocId, u32>> {
        let mut stmt = self
            .conn
            .prepare("SELECT doc_id, epoch FROM documents WHERE epoch > 0")?;
        let rows: Vec<(String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, epoch)| {
                let doc = id.parse().map_err(|_| StorageError::Corrupt {
                    what: "document id",
                    value: id.clone(),
                })?;
                Ok((doc, u32::try_from(epoch).unwrap_or(u32::MAX)))
            })
            .collect()
    }

    fn replace_document(&mut self, doc: DocId, bytes: &[u8], through: u64) -> StorageResult<u32> {
        let key = doc.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let after = i64::try_from(through).unwrap_or(i64::MAX);
        let moved: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM changes WHERE doc_id = ?1 AND seq > ?2)",
            params![key, after],
            |r| r.get(0),
        )?;
        if moved {
            return Err(StorageError::Moved { doc: key });
        }
        // A sequence number past every device's cursor: each takes the new snapshot.
        tx.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'changes', 0
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'changes')",
            [],
        )?;
        let seq: i64 = tx.query_row(
            "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'changes' RETURNING seq",
            [],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO documents (doc_id) VALUES (?1)",
            [&key],
        )?;
        let epoch: i64 = tx.query_row(
            "UPDATE documents SET snapshot = ?2, snapshot_seq = ?3, epoch = epoch + 1
             WHERE doc_id = ?1 RETURNING epoch",
            params![key, bytes, seq],
            |r| r.get(0),
        )?;
        tx.execute("DELETE FROM changes WHERE doc_id = ?1", [&key])?;
        tx.commit()?;
        // The WAL still holds the old pages until a checkpoint copies the overwritten ones
        // back and empties it: do it now (another reader may hold it open: then at its next
        // automatic checkpoint).
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(u32::try_from(epoch).unwrap_or(u32::MAX))
    }

    fn append_audit(&mut self, entries: &[AuditEntry]) -> StorageResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_audit(&tx, entries)?;
        tx.commit()?;
        Ok(())
    }

    fn audit_of(&self, records: &[Id]) -> StorageResult<Vec<AuditEntry>> {
        let list = records
            .iter()
            .map(|r| format!("'{r}'"))
            .collect::<Vec<_>>()
            .join(",");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT at, device, doc_id, event, change, records FROM audit
             WHERE seq IN (SELECT audit_seq FROM audit_records WHERE record IN ({list}))
             ORDER BY seq"
        ))?;
        let rows = stmt
            .query_map([], |r| {
                let records: String = r.get(5)?;
                Ok(AuditEntry {
                    at: time(r.get(0)?),
                    device: r.get(1)?,
                    doc: r.get(2)?,
                    event: r.get(3)?,
                    change: r.get(4)?,
                    records: serde_json::from_str(&records)
                        .map_err(|_| bad_row("audit records"))?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn pull(
        &self,
        cursor: u64,
        scope: Option<&HashSet<DocId>>,
        origin: &str,
        max_bytes: usize,
    ) -> StorageResult<PullPage> {
        let cursor_i = i64::try_from(cursor).unwrap_or(i64::MAX);
        let in_scope = |doc: &DocId| scope.is_none_or(|s| s.contains(doc));
        let parse =
            |s: String| -> rusqlite::Result<DocId> { s.parse().map_err(|_| bad_row("doc id")) };
        // One read transaction: the page and the cursor describe the same moment.
        let tx = self.conn.unchecked_transaction()?;
        let last: i64 = tx
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'changes'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        // A cursor past the hub's last change: the hub was restored from an older backup.
        // Send the device everything in its scope again (duplicates are no-ops there).
        let cursor_i = if cursor_i > last { 0 } else { cursor_i };
        // Snapshots newer than the cursor: their bytes read only when the page takes them (a
        // first sync of a big ward would otherwise read every remaining snapshot each round).
        let mut snapshots: Vec<PullItem> = Vec::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT doc_id, snapshot_seq FROM documents
                 WHERE snapshot_seq > ?1 ORDER BY snapshot_seq",
            )?;
            let mut rows = stmt.query([cursor_i])?;
            while let Some(row) = rows.next()? {
                let doc = parse(row.get(0)?)?;
                if in_scope(&doc) {
                    snapshots.push(PullItem::Snapshot {
                        doc,
                        seq: row.get::<_, i64>(1)? as u64,
                        bytes: Vec::new(),
                    });
                }
            }
        }
        let snapshot_bytes = |doc: DocId| -> rusqlite::Result<Vec<u8>> {
            tx.prepare_cached("SELECT snapshot FROM documents WHERE doc_id = ?1")?
                .query_row([doc.to_string()], |r| r.get(0))
        };
        let mut items = Vec::new();
        let mut size = 0usize;
        let mut snapshots = snapshots.into_iter().peekable();
        // A device's scope is a few documents: read only theirs, through the (doc_id, seq) index.
        let sql = match scope {
            Some(docs) => format!(
                "SELECT seq, doc_id, origin, received_at, bytes, {SIGNATURE} FROM changes
                 WHERE seq > ?1 AND doc_id IN ({}) ORDER BY seq",
                docs.iter()
                    .map(|d| format!("'{d}'"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            None => format!(
                "SELECT seq, doc_id, origin, received_at, bytes, {SIGNATURE} FROM changes
                 WHERE seq > ?1 ORDER BY seq"
            ),
        };
        let mut stmt = tx.prepare_cached(&sql)?;
        let mut rows = stmt.query([cursor_i])?;
        let mut next_change = || -> rusqlite::Result<Option<PullItem>> {
            while let Some(row) = rows.next()? {
                let doc = parse(row.get(1)?)?;
                let from: String = row.get(2)?;
                if in_scope(&doc) && from != origin {
                    return Ok(Some(PullItem::Change {
                        doc,
                        seq: row.get::<_, i64>(0)? as u64,
                        received_at: time(row.get(3)?),
                        bytes: row.get(4)?,
                        signature: row.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default(),
                    }));
                }
            }
            Ok(None)
        };
        let mut change = next_change()?;
        loop {
            let seq_of = |i: &PullItem| match i {
                PullItem::Snapshot { seq, .. } | PullItem::Change { seq, .. } => *seq,
            };
            let take_snapshot = match (snapshots.peek(), &change) {
                (Some(s), Some(c)) => seq_of(s) <= seq_of(c),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let item = if take_snapshot {
                match snapshots.next() {
                    Some(PullItem::Snapshot { doc, seq, .. }) => Some(PullItem::Snapshot {
                        doc,
                        seq,
                        bytes: snapshot_bytes(doc)?,
                    }),
                    other => other,
                }
            } else {
                change.take()
            };
            let Some(item) = item else { break };
            let len = match &item {
                PullItem::Snapshot { bytes, .. } | PullItem::Change { bytes, .. } => bytes.len(),
            };
            if !items.is_empty() && size + len > max_bytes {
                let cursor = seq_of(&item) - 1;
                let remaining = remaining_after(&tx, cursor as i64, last, scope, origin)?;
                return Ok(PullPage {
                    cursor,
                    items,
                    more: true,
                    remaining,
                });
            }
            size += len;
            items.push(item);
            if !take_snapshot {
                change = next_change()?;
            }
        }
        Ok(PullPage {
            items,
            cursor: last.max(cursor_i) as u64,
            more: false,
            remaining: 0,
        })
    }

    fn add_invite(&mut self, code_hash: &str, invite: &InviteRecord) -> StorageResult<()> {
        self.conn.execute(
            "INSERT INTO invites (code_hash, role, name, groups, points, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                code_hash,
                invite.role.as_str(),
                invite.name,
                ids_json(&invite.groups),
                ids_json(&invite.points),
                ms(invite.expires_at)
            ],
        )?;
        Ok(())
    }

    fn redeem_invite(
        &mut self,
        code_hash: &str,
        now: DateTime<Utc>,
        device_id: Id,
        key: PublicKey,
        token_hash: &str,
        token_expires_at: DateTime<Utc>,
    ) -> StorageResult<Option<DeviceRecord>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let invite = tx
            .query_row(
                "SELECT role, name, groups, points FROM invites
                 WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![code_hash, ms(now)],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((role, name, groups, points)) = invite else {
            return Ok(None);
        };
        let role: Role = role.parse().map_err(|_| StorageError::Corrupt {
            what: "invite role",
            value: role.clone(),
        })?;
        tx.execute(
            "UPDATE invites SET used_at = ?2, used_by = ?3 WHERE code_hash = ?1",
            params![code_hash, ms(now), device_id.to_string()],
        )?;
        tx.execute(
            "INSERT INTO devices (id, name, role, groups, points, token_hash, token_expires_at,
                joined_at, token_issued_at, key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
            params![
                device_id.to_string(),
                name,
                role.as_str(),
                groups,
                points,
                token_hash,
                ms(token_expires_at),
                ms(now),
                key.0.to_vec()
            ],
        )?;
        tx.commit()?;
        Ok(Some(DeviceRecord {
            key: Some(key),
            ..DeviceRecord::joined(
                device_id,
                name,
                role,
                &groups,
                &points,
                now,
                token_expires_at,
            )
        }))
    }

    fn device_by_token(&self, token_hash: &str) -> StorageResult<Option<(DeviceRecord, bool)>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS}, token_hash = ?1 FROM devices
                 WHERE token_hash = ?1 OR previous_token_hash = ?1"
            ))?
            .query_row([token_hash], |r| Ok((device(r)?, r.get(13)?)))
            .optional()?)
    }

    fn rotate_token(
        &mut self,
        id: Id,
        presented_hash: &str,
        new_hash: &str,
        now: DateTime<Utc>,
        token_expires_at: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE devices SET previous_token_hash = ?2, token_hash = ?3,
                    token_issued_at = ?4, token_expires_at = ?5, last_seen_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![
                id.to_string(),
                presented_hash,
                new_hash,
                ms(now),
                ms(token_expires_at)
            ])?;
        Ok(())
    }

    fn url(&self) -> StorageResult<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'url'", [], |r| r.get(0))
            .optional()?)
    }

    fn setting(&self, key: &str) -> StorageResult<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [format!("setting.{key}")],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set_setting(&mut self, key: &str, value: &str) -> StorageResult<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![format!("setting.{key}"), value],
        )?;
        Ok(())
    }

    fn set_url(&mut self, url: &str) -> StorageResult<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('url', ?1)",
            [url],
        )?;
        Ok(())
    }

    fn rekey_token(&mut self, id: Id, token_hash: &str) -> StorageResult<()> {
        self.conn
            .prepare_cached("UPDATE devices SET token_hash = ?2 WHERE id = ?1")?
            .execute(params![id.to_string(), token_hash])?;
        Ok(())
    }

    fn secret(&mut self, fresh: [u8; 32]) -> StorageResult<Vec<u8>> {
        let read = |conn: &Connection| -> StorageResult<Option<String>> {
            Ok(conn
                .query_row("SELECT value FROM meta WHERE key = 'secret'", [], |r| {
                    r.get(0)
                })
                .optional()?)
        };
        // Written once, by the first open; every later open only reads it.
        let stored = match read(&self.conn)? {
            Some(stored) => stored,
            None => {
                self.conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?1)",
                    [crate::hex(&fresh)],
                )?;
                read(&self.conn)?.unwrap_or_default()
            }
        };
        secret_bytes(&stored)
    }

    fn touch_device(
        &mut self,
        id: Id,
        now: DateTime<Utc>,
        token_expires_at: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE devices SET last_seen_at = ?2, token_expires_at = ?3,
                    previous_token_hash = NULL WHERE id = ?1",
            )?
            .execute(params![id.to_string(), ms(now), ms(token_expires_at)])?;
        Ok(())
    }

    fn set_next_pin(&mut self, id: Id, pin: &str) -> StorageResult<()> {
        self.conn
            .prepare_cached("UPDATE devices SET next_pin = ?2 WHERE id = ?1")?
            .execute(params![id.to_string(), pin])?;
        Ok(())
    }

    fn devices(&self) -> StorageResult<Vec<DeviceRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY joined_at, id"
        ))?;
        let rows = stmt.query_map([], device)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn revoke(&mut self, id: Id, now: DateTime<Utc>) -> StorageResult<bool> {
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?1)",
            [id.to_string()],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
            params![id.to_string(), ms(now)],
        )?;
        Ok(exists)
    }
}
