//! The coordinator's duplicates screen: likely pairs as walk-list rows, merge, not-duplicate.
//! The rules and the merge are the store's (`doorstep_store::Store::merge_households`); the
//! hub refuses a merge from any device but a coordinator's.

use std::collections::HashMap;

use doorstep_domain::{Household, Id};

use crate::{App, DuplicateView, Result};

impl App {
    /// Likely duplicate households in every group this device holds.
    pub async fn duplicates(&self) -> Result<Vec<DuplicateView>> {
        let store = self.store().await?;
        let pairs = store.duplicates(None)?;
        let mut rows: HashMap<Id, _> = store.walk_list()?.into_iter().map(|r| (r.id, r)).collect();
        Ok(pairs
            .into_iter()
            .filter_map(|p| {
                let first = rows.get(&p.first)?.clone();
                let second = rows.remove(&p.second)?;
                Some(DuplicateView {
                    first,
                    second,
                    reasons: p.reasons,
                })
            })
            .collect())
    }

    /// Merges `duplicate` into `survivor` (a coordinator's device).
    pub async fn merge_households(&self, survivor: Id, duplicate: Id) -> Result<Household> {
        Ok(self.store().await?.merge_households(survivor, duplicate)?)
    }

    /// Remembers that `first` and `second` are two households.
    pub async fn mark_not_duplicate(&self, first: Id, second: Id) -> Result<()> {
        Ok(self.store().await?.mark_not_duplicate(first, second)?)
    }
}
