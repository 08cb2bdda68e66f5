//! The device side of syncing with a ward hub, without the network: what this device must
//! send (its outbox), and applying what the hub answered, atomically.
//!
//! Per document the store keeps `synced_heads`: the heads the hub is known to hold. The outbox
//! is every change not covered by them, so its count is exact and nothing is deleted by a sync.
//! `synced_heads` and the hub cursor move only in the transaction that applies a hub answer,
//! i.e. only after the hub committed what was pushed.

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::{Change, ChangeHash};
use chrono::{DateTime, TimeZone, Utc};
use doorstep_domain::{ErrorCode, Id, Role, SyncProblem};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::edit::{self, doc_in, Edit};
use crate::{meta, schema, set_meta, tables, Result, Store, StoreError};
use doorstep_doc::{self as document, Author, DocId, Touched};

/// A first sync's write of at least this many bytes of new documents (~7,000 records: a
/// record is ~40 bytes in a document's columns) is a bulk write (see `Store::is_bulk`).
const BULK_BYTES: usize = 256 * 1024;

/// Who this device is to its hub; kept in the database once the device joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdentity {
    pub hub_url: String,
    /// The pin of the hub's certificate key, trusted since the device joined (`None` for a
    /// hub reached over plain HTTP on this machine).
    #[serde(default)]
    pub pin: Option<String>,
    /// During a rotation of the hub's certificate: the next key's pin, announced by the hub
    /// and signed by the pinned key. Trusted beside `pin` until the hub serves it.
    #[serde(default)]
    pub next_pin: Option<String>,
    pub device_id: Id,
    pub name: String,
    pub token: String,
    pub role: Role,
    pub ward_id: Id,
    pub groups: Vec<Id>,
    pub points: Vec<Id>,
}

impl DeviceIdentity {
    /// May this device change document `doc`?
    pub fn may_write(&self, doc: DocId) -> bool {
        doorstep_doc::may_write(self.role, &self.groups, &self.points, doc)
    }
}

/// Changes of one document the hub does not have yet, oldest first.
#[derive(Debug, Clone)]
pub struct OutgoingDoc {
    pub doc: DocId,
    /// The document's epoch these changes were written on.
    pub epoch: u32,
    pub changes: Vec<Vec<u8>>,
    /// Each change's signature (this device's own made from its key, others' as pulled;
    /// empty when none is known).
    pub signatures: Vec<Vec<u8>>,
    hashes: Vec<ChangeHash>,
    /// The heads the hub will hold once it has these changes.
    heads: Vec<ChangeHash>,
}

/// What the hub sent of one document: a saved document, changes, or both.
#[derive(Debug, Clone)]
pub struct IncomingDoc {
    pub doc: DocId,
    /// The document's epoch at the hub: another than this device's means the hub rewrote it
    /// (an erasure) and `snapshot` is the new epoch whole.
    pub epoch: u32,
    pub snapshot: Option<Vec<u8>>,
    /// Each change with the time the hub first received it.
    pub changes: Vec<(Vec<u8>, DateTime<Utc>)>,
    /// Each change's signature by the device that made it, in the same order (empty: none).
    pub signatures: Vec<Vec<u8>>,
}

/// The document the hub sent whole: its snapshot loaded, its changes applied, and the whole
/// checked as the hub checks it. With the snapshot's own heads, each change's receipt, and a
/// group's records as the check read them.
struct HubDocument {
    doc: automerge::AutoCommit,
    snapshot_heads: Vec<ChangeHash>,
    receipts: Vec<(ChangeHash, i64)>,
    rows: Option<tables::GroupRows>,
}

fn hub_document(inc: &IncomingDoc, with_rows: bool) -> Result<HubDocument> {
    let unreadable = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Unreadable {
        doc: inc.doc.to_string(),
        source: e,
    };
    let snapshot = inc
        .snapshot
        .as_deref()
        .ok_or_else(|| StoreError::Document {
            doc: inc.doc.to_string(),
            reason: "the hub sent a new epoch without the document".into(),
        })?;
    let mut doc = document::decode::load_document(snapshot).map_err(|e| unreadable(e.into()))?;
    let snapshot_heads = doc.get_heads();
    let mut receipts = Vec::with_capacity(inc.changes.len());
    let mut decoded = Vec::with_capacity(inc.changes.len());
    for (bytes, received_at) in &inc.changes {
        let change =
            document::decode::decode_change(bytes.clone()).map_err(|e| unreadable(e.into()))?;
        receipts.push((change.hash(), received_at.timestamp_millis()));
        decoded.push(change);
    }
    if !decoded.is_empty() {
        document::decode::apply_changes(&mut doc, decoded).map_err(|e| unreadable(e.into()))?;
    }
    if document::decode::missing_history(&mut doc).map_err(|e| unreadable(e.into()))? {
        return Err(StoreError::Document {
            doc: inc.doc.to_string(),
            reason: "hub sent changes whose history is missing".into(),
        });
    }
    document::check_identity(inc.doc, &doc)?;
    // The same schema the hub enforces: a device never stores what a hub would refuse.
    let rows = if with_rows {
        document::check_document_read(inc.doc, &doc)?
    } else {
        document::check_document(inc.doc, &doc)?;
        None
    };
    Ok(HubDocument {
        doc,
        snapshot_heads,
        receipts,
        rows,
    })
}

fn snapshot_len(inc: &IncomingDoc) -> usize {
    inc.snapshot.as_ref().map_or(0, Vec::len)
}

/// A document new to this device made ready (see `Store::apply_sync`); a panic in reading
/// it (a hostile document) is its error.
fn prepare_new_document(inc: &IncomingDoc, actor: &automerge::ActorId) -> Result<HubDocument> {
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut new = hub_document(inc, true)?;
        new.doc.set_actor(actor.clone());
        Ok(new)
    }));
    made.unwrap_or_else(|_| {
        Err(StoreError::Document {
            doc: inc.doc.to_string(),
            reason: "reading it failed".into(),
        })
    })
}

/// What applying a hub answer did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// Documents that changed here.
    pub docs_changed: usize,
    /// Documents replaced by a new epoch (the hub erased something in them).
    pub epochs_adopted: Vec<DocId>,
    /// Erased households whose unsynced edits on this device were dropped.
    pub erased_edits_dropped: Vec<Id>,
}

pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let sorted: BTreeSet<&ChangeHash> = heads.iter().collect();
    sorted.into_iter().flat_map(|h| h.0).collect()
}

pub(crate) fn decode_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

pub(crate) fn synced_heads(conn: &Connection, doc: DocId) -> Result<Option<Vec<ChangeHash>>> {
    Ok(conn
        .prepare_cached("SELECT synced_heads FROM sync_state WHERE doc_id = ?1")?
        .query_row([doc.to_string()], |r| r.get::<_, Vec<u8>>(0))
        .optional()?
        .map(|b| decode_heads(&b)))
}

/// The heads after `base` plus `changes` (in causal order): every hash no other one depends on.
fn heads_after(base: &[ChangeHash], changes: &[Change]) -> Vec<ChangeHash> {
    let mut heads: HashSet<ChangeHash> = base.iter().copied().collect();
    for c in changes {
        for dep in c.deps() {
            heads.remove(dep);
        }
        heads.insert(c.hash());
    }
    heads.into_iter().collect()
}

impl Store {
    /// The device's identity at its hub, if it joined one.
    /// Whether this device acts as a coordinator: joined as one, or not joined at all (a
    /// coordinator's own device holding the ward it hosts).
    pub(crate) fn is_coordinator(&self) -> Result<bool> {
        Ok(matches!(
            self.identity()?.map(|i| i.role),
            None | Some(doorstep_domain::Role::Coordinator)
        ))
    }

    /// Refuses what only a coordinator's device does (the hub checks the same).
    pub(crate) fn require_coordinator(&self) -> Result<()> {
        if self.is_coordinator()? {
            Ok(())
        } else {
            Err(StoreError::CoordinatorOnly)
        }
    }

    pub fn identity(&self) -> Result<Option<DeviceIdentity>> {
        meta(&self.conn, "device")?
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| StoreError::Document {
                    doc: "meta".into(),
                    reason: format!("device identity: {e}"),
                })
            })
            .transpose()
    }

    /// Records the device's identity at its hub (a re-join replaces it; no record is touched).
    pub fn set_identity(&mut self, identity: &DeviceIdentity) -> Result<()> {
        if let Some(ours) = self.ward_id()? {
            if ours != identity.ward_id {
                return Err(StoreError::OtherWard {
                    ours,
                    theirs: identity.ward_id,
                });
            }
        }
        let json = serde_json::to_string(identity).map_err(|e| StoreError::Document {
            doc: "meta".into(),
            reason: e.to_string(),
        })?;
        set_meta(&self.conn, "device", &json)
    }

    /// Refuses a change to `doc` that this device's role and groups do not allow.
    pub(crate) fn check_scope(&self, doc: DocId) -> Result<()> {
        match self.identity()? {
            Some(id) if !id.may_write(doc) => {
                let named = |name: Option<String>, what: &str| match name {
                    Some(n) => format!("{what} {n:?}"),
                    None => doc.to_string(),
                };
                let doc = match doc {
                    DocId::Ward(_) => "the ward's groups and literacy points".to_string(),
                    DocId::Group(g) => named(
                        self.groups()?
                            .into_iter()
                            .find(|x| x.id == g)
                            .map(|x| x.name),
                        "residential group",
                    ),
                    DocId::Point(p) => named(
                        self.points()?
                            .into_iter()
                            .find(|x| x.id == p)
                            .map(|x| x.name),
                        "literacy point",
                    ),
                };
                Err(StoreError::OutOfScope { role: id.role, doc })
            }
            _ => Ok(()),
        }
    }

    /// The hub's change sequence up to which this device holds everything in its scope.
    pub fn sync_cursor(&self) -> Result<u64> {
        Ok(meta(&self.conn, "sync_cursor")?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// When this device last completed a sync, by the hub's clock.
    pub fn last_sync(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(meta(&self.conn, "last_sync_at")?
            .and_then(|c| c.parse::<i64>().ok())
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
    }

    fn dirty_documents(&self) -> Result<Vec<(DocId, Vec<ChangeHash>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.doc_id, s.synced_heads FROM documents d
             LEFT JOIN sync_state s USING (doc_id)
             WHERE s.synced_heads IS NULL OR s.synced_heads != d.heads
             ORDER BY d.doc_id",
        )?;
        let rows: Vec<(String, Option<Vec<u8>>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, heads)| Ok((id.parse()?, decode_heads(&heads.unwrap_or_default()))))
            .collect()
    }

    /// Changes the hub has not acknowledged, per document, up to about `max_bytes` in all
    /// (at least one change, however large). Only documents this device may change are sent.
    pub fn outbox(&mut self, max_bytes: usize) -> Result<Vec<OutgoingDoc>> {
        self.outbox_without(max_bytes, &HashSet::new())
    }

    /// The outbox without the documents in `held` (refused by the hub earlier in this sync:
    /// the rest goes on without them).
    pub fn outbox_without(
        &mut self,
        max_bytes: usize,
        held: &HashSet<DocId>,
    ) -> Result<Vec<OutgoingDoc>> {
        let identity = self.identity()?;
        let mut out = Vec::new();
        let mut total = 0;
        for (id, synced) in self.dirty_documents()? {
            if held.contains(&id) || identity.as_ref().is_some_and(|i| !i.may_write(id)) {
                continue;
            }
            let mut edit = Edit::default();
            let doc = self.doc_mut(&mut edit, id)?;
            let mut changes = doc.get_changes(&synced);
            let mut picked = Vec::new();
            for c in changes.iter_mut() {
                let bytes = c.bytes().into_owned();
                if total > 0 && total + bytes.len() > max_bytes {
                    break;
                }
                total += bytes.len();
                picked.push(bytes);
            }
            changes.truncate(picked.len());
            self.keep_unchanged(edit);
            if !picked.is_empty() {
                out.push(OutgoingDoc {
                    doc: id,
                    epoch: self.epoch(id)?,
                    heads: heads_after(&synced, &changes),
                    hashes: changes.iter().map(Change::hash).collect(),
                    signatures: self.signatures_of(&changes)?,
                    changes: picked,
                });
            }
            if total >= max_bytes {
                break;
            }
        }
        Ok(out)
    }

    /// The signatures of `changes`: this device's own made with its key (deterministic, so the
    /// same whenever made), others' as they were pulled.
    pub(crate) fn signatures_of(&self, changes: &[Change]) -> Result<Vec<Vec<u8>>> {
        let mut stored = self
            .conn
            .prepare_cached("SELECT signature FROM change_signatures WHERE hash = ?1")?;
        changes
            .iter()
            .map(|c| {
                if *c.actor_id() == self.actor {
                    return Ok(self.key.sign_change(&c.hash()).to_vec());
                }
                Ok(stored
                    .query_row([c.hash().0.to_vec()], |r| r.get(0))
                    .optional()?
                    .unwrap_or_default())
            })
            .collect()
    }

    /// Whether any change this device may send is still unacknowledged.
    pub fn has_outbox(&self) -> Result<bool> {
        self.has_outbox_without(&HashSet::new())
    }

    /// Whether any change this device may send is still unacknowledged, `held` aside.
    pub fn has_outbox_without(&self, held: &HashSet<DocId>) -> Result<bool> {
        let identity = self.identity()?;
        Ok(self.dirty_documents()?.iter().any(|(id, _)| {
            !held.contains(id) && identity.as_ref().is_none_or(|i| i.may_write(*id))
        }))
    }

    /// Records that the hub refused `doc`, and why. Its changes stay in the outbox.
    pub fn set_sync_problem(
        &self,
        doc: DocId,
        code: ErrorCode,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO sync_problems (doc_id, code, message, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (doc_id) DO UPDATE SET code = ?2, message = ?3, at = ?4",
            )?
            .execute(params![
                doc.to_string(),
                code.as_str(),
                message,
                at.timestamp_millis()
            ])?;
        Ok(())
    }

    /// Forgets the refusals of every document not in `keep`: a complete sync took them (or
    /// they left the outbox some other way).
    pub fn clear_sync_problems(&self, keep: &HashSet<DocId>) -> Result<()> {
        for doc in self.sync_problem_docs()? {
            if !keep.contains(&doc) {
                self.conn
                    .prepare_cached("DELETE FROM sync_problems WHERE doc_id = ?1")?
                    .execute([doc.to_string()])?;
            }
        }
        Ok(())
    }

    fn sync_problem_docs(&self) -> Result<Vec<DocId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc_id FROM sync_problems ORDER BY doc_id")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids.iter().map(|id| id.parse()).collect::<Result<_, _>>()?)
    }

    /// The documents the hub refused, with what they hold, the hub's reason and how many
    /// changes wait.
    pub fn sync_problems(&mut self) -> Result<Vec<SyncProblem>> {
        let mut problems = Vec::new();
        for doc in self.sync_problem_docs()? {
            let (code, message, at) = self
                .conn
                .prepare_cached("SELECT code, message, at FROM sync_problems WHERE doc_id = ?1")?
                .query_row([doc.to_string()], |r| {
                    Ok((tables::parse(r, 0)?, r.get(1)?, tables::time(r, 2)?))
                })?;
            let name = match doc {
                DocId::Ward(_) => self.ward_name()?,
                DocId::Group(id) => self
                    .groups()?
                    .into_iter()
                    .find(|g| g.id == id)
                    .map(|g| g.name),
                DocId::Point(id) => self
                    .points()?
                    .into_iter()
                    .find(|p| p.id == id)
                    .map(|p| p.name),
            };
            let synced = synced_heads(&self.conn, doc)?.unwrap_or_default();
            let mut edit = Edit::default();
            let changes = self.doc_mut(&mut edit, doc)?.get_changes(&synced).len() as u64;
            self.keep_unchanged(edit);
            problems.push(SyncProblem {
                doc: doc.to_string(),
                name: name.unwrap_or_else(|| doc.to_string()),
                code,
                message,
                changes,
                at,
            });
        }
        Ok(problems)
    }

    /// Whether this device holds `doc` (without loading it).
    pub(crate) fn holds_document(&self, doc: DocId) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM documents WHERE doc_id = ?1")?
            .query_row([doc.to_string()], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The epoch of `doc` as this device holds it (0 until the hub first rewrites it).
    pub fn epoch(&self, doc: DocId) -> Result<u32> {
        Ok(self
            .conn
            .prepare_cached("SELECT epoch FROM documents WHERE doc_id = ?1")?
            .query_row([doc.to_string()], |r| r.get::<_, i64>(0))
            .optional()?
            .map_or(0, |e| u32::try_from(e).unwrap_or(u32::MAX)))
    }

    /// A new epoch of `inc.doc`: the hub's snapshot (and changes after it) replaces this
    /// device's copy, and the edits this device had not synced are carried over onto it,
    /// except those to households the hub erased. Returns the document, the heads the hub holds
    /// of it, and the erased households whose edits were dropped.
    fn adopt_epoch(
        &mut self,
        inc: &IncomingDoc,
    ) -> Result<(automerge::AutoCommit, Vec<ChangeHash>, Vec<Id>)> {
        let mut fresh = hub_document(inc, false)?.doc;
        let hub_heads = fresh.get_heads();
        fresh.set_actor(self.actor.clone());
        let old = match self.docs.remove(&inc.doc) {
            Some(doc) => Some(doc),
            None => self.load_document(inc.doc)?,
        };
        let mut dropped = Vec::new();
        if let Some(old) = old {
            let synced = synced_heads(&self.conn, inc.doc)?.unwrap_or_default();
            let carried = document::epoch::carry_over(inc.doc, &old, &synced, &mut fresh)?;
            dropped = carried.dropped;
        }
        Ok((fresh, hub_heads, dropped))
    }

    /// How many documents this device holds.
    pub fn document_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM documents", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Forgets what the hub was thought to hold of `doc`, so that the next sync sends its whole
    /// history (the hub said it lacks some: restored from a backup, say).
    /// The hub incarnation this device's cursor and synced heads are about (0: none yet).
    pub fn hub_incarnation(&self) -> Result<u64> {
        Ok(meta(&self.conn, "hub_incarnation")?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// Remembers the hub's incarnation (first heard of, or after `hub_restored`).
    pub fn set_hub_incarnation(&mut self, incarnation: u64) -> Result<()> {
        set_meta(&self.conn, "hub_incarnation", &incarnation.to_string())
    }

    /// The hub was restored from a backup (a new `incarnation`) and holds `heads` of the
    /// documents it lists: what this device believed the hub held is replaced by what the
    /// hub says it holds (the heads this device knows of; a document the hub lacks, or whose
    /// heads are all unknown here, is sent whole), and the cursor starts again at 0, so that
    /// the device sends what the restored hub lacks and receives what it lacks. One
    /// transaction.
    pub fn hub_restored(
        &mut self,
        incarnation: u64,
        heads: &[(DocId, Vec<[u8; 32]>)],
    ) -> Result<()> {
        let mut known = Vec::new();
        for id in self.document_ids()? {
            let Some((_, hub)) = heads.iter().find(|(d, _)| *d == id) else {
                continue;
            };
            let mut edit = Edit::default();
            let doc = self.doc_mut(&mut edit, id)?;
            let held: Vec<ChangeHash> = hub
                .iter()
                .map(|h| ChangeHash(*h))
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .collect();
            self.keep_unchanged(edit);
            if !held.is_empty() {
                known.push((id, held));
            }
        }
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM sync_state", [])?;
        for (id, held) in &known {
            tx.execute(
                "INSERT INTO sync_state (doc_id, synced_heads) VALUES (?1, ?2)",
                params![id.to_string(), encode_heads(held)],
            )?;
        }
        set_meta(&tx, "sync_cursor", "0")?;
        set_meta(&tx, "hub_incarnation", &incarnation.to_string())?;
        tx.commit()?;
        Ok(())
    }

    pub fn resend_all(&mut self, doc: DocId) -> Result<()> {
        self.conn.execute(
            "DELETE FROM sync_state WHERE doc_id = ?1",
            [doc.to_string()],
        )?;
        Ok(())
    }

    /// Changes the hub has not acknowledged, counted exactly.
    pub fn outbox_count(&mut self) -> Result<u64> {
        let identity = self.identity()?;
        let mut count = 0;
        for (id, synced) in self.dirty_documents()? {
            if identity.as_ref().is_some_and(|i| !i.may_write(id)) {
                continue;
            }
            let mut edit = Edit::default();
            count += self.doc_mut(&mut edit, id)?.get_changes(&synced).len() as u64;
            self.keep_unchanged(edit);
        }
        Ok(count)
    }

    /// The documents of `incoming` new to this device (a first sync: a snapshot, the epoch
    /// this device would take, not held yet, once in the answer), by their place in
    /// `incoming`, the biggest first.
    fn new_documents(&self, incoming: &[IncomingDoc]) -> Result<Vec<usize>> {
        let mut new = Vec::new();
        for (at, inc) in incoming.iter().enumerate() {
            let once = incoming.iter().filter(|i| i.doc == inc.doc).count() == 1;
            if inc.snapshot.is_some()
                && inc.epoch == 0
                && once
                && !self.docs.contains_key(&inc.doc)
                && !self.holds_document(inc.doc)?
            {
                new.push(at);
            }
        }
        new.sort_by_key(|at| std::cmp::Reverse(snapshot_len(&incoming[*at])));
        Ok(new)
    }

    /// Whether writing `new_bytes` of documents new here is a bulk write: a first sync's
    /// (the device holds no visit yet, or the bulk write before left the indexes out), big.
    fn is_bulk(&self, new_bytes: usize) -> Result<bool> {
        if new_bytes < BULK_BYTES {
            return Ok(false);
        }
        if !schema::deferred_indexes(&self.conn)?.is_empty() {
            return Ok(true);
        }
        let none_held: bool =
            self.conn
                .query_row("SELECT NOT EXISTS (SELECT 1 FROM visits)", [], |r| r.get(0))?;
        Ok(none_held)
    }

    /// The indexes a bulk write left out that are not built yet (for checks and tests).
    pub fn deferred_indexes(&self) -> Result<Vec<String>> {
        schema::missing_indexes(&self.conn)
    }

    /// Builds the indexes a bulk write left out (see `apply_sync`): a sync calls it when its
    /// last answer is written; `Store::open` and a sync's other writes do it too.
    /// The cache and the log go back to their sizes.
    pub fn build_deferred_indexes(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if schema::build_deferred_indexes(&tx)? {
            tx.commit()?;
        } else {
            drop(tx);
        }
        self.end_bulk_write()
    }

    /// After a bulk write's indexes are built: the cache and the log back to their sizes, the
    /// log copied into the database at once.
    fn end_bulk_write(&mut self) -> Result<()> {
        if std::mem::take(&mut self.bulk_write) {
            self.conn
                .pragma_update(None, "cache_size", crate::CACHE_KIB)?;
            self.conn
                .pragma_update(None, "wal_autocheckpoint", crate::WAL_AUTOCHECKPOINT)?;
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Applies a hub answer in one transaction: merges what it sent, records that it holds
    /// what was `pushed` (received at `hub_time`, or at the time `earlier` gives for a change
    /// it had received before), and moves the cursor. All or nothing.
    ///
    /// Documents new here (a first sync) are loaded, checked and read on every core while
    /// this thread writes the ones ready: a 50,000-household ward is seconds of each.
    pub fn apply_sync(
        &mut self,
        pushed: &[OutgoingDoc],
        incoming: &[IncomingDoc],
        hub_time: DateTime<Utc>,
        earlier: &[([u8; 32], DateTime<Utc>)],
        cursor: u64,
    ) -> Result<Applied> {
        if let Some(ours) = self.ward_id()? {
            for inc in incoming {
                if let DocId::Ward(theirs) = inc.doc {
                    if theirs != ours {
                        return Err(StoreError::OtherWard { ours, theirs });
                    }
                }
            }
        }
        let new = self.new_documents(incoming)?;
        let new_bytes = new.iter().map(|at| snapshot_len(&incoming[*at])).sum();
        let bulk = pushed.is_empty() && self.is_bulk(new_bytes)?;
        if bulk && !self.bulk_write {
            // Until the indexes are built: the whole ward's pages kept decrypted, and the
            // write-ahead log copied into the database once at the end instead of at every
            // write (a page rewritten by every write is copied once).
            self.conn
                .pragma_update(None, "cache_size", crate::BULK_CACHE_KIB)?;
            self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            self.bulk_write = true;
        }
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(new.len());
        let actor = self.actor.clone();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (ready, arriving) = std::sync::mpsc::channel();
            for _ in 0..workers {
                let (ready, new, next, stop, actor) = (ready.clone(), &new, &next, &stop, &actor);
                scope.spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&at) = new.get(i) else { break };
                        if ready
                            .send((at, prepare_new_document(&incoming[at], actor)))
                            .is_err()
                        {
                            break;
                        }
                    }
                });
            }
            drop(ready);
            let written = self.write_answer(
                pushed,
                incoming,
                (&new, arriving),
                bulk,
                hub_time,
                earlier,
                cursor,
            );
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            written
        })
        .and_then(|applied| {
            // A write after the bulk ones built the indexes in its transaction.
            if !bulk {
                self.end_bulk_write()?;
            }
            Ok(applied)
        })
    }

    /// `apply_sync`'s write: the documents new here taken from `arriving` as they are ready.
    #[allow(clippy::too_many_arguments)]
    fn write_answer(
        &mut self,
        pushed: &[OutgoingDoc],
        incoming: &[IncomingDoc],
        (new, arriving): (
            &[usize],
            std::sync::mpsc::Receiver<(usize, Result<HubDocument>)>,
        ),
        bulk: bool,
        hub_time: DateTime<Utc>,
        earlier: &[([u8; 32], DateTime<Utc>)],
        cursor: u64,
    ) -> Result<Applied> {
        let mut edit = Edit::default();
        let mut receipts: Vec<(ChangeHash, i64)> = Vec::new();
        let mut signatures: Vec<(ChangeHash, Vec<u8>)> = Vec::new();
        let mut changed = Vec::new();
        let mut adopted: Vec<(DocId, Vec<ChangeHash>)> = Vec::new();
        let mut dropped = Vec::new();
        for (at, inc) in incoming.iter().enumerate() {
            if inc.epoch != self.epoch(inc.doc)? {
                let (fresh, hub_heads, lost) = self.adopt_epoch(inc)?;
                edit.docs.retain(|(d, _, _)| *d != inc.doc);
                edit.docs.push((inc.doc, fresh, Vec::new()));
                edit.replaced.push((inc.doc, inc.epoch));
                adopted.push((inc.doc, hub_heads));
                dropped.extend(lost);
                changed.push((inc.doc, Touched::All));
                continue;
            }
            // A document new here: made ready on another core, written below.
            if new.contains(&at) {
                continue;
            }
            let unreadable = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Unreadable {
                doc: inc.doc.to_string(),
                source: e,
            };
            let doc = self.doc_mut(&mut edit, inc.doc)?;
            let before = doc.get_heads();
            if let Some(snapshot) = &inc.snapshot {
                document::decode::load_into(doc, snapshot).map_err(|e| unreadable(e.into()))?;
            }
            let after_snapshot = doc.get_heads();
            let mut decoded = Vec::with_capacity(inc.changes.len());
            for (i, (bytes, received_at)) in inc.changes.iter().enumerate() {
                let change = document::decode::decode_change(bytes.clone())
                    .map_err(|e| unreadable(e.into()))?;
                receipts.push((change.hash(), received_at.timestamp_millis()));
                if let Some(signature) = inc.signatures.get(i).filter(|s| !s.is_empty()) {
                    signatures.push((change.hash(), signature.clone()));
                }
                decoded.push(change);
            }
            if !decoded.is_empty() {
                document::decode::apply_changes(doc, decoded).map_err(|e| unreadable(e.into()))?;
            }
            if document::decode::missing_history(doc).map_err(|e| unreadable(e.into()))? {
                return Err(StoreError::Document {
                    doc: inc.doc.to_string(),
                    reason: "hub sent changes whose history is missing".into(),
                });
            }
            document::check_identity(inc.doc, doc)?;
            // The same schema the hub enforces: a device never stores what a hub would refuse
            // (a hub's snapshot is checked whole, its changes one operation at a time).
            if after_snapshot != before {
                document::check_document(inc.doc, doc)?;
            }
            if doc.get_heads() != before {
                let touched = if after_snapshot != before {
                    Touched::All
                } else {
                    let changes = document::decode::changes_since(doc, &before)
                        .map_err(|e| unreadable(e.into()))?;
                    document::check_changes(inc.doc, doc, &changes, Author::Hub, inc.epoch)?
                };
                changed.push((inc.doc, touched));
            }
        }
        for p in pushed {
            // Written on an epoch the hub rewrote away: dropped there, carried over here.
            if adopted.iter().any(|(d, _)| *d == p.doc) {
                continue;
            }
            self.doc_mut(&mut edit, p.doc)?;
            receipts.extend(p.hashes.iter().map(|h| {
                let at = earlier
                    .iter()
                    .find(|(e, _)| *e == h.0)
                    .map_or(hub_time, |(_, at)| *at);
                (*h, at.timestamp_millis())
            }));
        }
        let mut synced: HashMap<DocId, Vec<ChangeHash>> = HashMap::new();
        for (id, doc, before) in edit.docs.iter_mut() {
            let pushed_heads = pushed
                .iter()
                .find(|p| p.doc == *id)
                .map(|p| p.heads.clone());
            let base = match pushed_heads {
                Some(h) => h,
                None => synced_heads(&self.conn, *id)?.unwrap_or_default(),
            };
            // Nothing of this device's own is unsent (or the document is new here): the hub
            // now holds exactly what we hold.
            let mut sorted_before = before.clone();
            sorted_before.sort();
            let mut sorted_base = base.clone();
            sorted_base.sort();
            let now = if before.is_empty() || sorted_before == sorted_base {
                doc.get_heads()
            } else {
                base
            };
            synced.insert(*id, now);
        }
        // A new epoch: the hub holds it as it sent it; the edits carried over are unsent.
        for (id, heads) in &adopted {
            synced.insert(*id, heads.clone());
        }
        let mut count = changed.len();
        let mut arrived = Vec::with_capacity(new.len());
        let pushed_hashes: Vec<ChangeHash> = pushed
            .iter()
            .filter(|p| !adopted.iter().any(|(d, _)| *d == p.doc))
            .flat_map(|p| p.hashes.iter().copied())
            .collect();
        self.save_edit(edit, |tx, edit| {
            // A bulk write (a first sync) leaves the indexes nothing reads meanwhile to be
            // built once at the end; any other write has them built first.
            if bulk {
                schema::defer_indexes(tx)?;
            } else {
                schema::build_deferred_indexes(tx)?;
            }
            let mut receipt = tx.prepare_cached(
                "INSERT OR IGNORE INTO change_receipts (hash, received_at) VALUES (?1, ?2)",
            )?;
            for (hash, at) in &receipts {
                receipt.execute(params![hash.0.to_vec(), at])?;
            }
            let mut signature = tx.prepare_cached(
                "INSERT OR IGNORE INTO change_signatures (hash, signature) VALUES (?1, ?2)",
            )?;
            for (hash, signed) in &signatures {
                signature.execute(params![hash.0.to_vec(), signed])?;
            }
            let mut state = tx.prepare_cached(
                "INSERT OR REPLACE INTO sync_state (doc_id, synced_heads) VALUES (?1, ?2)",
            )?;
            for (id, heads) in &synced {
                state.execute(params![id.to_string(), encode_heads(heads)])?;
            }
            for (id, touched) in &changed {
                let doc = doc_in(edit, *id)?;
                match touched {
                    Touched::Records(ids) => tables::materialize_records(tx, *id, doc, ids)?,
                    Touched::All => tables::materialize_document(tx, *id, doc)?,
                }
            }
            // The documents new here, as they are ready: stored as they came, their rows
            // written from what their check read.
            for (at, ready) in arriving.iter() {
                let HubDocument {
                    mut doc,
                    snapshot_heads,
                    receipts: its_receipts,
                    rows,
                } = ready?;
                let id = incoming[at].doc;
                let snapshot = incoming[at].snapshot.as_deref().unwrap_or_default();
                edit::insert_received(tx, id, snapshot, &snapshot_heads, &mut doc)?;
                for (i, (hash, received)) in its_receipts.iter().enumerate() {
                    receipt.execute(params![hash.0.to_vec(), received])?;
                    if let Some(signed) = incoming[at].signatures.get(i).filter(|s| !s.is_empty()) {
                        signature.execute(params![hash.0.to_vec(), signed])?;
                    }
                }
                state.execute(params![id.to_string(), encode_heads(&doc.get_heads())])?;
                match (id, &rows) {
                    (DocId::Group(g), Some(read)) => tables::write_group_rows(tx, g, &doc, read)?,
                    _ => tables::materialize_document(tx, id, &doc)?,
                }
                arrived.push((id, doc));
            }
            if arrived.len() != new.len() {
                return Err(StoreError::Document {
                    doc: "sync".into(),
                    reason: "a document new here could not be made ready".into(),
                });
            }
            tables::refresh_receipts(tx, &pushed_hashes)?;
            let ward = changed.iter().map(|(d, _)| *d);
            if let Some(DocId::Ward(w)) = ward
                .chain(arrived.iter().map(|(d, _)| *d))
                .find(|d| matches!(d, DocId::Ward(_)))
            {
                set_meta(tx, "ward_id", &w.to_string())?;
            }
            set_meta(tx, "sync_cursor", &cursor.to_string())?;
            set_meta(tx, "last_sync_at", &hub_time.timestamp_millis().to_string())?;
            Ok(())
        })?;
        count += arrived.len();
        self.docs.extend(arrived);
        if !adopted.is_empty() {
            // What the old epoch's pages held is overwritten (secure_delete); empty the WAL
            // of their earlier images too.
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        dropped.sort();
        dropped.dedup();
        Ok(Applied {
            docs_changed: count,
            epochs_adopted: adopted.into_iter().map(|(d, _)| d).collect(),
            erased_edits_dropped: dropped,
        })
    }
}
