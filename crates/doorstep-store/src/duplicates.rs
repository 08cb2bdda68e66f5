//! Duplicate households, settled by a coordinator: listed with their reason
//! (`doorstep_domain::duplicates`), merged (the duplicate stays in its document, marked
//! `merged_into`; its visits count for the survivor), or remembered as two households.
//!
//! Why a mark and not a move: a merge is one field on one record, so it merges with any edit or
//! visit any device makes offline. A visit recorded on the duplicate, before or after the merge,
//! is counted for the survivor wherever the tables are built (`tables::resolve_merges`); a
//! device that knows of the merge records new visits and corrections on the survivor itself.

use doorstep_domain::*;

use crate::edit::Edit;
use crate::households::materialize_household;
use crate::{document, DocId, Result, Store, StoreError};

impl Store {
    /// Likely duplicates in one group, or in every group this device holds.
    pub fn duplicates(&self, group: Option<Id>) -> Result<Vec<DuplicatePair>> {
        let households = self.households(group)?;
        let mut by_group: std::collections::BTreeMap<Id, Vec<Household>> = Default::default();
        for h in households {
            by_group.entry(h.group_id).or_default().push(h);
        }
        Ok(by_group
            .values()
            .flat_map(|hs| find_duplicates(hs))
            .collect())
    }

    /// Merges household `duplicate` into `survivor` (one group's two records of one house).
    /// What the survivor lacks is taken from the duplicate: members, the internet answer, a
    /// priority flag, and a name and phone recorded with consent.
    pub fn merge_households(&mut self, survivor: Id, duplicate: Id) -> Result<Household> {
        self.require_coordinator()?;
        let kept = self.household(survivor)?;
        let gone = self.household(duplicate)?;
        let refuse = |why: &str| Err(StoreError::CannotMerge(why.into()));
        if kept.merged_into.is_some() {
            return refuse("the household to keep was itself merged into another");
        }
        if gone.merged_into.is_some() {
            return refuse("that duplicate is already merged");
        }
        if kept.id == gone.id {
            return refuse("a household is not its own duplicate");
        }
        if kept.group_id != gone.group_id {
            return refuse("only households of one residential group are merged");
        }
        let doc_id = DocId::Group(kept.group_id);
        self.check_scope(doc_id)?;
        let mut fill = HouseholdPatch {
            members: kept.members.is_none().then_some(gone.members).flatten(),
            internet: (kept.internet == Internet::Unknown && gone.internet != Internet::Unknown)
                .then_some(gone.internet),
            ..Default::default()
        };
        let flags = PriorityFlags {
            elderly: kept.priority.elderly || gone.priority.elderly,
            disability: kept.priority.disability || gone.priority.disability,
            poor: kept.priority.poor || gone.priority.poor,
            near_poor: kept.priority.near_poor || gone.priority.near_poor,
        };
        if flags != kept.priority {
            fill.priority = Some(flags);
        }
        let take_personal = !kept.consent && gone.consent && gone.erased_at.is_none();
        if take_personal {
            fill.consent = Some(true);
            fill.name = gone.name.clone();
            fill.phone = gone.phone.clone();
        }
        let mut edit = Edit::default();
        let doc = self.doc_mut(&mut edit, doc_id)?;
        document::put_merge(doc, gone.id, kept.id)?;
        if !fill.is_empty() {
            document::patch_household(doc, kept.id, &fill)?;
        }
        if take_personal {
            document::put_consent_record(doc, kept.id, &gone.consent_record)?;
        }
        self.save_edit(edit, |tx, edit| {
            materialize_household(tx, edit, kept.group_id, gone.id)?;
            materialize_household(tx, edit, kept.group_id, kept.id)
        })?;
        self.household(kept.id)
    }

    /// Remembers that households `a` and `b` are two households: not listed as duplicates again.
    pub fn mark_not_duplicate(&mut self, a: Id, b: Id) -> Result<()> {
        self.require_coordinator()?;
        let first = self.household(a)?;
        let second = self.household(b)?;
        if first.group_id != second.group_id || a == b {
            return Err(StoreError::CannotMerge(
                "two households of one residential group".into(),
            ));
        }
        let doc_id = DocId::Group(first.group_id);
        self.check_scope(doc_id)?;
        let mut edit = Edit::default();
        document::put_not_duplicate(self.doc_mut(&mut edit, doc_id)?, a, b)?;
        self.save_edit(edit, |tx, edit| {
            materialize_household(tx, edit, first.group_id, a)
        })
    }

    /// The household records and visits of `id` go to: itself, or its merge survivor.
    pub(crate) fn counted_household(&self, id: Id) -> Result<Household> {
        let h = self.household(id)?;
        match h.merged_into {
            Some(survivor) => self.household(survivor),
            None => Ok(h),
        }
    }
}
