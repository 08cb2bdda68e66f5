//! Visits and walk-ins: added, never edited; listed newest first.

use chrono::{DateTime, Utc};
use doorstep_domain::validate::{check_visit, check_walkin};
use doorstep_domain::*;

use crate::edit::{doc_in, Edit};
use crate::{document, tables, DocId, Result, Store, StoreError};

impl Store {
    /// Records a visit to a household.
    /// A visit to a merged duplicate is recorded on the household it was merged into.
    pub fn add_visit(&mut self, mut draft: VisitDraft, now: DateTime<Utc>) -> Result<Visit> {
        let household = self.counted_household(draft.household_id)?;
        draft.household_id = household.id;
        let visit = draft.into_visit(new_id(), household.group_id);
        check_visit(&visit, now)?;
        if household.erased_at.is_some() {
            doorstep_domain::validate::check_visit_of_erased(&visit)?;
        }
        self.write_visit(&visit)?;
        self.visit(visit.id)
    }

    /// One visit.
    pub fn visit(&self, id: Id) -> Result<Visit> {
        let mut visits: Vec<Visit> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {} FROM visits v WHERE v.id = ?1",
                tables::VISIT_COLUMNS
            ))?
            .query_map([id.to_string()], tables::visit_from_row)?
            .collect::<Result<_, _>>()?;
        tables::load_assists(&self.conn, &mut visits)?;
        visits.pop().ok_or_else(|| StoreError::Document {
            doc: format!("group/{id}"),
            reason: "visit not found".into(),
        })
    }

    /// Records a visit whose id was made elsewhere (a replay is a no-op).
    pub fn insert_visit(&mut self, v: &Visit, now: DateTime<Utc>) -> Result<()> {
        check_visit(v, now)?;
        let household = self.household(v.household_id)?;
        if household.group_id != v.group_id {
            return Err(StoreError::UnknownHousehold(format!(
                "{} in group {}",
                v.household_id, v.group_id
            )));
        }
        self.write_visit(v)
    }

    /// Writes a checked visit of a known household into its group's document.
    pub(crate) fn write_visit(&mut self, v: &Visit) -> Result<()> {
        let doc_id = DocId::Group(v.group_id);
        self.check_scope(doc_id)?;
        let mut edit = Edit::default();
        let doc = self.doc_mut(&mut edit, doc_id)?;
        if document::read_visit(doc, v.group_id, v.id)?.is_some() {
            self.keep_unchanged(edit);
            return Ok(());
        }
        document::put_visit(doc, v)?;
        self.save_edit(edit, |tx, edit| {
            let doc = doc_in(edit, doc_id)?;
            if let Some((visit, made_by)) = document::read_visit(doc, v.group_id, v.id)? {
                tables::upsert_visit(tx, &visit, made_by)?;
            }
            Ok(())
        })
    }

    /// Visits to one household or to all, newest first.
    pub fn visits(&self, household: Option<Id>) -> Result<Vec<Visit>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM visits v WHERE ?1 IS NULL OR v.household_id = ?1
             ORDER BY v.device_time DESC, v.id DESC",
            tables::VISIT_COLUMNS
        ))?;
        let mut visits: Vec<Visit> = stmt
            .query_map([household.map(|h| h.to_string())], tables::visit_from_row)?
            .collect::<Result<_, _>>()?;
        tables::load_assists(&self.conn, &mut visits)?;
        Ok(visits)
    }

    /// Records a walk-in assist at a literacy point (a replay of the same id is a no-op) and
    /// returns it as stored.
    pub fn add_walkin(&mut self, w: &WalkIn, now: DateTime<Utc>) -> Result<WalkIn> {
        check_walkin(w, now)?;
        if !self.points()?.iter().any(|p| p.id == w.point_id) {
            return Err(StoreError::UnknownPoint(w.point_id.to_string()));
        }
        let doc_id = DocId::Point(w.point_id);
        self.check_scope(doc_id)?;
        let mut edit = Edit::default();
        let doc = self.doc_mut(&mut edit, doc_id)?;
        if document::read_walkin(doc, w.point_id, w.id)?.is_none() {
            document::put_walkin(doc, w)?;
        }
        let mut stored = None;
        self.save_edit(edit, |tx, edit| {
            stored = document::read_walkin(doc_in(edit, doc_id)?, w.point_id, w.id)?;
            if let Some(w) = &stored {
                tables::upsert_walkin(tx, w)?;
            }
            Ok(())
        })?;
        stored.ok_or_else(|| StoreError::UnknownPoint(w.point_id.to_string()))
    }

    /// Walk-ins at one point or at all, newest first.
    pub fn walkins(&self, point: Option<Id>) -> Result<Vec<WalkIn>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, point_id, device_time, service, result, age_band, elderly, disability,
                    poor, near_poor, session
             FROM walkins WHERE ?1 IS NULL OR point_id = ?1
             ORDER BY device_time DESC, id DESC",
        )?;
        let rows = stmt.query_map([point.map(|p| p.to_string())], tables::walkin_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
