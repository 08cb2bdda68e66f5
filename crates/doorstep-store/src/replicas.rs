//! The store's documents as a whole: exported to and merged from another replica, written
//! from a generated demo ward, and the query tables rebuilt or checked against them.

use std::collections::HashMap;

use doorstep_domain::demo::DemoWard;
use doorstep_domain::*;
use rusqlite::Connection;

use crate::edit::{doc_in, Edit};
use crate::{document, set_meta, tables, DocId, DocumentBytes, Result, Store, StoreError};

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    pub integrity: String,
    pub documents: u64,
    pub query_tables_match_documents: bool,
}

/// Demo progress: one residential group's records were committed.
#[derive(Debug, Clone)]
pub struct DemoProgress<'a> {
    pub group: &'a ResidentialGroup,
    pub households: usize,
    pub visits: usize,
}

impl Store {
    /// Writes a generated demo ward: one transaction per residential group, then one per
    /// literacy point. `progress` hears of each group once it is committed.
    pub fn insert_demo(
        &mut self,
        demo: &DemoWard,
        mut progress: impl FnMut(DemoProgress<'_>),
    ) -> Result<()> {
        if let Some(ward) = self.ward()? {
            return Err(StoreError::WardExists(ward.name));
        }
        self.create_ward(&demo.ward, &demo.groups, &demo.points)?;
        let mut households = demo.households.iter().peekable();
        let mut visits_by_household: HashMap<Id, Vec<&Visit>> = HashMap::new();
        for v in &demo.visits {
            visits_by_household
                .entry(v.household_id)
                .or_default()
                .push(v);
        }
        for group in &demo.groups {
            let doc_id = DocId::Group(group.id);
            let mut edit = Edit::default();
            let doc = self.doc_mut(&mut edit, doc_id)?;
            let (mut h_count, mut v_count) = (0, 0);
            while let Some(h) = households.next_if(|h| h.group_id == group.id) {
                document::put_household(doc, h)?;
                doc.commit();
                h_count += 1;
                for v in visits_by_household.get(&h.id).into_iter().flatten() {
                    document::put_visit(doc, v)?;
                    doc.commit();
                    v_count += 1;
                }
            }
            self.save_edit(edit, |tx, edit| {
                tables::materialize_document(tx, doc_id, doc_in(edit, doc_id)?)
            })?;
            progress(DemoProgress {
                group,
                households: h_count,
                visits: v_count,
            });
        }
        for point in &demo.points {
            let doc_id = DocId::Point(point.id);
            let mut edit = Edit::default();
            let doc = self.doc_mut(&mut edit, doc_id)?;
            for w in demo.walkins.iter().filter(|w| w.point_id == point.id) {
                document::put_walkin(doc, w)?;
                doc.commit();
            }
            self.save_edit(edit, |tx, edit| {
                tables::materialize_document(tx, doc_id, doc_in(edit, doc_id)?)
            })?;
        }
        Ok(())
    }

    /// Every document this device holds, saved whole.
    pub fn export_documents(&mut self) -> Result<Vec<DocumentBytes>> {
        let mut out = Vec::new();
        for id in self.document_ids()? {
            let mut edit = Edit::default();
            let bytes = self.doc_mut(&mut edit, id)?.save();
            self.keep_unchanged(edit);
            out.push(DocumentBytes {
                id: id.to_string(),
                bytes,
            });
        }
        Ok(out)
    }

    /// Merges another replica's documents into this one, all or nothing. Concurrent edits
    /// merge per field; visits and walk-ins only accumulate. Returns how many documents
    /// changed here.
    pub fn merge_documents(&mut self, incoming: &[DocumentBytes]) -> Result<usize> {
        let ours = self.ward_id()?;
        let mut ward_seen = None;
        let mut edit = Edit::default();
        let mut changed = Vec::new();
        for d in incoming {
            let id: DocId = d.id.parse()?;
            let mut theirs =
                document::decode::load_document(&d.bytes).map_err(|e| StoreError::Unreadable {
                    doc: d.id.clone(),
                    source: e.into(),
                })?;
            document::check_identity(id, &theirs)?;
            if let DocId::Ward(w) = id {
                match ours {
                    Some(o) if o != w => return Err(StoreError::OtherWard { ours: o, theirs: w }),
                    _ => ward_seen = Some(w),
                }
            }
            let doc = self.doc_mut(&mut edit, id)?;
            let before = doc.get_heads();
            document::decode::merge(doc, &mut theirs).map_err(|e| StoreError::Unreadable {
                doc: d.id.clone(),
                source: e.into(),
            })?;
            if doc.get_heads() != before {
                document::check_document(id, doc)?;
                changed.push(id);
            }
        }
        if ours.is_none() && ward_seen.is_none() && !incoming.is_empty() {
            return Err(StoreError::NoWard);
        }
        let count = changed.len();
        self.save_edit(edit, |tx, edit| {
            if let (None, Some(w)) = (ours, ward_seen) {
                set_meta(tx, "ward_id", &w.to_string())?;
            }
            for id in &changed {
                tables::materialize_document(tx, *id, doc_in(edit, *id)?)?;
            }
            Ok(())
        })?;
        Ok(count)
    }

    /// Recomputes every query table from the documents.
    pub fn rebuild(&mut self) -> Result<()> {
        let ids = self.document_ids()?;
        let mut edit = Edit::default();
        for id in &ids {
            self.doc_mut(&mut edit, *id)?;
        }
        self.save_edit(edit, |tx, edit| rebuild_tables(tx, edit))
    }

    /// Every row of every query table as text, in key order.
    pub fn dump_query_tables(&self) -> Result<String> {
        tables::dump(&self.conn)
    }

    /// Checks the database file and that the query tables equal a rebuild from the
    /// documents, changing nothing.
    pub fn check(&mut self) -> Result<CheckReport> {
        let integrity: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        let ids = self.document_ids()?;
        let mut edit = Edit::default();
        for id in &ids {
            self.doc_mut(&mut edit, *id)?;
        }
        let before = tables::dump(&self.conn)?;
        let tx = self.conn.transaction()?;
        rebuild_tables(&tx, &edit)?;
        let after = tables::dump(&tx)?;
        tx.rollback()?;
        self.keep_unchanged(edit);
        Ok(CheckReport {
            integrity,
            documents: ids.len() as u64,
            query_tables_match_documents: before == after,
        })
    }
}

fn rebuild_tables(tx: &Connection, edit: &Edit) -> Result<()> {
    tables::clear(tx)?;
    for (id, doc, _) in &edit.docs {
        tables::materialize_document(tx, *id, doc)?;
    }
    Ok(())
}
