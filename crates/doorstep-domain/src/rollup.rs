//! The city roll-up: one ward's progress as aggregates only. It is what leaves a ward for the
//! city (the Department's synthesis of 126 wards): counts, never a name, a phone, an address or
//! a record's id. The document crate computes it from a ward's documents
//! (`doorstep_doc::rollup`); the hub caches, serves and forwards it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Id, Service};

/// A ward's targets, in whole percents of its households.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub online_percent: u32,
    pub vneid_activated_percent: u32,
    pub visited_percent: u32,
}

/// One day of a ward's work (Hanoi's day).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupDay {
    pub day: NaiveDate,
    pub visits: u64,
    /// Distinct households visited that day.
    pub households_reached: u64,
    /// Distinct priority households visited that day.
    pub priority_households_reached: u64,
    /// Assists done (result `done`), door to door and at literacy points.
    pub assists_done: u64,
    pub vneid_activations: u64,
    pub walkins: u64,
}

/// A ward's progress: what the city sees of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WardRollup {
    pub ward_id: Id,
    pub ward: String,
    /// Households people live in (coverage counts these), merged duplicates once, voided
    /// records not at all.
    pub households: u64,
    pub households_visited: u64,
    pub households_online: u64,
    /// Households with a VNeID activation done at a visit.
    pub households_vneid_activated: u64,
    pub priority_households: u64,
    pub priority_households_reached: u64,
    pub visits: u64,
    /// Assists done, by service, door to door and at literacy points (every service listed).
    pub assists_by_service: BTreeMap<Service, u64>,
    pub vneid_activations: u64,
    pub walkins: u64,
    pub targets: Option<Targets>,
    pub days: Vec<RollupDay>,
    pub computed_at: DateTime<Utc>,
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

impl WardRollup {
    /// Households visited, in percent (one decimal).
    pub fn coverage_percent(&self) -> f64 {
        percent(self.households_visited, self.households)
    }

    pub fn priority_reached_percent(&self) -> f64 {
        percent(self.priority_households_reached, self.priority_households)
    }

    pub fn vneid_activated_percent(&self) -> f64 {
        percent(self.households_vneid_activated, self.households)
    }

    pub fn online_percent(&self) -> f64 {
        percent(self.households_online, self.households)
    }
}

/// The roll-up of many wards as one table (Vietnamese / English headings), a row per ward and
/// the city's total: for CSV and XLSX.
pub fn table(wards: &[WardRollup]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = [
        "Phường / Ward",
        "Số hộ / Households",
        "Hộ đã đến / Visited",
        "Độ phủ % / Coverage %",
        "Mục tiêu độ phủ % / Coverage target %",
        "Hộ ưu tiên / Priority households",
        "Hộ ưu tiên đã đến / Priority reached",
        "Kích hoạt VNeID / VNeID activations",
        "Hộ đã kích hoạt VNeID % / Households activated %",
        "Lượt đến điểm / Walk-ins",
        "Lượt thăm / Visits",
    ]
    .map(String::from)
    .to_vec();
    header.extend(
        <Service as strum::IntoEnumIterator>::iter()
            .map(|s| format!("Hỗ trợ xong / Assists done: {}", s.as_str())),
    );
    let row = |name: &str, w: &WardRollup| -> Vec<String> {
        let mut r = vec![
            name.to_string(),
            w.households.to_string(),
            w.households_visited.to_string(),
            format!("{:.1}", w.coverage_percent()),
            w.targets
                .map(|t| t.visited_percent.to_string())
                .unwrap_or_default(),
            w.priority_households.to_string(),
            w.priority_households_reached.to_string(),
            w.vneid_activations.to_string(),
            format!("{:.1}", w.vneid_activated_percent()),
            w.walkins.to_string(),
            w.visits.to_string(),
        ];
        r.extend(<Service as strum::IntoEnumIterator>::iter().map(|s| {
            w.assists_by_service
                .get(&s)
                .copied()
                .unwrap_or(0)
                .to_string()
        }));
        r
    };
    let mut rows: Vec<Vec<String>> = wards.iter().map(|w| row(&w.ward, w)).collect();
    if let Some(first) = wards.first() {
        let mut total = first.clone();
        for w in &wards[1..] {
            total.households += w.households;
            total.households_visited += w.households_visited;
            total.households_online += w.households_online;
            total.households_vneid_activated += w.households_vneid_activated;
            total.priority_households += w.priority_households;
            total.priority_households_reached += w.priority_households_reached;
            total.visits += w.visits;
            total.vneid_activations += w.vneid_activations;
            total.walkins += w.walkins;
            for (s, n) in &w.assists_by_service {
                *total.assists_by_service.entry(*s).or_default() += n;
            }
        }
        total.targets = None;
        rows.push(row("Toàn thành phố / City", &total));
    }
    (header, rows)
}
