//! Voids: a mis-tapped visit or a household recorded by mistake is voided with a reason, kept
//! in its document (and the hub's audit) but out of every list and count (`tables` moves its
//! rows to `voided`). A volunteer voids what their own device recorded; a coordinator voids
//! any; the hub checks the same on its side. A void is final (the schema refuses undoing it).

use chrono::{DateTime, Utc};
use doorstep_domain::validate::check_void;
use doorstep_domain::*;

use crate::edit::Edit;
use crate::tables::{parse, time};
use crate::{document, tables, DocId, Result, Store, StoreError};

/// A voided record as the coordinator's list shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VoidedRecord {
    pub id: Id,
    /// `households` or `visits`.
    pub map: String,
    pub group_id: Id,
    pub household_id: Id,
    pub void: Void,
}

impl Store {
    /// Voids visit `id` with `reason`.
    pub fn void_visit(&mut self, id: Id, reason: &str, now: DateTime<Utc>) -> Result<Void> {
        let visit = self.visit(id)?;
        self.void_record("visits", id, visit.group_id, reason, now)
    }

    /// Voids household `id` (and with it, in every count, its visits) with `reason`.
    pub fn void_household(&mut self, id: Id, reason: &str, now: DateTime<Utc>) -> Result<Void> {
        let household = self.household(id)?;
        self.void_record("households", id, household.group_id, reason, now)
    }

    fn void_record(
        &mut self,
        map: &str,
        id: Id,
        group_id: Id,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Void> {
        let void = Void {
            at: now,
            by: self.recorder()?,
            reason: reason.trim().to_string(),
        };
        check_void(Some(&void))?;
        let doc_id = DocId::Group(group_id);
        self.check_scope(doc_id)?;
        let coordinator = self.is_coordinator()?;
        let mut edit = Edit::default();
        let doc = self.doc_mut(&mut edit, doc_id)?;
        if !coordinator && document::created_by(doc, map, id)?.as_ref() != Some(&self.actor) {
            self.keep_unchanged(edit);
            return Err(StoreError::NotYours);
        }
        document::put_void(doc, map, id, &void)?;
        self.save_edit(edit, |tx, edit| {
            tables::materialize_records(
                tx,
                doc_id,
                crate::edit::doc_in(edit, doc_id)?,
                &[id].into_iter().collect(),
            )
        })?;
        Ok(void)
    }

    /// Every voided record this device holds, newest first.
    pub fn voided(&self) -> Result<Vec<VoidedRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, map, group_id, household_id, at, by, reason FROM voided
             ORDER BY at DESC, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(VoidedRecord {
                id: parse(r, 0)?,
                map: r.get(1)?,
                group_id: parse(r, 2)?,
                household_id: parse(r, 3)?,
                void: Void {
                    at: time(r, 4)?,
                    by: r.get(5)?,
                    reason: r.get(6)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
