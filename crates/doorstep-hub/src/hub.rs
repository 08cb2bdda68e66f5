//! The ward's documents at the hub, independent of HTTP: who may read and change which
//! document, and one sync round (apply a device's changes, answer with what changed in its
//! scope since its cursor). Enrolment and tokens are `enrolment.rs`'s.
//!
//! A sync round is all or nothing: every pushed document is checked (scope, decodable changes,
//! complete history, the document it claims to be, records that pass the domain's rules)
//! before anything is stored; on any refusal the touched documents are dropped from memory and
//! storage is unchanged.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use automerge::{ActorId, AutoCommit, Change};
use chrono::{DateTime, Utc};
use doorstep_doc::{self as document, Author, DocId, DocumentBytes};
use doorstep_domain::validate::check_text;
use doorstep_domain::*;
use doorstep_proto::wire::{
    Pull, PulledChange, Push, Receipt, SyncRequest, SyncResponse, WireDoc, BATCH_BYTES,
};

use crate::hex;
use crate::sqlite::SqliteStorage;
use crate::storage::*;
use crate::AtRest;
use crate::{HubError, Status};
use document::epoch::Erase;
use doorstep_domain::rollup::WardRollup;
use doorstep_proto::api::{DeviceInfo, Erasure, HistoryEntry};

/// Most documents, and changes in all, one push may hold. A device's outbox sends at most
/// `BATCH_BYTES` a round, far below either (a change is at least ~50 bytes).
pub const MAX_PUSH_DOCUMENTS: usize = 2_000;
pub const MAX_PUSH_CHANGES: usize = 50_000;
/// A document is saved whole once this many changes follow its snapshot.
const COMPACT_AFTER: u64 = 500;

/// The hub: its storage and the documents it has loaded.
pub struct Hub {
    storage: Box<dyn HubStorage>,
    ward_id: Id,
    actor: ActorId,
    docs: HashMap<DocId, AutoCommit>,
    /// The stored sequence each document in memory stands at (absent: not known).
    seqs: HashMap<DocId, u64>,
    /// Another process may write the storage (`HubStorage::shared`): each operation first
    /// brings the documents it uses up to what is stored.
    shared: bool,
    /// The documents brought up to date in the current operation (when `shared`).
    current: HashSet<DocId>,
    /// Documents rewritten without their history, and how many times (absent: 0).
    epochs: HashMap<DocId, u32>,
    /// This hub's incarnation: a new one at every restore from a backup (`INCARNATION`).
    incarnation: u64,
}

/// Hub setting: its incarnation, made with the hub and again at each restore from a backup. A
/// device's cursor and the heads it believes the hub holds are about one incarnation; another
/// one's answer makes it send again what the hub lacks and pull anew.
pub const INCARNATION: &str = "incarnation";

/// A new incarnation: the minutes since 2026-01-01 (3 bytes on the wire for 30 years: every
/// sync round carries it both ways), and always past `previous` (the one a restored backup
/// held), so two restores in one minute still differ.
pub fn new_incarnation(previous: Option<u64>) -> u64 {
    const CAMPAIGN_EPOCH: i64 = 1_767_225_600;
    let now = u64::try_from((Utc::now().timestamp() - CAMPAIGN_EPOCH) / 60).unwrap_or(0);
    now.max(previous.map_or(1, |p| p.saturating_add(1)))
}

impl Hub {
    /// Creates a hub for a new ward in `dir`, with its residential groups.
    pub fn init(
        dir: &Path,
        ward_name: &str,
        groups: &[String],
        at_rest: &AtRest,
    ) -> Result<(Ward, Vec<ResidentialGroup>), HubError> {
        let mut storage = SqliteStorage::open(dir, at_rest)?;
        refuse_existing(&storage, &dir.display().to_string())?;
        let made = Self::init_in(&mut storage, ward_name, groups)?;
        crate::HubTls::ensure(dir)?;
        Ok(made)
    }

    /// Creates the ward and its residential groups in `storage` (empty: refused if it holds a
    /// ward already), whatever keeps it: the SQLite file or a PostgreSQL schema.
    pub fn init_in(
        storage: &mut dyn HubStorage,
        ward_name: &str,
        groups: &[String],
    ) -> Result<(Ward, Vec<ResidentialGroup>), HubError> {
        refuse_existing(storage, "this storage")?;
        check_text("ward name", ward_name, true)?;
        if groups.is_empty() {
            return Err(HubError::refused(
                Status::BadRequest,
                ErrorCode::NoGroups,
                "a ward needs at least one residential group",
            ));
        }
        let ward = Ward {
            id: new_id(),
            name: ward_name.trim().to_string(),
        };
        let mut made: Vec<ResidentialGroup> = Vec::new();
        for g in groups {
            check_text("group name", g, true)?;
            if made.iter().any(|m| m.name == g.trim()) {
                return Err(HubError::refused(
                    Status::BadRequest,
                    ErrorCode::DuplicateGroup,
                    format!("residential group {g:?} is named twice"),
                ));
            }
            made.push(ResidentialGroup {
                id: new_id(),
                name: g.trim().to_string(),
            });
        }
        let actor = ActorId::from(new_id().as_bytes());
        let mut changes = Vec::new();
        let mut ward_doc = document::new_document(DocId::Ward(ward.id), &actor)?;
        document::put_ward_name(&mut ward_doc, &ward.name)?;
        for g in &made {
            document::put_group(&mut ward_doc, g)?;
        }
        ward_doc.commit();
        collect_changes(
            DocId::Ward(ward.id),
            0,
            ward_doc.get_changes(&[]),
            &mut HashMap::new(),
            &mut changes,
        );
        for g in &made {
            let mut doc = document::new_document(DocId::Group(g.id), &actor)?;
            collect_changes(
                DocId::Group(g.id),
                0,
                doc.get_changes(&[]),
                &mut HashMap::new(),
                &mut changes,
            );
        }
        storage.append_changes(&changes, "hub", Utc::now(), &[])?;
        storage.set_ward(ward.id, &ward.name)?;
        Ok((ward, made))
    }

    /// Creates a hub in `dir` holding a ward that exists as documents already (a device's demo
    /// ward, or a ward moved from another hub). Every document is checked as a push would be.
    pub fn import(
        dir: &Path,
        ward: &Ward,
        documents: &[DocumentBytes],
        at_rest: &AtRest,
    ) -> Result<(), HubError> {
        let mut storage = SqliteStorage::open(dir, at_rest)?;
        refuse_existing(&storage, &dir.display().to_string())?;
        Self::import_in(&mut storage, ward, documents)?;
        crate::HubTls::ensure(dir)?;
        Ok(())
    }

    /// `import` into any (empty) storage: the SQLite file or a PostgreSQL schema.
    pub fn import_in(
        storage: &mut dyn HubStorage,
        ward: &Ward,
        documents: &[DocumentBytes],
    ) -> Result<(), HubError> {
        refuse_existing(storage, "this storage")?;
        let mut changes = Vec::new();
        let mut snapshots = Vec::new();
        for d in documents {
            let id: DocId = d.id.parse()?;
            let mut doc = document::decode::load_document(&d.bytes).map_err(|e| {
                HubError::refused(
                    Status::Unprocessable,
                    ErrorCode::BadChange,
                    format!("cannot be read: {e}"),
                )
                .on(&d.id)
            })?;
            document::check_identity(id, &doc)?;
            document::check_document(id, &doc)?;
            collect_changes(
                id,
                0,
                doc.get_changes(&[]),
                &mut HashMap::new(),
                &mut changes,
            );
            snapshots.push((id, doc.save()));
        }
        storage.append_changes(&changes, "hub", Utc::now(), &[])?;
        // Devices' first syncs then get each document saved whole, not change by change.
        for (id, bytes) in snapshots {
            storage.compact(id, &bytes, u64::MAX)?;
        }
        storage.set_ward(ward.id, &ward.name)?;
        Ok(())
    }

    /// Opens the hub in `dir`.
    pub fn open(dir: &Path, at_rest: &AtRest) -> Result<Hub, HubError> {
        let (storage, _) = crate::enrolment::open_storage(dir, at_rest)?;
        Self::with_storage(Box::new(storage))
    }

    /// The hub of the ward `storage` holds.
    pub fn with_storage(mut storage: Box<dyn HubStorage>) -> Result<Hub, HubError> {
        let (ward_id, _) = storage.ward()?.ok_or(HubError::NoWard)?;
        let epochs = storage.epochs()?;
        let incarnation = match storage
            .setting(INCARNATION)?
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(n) => n,
            None => {
                let n = new_incarnation(None);
                storage.set_setting(INCARNATION, &n.to_string())?;
                n
            }
        };
        Ok(Hub {
            shared: storage.shared(),
            storage,
            ward_id,
            actor: ActorId::from(new_id().as_bytes()),
            docs: HashMap::new(),
            seqs: HashMap::new(),
            current: HashSet::new(),
            epochs,
            incarnation,
        })
    }

    /// Loads every document of the ward into memory, and says how many. A serving hub does
    /// this once at start: loading a group's document costs about as much as a hundred sync
    /// rounds, and the documents stay loaded while it runs.
    pub fn load_documents(&mut self) -> Result<usize, HubError> {
        let ids = self.storage.document_ids()?;
        for id in &ids {
            self.doc(*id)?;
        }
        Ok(ids.len())
    }

    /// Every document as the hub stores it (its snapshot and later changes), to check or to
    /// hand over.
    pub fn documents(&mut self) -> Result<Vec<DocumentBytes>, HubError> {
        let mut out = Vec::new();
        for id in self.storage.document_ids()? {
            if let Some(bytes) = self.storage.load_document(id)? {
                out.push(DocumentBytes {
                    id: id.to_string(),
                    bytes,
                });
            }
        }
        Ok(out)
    }

    /// Drops every document held in memory; each is loaded again from storage when needed.
    pub fn forget_documents(&mut self) {
        self.docs.clear();
        self.seqs.clear();
    }

    /// Starts an operation (a sync round, an erasure...). When other processes write the same
    /// storage, what they stored since is taken in as each document is first used, and the
    /// epochs are read again.
    fn begin(&mut self) -> Result<(), HubError> {
        if self.shared {
            self.current.clear();
            self.epochs = self.storage.epochs()?;
        }
        Ok(())
    }

    fn doc(&mut self, id: DocId) -> Result<&mut AutoCommit, HubError> {
        let stale = self.shared && self.current.insert(id);
        if stale || !self.docs.contains_key(&id) {
            self.catch_up(id)?;
        }
        self.docs.get_mut(&id).ok_or_else(|| {
            HubError::from(StorageError::Corrupt {
                what: "document",
                value: id.to_string(),
            })
        })
    }

    /// Loads document `id`, or takes in what was stored of it after the copy in memory.
    fn catch_up(&mut self, id: DocId) -> Result<(), HubError> {
        let known = match self.docs.contains_key(&id) {
            true => self.seqs.get(&id).copied().unwrap_or(0),
            false => 0,
        };
        let corrupt = || StorageError::Corrupt {
            what: "document",
            value: id.to_string(),
        };
        match self.storage.document_after(id, known)? {
            Stored::Absent => {
                if !self.docs.contains_key(&id) {
                    let doc = document::new_document(id, &self.actor)?;
                    self.docs.insert(id, doc);
                }
            }
            Stored::Unchanged => {}
            Stored::Changes { seq, changes } => {
                let doc = self.docs.get_mut(&id).ok_or_else(corrupt)?;
                let decoded = changes
                    .into_iter()
                    .map(document::decode::decode_change)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| corrupt())?;
                document::decode::apply_changes(doc, decoded).map_err(|_| corrupt())?;
                self.seqs.insert(id, seq);
            }
            Stored::Whole { seq, bytes } => {
                let mut doc = AutoCommit::load(&bytes).map_err(|_| corrupt())?;
                doc.set_actor(self.actor.clone());
                self.docs.insert(id, doc);
                self.seqs.insert(id, seq);
            }
        }
        Ok(())
    }

    /// The ward, its groups and points, as the hub's ward document holds them.
    pub fn ward(&mut self) -> Result<(Ward, Vec<ResidentialGroup>, Vec<LiteracyPoint>), HubError> {
        self.begin()?;
        self.read_ward()
    }

    fn read_ward(&mut self) -> Result<(Ward, Vec<ResidentialGroup>, Vec<LiteracyPoint>), HubError> {
        let id = self.ward_id;
        let doc = self.doc(DocId::Ward(id))?;
        Ok(document::read_ward(id, doc)?)
    }

    /// The documents a device may read: `None` means all of the ward.
    fn readable(&self, device: &DeviceRecord) -> Option<HashSet<DocId>> {
        document::readable(device.role, self.ward_id, &device.groups, &device.points)
    }

    fn writable(&self, device: &DeviceRecord, doc: DocId) -> bool {
        match doc {
            DocId::Ward(w) if w != self.ward_id => false,
            _ => document::may_write(device.role, &device.groups, &device.points, doc),
        }
    }

    /// One sync round for `device`.
    pub fn sync(
        &mut self,
        device: &DeviceRecord,
        request: SyncRequest,
        now: DateTime<Utc>,
    ) -> Result<SyncResponse, HubError> {
        self.begin()?;
        if request.incarnation != 0 && request.incarnation != self.incarnation {
            return self.restored(device, now);
        }
        let request_incarnation = request.incarnation;
        // Limits before work: a push names at most so many documents and changes.
        let changes: usize = request.pushes.iter().map(|p| p.changes.len()).sum();
        if request.pushes.len() > MAX_PUSH_DOCUMENTS || changes > MAX_PUSH_CHANGES {
            return Err(HubError::refused(
                Status::TooLarge,
                ErrorCode::PushTooLarge,
                format!(
                    "a push holds at most {MAX_PUSH_DOCUMENTS} documents and \
                     {MAX_PUSH_CHANGES} changes, not {} and {changes}",
                    request.pushes.len()
                ),
            ));
        }
        let mut pushes = Vec::with_capacity(request.pushes.len());
        // Pushes written on an epoch the hub rewrote away: dropped (they hold what was erased,
        // or history the new epoch lacks); the device is sent the new epoch to carry its edits
        // over onto.
        let mut stale = Vec::new();
        for push in request.pushes {
            let doc = DocId::try_from(push.doc)?;
            if !self.writable(device, doc) {
                return Err(HubError::refused(
                    Status::Forbidden,
                    ErrorCode::OutOfScope,
                    format!("a {} device may not change this document", device.role),
                )
                .on(doc));
            }
            if self.shared {
                // Its epoch as stored (`begin`), and the document as stored.
                self.doc(doc)?;
            }
            if push.epoch != self.epoch(doc) {
                stale.push(doc);
                continue;
            }
            pushes.push((doc, push));
        }
        // The ward document first: a coordinator's new literacy point is listed there.
        pushes.sort_by_key(|(doc, _)| !matches!(doc, DocId::Ward(_)));
        let touched: Vec<DocId> = pushes.iter().map(|(d, _)| *d).collect();
        let result = self.apply(pushes, device, now);
        if result.is_err() {
            for doc in touched {
                self.docs.remove(&doc);
                self.seqs.remove(&doc);
            }
        }
        let pushed_hashes = result?;
        let receipts = self
            .storage
            .receipts(&pushed_hashes)?
            .into_iter()
            .filter(|(_, at)| at.timestamp_millis() != now.timestamp_millis())
            .map(|(hash, at)| Receipt {
                hash,
                received_at: at.timestamp_millis(),
            })
            .collect();
        let page = self.storage.pull(
            request.cursor,
            self.readable(device).as_ref(),
            &device.id.to_string(),
            BATCH_BYTES,
        )?;
        let mut pulls: Vec<Pull> = Vec::new();
        for item in page.items {
            let (doc, snapshot, change) = match item {
                PullItem::Snapshot { doc, bytes, .. } => (doc, Some(bytes), None),
                PullItem::Change {
                    doc,
                    received_at,
                    bytes,
                    signature,
                    ..
                } => (
                    doc,
                    None,
                    Some(PulledChange {
                        received_at: received_at.timestamp_millis(),
                        bytes,
                        signature,
                    }),
                ),
            };
            let wire = WireDoc::from(doc);
            let at = match pulls.iter().position(|p| p.doc == wire) {
                Some(i) => i,
                None => {
                    pulls.push(Pull {
                        doc: wire,
                        epoch: self.epoch(doc),
                        snapshot: None,
                        changes: Vec::new(),
                    });
                    pulls.len() - 1
                }
            };
            if snapshot.is_some() {
                pulls[at].snapshot = snapshot;
            }
            pulls[at].changes.extend(change);
        }
        for doc in stale {
            let wire = WireDoc::from(doc);
            let whole = self.storage.load_document(doc)?;
            pulls.retain(|p| p.doc != wire);
            pulls.push(Pull {
                doc: wire,
                epoch: self.epoch(doc),
                snapshot: whole,
                changes: Vec::new(),
            });
        }
        Ok(SyncResponse {
            cursor: page.cursor,
            more: page.more,
            hub_time: now.timestamp_millis(),
            receipts,
            pulls,
            // 0: the one the device sent (a byte on the wire instead of three).
            incarnation: match request_incarnation == self.incarnation {
                true => 0,
                false => self.incarnation,
            },
            remaining: page.remaining,
            restored: Vec::new(),
        })
    }

    /// The answer to a device of an older incarnation (the hub was restored from a backup
    /// since it last synced): nothing applied, the heads of every document in its scope, so
    /// that it sends again what this hub lacks and pulls everything from cursor 0.
    fn restored(
        &mut self,
        device: &DeviceRecord,
        now: DateTime<Utc>,
    ) -> Result<SyncResponse, HubError> {
        let scope = self.readable(device);
        let ids: Vec<DocId> = self
            .storage
            .document_ids()?
            .into_iter()
            .filter(|id| scope.as_ref().is_none_or(|s| s.contains(id)))
            .collect();
        let mut restored = Vec::with_capacity(ids.len());
        for id in ids {
            let heads = self.doc(id)?.get_heads().iter().map(|h| h.0).collect();
            restored.push(doorstep_proto::wire::DocHeads {
                doc: WireDoc::from(id),
                heads,
            });
        }
        tracing::info!(device = %device.id, documents = restored.len(), "a device of the hub's previous incarnation: told what the hub holds");
        Ok(SyncResponse {
            cursor: 0,
            more: true,
            hub_time: now.timestamp_millis(),
            receipts: Vec::new(),
            pulls: Vec::new(),
            incarnation: self.incarnation,
            remaining: 0,
            restored,
        })
    }

    /// Applies pushed changes and stores the new ones; returns the hashes of all pushed.
    fn apply(
        &mut self,
        pushes: Vec<(DocId, Push)>,
        device: &DeviceRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<[u8; 32]>, HubError> {
        let mut pushed = Vec::new();
        let mut changes = Vec::new();
        let mut applied = Vec::new();
        let mut audit = Vec::new();
        let mut withdrawn = Vec::new();
        let mut authors = Authors::new(device);
        for (
            id,
            Push {
                changes: raw,
                signatures,
                ..
            },
        ) in pushes
        {
            let ward = DocId::Ward(self.ward_id);
            if id != ward && !document::ward_lists(self.doc(ward)?, id)? {
                return Err(HubError::refused(
                    Status::NotFound,
                    ErrorCode::UnknownDocument,
                    "the ward has no such residential group or literacy point",
                )
                .on(id));
            }
            let bad = |message: String| {
                HubError::refused(Status::Unprocessable, ErrorCode::BadChange, message).on(id)
            };
            // Who made each change, before any is applied.
            let mut decoded = Vec::with_capacity(raw.len());
            let mut signed = HashMap::with_capacity(raw.len());
            for (i, bytes) in raw.into_iter().enumerate() {
                let change = document::decode::decode_change(bytes).map_err(|e| match e {
                    document::DecodeError::TooLarge(why) => {
                        HubError::refused(Status::TooLarge, ErrorCode::ChangeTooLarge, why).on(id)
                    }
                    e => bad(format!("change {i} is not an Automerge change: {e}")),
                })?;
                let signature = signatures.get(i).map_or(&[][..], Vec::as_slice);
                let epoch = self.epoch(id);
                if let Some(signer) =
                    authors.check(&*self.storage, id, epoch, &change, signature)?
                {
                    signed.insert(change.hash(), (signer, signature.to_vec()));
                }
                pushed.push(change.hash().0);
                decoded.push(change);
            }
            let epoch = self.epoch(id);
            let doc = self.doc(id)?;
            let before = doc.get_heads();
            // One batch: Automerge splices its columns once, not once per change.
            document::decode::apply_changes(doc, decoded)
                .map_err(|e| bad(format!("changes cannot be applied: {e}")))?;
            if document::decode::missing_history(doc)
                .map_err(|e| bad(format!("changes cannot be applied: {e}")))?
            {
                return Err(HubError::refused(
                    Status::Conflict,
                    ErrorCode::MissingHistory,
                    "changes whose history the hub does not hold: send the document's whole \
                     history",
                )
                .on(id));
            }
            document::check_identity(id, doc).map_err(|e| HubError::from(e).on(id))?;
            let new = document::decode::changes_since(doc, &before)
                .map_err(|e| bad(format!("changes cannot be applied: {e}")))?;
            // The whole change, every operation, as the schema says (not just the fields a
            // reader would see), and the records it touched as they now stand.
            let (_, audited) = document::check_changes_audited(
                id,
                doc,
                &new,
                Author::Device(device.role),
                epoch,
                now,
            )
            .map_err(|e| HubError::from(e).on(id))?;
            let entries = audit_entries(id, doc, audited, &device.id.to_string(), now);
            let after = doc.get_heads();
            let households = consent_withdrawn(doc, &before, &after, &entries);
            if !households.is_empty() {
                withdrawn.push((id, households));
            }
            audit.extend(entries);
            collect_changes(id, self.epoch(id), new, &mut signed, &mut changes);
            applied.push(id);
        }
        if !changes.is_empty() {
            self.storage
                .append_changes(&changes, &device.id.to_string(), now, &audit)
                .map_err(moved_on)?;
        }
        // A consent withdrawn: the name and phone are gone from the record but not from the
        // document's history, so the document is written anew without it.
        for (id, households) in withdrawn {
            self.rewrite(id, &Erase::HistoryOnly, &households, "history_erased", now)?;
        }
        for id in applied {
            if self.storage.changes_since_snapshot(id)? >= COMPACT_AFTER {
                // The snapshot holds what is stored up to a known sequence: with other
                // processes writing, taken in first; alone, the copy in memory is all of it.
                self.current.remove(&id);
                let bytes = self.doc(id)?.save();
                let through = match self.shared {
                    true => self.seqs.get(&id).copied().unwrap_or(0),
                    false => u64::MAX,
                };
                self.storage.compact(id, &bytes, through)?;
            }
        }
        Ok(pushed)
    }
}

/// Hub setting: the ward's roll-up as last computed, with the sequence it was computed at
/// (`{"seq": N, "rollup": {...}}`): read by the city without loading any document.
pub const ROLLUP: &str = "rollup";

/// A roll-up as the hub caches it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CachedRollup {
    pub seq: u64,
    pub rollup: WardRollup,
}

impl Hub {
    /// The ward's roll-up (aggregates only), computed from its documents now.
    pub fn rollup(&mut self, now: DateTime<Utc>) -> Result<WardRollup, HubError> {
        self.begin()?;
        let (ward, groups, points) = self.read_ward()?;
        for g in &groups {
            self.doc(DocId::Group(g.id))?;
        }
        for p in &points {
            self.doc(DocId::Point(p.id))?;
        }
        let docs = &self.docs;
        let present = |id: DocId| docs.get(&id);
        let group_docs: Vec<(Id, &AutoCommit)> = groups
            .iter()
            .filter_map(|g| present(DocId::Group(g.id)).map(|d| (g.id, d)))
            .collect();
        let point_docs: Vec<(Id, &AutoCommit)> = points
            .iter()
            .filter_map(|p| present(DocId::Point(p.id)).map(|d| (p.id, d)))
            .collect();
        let ward_doc = present(DocId::Ward(ward.id)).ok_or(HubError::NoWard)?;
        Ok(document::rollup::ward_rollup(
            ward.id,
            ward_doc,
            &group_docs,
            &point_docs,
            now,
        )?)
    }

    /// The ward's roll-up as cached, computed again (and cached) when changes were stored
    /// since; `true` when it was.
    pub fn cached_rollup(&mut self, now: DateTime<Utc>) -> Result<(WardRollup, bool), HubError> {
        let seq = self.storage.last_sequence()?;
        if let Some(cached) = self
            .storage
            .setting(ROLLUP)?
            .and_then(|json| serde_json::from_str::<CachedRollup>(&json).ok())
            .filter(|c| c.seq == seq)
        {
            return Ok((cached.rollup, false));
        }
        let rollup = self.rollup(now)?;
        let json = serde_json::to_string(&CachedRollup {
            seq,
            rollup: rollup.clone(),
        })
        .map_err(|e| StorageError::Corrupt {
            what: "roll-up",
            value: e.to_string(),
        })?;
        self.storage.set_setting(ROLLUP, &json)?;
        Ok((rollup, true))
    }
}

/// Hub setting: the retention rule.
const RETENTION: &str = "retention";

/// Personal fields are erased `days` after the campaign ends (a hub setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retention {
    pub campaign_end: chrono::NaiveDate,
    pub days: u32,
}

impl Retention {
    /// The first day personal fields are erased.
    pub fn due_on(&self) -> chrono::NaiveDate {
        // Past the calendar's end: never.
        self.campaign_end
            .checked_add_days(chrono::Days::new(u64::from(self.days)))
            .unwrap_or(chrono::NaiveDate::MAX)
    }
}

impl Hub {
    /// The epoch of `doc` (0 until the hub first rewrites it).
    pub fn epoch(&self, doc: DocId) -> u32 {
        self.epochs.get(&doc).copied().unwrap_or(0)
    }

    /// Writes document `id` anew without its history, with `erase` applied; `event` and
    /// `by` go to the audit log. The new epoch reaches every device at its next sync.
    /// `about`: the households the audit entry names besides those it erases (a consent
    /// withdrawn).
    pub fn rewrite(
        &mut self,
        id: DocId,
        erase: &Erase,
        about: &[Id],
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<(u32, Vec<Id>), HubError> {
        self.rewrite_by(id, erase, about, event, "hub", now)
    }

    fn rewrite_by(
        &mut self,
        id: DocId,
        erase: &Erase,
        about: &[Id],
        event: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(u32, Vec<Id>), HubError> {
        let actor = self.actor.clone();
        // Another process may store a change between reading the document and replacing it:
        // then the document is taken in again and rewritten (a few tries).
        let mut tries = 0;
        let (fresh, erased, epoch) = loop {
            self.current.remove(&id);
            let epoch = self.epoch(id) + 1;
            let doc = self.doc(id)?;
            let (mut fresh, erased) = document::epoch::rewrite(id, doc, erase, epoch, now, &actor)?;
            document::check_document(id, &fresh)?;
            let through = match self.shared {
                true => self.seqs.get(&id).copied().unwrap_or(0),
                false => u64::MAX,
            };
            match self.storage.replace_document(id, &fresh.save(), through) {
                Ok(stored) if stored == epoch => break (fresh, erased, epoch),
                // Another process rewrote it meanwhile: take its epoch in and write again.
                Ok(_) if tries < 5 => {
                    tries += 1;
                    self.epochs = self.storage.epochs()?;
                }
                Ok(stored) => break (fresh, erased, stored),
                Err(StorageError::Moved { .. }) if tries < 5 => tries += 1,
                Err(e) => return Err(moved_on(e)),
            }
        };
        self.docs.insert(id, fresh);
        // Its sequence is not known here: the next use loads it whole.
        self.seqs.remove(&id);
        self.epochs.insert(id, epoch);
        let records = erased
            .iter()
            .chain(about.iter().filter(|h| !erased.contains(h)))
            .map(|h| AuditRecord {
                map: "households".into(),
                id: *h,
                fields: document::epoch::PERSONAL_HOUSEHOLD_FIELDS
                    .iter()
                    .map(|f| f.to_string())
                    .collect(),
                household: None,
            })
            .collect();
        self.storage.append_audit(&[AuditEntry {
            at: now,
            device: by.to_string(),
            doc: id.to_string(),
            event: event.to_string(),
            change: None,
            records,
        }])?;
        tracing::info!(doc = %id, epoch, erased = erased.len(), event, "document rewritten without its history");
        Ok((epoch, erased))
    }

    /// The residential group whose document holds `household`.
    fn group_of(&mut self, household: Id) -> Result<Id, HubError> {
        let (_, groups, _) = self.read_ward()?;
        for group in groups {
            let doc = self.doc(DocId::Group(group.id))?;
            if document::read_household(doc, group.id, household)?.is_some() {
                return Ok(group.id);
            }
        }
        Err(HubError::refused(
            Status::NotFound,
            ErrorCode::UnknownHousehold,
            format!("unknown household {household}"),
        ))
    }

    /// Erases a household at its citizen's request: its name, phone and consent, its visits'
    /// free text, and every earlier value of them in its document's history. Its visits still
    /// count. `by`: the coordinator's device.
    pub fn erase_household(
        &mut self,
        household: Id,
        by: &DeviceRecord,
        now: DateTime<Utc>,
    ) -> Result<Erasure, HubError> {
        self.begin()?;
        let group = self.group_of(household)?;
        let erase = Erase::Households(std::iter::once(household).collect());
        let (epoch, _) = self.rewrite_by(
            DocId::Group(group),
            &erase,
            &[],
            "erased",
            &by.id.to_string(),
            now,
        )?;
        Ok(Erasure {
            household,
            group,
            epoch,
            erased_at: now,
        })
    }

    /// The retention rule, if one is set (`doorstep hub retention`).
    pub fn retention(&self) -> Result<Option<Retention>, HubError> {
        Ok(self
            .storage
            .setting(RETENTION)?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    pub fn set_retention(&mut self, retention: &Retention) -> Result<(), HubError> {
        let text = serde_json::to_string(retention).unwrap_or_default();
        Ok(self.storage.set_setting(RETENTION, &text)?)
    }

    /// Applies the retention rule at `now` when it is due: every residential group whose
    /// document holds anything personal (a name, a phone, a consent, a visit's note) is written
    /// anew without it or its history. Returns the households erased, or `None` when no rule
    /// is set or it is not due yet. The serving hub runs this at start and every hour.
    pub fn apply_retention(&mut self, now: DateTime<Utc>) -> Result<Option<usize>, HubError> {
        match self.retention()? {
            Some(rule) if now.date_naive() >= rule.due_on() => {}
            _ => return Ok(None),
        }
        let (_, groups, _) = self.ward()?;
        let mut erased = 0;
        for group in groups {
            let id = DocId::Group(group.id);
            let doc = self.doc(id)?;
            let households = document::read_households(doc, group.id)?;
            let visits = document::read_visits(doc, group.id)?;
            let personal = households
                .iter()
                .any(|h| h.consent || h.name.is_some() || h.phone.is_some())
                || visits.iter().any(|(v, _)| {
                    v.note.is_some() || v.follow_up.as_ref().is_some_and(|f| f.reason.is_some())
                });
            if personal {
                let (_, e) = self.rewrite(id, &Erase::AllPersonal, &[], "retention", now)?;
                erased += e.len();
            }
        }
        Ok(Some(erased))
    }

    /// A household's history from the audit log: made, changed, visited, erased. Who made a
    /// change is the device whose signature it carries (checked again now against that
    /// device's key), whatever device pushed it; `devices` gives their names and keys.
    pub fn history(
        &mut self,
        household: Id,
        devices: &[DeviceInfo],
    ) -> Result<Vec<HistoryEntry>, HubError> {
        self.begin()?;
        let group = self.group_of(household)?;
        let doc = self.doc(DocId::Group(group))?;
        let visits: Vec<Id> = document::read_visits(doc, group)?
            .into_iter()
            .filter(|(v, _)| v.household_id == household)
            .map(|(v, _)| v.id)
            .collect();
        let mut ids = visits.clone();
        ids.push(household);
        let entries = self.storage.audit_of(&ids)?;
        let hashes: Vec<[u8; 32]> = entries
            .iter()
            .filter_map(|e| unhex(e.change.as_deref()?))
            .collect();
        let signatures: HashMap<[u8; 32], (Id, Vec<u8>)> = self
            .storage
            .signatures(&hashes)?
            .into_iter()
            .map(|(hash, signer, signature)| (hash, (signer, signature)))
            .collect();
        let name_of = |device: &str| {
            devices
                .iter()
                .find(|d| d.device_id.to_string() == device)
                .map_or(device.to_string(), |d| d.name.clone())
        };
        let mut out = Vec::new();
        for entry in entries {
            let signed = entry
                .change
                .as_deref()
                .and_then(unhex)
                .and_then(|hash| Some((hash, signatures.get(&hash)?)));
            let (by, signed_by, verified) = match signed {
                Some((hash, (signer, signature))) => {
                    let key = devices
                        .iter()
                        .find(|d| d.device_id == *signer)
                        .and_then(|d| document::PublicKey::from_base64(d.key.as_deref()?));
                    let verified = key.is_some_and(|k| {
                        k.verifies_change(&automerge::ChangeHash(hash), signature)
                    });
                    (name_of(&signer.to_string()), Some(*signer), verified)
                }
                None => (name_of(&entry.device), None, false),
            };
            for r in &entry.records {
                let (what, visit) = match (r.map.as_str(), entry.event.as_str()) {
                    (_, "erased" | "history_erased" | "retention") if r.id == household => {
                        (entry.event.clone(), None)
                    }
                    ("households", _) if r.id == household && r.fields.iter().any(|f| f == "*") => {
                        ("created".into(), None)
                    }
                    ("households", _) if r.id == household => ("changed".into(), None),
                    ("visits", _) if visits.contains(&r.id) => ("visit".into(), Some(r.id)),
                    _ => continue,
                };
                out.push(HistoryEntry {
                    at: entry.at,
                    what,
                    by: by.clone(),
                    fields: r.fields.iter().filter(|f| *f != "*").cloned().collect(),
                    visit,
                    signed_by,
                    verified,
                });
            }
        }
        Ok(out)
    }
}

/// A change hash as the audit log writes it (hex), as bytes.
fn unhex(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// The audit entries of a device's changes to document `id`, as `doc` now stands (a visit's
/// household read from it).
fn audit_entries(
    id: DocId,
    doc: &AutoCommit,
    audited: Vec<document::ChangeAudit>,
    device: &str,
    now: DateTime<Utc>,
) -> Vec<AuditEntry> {
    let group = match id {
        DocId::Group(g) => Some(g),
        _ => None,
    };
    audited
        .into_iter()
        .map(|c| AuditEntry {
            at: now,
            device: device.to_string(),
            doc: id.to_string(),
            event: "change".into(),
            change: Some(hex(&c.hash.0)),
            records: c
                .records
                .into_iter()
                .map(|(map, record, fields)| AuditRecord {
                    map: map.to_string(),
                    id: record,
                    fields,
                    household: match (map, group) {
                        ("visits", Some(g)) => document::read_visit(doc, g, record)
                            .ok()
                            .flatten()
                            .map(|(v, _)| v.household_id),
                        _ => None,
                    },
                })
                .collect(),
        })
        .collect()
}

/// The households whose consent these changes withdrew (a name or phone may sit in the
/// history).
fn consent_withdrawn(
    doc: &AutoCommit,
    before: &[automerge::ChangeHash],
    after: &[automerge::ChangeHash],
    audit: &[AuditEntry],
) -> Vec<Id> {
    let mut households: Vec<Id> = audit
        .iter()
        .flat_map(|e| &e.records)
        .filter(|r| {
            r.map == "households"
                && r.fields.iter().any(|f| f == "consent")
                && document::records::consent_at(doc, r.id, before) == Some(true)
                && document::records::consent_at(doc, r.id, after) != Some(true)
        })
        .map(|r| r.id)
        .collect();
    households.sort();
    households.dedup();
    households
}

/// A document's changes, ready to store, each with who signed it.
fn collect_changes(
    id: DocId,
    epoch: u32,
    changes: Vec<Change>,
    signed: &mut HashMap<automerge::ChangeHash, (Id, Vec<u8>)>,
    out: &mut Vec<NewChange>,
) {
    for mut change in changes {
        out.push(NewChange {
            doc: id,
            epoch,
            hash: change.hash().0,
            signed: signed.remove(&change.hash()),
            bytes: change.bytes().into_owned(),
        });
    }
}

/// Who made each pushed change, checked: the pushing device's own changes carry its actor
/// (derived from its key) and its signature; another device's (resent after the hub was
/// restored from a backup, or relayed) carry that device's actor and signature, and that
/// device may write the document. Anything else is refused before it is applied.
struct Authors<'d> {
    device: &'d DeviceRecord,
    /// Every enrolled device, read once a push holds another's change.
    others: Option<Vec<DeviceRecord>>,
}

impl<'d> Authors<'d> {
    fn new(device: &'d DeviceRecord) -> Self {
        Authors {
            device,
            others: None,
        }
    }

    /// The device that signed `change` of document `doc` at `epoch` (`None`: the document's
    /// first change, the same everywhere), or the refusal. Another epoch's first change is
    /// refused here, before Automerge sees two first changes.
    fn check(
        &mut self,
        storage: &dyn HubStorage,
        doc: DocId,
        epoch: u32,
        change: &Change,
        signature: &[u8],
    ) -> Result<Option<Id>, HubError> {
        let refuse = |code, message: &str| {
            Err(HubError::refused(Status::Unprocessable, code, message.to_string()).on(doc))
        };
        let actor = change.actor_id();
        if actor.to_bytes() == document::ROOT_ACTOR {
            return match document::epoch_of_first_change(doc, change.hash(), epoch) {
                Some(e) if e == epoch => Ok(None),
                Some(_) => refuse(
                    ErrorCode::OldEpoch,
                    "history of an epoch the hub wrote anew (an erasure): it is gone for good",
                ),
                None => refuse(
                    ErrorCode::RootChanged,
                    "a change that pretends to be the document's first change",
                ),
            };
        }
        let Some(key) = self.device.key else {
            return refuse(
                ErrorCode::BadSignature,
                "this device joined before changes were signed: join again with a new invite",
            );
        };
        if *actor == key.actor() {
            if !key.verifies_change(&change.hash(), signature) {
                return refuse(
                    ErrorCode::BadSignature,
                    "a change without this device's valid signature",
                );
            }
            return Ok(Some(self.device.id));
        }
        let others = match &mut self.others {
            Some(others) => others,
            None => self.others.insert(storage.devices()?),
        };
        let signer = others
            .iter()
            .find(|d| d.key.is_some_and(|k| k.actor() == *actor));
        match signer {
            Some(signer) if signer.revoked_at.is_some() => refuse(
                ErrorCode::ActorNotYours,
                "a change signed by a revoked device (a lost phone?): ask the coordinator",
            ),
            Some(signer)
                if signer
                    .key
                    .is_some_and(|k| k.verifies_change(&change.hash(), signature))
                    && document::may_write(signer.role, &signer.groups, &signer.points, doc) =>
            {
                Ok(Some(signer.id))
            }
            _ => refuse(
                ErrorCode::ActorNotYours,
                "a change under another device's actor without that device's signature",
            ),
        }
    }
}

/// Another hub process moved a document on during this round: the device syncs again.
fn moved_on(e: StorageError) -> HubError {
    match e {
        StorageError::Moved { doc } => HubError::refused(
            Status::Conflict,
            ErrorCode::MissingHistory,
            "the document changed at the hub during this sync: sync again",
        )
        .on(doc),
        e => e.into(),
    }
}

/// Refuses to make a hub where one exists already.
fn refuse_existing(storage: &dyn HubStorage, place: &str) -> Result<(), HubError> {
    match storage.ward()? {
        Some((_, name)) => Err(HubError::refused(
            Status::BadRequest,
            ErrorCode::HubExists,
            format!("{place} already holds the hub of ward {name:?}"),
        )),
        None => Ok(()),
    }
}
