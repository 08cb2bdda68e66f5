//! Assignments: a coordinator hands households to a named volunteer (one household, a
//! follow-up's household, or every household of an alley as written today, matched however it
//! was spelled); the volunteer's walk list puts "assigned to me" first. An assignment is a
//! field on the household, so it syncs like any other; only a coordinator writes it (the
//! hub's schema). Overdue follow-ups are counted per volunteer: the household's assignee, or
//! else whoever recorded the visit that asked for the follow-up.

use chrono::{DateTime, NaiveDate, Utc};
use doorstep_domain::duplicates::address_key;
use doorstep_domain::validate::check_text;
use doorstep_domain::*;

use crate::edit::{doc_in, Edit};
use crate::{document, tables, DocId, Result, Store, StoreError};

impl Store {
    /// Hands `households` (all of one group) to `volunteer`.
    fn assign(
        &mut self,
        group_id: Id,
        households: &[Id],
        volunteer: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.require_coordinator()?;
        check_text("volunteer", volunteer, true)?;
        let assignment = Assignment {
            to: volunteer.trim().to_string(),
            by: self.recorder()?,
            at: now,
        };
        let doc_id = DocId::Group(group_id);
        self.check_scope(doc_id)?;
        let mut edit = Edit::default();
        let doc = self.doc_mut(&mut edit, doc_id)?;
        for id in households {
            document::put_assignment(doc, *id, &assignment)?;
        }
        self.save_edit(edit, |tx, edit| {
            let records = households.iter().copied().collect();
            tables::materialize_records(tx, doc_id, doc_in(edit, doc_id)?, &records)
        })
    }

    /// Hands one household (a merged duplicate: its survivor) to `volunteer`.
    pub fn assign_household(
        &mut self,
        id: Id,
        volunteer: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Id>> {
        let h = self.counted_household(id)?;
        self.assign(h.group_id, &[h.id], volunteer, now)?;
        Ok(vec![h.id])
    }

    /// Hands every household of `alley` in group `group_id` to `volunteer` (the alley matched
    /// as the duplicates are: accents, case, "Ngõ/ngo/N." do not matter).
    pub fn assign_alley(
        &mut self,
        group_id: Id,
        alley: &str,
        volunteer: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Id>> {
        let key = address_key(alley, "");
        let ids: Vec<Id> = self
            .households(Some(group_id))?
            .into_iter()
            .filter(|h| address_key(&h.alley, "") == key)
            .map(|h| h.id)
            .collect();
        if ids.is_empty() {
            return Err(StoreError::UnknownHousehold(format!("in alley {alley:?}")));
        }
        self.assign(group_id, &ids, volunteer, now)?;
        Ok(ids)
    }

    /// Overdue follow-ups (dated before `today`, no later visit) per volunteer, most first.
    pub fn overdue_by_volunteer(&self, today: NaiveDate) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT coalesce(h.assigned_to, v.volunteer) AS who, count(*) FROM visits v
             JOIN households h ON h.id = v.household_id
             WHERE v.follow_up_date IS NOT NULL AND v.follow_up_date < ?1
               AND NOT EXISTS (SELECT 1 FROM visits w WHERE w.household_id = v.household_id
                     AND (w.device_time > v.device_time
                          OR (w.device_time = v.device_time AND w.id > v.id)))
             GROUP BY who ORDER BY count(*) DESC, who",
        )?;
        let rows = stmt.query_map([today.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
