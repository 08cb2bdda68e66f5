//! The hub's storage on PostgreSQL, for a city deployment: the same `HubStorage` as the ward
//! office's SQLite file, on a database that grows past one machine.
//!
//! Each ward lives in a PostgreSQL schema of its own (`open_in`), so nothing of one ward is
//! reachable through another's connection. Migrations are versioned like the device's (a
//! `schema_version` row; they only ever append).
//!
//! Ordering across processes: change sequence numbers come from one counter row
//! (`sequence`), incremented at the start of the transaction that appends the changes. Its row
//! lock serialises appends, so sequence order is commit order; a pull reads the counter and
//! the rows in one repeatable-read snapshot, so a device's cursor never passes a change that
//! was not yet committed. Times are Unix milliseconds, as in the SQLite file.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use doorstep_doc::{DocId, PublicKey};
use doorstep_domain::{Id, Role};
use postgres::{Client, IsolationLevel, NoTls, Row, Transaction};

use crate::storage::*;

/// The migrations: `schema_version` counts those that ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE sequence (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO sequence (name, value) VALUES ('changes', 0);
CREATE TABLE documents (
    doc_id       TEXT PRIMARY KEY,
    snapshot     BYTEA NOT NULL DEFAULT '\x',
    snapshot_seq BIGINT NOT NULL DEFAULT 0,
    epoch        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX documents_by_snapshot_seq ON documents(snapshot_seq);
CREATE TABLE changes (
    seq         BIGINT PRIMARY KEY,
    doc_id      TEXT NOT NULL REFERENCES documents(doc_id),
    hash        BYTEA NOT NULL UNIQUE,
    origin      TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    bytes       BYTEA NOT NULL
);
CREATE INDEX changes_by_doc ON changes(doc_id, seq);
CREATE TABLE receipts (
    hash        BYTEA PRIMARY KEY,
    received_at BIGINT NOT NULL
);
CREATE TABLE devices (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    role                TEXT NOT NULL,
    groups              TEXT NOT NULL,
    points              TEXT NOT NULL,
    token_hash          TEXT NOT NULL UNIQUE,
    previous_token_hash TEXT UNIQUE,
    token_expires_at    BIGINT NOT NULL,
    token_issued_at     BIGINT NOT NULL,
    joined_at           BIGINT NOT NULL,
    last_seen_at        BIGINT,
    revoked_at          BIGINT,
    next_pin            TEXT
);
CREATE TABLE invites (
    code_hash  TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    name       TEXT NOT NULL,
    groups     TEXT NOT NULL,
    points     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    used_by    TEXT
);
CREATE TABLE audit (
    seq     BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    device  TEXT NOT NULL,
    doc_id  TEXT NOT NULL,
    event   TEXT NOT NULL,
    change  TEXT,
    records TEXT NOT NULL
);
CREATE TABLE audit_records (
    audit_seq BIGINT NOT NULL REFERENCES audit(seq),
    record    TEXT NOT NULL
);
CREATE INDEX audit_by_record ON audit_records(record);
CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
"#,
    // 1: signed changes (issue 24): a device's key; who signed each change, with its receipt.
    r#"
ALTER TABLE devices ADD COLUMN key BYTEA;
ALTER TABLE receipts ADD COLUMN signer TEXT;
ALTER TABLE receipts ADD COLUMN signature BYTEA;
"#,
];

/// One ward's hub data in a PostgreSQL schema.
pub struct PgStorage {
    /// Reads take `&self` in `HubStorage`; the client needs `&mut` for any query.
    client: RefCell<Client>,
}

fn doc_id(text: &str) -> StorageResult<DocId> {
    text.parse().map_err(|_| StorageError::Corrupt {
        what: "document id",
        value: text.to_string(),
    })
}

const DEVICE_COLUMNS: &str = "id, name, role, groups, points, joined_at, last_seen_at, \
     revoked_at, token_expires_at, token_issued_at, previous_token_hash IS NOT NULL, next_pin, key";

fn device(row: &Row) -> StorageResult<DeviceRecord> {
    let id: String = row.try_get(0)?;
    let role: String = row.try_get(2)?;
    Ok(DeviceRecord {
        id: Id::parse_str(&id).map_err(|_| StorageError::Corrupt {
            what: "device id",
            value: id.clone(),
        })?,
        name: row.try_get(1)?,
        role: role.parse().map_err(|_| StorageError::Corrupt {
            what: "device role",
            value: role.clone(),
        })?,
        groups: ids(row.try_get(3)?),
        points: ids(row.try_get(4)?),
        joined_at: time(row.try_get(5)?),
        last_seen_at: row.try_get::<_, Option<i64>>(6)?.map(time),
        revoked_at: row.try_get::<_, Option<i64>>(7)?.map(time),
        token_expires_at: time(row.try_get(8)?),
        token_issued_at: time(row.try_get(9)?),
        rotating: row.try_get(10)?,
        next_pin: row.try_get(11)?,
        key: match row.try_get::<_, Option<Vec<u8>>>(12)? {
            Some(bytes) => Some(PublicKey::from_slice(&bytes).ok_or(StorageError::Corrupt {
                what: "device key",
                value: format!("{} bytes", bytes.len()),
            })?),
            None => None,
        },
    })
}

/// A schema name PostgreSQL takes unquoted: lowercase letters, digits and `_`.
fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Appends `entries` to the audit log in three statements, whatever their number: their
/// sequence numbers taken first, then every entry and every record it names at once.
fn insert_audit(tx: &mut Transaction<'_>, entries: &[AuditEntry]) -> StorageResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = tx
        .query(
            "SELECT nextval(pg_get_serial_sequence('audit', 'seq'))
             FROM generate_series(1, $1::bigint)",
            &[&(entries.len() as i64)],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let at: Vec<i64> = entries.iter().map(|e| ms(e.at)).collect();
    let device: Vec<&str> = entries.iter().map(|e| e.device.as_str()).collect();
    let doc: Vec<&str> = entries.iter().map(|e| e.doc.as_str()).collect();
    let event: Vec<&str> = entries.iter().map(|e| e.event.as_str()).collect();
    let change: Vec<Option<&str>> = entries.iter().map(|e| e.change.as_deref()).collect();
    let records: Vec<String> = entries
        .iter()
        .map(|e| serde_json::to_string(&e.records).unwrap_or_else(|_| "[]".into()))
        .collect();
    tx.execute(
        "INSERT INTO audit (seq, at, device, doc_id, event, change, records)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[])",
        &[&seqs, &at, &device, &doc, &event, &change, &records],
    )?;
    let mut named_seq = Vec::new();
    let mut named = Vec::new();
    for (seq, e) in seqs.iter().zip(entries) {
        for r in &e.records {
            for record in std::iter::once(r.id).chain(r.household) {
                named_seq.push(*seq);
                named.push(record.to_string());
            }
        }
    }
    tx.execute(
        "INSERT INTO audit_records (audit_seq, record)
         SELECT * FROM unnest($1::bigint[], $2::text[])",
        &[&named_seq, &named],
    )?;
    Ok(())
}

/// A read-only transaction on one repeatable-read snapshot: what it reads describes one
/// committed moment, whatever other processes commit meanwhile.
fn read_snapshot(client: &mut Client) -> StorageResult<Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?)
}

/// Takes `n` sequence numbers; returns the first. Holds the counter's row lock until the
/// transaction ends: appends are serialised, and sequence order is commit order.
fn take_sequence(tx: &mut Transaction<'_>, n: i64) -> StorageResult<i64> {
    let last: i64 = tx
        .query_one(
            "UPDATE sequence SET value = value + $1 WHERE name = 'changes' RETURNING value",
            &[&n],
        )?
        .try_get(0)?;
    Ok(last - n + 1)
}

impl PgStorage {
    /// Connects to `url` and keeps the ward in schema `schema` (made, and migrated, if needed).
    pub fn open_in(url: &str, schema: &str) -> StorageResult<Self> {
        if !valid_schema(schema) {
            return Err(StorageError::Corrupt {
                what: "ward schema name (lowercase letters, digits, _)",
                value: schema.to_string(),
            });
        }
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema};"
        ))?;
        let mut storage = PgStorage {
            client: RefCell::new(client),
        };
        storage.migrate()?;
        Ok(storage)
    }

    /// Connects to `url`, the ward in schema `doorstep`.
    pub fn open(url: &str) -> StorageResult<Self> {
        Self::open_in(url, "doorstep")
    }

    fn migrate(&mut self) -> StorageResult<()> {
        let client = self.client.get_mut();
        let mut tx = client.transaction()?;
        // One migrating process at a time: the others wait here, then find nothing to do.
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema()));
             CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);",
        )?;
        let version: i64 = match tx.query_opt("SELECT version FROM schema_version", &[])? {
            Some(row) => i64::from(row.try_get::<_, i32>(0)?),
            None => {
                tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])?;
                0
            }
        };
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StorageError::Corrupt {
                what: "hub schema version (made by a newer doorstep)",
                value: version.to_string(),
            });
        }
        for sql in &MIGRATIONS[version..] {
            tx.batch_execute(sql)?;
        }
        let newest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
        tx.execute("UPDATE schema_version SET version = $1", &[&newest])?;
        tx.commit()?;
        Ok(())
    }

    /// The connection, for the city's catalogue (`city.rs`), which shares this schema's.
    pub(crate) fn client(&self) -> std::cell::RefMut<'_, Client> {
        self.client.borrow_mut()
    }

    fn meta(&self, key: &str) -> StorageResult<Option<String>> {
        Ok(self
            .client
            .borrow_mut()
            .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> StorageResult<()> {
        self.client.get_mut().execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )?;
        Ok(())
    }
}

impl HubStorage for PgStorage {
    fn ward(&self) -> StorageResult<Option<(Id, String)>> {
        Ok(match (self.meta("ward_id")?, self.meta("ward_name")?) {
            (Some(id), Some(name)) => Id::parse_str(&id).ok().map(|id| (id, name)),
            _ => None,
        })
    }

    fn set_ward(&mut self, id: Id, name: &str) -> StorageResult<()> {
        let mut tx = self.client.get_mut().transaction()?;
        for (key, value) in [("ward_id", id.to_string()), ("ward_name", name.to_string())] {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &value],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn document_ids(&self) -> StorageResult<Vec<DocId>> {
        self.client
            .borrow_mut()
            .query("SELECT doc_id FROM documents ORDER BY doc_id", &[])?
            .iter()
            .map(|r| doc_id(r.try_get(0)?))
            .collect()
    }

    fn append_changes(
        &mut self,
        changes: &[NewChange],
        origin: &str,
        received_at: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StorageResult<()> {
        let mut tx = self.client.get_mut().transaction()?;
        let at = ms(received_at);
        // The audit log needs no order with the changes: written before the counter is taken,
        // so that the appends of every process wait on a few statements only.
        insert_audit(&mut tx, audit)?;
        // The counter first: appends of every process wait here, so the check below sees what
        // another process stored of the same changes (a device retrying on another process).
        tx.execute(
            "SELECT 1 FROM sequence WHERE name = 'changes' FOR UPDATE",
            &[],
        )?;
        let mut docs: Vec<String> = changes.iter().map(|c| c.doc.to_string()).collect();
        docs.sort();
        docs.dedup();
        let epochs: HashMap<String, i64> = tx
            .query(
                "SELECT doc_id, epoch FROM documents WHERE doc_id = ANY($1)",
                &[&docs],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, i64::from(r.try_get::<_, i32>(1)?))))
            .collect::<Result<_, postgres::Error>>()?;
        check_epochs(changes, |key| Ok(epochs.get(key).copied()))?;
        // Changes the hub already holds are not stored again (nor numbered).
        let hashes: Vec<&[u8]> = changes.iter().map(|c| c.hash.as_slice()).collect();
        let known: HashSet<Vec<u8>> = tx
            .query("SELECT hash FROM changes WHERE hash = ANY($1)", &[&hashes])?
            .iter()
            .map(|r| r.try_get::<_, Vec<u8>>(0))
            .collect::<Result<_, _>>()?;
        let mut seen = HashSet::new();
        let fresh: Vec<&NewChange> = changes
            .iter()
            .filter(|c| !known.contains(c.hash.as_slice()) && seen.insert(c.hash))
            .collect();
        if !fresh.is_empty() {
            let first = take_sequence(&mut tx, fresh.len() as i64)?;
            let seqs: Vec<i64> = (first..).take(fresh.len()).collect();
            let keys: Vec<String> = fresh.iter().map(|c| c.doc.to_string()).collect();
            let fresh_hashes: Vec<&[u8]> = fresh.iter().map(|c| c.hash.as_slice()).collect();
            let bytes: Vec<&[u8]> = fresh.iter().map(|c| c.bytes.as_slice()).collect();
            tx.execute(
                "INSERT INTO documents (doc_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                &[&docs],
            )?;
            tx.execute(
                "INSERT INTO changes (seq, doc_id, hash, origin, received_at, bytes)
                 SELECT s, d, h, $4, $5, b FROM unnest($1::bigint[], $2::text[], $3::bytea[],
                                                       $6::bytea[]) AS t(s, d, h, b)",
                &[&seqs, &keys, &fresh_hashes, &origin, &at, &bytes],
            )?;
        }
        let signers: Vec<Option<String>> = changes
            .iter()
            .map(|c| c.signed.as_ref().map(|(signer, _)| signer.to_string()))
            .collect();
        let signatures: Vec<Option<&[u8]>> = changes
            .iter()
            .map(|c| c.signed.as_ref().map(|(_, signature)| signature.as_slice()))
            .collect();
        tx.execute(
            "INSERT INTO receipts (hash, received_at, signer, signature)
             SELECT h, $2, s, g FROM unnest($1::bytea[], $3::text[], $4::bytea[]) AS t(h, s, g)
             ON CONFLICT DO NOTHING",
            &[&hashes, &at, &signers, &signatures],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn receipts(&self, hashes: &[[u8; 32]]) -> StorageResult<Vec<ChangeReceipt>> {
        let list: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        let rows = self.client.borrow_mut().query(
            "SELECT hash, received_at FROM receipts WHERE hash = ANY($1)",
            &[&list],
        )?;
        let found: HashMap<Vec<u8>, i64> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()?;
        Ok(hashes
            .iter()
            .filter_map(|h| found.get(h.as_slice()).map(|at| (*h, time(*at))))
            .collect())
    }

    fn signatures(&self, hashes: &[[u8; 32]]) -> StorageResult<Vec<ChangeSignature>> {
        let list: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        let rows = self.client.borrow_mut().query(
            "SELECT hash, signer, signature FROM receipts
             WHERE hash = ANY($1) AND signature IS NOT NULL",
            &[&list],
        )?;
        let mut found: HashMap<Vec<u8>, (Id, Vec<u8>)> = HashMap::new();
        for r in rows {
            let signer: String = r.try_get(1)?;
            let signer = Id::parse_str(&signer).map_err(|_| StorageError::Corrupt {
                what: "signer",
                value: signer.clone(),
            })?;
            found.insert(r.try_get(0)?, (signer, r.try_get(2)?));
        }
        Ok(hashes
            .iter()
            .filter_map(|h| {
                let (signer, signature) = found.get(h.as_slice())?;
                Some((*h, *signer, signature.clone()))
            })
            .collect())
    }

    fn changes_since_snapshot(&self, doc: DocId) -> StorageResult<u64> {
        let n: i64 = self
            .client
            .borrow_mut()
            .query_one(
                "SELECT count(*) FROM changes WHERE doc_id = $1",
                &[&doc.to_string()],
            )?
            .try_get(0)?;
        Ok(n as u64)
    }

    fn compact(&mut self, doc: DocId, bytes: &[u8], through: u64) -> StorageResult<()> {
        let key = doc.to_string();
        let mut tx = self.client.get_mut().transaction()?;
        // The document's row, locked: an append to it waits until the snapshot is in.
        let Some(row) = tx.query_opt(
            "SELECT snapshot_seq FROM documents WHERE doc_id = $1 FOR UPDATE",
            &[&key],
        )?
        else {
            return Ok(());
        };
        let snapshot_seq: i64 = row.try_get(0)?;
        let last: Option<i64> = tx
            .query_one("SELECT max(seq) FROM changes WHERE doc_id = $1", &[&key])?
            .try_get(0)?;
        // Never past what `bytes` hold: another process may have stored later changes.
        let through = last.map(|last| last.min(i64::try_from(through).unwrap_or(i64::MAX)));
        if let Some(through) = through.filter(|t| *t > snapshot_seq) {
            tx.execute(
                "UPDATE documents SET snapshot = $2, snapshot_seq = $3 WHERE doc_id = $1",
                &[&key, &bytes, &through],
            )?;
            tx.execute(
                "DELETE FROM changes WHERE doc_id = $1 AND seq <= $2",
                &[&key, &through],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn document_after(&self, doc: DocId, seq: u64) -> StorageResult<Stored> {
        let key = doc.to_string();
        let after = i64::try_from(seq).unwrap_or(i64::MAX);
        let mut client = self.client.borrow_mut();
        let mut tx = read_snapshot(&mut client)?;
        let Some(row) = tx.query_opt(
            "SELECT snapshot_seq FROM documents WHERE doc_id = $1",
            &[&key],
        )?
        else {
            return Ok(Stored::Absent);
        };
        let snapshot_seq: i64 = row.try_get(0)?;
        let whole = seq == 0 || snapshot_seq > after;
        let from = if whole { snapshot_seq } else { after };
        let rows = tx.query(
            "SELECT seq, bytes FROM changes WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
            &[&key, &from],
        )?;
        let mut last = from;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            last = row.try_get(0)?;
            changes.push(row.try_get::<_, Vec<u8>>(1)?);
        }
        let snapshot = match whole {
            true => Some(
                tx.query_one("SELECT snapshot FROM documents WHERE doc_id = $1", &[&key])?
                    .try_get(0)?,
            ),
            false => None,
        };
        let stored = Stored::of(snapshot, last, changes);
        tx.commit()?;
        Ok(stored)
    }

    fn last_sequence(&self) -> StorageResult<u64> {
        let last: i64 = self
            .client
            .borrow_mut()
            .query_one("SELECT value FROM sequence WHERE name = 'changes'", &[])?
            .try_get(0)?;
        Ok(u64::try_from(last).unwrap_or(0))
    }

    fn shared(&self) -> bool {
        true
    }

    fn epochs(&self) -> StorageResult<HashMap<DocId, u32>> {
        self.client
            .borrow_mut()
            .query("SELECT doc_id, epoch FROM documents WHERE epoch > 0", &[])?
            .iter()
            .map(|r| {
                let epoch: i32 = r.try_get(1)?;
                Ok((doc_id(r.try_get(0)?)?, u32::try_from(epoch).unwrap_or(0)))
            })
            .collect()
    }

    fn replace_document(&mut self, doc: DocId, bytes: &[u8], through: u64) -> StorageResult<u32> {
        let key = doc.to_string();
        let mut tx = self.client.get_mut().transaction()?;
        // A sequence number past every device's cursor: each takes the new snapshot. Taken
        // first: its lock holds every other process's append until this one commits.
        let seq = take_sequence(&mut tx, 1)?;
        let after = i64::try_from(through).unwrap_or(i64::MAX);
        let moved: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM changes WHERE doc_id = $1 AND seq > $2)",
                &[&key, &after],
            )?
            .try_get(0)?;
        if moved {
            return Err(StorageError::Moved { doc: key });
        }
        tx.execute(
            "INSERT INTO documents (doc_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&key],
        )?;
        let epoch: i32 = tx
            .query_one(
                "UPDATE documents SET snapshot = $2, snapshot_seq = $3, epoch = epoch + 1
                 WHERE doc_id = $1 RETURNING epoch",
                &[&key, &bytes, &seq],
            )?
            .try_get(0)?;
        tx.execute("DELETE FROM changes WHERE doc_id = $1", &[&key])?;
        tx.commit()?;
        Ok(u32::try_from(epoch).unwrap_or(0))
    }

    fn append_audit(&mut self, entries: &[AuditEntry]) -> StorageResult<()> {
        let mut tx = self.client.get_mut().transaction()?;
        insert_audit(&mut tx, entries)?;
        tx.commit()?;
        Ok(())
    }

    fn audit_of(&self, records: &[Id]) -> StorageResult<Vec<AuditEntry>> {
        let list: Vec<String> = records.iter().map(Id::to_string).collect();
        self.client
            .borrow_mut()
            .query(
                "SELECT at, device, doc_id, event, change, records FROM audit
                 WHERE seq IN (SELECT audit_seq FROM audit_records WHERE record = ANY($1))
                 ORDER BY seq",
                &[&list],
            )?
            .iter()
            .map(|r| {
                let records: String = r.try_get(5)?;
                Ok(AuditEntry {
                    at: time(r.try_get(0)?),
                    device: r.try_get(1)?,
                    doc: r.try_get(2)?,
                    event: r.try_get(3)?,
                    change: r.try_get(4)?,
                    records: serde_json::from_str(&records).map_err(|_| StorageError::Corrupt {
                        what: "audit records",
                        value: records.clone(),
                    })?,
                })
            })
            .collect()
    }

    fn pull(
        &self,
        cursor: u64,
        scope: Option<&HashSet<DocId>>,
        origin: &str,
        max_bytes: usize,
    ) -> StorageResult<PullPage> {
        let in_scope = |doc: &DocId| scope.is_none_or(|s| s.contains(doc));
        let mut client = self.client.borrow_mut();
        // One snapshot: the counter and the rows describe the same committed moment.
        let mut tx = read_snapshot(&mut client)?;
        let last: i64 = tx
            .query_one("SELECT value FROM sequence WHERE name = 'changes'", &[])?
            .try_get(0)?;
        let cursor = i64::try_from(cursor).unwrap_or(i64::MAX);
        // A cursor past the hub's last change: the hub was restored from an older backup.
        // Send the device everything in its scope again (duplicates are no-ops there).
        let cursor = if cursor > last { 0 } else { cursor };

        // Snapshots newer than the cursor (their bytes read only if the page takes them).
        let mut snapshots = Vec::new();
        for r in tx.query(
            "SELECT doc_id, snapshot_seq FROM documents
             WHERE snapshot_seq > $1 AND snapshot_seq <= $2 ORDER BY snapshot_seq",
            &[&cursor, &last],
        )? {
            let doc = doc_id(r.try_get(0)?)?;
            if in_scope(&doc) {
                snapshots.push((r.try_get::<_, i64>(1)?, doc));
            }
        }
        let mut snapshots = snapshots.into_iter().peekable();
        // Changes, read a few hundred at a time through a portal: a page stops at `max_bytes`.
        let scoped: Vec<String> = scope
            .map(|docs| docs.iter().map(DocId::to_string).collect())
            .unwrap_or_default();
        let everything = scope.is_none();
        let portal = tx.bind(
            "SELECT seq, doc_id, origin, received_at, bytes,
                    (SELECT signature FROM receipts r WHERE r.hash = changes.hash)
             FROM changes
             WHERE seq > $1 AND seq <= $2 AND ($3 OR doc_id = ANY($4)) ORDER BY seq",
            &[&cursor, &last, &everything, &scoped],
        )?;
        let mut fetched: std::collections::VecDeque<Row> = Default::default();
        let mut exhausted = false;
        let mut next_change = |tx: &mut Transaction<'_>| -> StorageResult<Option<(i64, PullItem)>> {
            loop {
                if fetched.is_empty() && !exhausted {
                    let rows = tx.query_portal(&portal, 256)?;
                    exhausted = rows.len() < 256;
                    fetched.extend(rows);
                }
                let Some(r) = fetched.pop_front() else {
                    return Ok(None);
                };
                let doc = doc_id(r.try_get(1)?)?;
                let from: &str = r.try_get(2)?;
                if in_scope(&doc) && from != origin {
                    let seq: i64 = r.try_get(0)?;
                    return Ok(Some((
                        seq,
                        PullItem::Change {
                            doc,
                            seq: seq as u64,
                            received_at: time(r.try_get(3)?),
                            bytes: r.try_get(4)?,
                            signature: r.try_get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default(),
                        },
                    )));
                }
            }
        };
        let mut items = Vec::new();
        let mut size = 0usize;
        let mut change = next_change(&mut tx)?;
        loop {
            // Snapshots before changes of the same sequence number, as the SQLite pull does.
            let take_snapshot = match (snapshots.peek(), &change) {
                (Some((s, _)), Some((c, _))) => s <= c,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let (seq, item) = if take_snapshot {
                let Some((seq, doc)) = snapshots.next() else {
                    break;
                };
                let bytes: Vec<u8> = tx
                    .query_one(
                        "SELECT snapshot FROM documents WHERE doc_id = $1",
                        &[&doc.to_string()],
                    )?
                    .try_get(0)?;
                (
                    seq,
                    PullItem::Snapshot {
                        doc,
                        seq: seq as u64,
                        bytes,
                    },
                )
            } else {
                let Some(next) = change.take() else { break };
                next
            };
            let len = match &item {
                PullItem::Snapshot { bytes, .. } | PullItem::Change { bytes, .. } => bytes.len(),
            };
            if !items.is_empty() && size + len > max_bytes {
                // What is left, by length only (octet_length reads no TOASTed bytes).
                let mut sums = Vec::new();
                for r in tx.query(
                    "SELECT doc_id, octet_length(snapshot)::bigint FROM documents
                     WHERE snapshot_seq > $1 AND snapshot_seq <= $2
                     UNION ALL
                     SELECT doc_id, sum(octet_length(bytes))::bigint FROM changes
                     WHERE seq > $1 AND seq <= $2 AND origin <> $3 GROUP BY doc_id",
                    &[&(seq - 1), &last, &origin],
                )? {
                    sums.push((doc_id(r.try_get(0)?)?, r.try_get::<_, i64>(1)?));
                }
                return Ok(PullPage {
                    items,
                    cursor: (seq - 1) as u64,
                    more: true,
                    remaining: remaining_in(sums, scope),
                });
            }
            size += len;
            items.push(item);
            if !take_snapshot {
                change = next_change(&mut tx)?;
            }
        }
        Ok(PullPage {
            items,
            cursor: last.max(cursor) as u64,
            more: false,
            remaining: 0,
        })
    }

    fn add_invite(&mut self, code_hash: &str, invite: &InviteRecord) -> StorageResult<()> {
        self.client.get_mut().execute(
            "INSERT INTO invites (code_hash, role, name, groups, points, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &code_hash,
                &invite.role.as_str(),
                &invite.name,
                &ids_json(&invite.groups),
                &ids_json(&invite.points),
                &ms(invite.expires_at),
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
        let mut tx = self.client.get_mut().transaction()?;
        // Used at most once, even by two hub processes at the same moment: the update takes it.
        let Some(row) = tx.query_opt(
            "UPDATE invites SET used_at = $2, used_by = $3
             WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING role, name, groups, points",
            &[&code_hash, &ms(now), &device_id.to_string()],
        )?
        else {
            return Ok(None);
        };
        let role: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let groups: String = row.try_get(2)?;
        let points: String = row.try_get(3)?;
        let role: Role = role.parse().map_err(|_| StorageError::Corrupt {
            what: "invite role",
            value: role.clone(),
        })?;
        tx.execute(
            "INSERT INTO devices (id, name, role, groups, points, token_hash, token_expires_at,
                joined_at, token_issued_at, key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
            &[
                &device_id.to_string(),
                &name,
                &role.as_str(),
                &groups,
                &points,
                &token_hash,
                &ms(token_expires_at),
                &ms(now),
                &key.0.as_slice(),
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
        self.client
            .borrow_mut()
            .query_opt(
                &format!(
                    "SELECT {DEVICE_COLUMNS}, token_hash = $1 FROM devices
                     WHERE token_hash = $1 OR previous_token_hash = $1"
                ),
                &[&token_hash],
            )?
            .map(|r| Ok((device(&r)?, r.try_get(13)?)))
            .transpose()
    }

    fn rotate_token(
        &mut self,
        id: Id,
        presented_hash: &str,
        new_hash: &str,
        now: DateTime<Utc>,
        token_expires_at: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.client.get_mut().execute(
            "UPDATE devices SET previous_token_hash = $2, token_hash = $3,
                token_issued_at = $4, token_expires_at = $5, last_seen_at = $4
             WHERE id = $1",
            &[
                &id.to_string(),
                &presented_hash,
                &new_hash,
                &ms(now),
                &ms(token_expires_at),
            ],
        )?;
        Ok(())
    }

    fn rekey_token(&mut self, id: Id, token_hash: &str) -> StorageResult<()> {
        self.client.get_mut().execute(
            "UPDATE devices SET token_hash = $2 WHERE id = $1",
            &[&id.to_string(), &token_hash],
        )?;
        Ok(())
    }

    fn setting(&self, key: &str) -> StorageResult<Option<String>> {
        self.meta(&format!("setting.{key}"))
    }

    fn set_setting(&mut self, key: &str, value: &str) -> StorageResult<()> {
        self.set_meta(&format!("setting.{key}"), value)
    }

    fn url(&self) -> StorageResult<Option<String>> {
        self.meta("url")
    }

    fn set_url(&mut self, url: &str) -> StorageResult<()> {
        self.set_meta("url", url)
    }

    fn secret(&mut self, fresh: [u8; 32]) -> StorageResult<Vec<u8>> {
        // Written once, by the first open (of any process); every later open only reads it.
        self.client.get_mut().execute(
            "INSERT INTO meta (key, value) VALUES ('secret', $1) ON CONFLICT DO NOTHING",
            &[&crate::hex(&fresh)],
        )?;
        let stored = self.meta("secret")?.unwrap_or_default();
        secret_bytes(&stored)
    }

    fn touch_device(
        &mut self,
        id: Id,
        now: DateTime<Utc>,
        token_expires_at: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.client.get_mut().execute(
            "UPDATE devices SET last_seen_at = $2, token_expires_at = $3,
                previous_token_hash = NULL WHERE id = $1",
            &[&id.to_string(), &ms(now), &ms(token_expires_at)],
        )?;
        Ok(())
    }

    fn set_next_pin(&mut self, id: Id, pin: &str) -> StorageResult<()> {
        self.client.get_mut().execute(
            "UPDATE devices SET next_pin = $2 WHERE id = $1",
            &[&id.to_string(), &pin],
        )?;
        Ok(())
    }

    fn devices(&self) -> StorageResult<Vec<DeviceRecord>> {
        self.client
            .borrow_mut()
            .query(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY joined_at, id"),
                &[],
            )?
            .iter()
            .map(device)
            .collect()
    }

    fn revoke(&mut self, id: Id, now: DateTime<Utc>) -> StorageResult<bool> {
        let updated = self.client.get_mut().execute(
            "UPDATE devices SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
            &[&id.to_string(), &ms(now)],
        )?;
        Ok(updated > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_schema;

    /// A ward's schema name goes into SQL unquoted: only plain lowercase names pass, never
    /// anything that could end the statement or quote its way out.
    #[test]
    fn only_plain_schema_names_are_taken() {
        for good in ["doorstep", "ward_01a2", "t_0123456789abcdef"] {
            assert!(valid_schema(good), "{good}");
        }
        for bad in [
            "",
            "Doorstep",
            "1ward",
            "ward; DROP SCHEMA public CASCADE",
            "ward\"x",
            "phường",
            "public,pg_catalog",
            &"a".repeat(64),
        ] {
            assert!(!valid_schema(bad), "{bad:?}");
        }
    }
}
