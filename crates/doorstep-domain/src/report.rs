//! The ward report: the figures a coordinator sends upward.
//!
//! The store computes it from its query tables; the CLI prints it and the app draws it. Every
//! service appears in the service maps, with 0 when nobody was helped with it, so that readers
//! get stable keys.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::model::{AssistResult, HouseholdState, Id, NotDoneReason, Outcome, Service};

/// Households and coverage in one residential group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct GroupCoverage {
    pub group: String,
    pub households: u64,
    /// Households with at least one visit, whatever its outcome (the door was knocked on).
    pub visited: u64,
    /// Households with at least one visit whose outcome was `assisted`.
    pub assisted: u64,
    pub priority_households: u64,
    pub priority_visited: u64,
}

/// Walk-ins counted at one literacy point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PointCount {
    pub point: String,
    pub walkins: u64,
}

/// An open follow-up (no later visit to the household) whose date has come.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct FollowUpDue {
    pub household_id: Id,
    pub visit_id: Id,
    pub group: String,
    pub alley: String,
    pub number: String,
    pub date: NaiveDate,
    pub reason: Option<String>,
}

/// The merged picture of the ward as this device holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Report {
    pub ward: Option<String>,
    /// The day follow-ups are counted as due against.
    pub today: NaiveDate,
    /// Households coverage counts: people live there (`lives_here`, `temporary_residents`).
    pub households: u64,
    /// Addresses checked where no household is to be reached, by what was found there.
    #[serde(default)]
    pub addresses_not_households: BTreeMap<HouseholdState, u64>,
    /// Visits by why what they came for was not done.
    #[serde(default)]
    pub not_done_reasons: BTreeMap<NotDoneReason, u64>,
    pub households_visited: u64,
    pub households_assisted: u64,
    pub households_with_internet: u64,
    pub priority_households: u64,
    pub priority_households_visited: u64,
    pub visits: u64,
    pub visits_by_outcome: BTreeMap<Outcome, u64>,
    /// Assists of every result, door to door and at literacy points.
    pub assists: u64,
    /// Service → number of assists done (result `done`), door to door and at literacy points.
    pub assists_by_service: BTreeMap<Service, u64>,
    /// Service → result → number of assists, door to door and at literacy points.
    pub assists_by_service_and_result: BTreeMap<Service, BTreeMap<AssistResult, u64>>,
    pub walkins: u64,
    pub walkins_by_point: Vec<PointCount>,
    pub by_group: Vec<GroupCoverage>,
    pub follow_ups_due: u64,
    pub follow_ups: Vec<FollowUpDue>,
}
