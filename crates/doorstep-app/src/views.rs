//! What the app's commands take and give: plain data, serialized to the UI as JSON and
//! declared to it in TypeScript (`bindings`), never written twice by hand.

use chrono::{DateTime, Utc};
use doorstep_domain::report::Report;
use doorstep_domain::*;
use doorstep_proto::api::{InviteResponse, Named};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Who this device is and what it holds: decides the home screen.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Overview {
    pub has_ward: bool,
    pub ward: Option<String>,
    /// `None` before joining a hub (a device with a local ward acts as coordinator).
    pub role: Option<Role>,
    pub device_name: Option<String>,
    pub groups: Vec<Named>,
    pub points: Vec<Named>,
    /// The groups and points this device works in (all of them for a coordinator).
    pub my_groups: Vec<Id>,
    pub my_points: Vec<Id>,
    pub hub_url: Option<String>,
    /// The address this device serves the ward hub on, when it hosts it.
    pub hosting: Option<String>,
}

/// The sync bar: always visible.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SyncStatus {
    pub joined: bool,
    pub outbox: u64,
    pub last_sync: Option<DateTime<Utc>>,
    pub hub_url: Option<String>,
    /// Documents the hub refused at the last sync, kept here with its reason; the rest synced.
    pub problems: Vec<SyncProblem>,
}

/// A household with its group's name and its visits, newest first.
#[derive(Debug, Clone, Serialize, TS)]
pub struct HouseholdCard {
    pub household: Household,
    pub group: String,
    pub visits: Vec<Visit>,
    /// Reviews of the household and of its visits.
    pub reviews: Vec<ReviewItem>,
}

/// A visit as the visit form sends it.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct VisitInput {
    pub household_id: Id,
    pub outcome: Outcome,
    #[serde(default)]
    pub assists: Vec<Assist>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub follow_up: Option<FollowUp>,
    /// Why what the visit came for was not done.
    #[serde(default)]
    pub not_done_reason: Option<NotDoneReason>,
}

/// A household as the household form sends it (no id: a new household).
#[derive(Debug, Clone, Deserialize, TS)]
pub struct HouseholdInput {
    pub id: Option<Id>,
    pub group_id: Id,
    #[serde(flatten)]
    pub household: HouseholdDraft,
    /// What is at the address (`lives_here` when not given).
    #[serde(default)]
    pub state: Option<HouseholdState>,
}

/// A walk-in as the literacy-point screen sends it.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct WalkInInput {
    pub point_id: Id,
    pub service: Service,
    pub result: AssistResult,
    pub age_band: Option<AgeBand>,
    #[serde(default)]
    pub priority: PriorityFlags,
}

/// An open literacy-point session and its running counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, TS)]
pub struct Session {
    /// Named by every walk-in recorded in it.
    pub id: String,
    pub point_id: Id,
    pub started_at: DateTime<Utc>,
    pub session_count: u64,
    pub day_count: u64,
}

/// Campaign targets the coordinator sets, in percent of households.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, TS)]
pub struct Targets {
    pub online_percent: f64,
    pub vneid_activated_percent: f64,
    pub visited_percent: f64,
}

impl Default for Targets {
    fn default() -> Self {
        // Kien Hung ward's goal: over 80 % of households online.
        Targets {
            online_percent: 80.0,
            vneid_activated_percent: 80.0,
            visited_percent: 100.0,
        }
    }
}

/// A group ranked by how much it needs a literacy point.
#[derive(Debug, Clone, Serialize, TS)]
pub struct PointNeed {
    pub group: String,
    pub households: u64,
    pub unvisited: u64,
    pub priority_unvisited: u64,
    pub without_internet: u64,
    pub score: f64,
}

/// The coordinator's dashboard.
#[derive(Debug, Clone, Serialize, TS)]
pub struct Dashboard {
    pub report: Report,
    pub targets: Targets,
    pub progress: Targets,
    pub needs_point: Vec<PointNeed>,
    /// Overdue follow-ups per volunteer (the household's assignee, else who asked for it).
    pub overdue_by_volunteer: Vec<VolunteerOverdue>,
}

/// One volunteer's overdue follow-ups.
#[derive(Debug, Clone, Serialize, TS)]
pub struct VolunteerOverdue {
    pub volunteer: String,
    pub overdue: u64,
}

/// An invite with what to show: the code, a join link and its QR code.
#[derive(Debug, Clone, Serialize, TS)]
pub struct InviteView {
    pub invite: InviteResponse,
    pub link: String,
    pub qr_svg: String,
}

/// Two households of one group that look like one, as the walk list shows each, with why.
#[derive(Debug, Clone, Serialize, TS)]
pub struct DuplicateView {
    /// The older record: the one kept by default.
    pub first: WalkRow,
    pub second: WalkRow,
    pub reasons: Vec<DuplicateReason>,
}
