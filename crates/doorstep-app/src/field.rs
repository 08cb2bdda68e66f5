//! The volunteer's work: the walk list, a household's card, recording a visit, adding or
//! correcting a household.

use doorstep_domain::*;
use doorstep_store::Store;

use crate::{now, App, HouseholdCard, HouseholdInput, Result, VisitInput};

impl App {
    pub async fn walk_list(&self) -> Result<Vec<WalkRow>> {
        Ok(self.store().await?.walk_list()?)
    }

    /// What the walk list screen shows: the households `query` selects, as alley runs and
    /// the rows from `offset` (at most `limit`, 500 at most), never the whole scope.
    pub async fn walk_window(
        &self,
        query: walk::WalkQuery,
        offset: u32,
        limit: u32,
    ) -> Result<walk::WalkWindow> {
        Ok(self.store().await?.walk_window(&query, offset, limit)?)
    }

    /// The purpose a household consents to now (Vietnamese and English, versioned): what the
    /// volunteer reads out before ticking consent.
    pub async fn consent_purpose(&self) -> Result<ConsentPurpose> {
        Ok(doorstep_domain::consent::current_consent_purpose().clone())
    }

    pub async fn household_card(&self, id: Id) -> Result<HouseholdCard> {
        let store = self.store().await?;
        let household = store.household(id)?;
        let group = store
            .groups()?
            .into_iter()
            .find(|g| g.id == household.group_id)
            .map(|g| g.name)
            .unwrap_or_default();
        Ok(HouseholdCard {
            visits: store.visits(Some(id))?,
            reviews: store.reviews_of(id)?,
            household,
            group,
        })
    }

    /// Who records on this device: the name the coordinator gave it when it joined.
    fn volunteer(store: &Store) -> Result<String> {
        Ok(store
            .identity()?
            .map(|i| i.name)
            .unwrap_or_else(|| "Doorstep".into()))
    }

    pub async fn record_visit(&self, input: VisitInput) -> Result<Visit> {
        let mut store = self.store().await?;
        let volunteer = Self::volunteer(&store)?;
        let draft = VisitDraft {
            household_id: input.household_id,
            device_time: now(),
            volunteer,
            outcome: input.outcome,
            note: input.note.filter(|n| !n.trim().is_empty()),
            follow_up: input.follow_up,
            assists: input.assists,
            not_done_reason: input.not_done_reason,
        };
        Ok(store.add_visit(draft, now())?)
    }

    pub async fn save_household(&self, input: HouseholdInput) -> Result<Household> {
        let mut store = self.store().await?;
        let wanted = input.household.normalized();
        let id = match input.id {
            None => {
                store
                    .add_household(input.group_id, wanted.clone(), now())?
                    .id
            }
            Some(id) => id,
        };
        // A new household's state, and any correction, as one patch of what differs.
        let current = store.household(id)?;
        let mut patch = HouseholdPatch::to_reach(&current, &wanted);
        patch.state = input.state.filter(|s| *s != current.state);
        if patch.is_empty() {
            return Ok(current);
        }
        Ok(store.update_household(id, &patch)?)
    }

    /// Voids a mis-tapped visit (this device's own; a coordinator's device: any).
    pub async fn void_visit(&self, id: Id, reason: String) -> Result<()> {
        self.store().await?.void_visit(id, &reason, now())?;
        Ok(())
    }

    /// Voids a household recorded by mistake (this device's own; a coordinator's: any).
    pub async fn void_household(&self, id: Id, reason: String) -> Result<()> {
        self.store().await?.void_household(id, &reason, now())?;
        Ok(())
    }

    /// Reviews not yet approved.
    pub async fn reviews(&self) -> Result<Vec<ReviewItem>> {
        Ok(self.store().await?.reviews(false)?)
    }

    /// Sets the review of a household (`map` = `households`) or a visit (`visits`).
    pub async fn set_review(
        &self,
        map: String,
        id: Id,
        state: ReviewState,
        comment: Option<String>,
    ) -> Result<Review> {
        let map = if map == "households" {
            "households"
        } else {
            "visits"
        };
        Ok(self
            .store()
            .await?
            .set_review(map, id, state, comment.as_deref(), now())?)
    }

    /// Hands household `household` (with `whole_alley`, every household of its alley in its
    /// group) to `volunteer`: a coordinator's device.
    pub async fn assign(
        &self,
        volunteer: String,
        household: Id,
        whole_alley: bool,
    ) -> Result<Vec<Id>> {
        let mut store = self.store().await?;
        if whole_alley {
            let h = store.household(household)?;
            Ok(store.assign_alley(h.group_id, &h.alley, &volunteer, now())?)
        } else {
            Ok(store.assign_household(household, &volunteer, now())?)
        }
    }
}
