//! Households: recorded, corrected field by field, listed in walk order.

use chrono::{DateTime, Utc};
use doorstep_domain::validate::check_household;
use doorstep_domain::*;
use rusqlite::{OptionalExtension, Transaction};

use crate::edit::{doc_in, Edit};
use crate::{document, tables, DocId, Result, Store, StoreError};

impl Store {
    /// Records a new household in a residential group.
    pub fn add_household(
        &mut self,
        group_id: Id,
        draft: HouseholdDraft,
        now: DateTime<Utc>,
    ) -> Result<Household> {
        let mut household = draft.into_household(new_id(), group_id, now);
        if household.consent {
            household.consent_record = ConsentRecord::given(now, &self.recorder()?);
        }
        self.insert_household(&household)?;
        self.household(household.id)
    }

    /// Records a household whose id was made elsewhere (a replay is a no-op).
    pub fn insert_household(&mut self, h: &Household) -> Result<()> {
        self.require_ward()?;
        check_household(h)?;
        if !self.groups()?.iter().any(|g| g.id == h.group_id) {
            return Err(StoreError::UnknownGroup(h.group_id.to_string()));
        }
        if self.household(h.id).is_ok() {
            return Ok(());
        }
        let doc_id = DocId::Group(h.group_id);
        self.check_scope(doc_id)?;
        let mut edit = Edit::default();
        document::put_household(self.doc_mut(&mut edit, doc_id)?, h)?;
        self.save_edit(edit, |tx, edit| {
            materialize_household(tx, edit, h.group_id, h.id)
        })
    }

    /// Corrects a household; only the fields in `patch` change. A merged duplicate's
    /// correction is made on the household it was merged into.
    pub fn update_household(&mut self, id: Id, patch: &HouseholdPatch) -> Result<Household> {
        if patch.is_empty() {
            return Err(StoreError::EmptyUpdate);
        }
        let current = self.counted_household(id)?;
        let id = current.id;
        check_household(&patch.apply(&current))?;
        let doc_id = DocId::Group(current.group_id);
        self.check_scope(doc_id)?;
        // A consent given or withdrawn is recorded: when, by whom, for which purpose.
        let consent = match patch.consent {
            Some(true) if !current.consent => {
                Some(ConsentRecord::given(Utc::now(), &self.recorder()?))
            }
            Some(false) if current.consent => Some(
                current
                    .consent_record
                    .withdrawn(Utc::now(), &self.recorder()?),
            ),
            _ => None,
        };
        let mut edit = Edit::default();
        let doc = self.doc_mut(&mut edit, doc_id)?;
        document::patch_household(doc, id, patch)?;
        if let Some(record) = &consent {
            document::put_consent_record(doc, id, record)?;
        }
        self.save_edit(edit, |tx, edit| {
            materialize_household(tx, edit, current.group_id, id)
        })?;
        self.household(id)
    }

    /// Who records on this device: the name its holder was invited under (else this device's
    /// own word for itself, before it joined a hub).
    pub(crate) fn recorder(&self) -> Result<String> {
        Ok(self
            .identity()?
            .map(|i| i.name)
            .unwrap_or_else(|| "thiết bị này".into()))
    }

    /// One household.
    pub fn household(&self, id: Id) -> Result<Household> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {} FROM households h WHERE h.id = ?1",
                tables::HOUSEHOLD_COLUMNS
            ))?
            .query_row([id.to_string()], tables::household_from_row)
            .optional()?
            .ok_or_else(|| StoreError::UnknownHousehold(id.to_string()))
    }

    /// Households of one group or of all, in walk order (group, alley, house number).
    pub fn households(&self, group: Option<Id>) -> Result<Vec<Household>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM households h
             WHERE (?1 IS NULL OR h.group_id = ?1) AND h.survivor_id IS NULL
             ORDER BY h.group_id, h.alley, CAST(h.number AS INTEGER), h.number, h.id",
            tables::HOUSEHOLD_COLUMNS
        ))?;
        let rows = stmt.query_map([group.map(|g| g.to_string())], tables::household_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The walk list: every household this device holds, in walk order, with its visits'
    /// count, latest outcome and open follow-up.
    pub fn walk_list(&self) -> Result<Vec<WalkRow>> {
        self.walk_list_of(None)
    }

    /// Longest window `walk_window` answers.
    pub const WALK_WINDOW_MAX: u32 = 500;

    /// A window of the walk list (see `doorstep_domain::walk`): what `query` selects, its
    /// alley runs, and at most `limit` rows from `offset`. The rows are read from the
    /// database once and kept until it changes, so that scrolling or searching a
    /// 50,000-household scope reads nothing again and sends the screen only what it shows.
    pub fn walk_window(
        &self,
        query: &doorstep_domain::walk::WalkQuery,
        offset: u32,
        limit: u32,
    ) -> Result<doorstep_domain::walk::WalkWindow> {
        let revision = self.revision()?;
        let mut kept = self.walk_index.borrow_mut();
        let index = match kept.take() {
            Some((r, index)) if r == revision => index,
            _ => doorstep_domain::walk::WalkIndex::new(self.walk_list()?),
        };
        let window = index.window(query, offset, limit.min(Self::WALK_WINDOW_MAX));
        *kept = Some((revision, index));
        Ok(window)
    }

    /// The walk list of one residential group, or of every group this device holds.
    pub fn walk_list_of(&self, group: Option<Id>) -> Result<Vec<WalkRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.id, h.group_id, coalesce(g.name, ''), h.alley, h.number, h.members,
                    h.elderly, h.disability, h.poor, h.near_poor, h.internet, h.name,
                    (SELECT count(*) FROM visits v WHERE v.household_id = h.id),
                    l.outcome, l.device_time, l.follow_up_date, h.assigned_to, h.phone,
                    l.follow_up_reason
             FROM households h
             LEFT JOIN residential_groups g ON g.id = h.group_id
             LEFT JOIN visits l ON l.id = (SELECT v.id FROM visits v WHERE v.household_id = h.id
                                           ORDER BY v.device_time DESC, v.id DESC LIMIT 1)
             WHERE h.survivor_id IS NULL AND (?1 IS NULL OR h.group_id = ?1)
             ORDER BY h.group_id, h.alley, CAST(h.number AS INTEGER), h.number, h.id",
        )?;
        let rows = stmt.query_map([group.map(|g| g.to_string())], tables::walk_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

pub(crate) fn materialize_household(
    tx: &Transaction<'_>,
    edit: &Edit,
    group_id: Id,
    id: Id,
) -> Result<()> {
    let doc = doc_in(edit, DocId::Group(group_id))?;
    if let Some(h) = document::read_household(doc, group_id, id)? {
        tables::upsert_household(tx, &h)?;
        tables::resolve_merges(tx, group_id, doc)?;
    }
    Ok(())
}
