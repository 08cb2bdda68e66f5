//! The campaign's records, named as the field names them.
//!
//! Every type here is plain data with serde: the store turns them into Automerge documents and
//! SQL rows, the CLI and the app into JSON. Ids are UUIDv7, made on the device that creates the
//! record, so a retried or replayed record is the same record everywhere.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use strum::{EnumIter, EnumString, IntoStaticStr};
use ts_rs::TS;
use uuid::Uuid;

/// A record's id: a UUIDv7 made on the device that created the record.
pub type Id = Uuid;

/// Makes a new record id (UUIDv7: time-ordered, unique without coordination).
pub fn new_id() -> Id {
    Uuid::now_v7()
}

/// One of the field's closed lists of words (services, outcomes, roles...): the same word in
/// Rust, JSON, SQL, the CLI, TypeScript and the UI. Declares the enum with its one derive
/// stack, snake_case in serde and strum, and `as_str`/`Display`.
macro_rules! field_words {
    ($(#[$meta:meta])* pub enum $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            EnumString, IntoStaticStr, EnumIter, TS,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($body)* }

        impl $name {
            /// The word used for this value in JSON, SQL, the CLI and the UI.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

field_words! {
    /// A service a team or a literacy point helps someone with.
    pub enum Service {
        VneidInstall,
        VneidActivate,
        VneidLevel2Guide,
        Ihanoi,
        PublicServicePortal,
        MpsPortal,
        Etax,
        Vssid,
        CashlessPayment,
        InternetAccess,
        Other,
    }
}

field_words! {
    /// What happened at the door.
    pub enum Outcome {
        Assisted,
        NotHome,
        Declined,
        Revisit,
    }
}

field_words! {
    /// How far one assist got.
    pub enum AssistResult {
        Done,
        Partial,
        NeedsFollowUp,
    }
}

field_words! {
    /// The age band of the person helped: never a birth date.
    pub enum AgeBand {
        #[serde(rename = "0_17")]
        #[strum(serialize = "0_17")]
        Under18,
        #[serde(rename = "18_59")]
        #[strum(serialize = "18_59")]
        Adult,
        #[serde(rename = "60_plus")]
        #[strum(serialize = "60_plus")]
        Elderly,
    }
}

field_words! {
    /// Whether a household has internet at home.
    #[derive(Default)]
    pub enum Internet {
        Yes,
        No,
        #[default]
        Unknown,
    }
}

field_words! {
    /// One priority group of the campaign ("no one left behind").
    pub enum Priority {
        Elderly,
        Disability,
        Poor,
        NearPoor,
    }
}

field_words! {
    /// What a device may do in its ward: decides which documents it receives and may change.
    pub enum Role {
        /// Door to door: its residential groups' documents.
        Volunteer,
        /// At a literacy point: its point's document.
        Student,
        /// The ward office: every document of the ward.
        Coordinator,
    }
}

/// The priority groups a household or a person helped belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, TS)]
pub struct PriorityFlags {
    pub elderly: bool,
    pub disability: bool,
    pub poor: bool,
    pub near_poor: bool,
}

impl PriorityFlags {
    /// The flags named in `list`.
    pub fn from_list(list: &[Priority]) -> Self {
        let mut flags = Self::default();
        for p in list {
            flags.set(*p, true);
        }
        flags
    }

    pub fn get(&self, p: Priority) -> bool {
        match p {
            Priority::Elderly => self.elderly,
            Priority::Disability => self.disability,
            Priority::Poor => self.poor,
            Priority::NearPoor => self.near_poor,
        }
    }

    pub fn set(&mut self, p: Priority, value: bool) {
        match p {
            Priority::Elderly => self.elderly = value,
            Priority::Disability => self.disability = value,
            Priority::Poor => self.poor = value,
            Priority::NearPoor => self.near_poor = value,
        }
    }

    /// The flags that are set, in a fixed order.
    pub fn list(&self) -> Vec<Priority> {
        use strum::IntoEnumIterator;
        Priority::iter().filter(|p| self.get(*p)).collect()
    }

    pub fn any(&self) -> bool {
        self.elderly || self.disability || self.poor || self.near_poor
    }
}

/// The ward: the unit a hub serves and a coordinator reports on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Ward {
    pub id: Id,
    pub name: String,
}

/// A residential group (tổ dân phố): the households one community team covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ResidentialGroup {
    pub id: Id,
    pub name: String,
}

/// A mobile digital literacy point (điểm Bình dân học vụ số lưu động).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LiteracyPoint {
    pub id: Id,
    pub name: String,
    pub place: Option<String>,
}

/// A household, found by its address path (group › alley › house number), never by GPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Household {
    pub id: Id,
    pub group_id: Id,
    pub alley: String,
    pub number: String,
    pub members: Option<u32>,
    pub priority: PriorityFlags,
    pub internet: Internet,
    /// The household agreed that its display name and phone may be recorded.
    pub consent: bool,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Erased at the citizen's request, the consent's withdrawal or the end of the retention
    /// period: its name, phone and history are gone; its visits still count.
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
    /// When consent was given and withdrawn, by whom, for which purpose.
    #[serde(default)]
    pub consent_record: crate::ConsentRecord,
    /// Merged by a coordinator into this household (a duplicate): it is no longer counted,
    /// its visits count for the survivor. Set once, never undone.
    #[serde(default)]
    pub merged_into: Option<Id>,
    /// Households a coordinator said are not duplicates of this one (not listed again).
    #[serde(default)]
    pub not_duplicate_of: Vec<Id>,
    /// Voided (not a household: recorded by mistake): kept, never listed or counted.
    #[serde(default)]
    pub voided: Option<Void>,
    #[serde(default)]
    pub review: Option<Review>,
    #[serde(default)]
    pub assignment: Option<Assignment>,
    #[serde(default)]
    pub state: HouseholdState,
}

/// One person helped with one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Assist {
    pub service: Service,
    pub result: AssistResult,
    pub age_band: Option<AgeBand>,
    pub priority: PriorityFlags,
}

impl Assist {
    /// The assist as one short code, `SERVICE:RESULT[:AGE_BAND[:FLAG+FLAG]]`, e.g.
    /// `vneid_activate:done:60_plus:elderly`: how the CLI takes it and documents store it.
    pub fn code(&self) -> String {
        let mut code = format!("{}:{}", self.service, self.result);
        let flags: Vec<&str> = self.priority.list().iter().map(|p| p.as_str()).collect();
        if self.age_band.is_some() || !flags.is_empty() {
            code.push(':');
            if let Some(band) = self.age_band {
                code.push_str(band.as_str());
            }
        }
        if !flags.is_empty() {
            code.push(':');
            code.push_str(&flags.join("+"));
        }
        code
    }
}

impl std::str::FromStr for Assist {
    type Err = String;

    /// Reads `SERVICE[:RESULT[:AGE_BAND[:FLAG+FLAG]]]`; the result defaults to `done`.
    fn from_str(text: &str) -> Result<Self, String> {
        fn word<T: std::str::FromStr + strum::IntoEnumIterator + std::fmt::Display>(
            text: &str,
        ) -> Result<T, String> {
            text.trim().parse().map_err(|_| {
                let known: Vec<String> = T::iter().map(|v| v.to_string()).collect();
                format!("unknown value {text:?}; use one of {}", known.join(", "))
            })
        }
        let mut parts = text.split(':');
        let service = word::<Service>(parts.next().unwrap_or_default())?;
        let result = match parts.next() {
            Some(r) if !r.is_empty() => word::<AssistResult>(r)?,
            _ => AssistResult::Done,
        };
        let age_band = match parts.next() {
            Some(b) if !b.is_empty() => Some(word::<AgeBand>(b)?),
            _ => None,
        };
        let priority = match parts.next() {
            Some(flags) if !flags.is_empty() => {
                PriorityFlags::from_list(&flags.split('+').map(word::<Priority>).collect::<Result<
                    Vec<_>,
                    _,
                >>(
                )?)
            }
            _ => PriorityFlags::default(),
        };
        if parts.next().is_some() {
            return Err(format!(
                "{text:?} has too many parts; use SERVICE[:RESULT[:AGE_BAND[:FLAG+FLAG]]]"
            ));
        }
        Ok(Assist {
            service,
            result,
            age_band,
            priority,
        })
    }
}

/// Something the team must come back for, e.g. "L2 at police station on Friday".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FollowUp {
    pub date: NaiveDate,
    pub reason: Option<String>,
}

/// A record voided by a mistake (a mis-tapped visit, a household that is not one): kept, for
/// the audit, and left out of every list and count. A void is final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Void {
    pub at: DateTime<Utc>,
    /// Who voided it (the name the device was invited under).
    pub by: String,
    pub reason: String,
}

field_words! {
    /// Where a coordinator's review of a record stands.
    pub enum ReviewState {
        /// The coordinator asks the volunteer to fix it (with a comment).
        NeedsFix,
        /// The volunteer says it is fixed (with a reply); the coordinator looks again.
        Fixed,
        Approved,
    }
}

/// A coordinator's review of a household or visit, and the volunteer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Review {
    pub state: ReviewState,
    pub comment: Option<String>,
    /// Who set the state, and when.
    pub by: String,
    pub at: DateTime<Utc>,
}

field_words! {
    /// What is at an address. Coverage counts only addresses where people live
    /// (`lives_here`, `temporary_residents`); the others are addresses checked, not households
    /// to reach, and are reported apart.
    #[derive(Default)]
    pub enum HouseholdState {
        #[default]
        LivesHere,
        Vacant,
        MovedAway,
        Business,
        TemporaryResidents,
        NoSuchAddress,
    }
}

impl HouseholdState {
    /// Whether people live there: a household coverage counts.
    pub fn is_household(self) -> bool {
        matches!(
            self,
            HouseholdState::LivesHere | HouseholdState::TemporaryResidents
        )
    }
}

field_words! {
    /// How a range report is broken down: per day, per residential group, per volunteer.
    pub enum ReportBy {
        Day,
        Group,
        Volunteer,
    }
}

field_words! {
    /// Why what a visit came for was not done.
    pub enum NotDoneReason {
        NoSmartphone,
        SimNotOwnName,
        NeedsLevel2AtPolice,
        ForgotPasswordOtp,
        NoInternet,
        Other,
    }
}

/// A household handed by a coordinator to a named volunteer (its alley's round, a follow-up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Assignment {
    /// The volunteer's name, as their device was invited.
    pub to: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A review as the lists show it: what it is on (`households` or `visits`), where, its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ReviewItem {
    pub id: Id,
    pub map: String,
    pub group_id: Id,
    pub household_id: Id,
    /// The household's alley and number.
    pub address: String,
    pub review: Review,
}

/// A knock on a household's door and what came of it. Visits are only ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Visit {
    pub id: Id,
    pub household_id: Id,
    pub group_id: Id,
    /// The device's clock when the visit was recorded (devices lie: see the sync issue).
    pub device_time: DateTime<Utc>,
    pub volunteer: String,
    pub outcome: Outcome,
    pub note: Option<String>,
    pub follow_up: Option<FollowUp>,
    pub assists: Vec<Assist>,
    /// When the hub first received the visit, by the hub's clock; `None` until then. Not
    /// part of what the volunteer records: a device learns it from the hub.
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
    /// Voided by its volunteer or a coordinator: kept, never counted.
    #[serde(default)]
    pub voided: Option<Void>,
    #[serde(default)]
    pub review: Option<Review>,
    /// Why what the visit came for was not done (when it was not).
    #[serde(default)]
    pub not_done_reason: Option<NotDoneReason>,
}

/// A person who walked up to a literacy point and was helped with one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WalkIn {
    pub id: Id,
    pub point_id: Id,
    pub device_time: DateTime<Utc>,
    pub service: Service,
    pub result: AssistResult,
    pub age_band: Option<AgeBand>,
    pub priority: PriorityFlags,
    /// The literacy-point session it was recorded in (its id), counted per session.
    #[serde(default)]
    pub session: Option<String>,
}

/// The fields of a household a person types in; the store adds id, group and time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HouseholdDraft {
    pub alley: String,
    pub number: String,
    pub members: Option<u32>,
    pub priority: PriorityFlags,
    pub internet: Internet,
    pub consent: bool,
    pub name: Option<String>,
    pub phone: Option<String>,
}

impl HouseholdDraft {
    /// The draft as people meant it: surrounding spaces trimmed, blank name and phone absent.
    pub fn normalized(self) -> Self {
        let clean = |t: Option<String>| t.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        HouseholdDraft {
            alley: self.alley.trim().to_string(),
            number: self.number.trim().to_string(),
            name: clean(self.name),
            phone: clean(self.phone),
            ..self
        }
    }

    /// The household this draft describes, once it has an id, a group and a time.
    pub fn into_household(self, id: Id, group_id: Id, created_at: DateTime<Utc>) -> Household {
        Household {
            id,
            group_id,
            alley: self.alley,
            number: self.number,
            members: self.members,
            priority: self.priority,
            internet: self.internet,
            consent: self.consent,
            name: self.name,
            phone: self.phone,
            created_at,
            erased_at: None,
            consent_record: crate::ConsentRecord::default(),
            merged_into: None,
            not_duplicate_of: Vec::new(),
            voided: None,
            review: None,
            assignment: None,
            state: HouseholdState::LivesHere,
        }
    }
}

/// A correction to a household: only the fields that are `Some` change, so two devices
/// correcting different fields of one household both keep their correction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HouseholdPatch {
    pub alley: Option<String>,
    pub number: Option<String>,
    pub members: Option<u32>,
    pub priority: Option<PriorityFlags>,
    pub internet: Option<Internet>,
    /// `Some(false)` withdraws consent, which also removes the name and phone.
    pub consent: Option<bool>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub state: Option<HouseholdState>,
}

impl HouseholdPatch {
    /// The correction that turns `current` into `wanted`: only the fields that differ, so a
    /// form that resends every field still merges per field with other devices' corrections.
    pub fn to_reach(current: &Household, wanted: &HouseholdDraft) -> Self {
        let differs = |new: &String, old: &String| (new != old).then(|| new.clone());
        HouseholdPatch {
            alley: differs(&wanted.alley, &current.alley),
            number: differs(&wanted.number, &current.number),
            members: wanted.members.filter(|m| Some(*m) != current.members),
            priority: (wanted.priority != current.priority).then_some(wanted.priority),
            internet: (wanted.internet != current.internet).then_some(wanted.internet),
            consent: (wanted.consent != current.consent).then_some(wanted.consent),
            name: wanted
                .name
                .clone()
                .filter(|n| Some(n) != current.name.as_ref()),
            phone: wanted
                .phone
                .clone()
                .filter(|p| Some(p) != current.phone.as_ref()),
            state: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The household as it is after this patch.
    pub fn apply(&self, household: &Household) -> Household {
        let mut h = household.clone();
        if let Some(v) = &self.alley {
            h.alley = v.clone();
        }
        if let Some(v) = &self.number {
            h.number = v.clone();
        }
        if let Some(v) = self.members {
            h.members = Some(v);
        }
        if let Some(v) = self.priority {
            h.priority = v;
        }
        if let Some(v) = self.internet {
            h.internet = v;
        }
        if let Some(v) = self.consent {
            h.consent = v;
            if !v {
                h.name = None;
                h.phone = None;
            }
        }
        if let Some(v) = &self.name {
            h.name = Some(v.clone());
        }
        if let Some(v) = &self.phone {
            h.phone = Some(v.clone());
        }
        if let Some(v) = self.state {
            h.state = v;
        }
        h
    }
}

/// What a volunteer records at the door; the store adds the id and the household's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct VisitDraft {
    pub household_id: Id,
    pub device_time: DateTime<Utc>,
    pub volunteer: String,
    pub outcome: Outcome,
    pub note: Option<String>,
    pub follow_up: Option<FollowUp>,
    pub assists: Vec<Assist>,
    /// Why what the visit came for was not done (when it was not).
    #[serde(default)]
    pub not_done_reason: Option<NotDoneReason>,
}

impl VisitDraft {
    /// The visit this draft describes, once it has an id and its household's group.
    pub fn into_visit(self, id: Id, group_id: Id) -> Visit {
        Visit {
            id,
            household_id: self.household_id,
            group_id,
            device_time: self.device_time,
            volunteer: self.volunteer,
            outcome: self.outcome,
            note: self.note,
            follow_up: self.follow_up,
            assists: self.assists,
            received_at: None,
            voided: None,
            review: None,
            not_done_reason: self.not_done_reason,
        }
    }
}

/// One line of a volunteer's walk list: a household and where its visits stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WalkRow {
    pub id: Id,
    pub group_id: Id,
    pub group: String,
    pub alley: String,
    pub number: String,
    pub members: Option<u32>,
    pub priority: PriorityFlags,
    pub internet: Internet,
    pub name: Option<String>,
    pub visits: u32,
    pub last_outcome: Option<Outcome>,
    pub last_visit: Option<DateTime<Utc>>,
    /// The open follow-up's date (the latest visit asked for one).
    pub follow_up: Option<NaiveDate>,
    /// What the open follow-up is for, as the volunteer wrote it.
    #[serde(default)]
    pub follow_up_reason: Option<String>,
    /// The volunteer a coordinator handed this household to.
    pub assigned_to: Option<String>,
    /// Recorded only with the household's consent: searched and called from the list.
    pub phone: Option<String>,
}

/// A document the hub refused at the last sync, kept on the device (its changes stay in the
/// outbox and are offered again at every sync) and shown with the hub's reason until a sync
/// takes it. The rest of the outbox syncs around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SyncProblem {
    /// The document, as `group/<id>`, `point/<id>` or `ward/<id>`.
    pub doc: String,
    /// What it holds, as people name it: the residential group's or literacy point's name, or
    /// the ward's.
    pub name: String,
    pub code: crate::ErrorCode,
    /// The hub's own words (for the log and the coordinator; the UI shows the code's text).
    pub message: String,
    /// Changes of this document still waiting.
    pub changes: u64,
    pub at: DateTime<Utc>,
}
