//! The ward report: the figures a coordinator sends upward.
//!
//! The store computes it from its query tables; the CLI prints it and the app draws it. Every
//! service appears in the service maps, with 0 when nobody was helped with it, so that readers
//! get stable keys.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::model::{
    AssistResult, HouseholdState, Id, NotDoneReason, Outcome, Priority, ReportBy, Service,
};

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

/// The figures of one row of a range report: one day, one residential group (or literacy
/// point), or one volunteer (or literacy point).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct RangeRow {
    /// The day (`2026-11-25`), the group's or volunteer's name, or `Điểm: NAME` for a
    /// literacy point's walk-ins.
    pub key: String,
    pub visits: u64,
    /// Distinct households visited.
    pub households_reached: u64,
    /// Distinct households visited in each priority group.
    pub priority_households_reached: BTreeMap<Priority, u64>,
    /// People assisted (one assist is one person helped with one service), door to door and
    /// at literacy points, whatever the result.
    pub people_assisted: u64,
    /// Assists by service and result.
    pub assists_by_service_and_result: BTreeMap<Service, BTreeMap<AssistResult, u64>>,
    /// People assisted by age band (`unknown` when not recorded).
    pub people_by_age_band: BTreeMap<String, u64>,
    /// People assisted in each priority group.
    pub people_by_priority: BTreeMap<Priority, u64>,
    /// VNeID accounts activated (`vneid_activate` done).
    pub vneid_activations: u64,
    /// Level-2 VNeID guides done (`vneid_level2_guide` done).
    pub level2_guides: u64,
    pub walkins: u64,
}

/// A report over a date range (days in Vietnam's time, UTC+7), row by row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct RangeReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: ReportBy,
    pub rows: Vec<RangeRow>,
    pub total: RangeRow,
}

impl RangeRow {
    /// Adds `n` assists of one kind.
    pub fn add_assists(
        &mut self,
        service: Service,
        result: AssistResult,
        age_band: Option<&str>,
        priority: &crate::PriorityFlags,
        n: u64,
    ) {
        self.people_assisted += n;
        *self
            .assists_by_service_and_result
            .entry(service)
            .or_default()
            .entry(result)
            .or_default() += n;
        *self
            .people_by_age_band
            .entry(age_band.unwrap_or("unknown").to_string())
            .or_default() += n;
        for p in priority.list() {
            *self.people_by_priority.entry(p).or_default() += n;
        }
        if result == AssistResult::Done {
            match service {
                Service::VneidActivate => self.vneid_activations += n,
                Service::VneidLevel2Guide => self.level2_guides += n,
                _ => {}
            }
        }
    }

    /// Adds another row's figures (for the total; distinct households add up because each
    /// row's households are its own, except across days, where the total is computed apart).
    pub fn add(&mut self, other: &RangeRow) {
        self.visits += other.visits;
        self.households_reached += other.households_reached;
        for (p, n) in &other.priority_households_reached {
            *self.priority_households_reached.entry(*p).or_default() += n;
        }
        self.people_assisted += other.people_assisted;
        for (s, by) in &other.assists_by_service_and_result {
            for (r, n) in by {
                *self
                    .assists_by_service_and_result
                    .entry(*s)
                    .or_default()
                    .entry(*r)
                    .or_default() += n;
            }
        }
        for (a, n) in &other.people_by_age_band {
            *self.people_by_age_band.entry(a.clone()).or_default() += n;
        }
        for (p, n) in &other.people_by_priority {
            *self.people_by_priority.entry(*p).or_default() += n;
        }
        self.vneid_activations += other.vneid_activations;
        self.level2_guides += other.level2_guides;
        self.walkins += other.walkins;
    }
}

impl RangeReport {
    /// The report as a table in the shape of a daily ward report: a header (Vietnamese /
    /// English) and one row per key, then the total.
    pub fn table(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let first = match self.by {
            ReportBy::Day => "Ngày / Day",
            ReportBy::Group => "Tổ dân phố / Residential group",
            ReportBy::Volunteer => "Tình nguyện viên / Volunteer",
        };
        let mut header: Vec<String> = [
            first,
            "Lượt thăm / Visits",
            "Hộ đã đến / Households reached",
            "Hộ người cao tuổi / Elderly households",
            "Hộ có người khuyết tật / Households with disability",
            "Hộ nghèo / Poor households",
            "Hộ cận nghèo / Near-poor households",
            "Người được hỗ trợ / People assisted",
            "Kích hoạt VNeID / VNeID activated",
            "Hướng dẫn mức 2 / Level-2 guides",
            "Lượt tại điểm / Walk-ins",
            "Dưới 18 / Under 18",
            "18–59",
            "Từ 60 / 60 and over",
            "Chưa rõ tuổi / Age unknown",
            "Người cao tuổi / Elderly",
            "Khuyết tật / Disability",
            "Nghèo / Poor",
            "Cận nghèo / Near-poor",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect();
        for s in <Service as strum::IntoEnumIterator>::iter() {
            header.push(format!("{s} done"));
        }
        let cells = |r: &RangeRow| -> Vec<String> {
            let p = |m: &BTreeMap<Priority, u64>, k: Priority| m.get(&k).copied().unwrap_or(0);
            let a = |k: &str| r.people_by_age_band.get(k).copied().unwrap_or(0);
            let mut row = vec![
                r.key.clone(),
                r.visits.to_string(),
                r.households_reached.to_string(),
                p(&r.priority_households_reached, Priority::Elderly).to_string(),
                p(&r.priority_households_reached, Priority::Disability).to_string(),
                p(&r.priority_households_reached, Priority::Poor).to_string(),
                p(&r.priority_households_reached, Priority::NearPoor).to_string(),
                r.people_assisted.to_string(),
                r.vneid_activations.to_string(),
                r.level2_guides.to_string(),
                r.walkins.to_string(),
                a("0_17").to_string(),
                a("18_59").to_string(),
                a("60_plus").to_string(),
                a("unknown").to_string(),
                p(&r.people_by_priority, Priority::Elderly).to_string(),
                p(&r.people_by_priority, Priority::Disability).to_string(),
                p(&r.people_by_priority, Priority::Poor).to_string(),
                p(&r.people_by_priority, Priority::NearPoor).to_string(),
            ];
            for s in <Service as strum::IntoEnumIterator>::iter() {
                let done = r
                    .assists_by_service_and_result
                    .get(&s)
                    .and_then(|m| m.get(&AssistResult::Done))
                    .copied()
                    .unwrap_or(0);
                row.push(done.to_string());
            }
            row
        };
        let mut rows: Vec<Vec<String>> = self.rows.iter().map(cells).collect();
        let mut total = cells(&self.total);
        total[0] = "Tổng / Total".into();
        rows.push(total);
        (header, rows)
    }
}
