//! The one write path. An operation opens the documents it touches (an `Edit`: each
//! document with its heads before), changes them in memory, and `save_edit` commits the
//! Automerge changes, appends their bytes, rewrites the affected query rows and compacts, all
//! in one SQLite transaction. If anything fails the touched documents are dropped from memory
//! (reloaded from disk on next use), so memory never holds a change the disk does not.

use automerge::{AutoCommit, ChangeHash};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use crate::{document, sync, DocId, Result, Store, StoreError, COMPACT_AFTER_CHANGES};

/// The documents one operation touches, with their heads before it.
#[derive(Default)]
pub(crate) struct Edit {
    pub(crate) docs: Vec<(DocId, AutoCommit, Vec<ChangeHash>)>,
    /// Documents replaced by a new epoch (see `sync`): saved whole, their old snapshot and
    /// changes deleted.
    pub(crate) replaced: Vec<(DocId, u32)>,
}

impl Edit {
    pub(crate) fn get(&mut self, id: DocId) -> Option<&mut AutoCommit> {
        self.docs
            .iter_mut()
            .find(|(d, _, _)| *d == id)
            .map(|(_, doc, _)| doc)
    }
}

impl Store {
    pub(crate) fn document_ids(&self) -> Result<Vec<DocId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc_id FROM documents ORDER BY doc_id")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.iter().map(|s| Ok(s.parse()?)).collect()
    }

    /// The document `id` for this operation: from the cache, from disk, or new.
    pub(crate) fn doc_mut<'w>(
        &mut self,
        edit: &'w mut Edit,
        id: DocId,
    ) -> Result<&'w mut AutoCommit> {
        if edit.get(id).is_none() {
            let (doc, heads) = match self.docs.remove(&id) {
                Some(mut doc) => {
                    let heads = doc.get_heads();
                    (doc, heads)
                }
                None => match self.load_document(id)? {
                    Some(mut doc) => {
                        let heads = doc.get_heads();
                        (doc, heads)
                    }
                    // A new document: its first change must be saved too.
                    None => (document::new_document(id, &self.actor)?, Vec::new()),
                },
            };
            edit.docs.push((id, doc, heads));
        }
        edit.get(id).ok_or_else(|| not_loaded(id))
    }

    pub(crate) fn load_document(&self, id: DocId) -> Result<Option<AutoCommit>> {
        let key = id.to_string();
        let Some(mut bytes) = self
            .conn
            .prepare_cached("SELECT snapshot FROM documents WHERE doc_id = ?1")?
            .query_row([&key], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM document_changes WHERE doc_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([&key])?;
        while let Some(row) = rows.next()? {
            let change: Vec<u8> = row.get(0)?;
            bytes.extend_from_slice(&change);
        }
        let mut doc = AutoCommit::load(&bytes).map_err(|e| StoreError::Unreadable {
            doc: key,
            source: e.into(),
        })?;
        doc.set_actor(self.actor.clone());
        Ok(Some(doc))
    }

    /// Returns documents read but not changed to the cache.
    pub(crate) fn keep_unchanged(&mut self, edit: Edit) {
        for (id, doc, _) in edit.docs {
            self.docs.insert(id, doc);
        }
    }

    /// Commits the operation's Automerge changes, saves them and updates the query tables
    /// (through `materialize`) in one SQLite transaction. On failure the touched documents
    /// are dropped from memory, so nothing unsaved survives.
    pub(crate) fn save_edit(
        &mut self,
        mut edit: Edit,
        materialize: impl FnOnce(&Transaction<'_>, &Edit) -> Result<()>,
    ) -> Result<()> {
        let mut saved = Vec::new();
        let mut replaced = Vec::new();
        for (id, doc, heads) in edit.docs.iter_mut() {
            // No commit time: records carry their own device time, and the wire saves bytes.
            doc.commit();
            if let Some((_, epoch)) = edit.replaced.iter().find(|(d, _)| d == id) {
                replaced.push((*id, *epoch, doc.save(), doc.get_heads()));
                continue;
            }
            let bytes = doc.save_after(heads);
            if !bytes.is_empty() {
                saved.push((*id, bytes));
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (id, epoch, snapshot, heads) in &replaced {
            let key = id.to_string();
            tx.execute("DELETE FROM document_changes WHERE doc_id = ?1", [&key])?;
            tx.execute(
                "INSERT INTO documents (doc_id, kind, snapshot, heads, epoch)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (doc_id) DO UPDATE
                 SET snapshot = excluded.snapshot, heads = excluded.heads, epoch = excluded.epoch",
                params![key, id.kind(), snapshot, sync::encode_heads(heads), epoch],
            )?;
        }
        for (id, bytes) in &saved {
            let key = id.to_string();
            tx.prepare_cached(
                "INSERT OR IGNORE INTO documents (doc_id, kind, snapshot) VALUES (?1, ?2, X'')",
            )?
            .execute(params![key, id.kind()])?;
            tx.prepare_cached("INSERT INTO document_changes (doc_id, bytes) VALUES (?1, ?2)")?
                .execute(params![key, bytes])?;
            if let Some((_, doc, _)) = edit.docs.iter_mut().find(|(d, _, _)| d == id) {
                tx.prepare_cached("UPDATE documents SET heads = ?2 WHERE doc_id = ?1")?
                    .execute(params![key, sync::encode_heads(&doc.get_heads())])?;
            }
        }
        materialize(&tx, &edit)?;
        for (id, _) in &saved {
            let key = id.to_string();
            let (changes, change_bytes, snapshot_bytes): (i64, i64, i64) = tx
                .prepare_cached(
                    "SELECT count(*), coalesce(sum(length(c.bytes)), 0), length(d.snapshot)
                     FROM documents d JOIN document_changes c USING (doc_id)
                     WHERE d.doc_id = ?1",
                )?
                .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            // Changes saved one by one are larger and slower to load than a snapshot: save
            // the document whole once they outweigh it (amortised: each byte is rewritten a
            // bounded number of times) or once there are many.
            if changes >= COMPACT_AFTER_CHANGES || change_bytes > snapshot_bytes.max(4096) {
                if let Some((_, doc, _)) = edit.docs.iter_mut().find(|(d, _, _)| d == id) {
                    let snapshot = doc.save();
                    tx.execute(
                        "UPDATE documents SET snapshot = ?2 WHERE doc_id = ?1",
                        params![key, snapshot],
                    )?;
                    tx.execute("DELETE FROM document_changes WHERE doc_id = ?1", [&key])?;
                }
            }
        }
        tx.commit()?;
        self.keep_unchanged(edit);
        Ok(())
    }
}

/// Stores document `id`, new to this device (a first sync), as the bytes it came in
/// (`snapshot`, whose heads are `snapshot_heads`) instead of encoding and compressing it again,
/// and the changes `doc` holds past them.
pub(crate) fn insert_received(
    tx: &Transaction<'_>,
    id: DocId,
    snapshot: &[u8],
    snapshot_heads: &[ChangeHash],
    doc: &mut AutoCommit,
) -> Result<()> {
    let key = id.to_string();
    tx.prepare_cached(
        "INSERT INTO documents (doc_id, kind, snapshot, heads) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        key,
        id.kind(),
        snapshot,
        sync::encode_heads(snapshot_heads)
    ])?;
    let past = doc.save_after(snapshot_heads);
    if !past.is_empty() {
        tx.prepare_cached("INSERT INTO document_changes (doc_id, bytes) VALUES (?1, ?2)")?
            .execute(params![key, past])?;
        tx.prepare_cached("UPDATE documents SET heads = ?2 WHERE doc_id = ?1")?
            .execute(params![key, sync::encode_heads(&doc.get_heads())])?;
    }
    Ok(())
}

pub(crate) fn doc_in(edit: &Edit, id: DocId) -> Result<&AutoCommit> {
    edit.docs
        .iter()
        .find(|(d, _, _)| *d == id)
        .map(|(_, doc, _)| doc)
        .ok_or_else(|| not_loaded(id))
}

fn not_loaded(id: DocId) -> StoreError {
    StoreError::Document {
        doc: id.to_string(),
        reason: "not loaded by this operation".into(),
    }
}
