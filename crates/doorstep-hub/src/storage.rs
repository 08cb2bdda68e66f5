//! What the hub keeps, behind one interface so that a city-wide deployment keeps it in
//! PostgreSQL (`postgres.rs`) while a ward office keeps it in one SQLite file (`sqlite.rs`);
//! `crates/doorstep-hub/tests/storage.rs` holds both to the same conformance suite.
//!
//! The storage knows bytes, sequences and devices, never Automerge: the hub service decides
//! what the bytes mean. Every method is one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use doorstep_doc::{DocId, PublicKey};
use doorstep_domain::{Id, Role};
use thiserror::Error;

/// Why the hub's storage failed. Never a client's fault: the hub answers 500 with generic
/// text and logs this.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("hub database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("hub database (PostgreSQL): {0}")]
    Postgres(#[from] postgres::Error),
    #[error("cannot create or protect the hub's data directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("stored {what} is not readable: {value:?}")]
    Corrupt { what: &'static str, value: String },
    #[error(transparent)]
    Vault(#[from] doorstep_vault::VaultError),
    /// Another hub process rewrote `doc` (a new epoch) or stored changes to it that the
    /// caller had not taken in: nothing was written; take them in and try again.
    #[error("document {doc} moved on at the hub: sync again")]
    Moved { doc: String },
}

pub type StorageResult<T> = Result<T, StorageError>;

/// Times are kept as Unix milliseconds, in both stores.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    chrono::TimeZone::timestamp_millis_opt(&Utc, ms)
        .single()
        .unwrap_or_default()
}

/// Lists of ids (a device's groups and points) are kept as JSON text, in both stores.
pub(crate) fn ids(json: &str) -> Vec<Id> {
    serde_json::from_str(json).unwrap_or_default()
}

pub(crate) fn ids_json(ids: &[Id]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

/// The hub's secret as stored (64 hex digits), as bytes.
pub(crate) fn secret_bytes(stored: &str) -> StorageResult<Vec<u8>> {
    let corrupt = || StorageError::Corrupt {
        what: "hub secret",
        value: "(not shown)".into(),
    };
    if stored.len() != 64 {
        return Err(corrupt());
    }
    (0..stored.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(stored.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| corrupt())
}

/// Refuses `changes` written on another epoch than their document's as stored (`epoch_of`:
/// the stored epoch of a document, `None` for a new one, epoch 0).
pub(crate) fn check_epochs(
    changes: &[NewChange],
    mut epoch_of: impl FnMut(&str) -> StorageResult<Option<i64>>,
) -> StorageResult<()> {
    let mut seen = HashSet::new();
    for c in changes.iter().filter(|c| seen.insert(c.doc)) {
        let key = c.doc.to_string();
        if epoch_of(&key)?.unwrap_or(0) != i64::from(c.epoch) {
            return Err(StorageError::Moved { doc: key });
        }
    }
    Ok(())
}

/// A device enrolled at the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: Id,
    pub name: String,
    pub role: Role,
    pub groups: Vec<Id>,
    pub points: Vec<Id>,
    pub joined_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub token_expires_at: DateTime<Utc>,
    /// When its current token was issued (at join or at its last rotation).
    pub token_issued_at: DateTime<Utc>,
    /// Its previous token still works: the new one has not been used yet.
    pub rotating: bool,
    /// The next certificate pin it was told of (during a rotation of the hub's key).
    pub next_pin: Option<String>,
    /// Its Ed25519 public key, given at join: its changes' actor and signatures are checked
    /// against it. `None`: joined before changes were signed (it must join again).
    pub key: Option<PublicKey>,
}

impl DeviceRecord {
    /// A device just enrolled at `now` by an invite: its groups and points as the invite
    /// stored them (JSON id lists), a first token expiring at `token_expires_at`.
    pub(crate) fn joined(
        id: Id,
        name: String,
        role: Role,
        groups: &str,
        points: &str,
        now: DateTime<Utc>,
        token_expires_at: DateTime<Utc>,
    ) -> DeviceRecord {
        DeviceRecord {
            id,
            name,
            role,
            groups: ids(groups),
            points: ids(points),
            joined_at: now,
            last_seen_at: None,
            revoked_at: None,
            token_expires_at,
            token_issued_at: now,
            rotating: false,
            next_pin: None,
            key: None,
        }
    }
}

/// An unused invite: who it is for and what the device will be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub role: Role,
    pub name: String,
    pub groups: Vec<Id>,
    pub points: Vec<Id>,
    pub expires_at: DateTime<Utc>,
}

/// One line of the hub's audit log: who (a device id, or "hub"), when, what (a change, or an
/// erasure), which document and which records and fields it touched. Never a field's value:
/// the log outlives every erasure, so it holds nothing personal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub device: String,
    pub doc: String,
    /// `change` (with its hash), `erase`, `history_erased` (a consent withdrawn), `retention`.
    pub event: String,
    pub change: Option<String>,
    pub records: Vec<AuditRecord>,
}

/// A record an audit entry touched: its map (`households`, `visits`...), id and fields; for a
/// visit, the household it is of.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub map: String,
    pub id: Id,
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<Id>,
}

/// A change to store: its document and the epoch it was written on, its hash (to refuse
/// duplicates), its bytes and who signed it.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub doc: DocId,
    pub epoch: u32,
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
    /// The device that made it and its signature (none for the hub's own changes).
    pub signed: Option<(Id, Vec<u8>)>,
}

/// A change's hash and when the hub first received it.
pub type ChangeReceipt = ([u8; 32], DateTime<Utc>);

/// A change's hash, the device that signed it and the signature.
pub type ChangeSignature = ([u8; 32], Id, Vec<u8>);

/// What a pull returns, in sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullItem {
    /// The document saved whole, holding every change up to `seq`.
    Snapshot {
        doc: DocId,
        seq: u64,
        bytes: Vec<u8>,
    },
    Change {
        doc: DocId,
        seq: u64,
        received_at: DateTime<Utc>,
        bytes: Vec<u8>,
        /// Its signer's signature (empty for the hub's own changes).
        signature: Vec<u8>,
    },
}

/// A document as storage holds it past what one hub process holds in memory (`document_after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// No such document.
    Absent,
    /// Nothing stored after the sequence asked about.
    Unchanged,
    /// The changes stored after it, in order, and the sequence the document now stands at.
    Changes { seq: u64, changes: Vec<Vec<u8>> },
    /// The document whole (a snapshot has passed that sequence, or none was asked about).
    Whole { seq: u64, bytes: Vec<u8> },
}

impl Stored {
    /// What `document_after` answers: the document whole when `snapshot` is given (a snapshot
    /// has passed the sequence asked about), otherwise the changes after it; `last` is the
    /// sequence the document stands at.
    pub(crate) fn of(snapshot: Option<Vec<u8>>, last: i64, changes: Vec<Vec<u8>>) -> Stored {
        let seq = u64::try_from(last).unwrap_or(0);
        match snapshot {
            Some(mut bytes) => {
                changes.iter().for_each(|c| bytes.extend_from_slice(c));
                Stored::Whole { seq, bytes }
            }
            None if changes.is_empty() => Stored::Unchanged,
            None => Stored::Changes { seq, changes },
        }
    }
}

/// A page of a pull: items in sequence order, and the cursor the device holds after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullPage {
    pub items: Vec<PullItem>,
    pub cursor: u64,
    pub more: bool,
    /// When `more`: the bytes still to pull after this page (what a device's progress bar
    /// counts toward); 0 otherwise.
    pub remaining: u64,
}

/// The bytes a device still has to pull, from per-document sums of the snapshots and of the
/// changes past its cursor (`sums`), counting only its scope.
pub(crate) fn remaining_in(
    sums: impl IntoIterator<Item = (DocId, i64)>,
    scope: Option<&HashSet<DocId>>,
) -> u64 {
    sums.into_iter()
        .filter(|(doc, _)| scope.is_none_or(|s| s.contains(doc)))
        .map(|(_, n)| u64::try_from(n).unwrap_or(0))
        .sum()
}

/// The hub's storage: the ward's documents as a snapshot plus a sequence of changes, the
/// devices and the invites.
pub trait HubStorage: Send {
    /// The ward this hub serves: id and name.
    fn ward(&self) -> StorageResult<Option<(Id, String)>>;
    fn set_ward(&mut self, id: Id, name: &str) -> StorageResult<()>;

    /// A document's bytes (snapshot followed by its later changes), if the hub has it.
    fn load_document(&self, doc: DocId) -> StorageResult<Option<Vec<u8>>> {
        match self.document_after(doc, 0)? {
            Stored::Whole { bytes, .. } => Ok(Some(bytes)),
            _ => Ok(None),
        }
    }
    fn document_ids(&self) -> StorageResult<Vec<DocId>>;

    /// Appends changes, each with the next sequence number, from `origin` (a device id, or
    /// "hub"), and their `audit` lines, all or nothing (one commit). Changes the hub already
    /// holds are skipped. A change written on another epoch than its document's is refused
    /// (`Moved`): another process rewrote the document in between.
    fn append_changes(
        &mut self,
        changes: &[NewChange],
        origin: &str,
        received_at: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StorageResult<()>;
    /// When the hub first received each of these changes (those it holds).
    fn receipts(&self, hashes: &[[u8; 32]]) -> StorageResult<Vec<ChangeReceipt>>;
    /// Who signed each of these changes, with the signature (those signed). Kept like
    /// receipts: through compaction and new epochs, so authorship stays provable.
    fn signatures(&self, hashes: &[[u8; 32]]) -> StorageResult<Vec<ChangeSignature>>;
    /// How many changes a document has since its snapshot.
    fn changes_since_snapshot(&self, doc: DocId) -> StorageResult<u64>;
    /// Replaces a document's snapshot by `bytes`, which hold every change stored for it up
    /// to sequence `through` (those are deleted; later ones, another process's, stay).
    fn compact(&mut self, doc: DocId, bytes: &[u8], through: u64) -> StorageResult<()>;
    /// What is stored of `doc` after sequence `seq` (0: nothing known, the whole document).
    fn document_after(&self, doc: DocId, seq: u64) -> StorageResult<Stored>;
    /// The sequence number of the last change stored (0: none yet).
    fn last_sequence(&self) -> StorageResult<u64>;
    /// Other processes may write this storage at the same time (PostgreSQL): a hub process
    /// then brings each document it holds in memory up to date before it uses it.
    fn shared(&self) -> bool {
        false
    }
    /// Every document's epoch (0 until the hub first rewrites it).
    fn epochs(&self) -> StorageResult<HashMap<DocId, u32>>;
    /// Replaces a document by `bytes`, a new epoch of it without history, written from what
    /// was stored up to sequence `through`: its changes are deleted (their bytes overwritten),
    /// the snapshot is sent to every device whatever its cursor, and the epoch goes up by one,
    /// which is returned. Refused (`Moved`) when a change after `through` is stored.
    fn replace_document(&mut self, doc: DocId, bytes: &[u8], through: u64) -> StorageResult<u32>;
    /// Appends to the audit log, which nothing deletes (not compaction, not a new epoch).
    fn append_audit(&mut self, entries: &[AuditEntry]) -> StorageResult<()>;
    /// The audit entries that name any of `records`, oldest first.
    fn audit_of(&self, records: &[Id]) -> StorageResult<Vec<AuditEntry>>;
    /// What changed in `scope` (all documents when `None`) after `cursor`, without the
    /// changes `origin` sent itself, up to about `max_bytes`.
    fn pull(
        &self,
        cursor: u64,
        scope: Option<&HashSet<DocId>>,
        origin: &str,
        max_bytes: usize,
    ) -> StorageResult<PullPage>;

    fn add_invite(&mut self, code_hash: &str, invite: &InviteRecord) -> StorageResult<()>;
    /// Uses an unused, unexpired invite and enrolls the device it makes, atomically.
    fn redeem_invite(
        &mut self,
        code_hash: &str,
        now: DateTime<Utc>,
        device_id: Id,
        key: PublicKey,
        token_hash: &str,
        token_expires_at: DateTime<Utc>,
    ) -> StorageResult<Option<DeviceRecord>>;
    /// The device holding a token, and whether it is its current token (`false`: its
    /// previous one, still valid until the current one is first used).
    fn device_by_token(&self, token_hash: &str) -> StorageResult<Option<(DeviceRecord, bool)>>;
    /// Gives a device a new token; the one it presented stays valid until the new one is
    /// first used (`touch_device`).
    fn rotate_token(
        &mut self,
        id: Id,
        presented_hash: &str,
        new_hash: &str,
        now: DateTime<Utc>,
        token_expires_at: DateTime<Utc>,
    ) -> StorageResult<()>;
    /// Stores a device's token under another hash (a hub moving to keyed hashes).
    fn rekey_token(&mut self, id: Id, token_hash: &str) -> StorageResult<()>;
    /// A hub setting (the retention rule...).
    fn setting(&self, key: &str) -> StorageResult<Option<String>>;
    fn set_setting(&mut self, key: &str, value: &str) -> StorageResult<()>;
    /// The address devices reach the hub at, as it last served (for invite links).
    fn url(&self) -> StorageResult<Option<String>>;
    fn set_url(&mut self, url: &str) -> StorageResult<()>;
    /// The hub's secret key for hashing codes and tokens: the one stored, or `fresh` stored
    /// now when there is none yet.
    fn secret(&mut self, fresh: [u8; 32]) -> StorageResult<Vec<u8>>;
    /// Records that a device was seen with its current token: extends it and ends the
    /// previous one.
    fn touch_device(
        &mut self,
        id: Id,
        now: DateTime<Utc>,
        token_expires_at: DateTime<Utc>,
    ) -> StorageResult<()>;
    /// Records that a device was told the hub's next certificate pin.
    fn set_next_pin(&mut self, id: Id, pin: &str) -> StorageResult<()>;
    fn devices(&self) -> StorageResult<Vec<DeviceRecord>>;
    /// Revokes a device; false when there is no such device.
    fn revoke(&mut self, id: Id, now: DateTime<Utc>) -> StorageResult<bool>;
}
