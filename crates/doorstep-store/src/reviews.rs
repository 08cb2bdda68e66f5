//! Reviews: a coordinator marks a household or visit "needs fix" with a comment; the
//! volunteer's device shows it after sync; the volunteer fixes the record and answers `fixed`;
//! the coordinator approves. The state lives on the record, in its group's document, so it
//! flows both ways by sync like any field; the hub refuses a state the author's role may not set.

use chrono::{DateTime, Utc};
use doorstep_domain::validate::check_review;
use doorstep_domain::*;

use crate::edit::{doc_in, Edit};
use crate::tables::{parse, time};
use crate::{document, tables, DocId, Result, Store, StoreError};

impl Store {
    /// Sets the review of a household (`map` = `households`) or visit (`visits`): a
    /// coordinator asks for a fix or approves; a volunteer answers `fixed`.
    pub fn set_review(
        &mut self,
        map: &str,
        id: Id,
        state: ReviewState,
        comment: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Review> {
        let (group_id, household_id) = match map {
            "households" => {
                let h = self.household(id)?;
                (h.group_id, h.id)
            }
            _ => {
                let v = self.visit(id)?;
                (v.group_id, v.household_id)
            }
        };
        if state != ReviewState::Fixed && !self.is_coordinator()? {
            return Err(StoreError::CoordinatorOnly);
        }
        let review = Review {
            state,
            comment: comment
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty()),
            by: self.recorder()?,
            at: now,
        };
        check_review(Some(&review))?;
        let doc_id = DocId::Group(group_id);
        self.check_scope(doc_id)?;
        let mut edit = Edit::default();
        document::put_review(self.doc_mut(&mut edit, doc_id)?, map, id, &review)?;
        self.save_edit(edit, |tx, edit| {
            let records = [id, household_id].into_iter().collect();
            tables::materialize_records(tx, doc_id, doc_in(edit, doc_id)?, &records)
        })?;
        Ok(review)
    }

    /// Reviews not yet approved (or all of them with `all`), newest first.
    pub fn reviews(&self, all: bool) -> Result<Vec<ReviewItem>> {
        self.review_rows(
            "WHERE (?1 OR r.state <> 'approved') AND ?2 IS NULL",
            all,
            None,
        )
    }

    /// The reviews of one household and of its visits.
    pub fn reviews_of(&self, household: Id) -> Result<Vec<ReviewItem>> {
        self.review_rows("WHERE ?1 AND r.household_id = ?2", true, Some(household))
    }

    fn review_rows(
        &self,
        filter: &str,
        all: bool,
        household: Option<Id>,
    ) -> Result<Vec<ReviewItem>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT r.id, r.map, r.group_id, r.household_id,
                    coalesce(h.alley || ' ' || h.number, ''), r.state, r.comment, r.by, r.at
             FROM reviews r LEFT JOIN households h ON h.id = r.household_id
             {filter} ORDER BY r.at DESC, r.id"
        ))?;
        let rows = stmt.query_map(
            rusqlite::params![all, household.map(|h| h.to_string())],
            |r| {
                Ok(ReviewItem {
                    id: parse(r, 0)?,
                    map: r.get(1)?,
                    group_id: parse(r, 2)?,
                    household_id: parse(r, 3)?,
                    address: r.get(4)?,
                    review: Review {
                        state: parse(r, 5)?,
                        comment: r.get(6)?,
                        by: r.get(7)?,
                        at: time(r, 8)?,
                    },
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
