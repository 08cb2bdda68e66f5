//! What the CLI prints: one JSON document with `--json`, a readable table without.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Local, Utc};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use doorstep_domain::clock::{clock_flag, ClockFlag};
use doorstep_domain::demo::DemoWard;
use doorstep_domain::report::Report;
use doorstep_domain::*;
use doorstep_hub::HubTls;
use doorstep_proto::api::{DeviceInfo, InviteResponse};
use doorstep_proto::pin::JoinLink;
use doorstep_store::{CheckReport, DeviceIdentity};
use doorstep_sync::SyncReport;
use serde::Serialize;
use serde_json::json;

/// Follow-ups listed in the readable report; `--json` has them all.
const FOLLOW_UPS_SHOWN: usize = 15;

pub struct Printer {
    pub json: bool,
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

fn flags(p: &PriorityFlags) -> String {
    p.list()
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn assists(list: &[Assist]) -> String {
    list.iter()
        .map(|a| format!("{}:{}", a.service, a.result))
        .collect::<Vec<_>>()
        .join(" ")
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

impl Printer {
    fn emit(&self, value: &impl Serialize, text: impl FnOnce() -> String) -> anyhow::Result<()> {
        let body = if self.json {
            serde_json::to_string_pretty(value)?
        } else {
            text()
        };
        print(&body)
    }

    /// A void: `{id, voided: {at, by, reason}}`.
    pub fn voided(&self, id: Id, void: &Void) -> anyhow::Result<()> {
        self.emit(&json!({ "id": id, "voided": void }), || {
            format!("{id} voided by {}: {}", void.by, void.reason)
        })
    }

    /// Voided records: `[{id, map, group_id, household_id, void}]`.
    pub fn voided_list(&self, voided: &[doorstep_store::VoidedRecord]) -> anyhow::Result<()> {
        self.emit(&voided, || {
            let mut t = table(&["When", "What", "Id", "By", "Reason"]);
            for v in voided {
                t.add_row(vec![
                    local(v.void.at),
                    v.map.clone(),
                    v.id.to_string(),
                    v.void.by.clone(),
                    v.void.reason.clone(),
                ]);
            }
            t.to_string()
        })
    }

    /// A review set: `{id, review: {state, comment, by, at}}`.
    pub fn review(&self, id: Id, review: &Review) -> anyhow::Result<()> {
        self.emit(&json!({ "id": id, "review": review }), || {
            format!(
                "{id}: {} ({}){}",
                review.state,
                review.by,
                review
                    .comment
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            )
        })
    }

    /// Reviews: `[{id, map, group_id, household_id, address, review}]`.
    pub fn reviews(&self, reviews: &[ReviewItem]) -> anyhow::Result<()> {
        self.emit(&reviews, || {
            let mut t = table(&["When", "State", "On", "Address", "Comment", "By", "Id"]);
            for r in reviews {
                t.add_row(vec![
                    local(r.review.at),
                    r.review.state.to_string(),
                    r.map.clone(),
                    r.address.clone(),
                    r.review.comment.clone().unwrap_or_default(),
                    r.review.by.clone(),
                    r.id.to_string(),
                ]);
            }
            format!("{t}\n{} review(s)", reviews.len())
        })
    }

    /// An assignment: `{volunteer, households: [ids]}`.
    pub fn assigned(&self, volunteer: &str, households: &[Id]) -> anyhow::Result<()> {
        self.emit(
            &json!({ "volunteer": volunteer, "households": households }),
            || format!("{} household(s) assigned to {volunteer}", households.len()),
        )
    }

    /// A range report: `{from, to, by, rows: [...], total}` (see `RangeReport`).
    pub fn range_report(
        &self,
        report: &doorstep_domain::report::RangeReport,
    ) -> anyhow::Result<()> {
        self.emit(report, || {
            let (header, rows) = report.table();
            let mut t = table(
                &header
                    .iter()
                    .take(11)
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            );
            for row in rows {
                t.add_row(row.into_iter().take(11).collect::<Vec<_>>());
            }
            format!(
                "{} → {} by {}\n{t}\n(--json or --out FILE.xlsx for every column)",
                report.from, report.to, report.by
            )
        })
    }

    /// A sheet written: which, for which group, where, its pages and rows.
    pub fn printed(
        &self,
        sheet: doorstep_print::SheetKind,
        group: &str,
        file: &std::path::Path,
        printed: &doorstep_print::Printed,
    ) -> anyhow::Result<()> {
        let sheet = sheet.word();
        let value = json!({
            "sheet": sheet,
            "group": group,
            "out": file.display().to_string(),
            "pages": printed.pages,
            "rows": printed.rows,
            "bytes": printed.pdf.len(),
        });
        self.emit(&value, || {
            format!(
                "{sheet} of {group}: {} rows on {} A4 pages → {}",
                printed.rows,
                printed.pages,
                file.display()
            )
        })
    }

    /// A short confirmation: `{"done": MESSAGE}` with `--json`.
    pub fn done(&self, message: &str) -> anyhow::Result<()> {
        self.emit(&json!({ "done": message }), || message.to_string())
    }

    /// Likely duplicates: `[{group, first, second, reasons, first_address, second_address}]`.
    pub fn duplicates(
        &self,
        pairs: &[DuplicatePair],
        households: &HashMap<Id, Household>,
        groups: &[ResidentialGroup],
    ) -> anyhow::Result<()> {
        let names: HashMap<Id, &str> = groups.iter().map(|g| (g.id, g.name.as_str())).collect();
        let address = |id: &Id| {
            households
                .get(id)
                .map(|h| format!("{} {}", h.alley, h.number))
                .unwrap_or_default()
        };
        let group = |id: &Id| {
            households
                .get(id)
                .and_then(|h| names.get(&h.group_id).copied())
                .unwrap_or("?")
                .to_string()
        };
        let value: Vec<serde_json::Value> = pairs
            .iter()
            .map(|p| {
                json!({
                    "group": group(&p.first),
                    "first": p.first,
                    "second": p.second,
                    "reasons": p.reasons,
                    "first_address": address(&p.first),
                    "second_address": address(&p.second),
                })
            })
            .collect();
        self.emit(&value, || {
            let mut t = table(&["Group", "First", "Second", "Reasons", "Ids"]);
            for p in pairs {
                let reasons: Vec<&str> = p.reasons.iter().map(|r| r.as_str()).collect();
                t.add_row(vec![
                    group(&p.first),
                    address(&p.first),
                    address(&p.second),
                    reasons.join(", "),
                    format!("{} {}", p.first, p.second),
                ]);
            }
            format!("{t}\n{} likely duplicate pair(s)", pairs.len())
        })
    }

    pub fn ward(&self, ward: &Ward, groups: &[ResidentialGroup]) -> anyhow::Result<()> {
        let value = json!({ "id": ward.id, "name": ward.name, "groups": groups });
        self.emit(&value, || {
            let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            format!(
                "Ward {} created with {} residential groups: {}",
                ward.name,
                groups.len(),
                names.join(", ")
            )
        })
    }

    pub fn groups(&self, groups: &[ResidentialGroup], report: &Report) -> anyhow::Result<()> {
        let rows: Vec<_> = groups
            .iter()
            .map(|g| {
                let c = report.by_group.iter().find(|c| c.group == g.name);
                json!({
                    "id": g.id,
                    "name": g.name,
                    "households": c.map_or(0, |c| c.households),
                    "visited": c.map_or(0, |c| c.visited),
                })
            })
            .collect();
        self.emit(&rows, || {
            let mut t = table(&["Residential group", "Households", "Visited", "Coverage"]);
            for c in &report.by_group {
                t.add_row(vec![
                    Cell::new(&c.group),
                    Cell::new(c.households).set_alignment(CellAlignment::Right),
                    Cell::new(c.visited).set_alignment(CellAlignment::Right),
                    Cell::new(percent(c.visited, c.households)).set_alignment(CellAlignment::Right),
                ]);
            }
            t.to_string()
        })
    }

    pub fn household(&self, h: &Household, group: &str) -> anyhow::Result<()> {
        self.emit(h, || {
            format!(
                "Household {}\n  {} › {} › {}\n  members: {}  priority: {}  internet: {}  consent: {}{}",
                h.id,
                group,
                h.alley,
                h.number,
                h.members.map_or("-".into(), |m| m.to_string()),
                if h.priority.any() { flags(&h.priority) } else { "-".into() },
                h.internet,
                if h.consent { "yes" } else { "no" },
                match (&h.name, &h.phone) {
                    (None, None) => String::new(),
                    (n, p) => format!(
                        "\n  name: {}  phone: {}",
                        n.as_deref().unwrap_or("-"),
                        p.as_deref().unwrap_or("-")
                    ),
                }
            )
        })
    }

    pub fn households(
        &self,
        households: &[Household],
        groups: &[ResidentialGroup],
    ) -> anyhow::Result<()> {
        let names: HashMap<Id, &str> = groups.iter().map(|g| (g.id, g.name.as_str())).collect();
        self.emit(&households, || {
            let mut t = table(&[
                "Group", "Alley", "No.", "Members", "Priority", "Internet", "Id",
            ]);
            for h in households {
                t.add_row(vec![
                    names.get(&h.group_id).copied().unwrap_or("?").to_string(),
                    h.alley.clone(),
                    h.number.clone(),
                    h.members.map_or(String::new(), |m| m.to_string()),
                    flags(&h.priority),
                    h.internet.to_string(),
                    h.id.to_string(),
                ]);
            }
            format!("{t}\n{} households", households.len())
        })
    }

    pub fn household_with_visits(
        &self,
        h: &Household,
        group: &str,
        visits: &[Visit],
    ) -> anyhow::Result<()> {
        if self.json {
            let visits: Vec<serde_json::Value> = visits.iter().map(visit_json).collect();
            let value = json!({ "household": h, "group": group, "visits": visits });
            return print(&serde_json::to_string_pretty(&value)?);
        }
        self.household(h, group)?;
        print(&visit_table(visits, &HashMap::new()).to_string())
    }

    pub fn visit(&self, v: &Visit) -> anyhow::Result<()> {
        self.emit(v, || {
            let mut text = format!("Visit {} recorded: {}", v.id, v.outcome);
            if !v.assists.is_empty() {
                text.push_str(&format!(" ({})", assists(&v.assists)));
            }
            if let Some(f) = &v.follow_up {
                text.push_str(&format!(
                    "; follow-up {} {}",
                    f.date,
                    f.reason.as_deref().unwrap_or("")
                ));
            }
            text
        })
    }

    pub fn visits(&self, visits: &[Visit], households: &[Household]) -> anyhow::Result<()> {
        let addresses: HashMap<Id, String> = households
            .iter()
            .map(|h| (h.id, format!("{} › {}", h.alley, h.number)))
            .collect();
        let flagged: Vec<serde_json::Value> = visits.iter().map(visit_json).collect();
        self.emit(&flagged, || {
            format!(
                "{}\n{} visits",
                visit_table(visits, &addresses),
                visits.len()
            )
        })
    }

    pub fn point(&self, p: &LiteracyPoint) -> anyhow::Result<()> {
        self.emit(p, || format!("Literacy point {} added ({})", p.name, p.id))
    }

    pub fn points(&self, points: &[LiteracyPoint]) -> anyhow::Result<()> {
        self.emit(&points, || {
            let mut t = table(&["Literacy point", "Place", "Id"]);
            for p in points {
                t.add_row(vec![
                    p.name.clone(),
                    p.place.clone().unwrap_or_default(),
                    p.id.to_string(),
                ]);
            }
            t.to_string()
        })
    }

    pub fn walkin(&self, w: &WalkIn, point: &LiteracyPoint) -> anyhow::Result<()> {
        self.emit(w, || {
            format!(
                "Walk-in {} recorded at {}: {} {}",
                w.id, point.name, w.service, w.result
            )
        })
    }

    pub fn report(&self, r: &Report) -> anyhow::Result<()> {
        self.emit(r, || {
            let mut text = format!(
                "{} — report for {}\nHouseholds {}  visited {} ({})  assisted {}  with internet {}\n\
                 Priority households {}  visited {} ({})\nVisits {}  assists {}  walk-ins {}  follow-ups due {}\n",
                r.ward.as_deref().unwrap_or("(no ward)"),
                r.today,
                r.households,
                r.households_visited,
                percent(r.households_visited, r.households),
                r.households_assisted,
                r.households_with_internet,
                r.priority_households,
                r.priority_households_visited,
                percent(r.priority_households_visited, r.priority_households),
                r.visits,
                r.assists,
                r.walkins,
                r.follow_ups_due,
            );
            let mut t = table(&["Service", "Done", "Partial", "Needs follow-up"]);
            for (service, results) in &r.assists_by_service_and_result {
                let get = |res| results.get(&res).copied().unwrap_or(0);
                t.add_row(vec![
                    service.to_string(),
                    get(AssistResult::Done).to_string(),
                    get(AssistResult::Partial).to_string(),
                    get(AssistResult::NeedsFollowUp).to_string(),
                ]);
            }
            text.push_str(&format!("{t}\n"));
            let mut g = table(&["Residential group", "Households", "Visited", "Coverage", "Priority visited"]);
            for c in &r.by_group {
                g.add_row(vec![
                    c.group.clone(),
                    c.households.to_string(),
                    c.visited.to_string(),
                    percent(c.visited, c.households),
                    format!("{}/{}", c.priority_visited, c.priority_households),
                ]);
            }
            text.push_str(&g.to_string());
            if !r.follow_ups.is_empty() {
                let mut f = table(&["Follow-up due", "Group", "Alley", "No.", "Reason"]);
                for d in r.follow_ups.iter().take(FOLLOW_UPS_SHOWN) {
                    f.add_row(vec![
                        d.date.to_string(),
                        d.group.clone(),
                        d.alley.clone(),
                        d.number.clone(),
                        d.reason.clone().unwrap_or_default(),
                    ]);
                }
                text.push_str(&format!("\n{f}"));
                if r.follow_ups.len() > FOLLOW_UPS_SHOWN {
                    text.push_str(&format!(
                        "\n…and {} more follow-ups due (all of them with --json)",
                        r.follow_ups.len() - FOLLOW_UPS_SHOWN
                    ));
                }
            }
            text
        })
    }

    pub fn demo(&self, demo: &DemoWard, bytes: u64) -> anyhow::Result<()> {
        let value = json!({
            "ward": demo.ward.name,
            "groups": demo.groups.len(),
            "points": demo.points.len(),
            "households": demo.households.len(),
            "visits": demo.visits.len(),
            "walkins": demo.walkins.len(),
            "database_bytes": bytes,
        });
        self.emit(&value, || {
            format!(
                "Demo ward {}: {} groups, {} households, {} visits, {} walk-ins at {} points ({:.1} MB on disk)",
                demo.ward.name,
                demo.groups.len(),
                demo.households.len(),
                demo.visits.len(),
                demo.walkins.len(),
                demo.points.len(),
                bytes as f64 / 1e6
            )
        })
    }

    pub fn joined(
        &self,
        identity: &DeviceIdentity,
        groups: &[ResidentialGroup],
        points: &[LiteracyPoint],
    ) -> anyhow::Result<()> {
        let mine = |ids: &[Id], all: Vec<(Id, String)>| -> Vec<String> {
            all.into_iter()
                .filter(|(id, _)| ids.contains(id))
                .map(|(_, n)| n)
                .collect()
        };
        let group_names = mine(
            &identity.groups,
            groups.iter().map(|g| (g.id, g.name.clone())).collect(),
        );
        let point_names = mine(
            &identity.points,
            points.iter().map(|p| (p.id, p.name.clone())).collect(),
        );
        let value = json!({
            "device_id": identity.device_id,
            "name": identity.name,
            "role": identity.role,
            "hub": identity.hub_url,
            "ward_id": identity.ward_id,
            "groups": group_names,
            "points": point_names,
        });
        self.emit(&value, || {
            format!(
                "Joined {} as {} ({}); device {}{}{}\nRun `doorstep sync` to receive your records.",
                identity.hub_url,
                identity.name,
                identity.role,
                identity.device_id,
                if group_names.is_empty() {
                    String::new()
                } else {
                    format!("; groups: {}", group_names.join(", "))
                },
                if point_names.is_empty() {
                    String::new()
                } else {
                    format!("; point: {}", point_names.join(", "))
                },
            )
        })
    }

    pub fn synced(&self, r: &SyncReport) -> anyhow::Result<()> {
        self.emit(r, || {
            let mut text = format!(
                "Synced: sent {} documents ({} bytes), received {} ({} bytes), {} unchanged; outbox {}",
                r.docs_sent, r.sent_bytes, r.docs_received, r.received_bytes, r.docs_unchanged, r.outbox
            );
            if r.epochs_adopted > 0 {
                text.push_str(&format!(
                    "\nThe hub erased personal data in {} document(s): this device's copies were replaced",
                    r.epochs_adopted
                ));
            }
            for h in &r.erased_edits_dropped {
                text.push_str(&format!(
                    "\nHousehold {h} was erased at the hub: this device's unsynced edits to it were dropped"
                ));
            }
            text.push_str(&problems_text(&r.refused));
            text
        })
    }

    pub fn status(
        &self,
        identity: Option<&DeviceIdentity>,
        key_id: &str,
        outbox: u64,
        last_sync: Option<DateTime<Utc>>,
        (groups, points): (&[ResidentialGroup], &[LiteracyPoint]),
        problems: &[SyncProblem],
    ) -> anyhow::Result<()> {
        let name_of = |id: &Id| {
            groups
                .iter()
                .map(|g| (g.id, &g.name))
                .chain(points.iter().map(|p| (p.id, &p.name)))
                .find(|(i, _)| i == id)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| id.to_string())
        };
        let value = json!({
            "joined": identity.is_some(),
            "device_id": identity.map(|i| i.device_id),
            "name": identity.map(|i| i.name.clone()),
            "role": identity.map(|i| i.role),
            // The fingerprint of the key this device signs its changes with (`hub devices`).
            "key_id": key_id,
            "hub": identity.map(|i| i.hub_url.clone()),
            "groups": identity.map(|i| i.groups.iter().map(name_of).collect::<Vec<_>>()).unwrap_or_default(),
            "points": identity.map(|i| i.points.iter().map(name_of).collect::<Vec<_>>()).unwrap_or_default(),
            "outbox": outbox,
            "last_sync_at": last_sync,
            "problems": problems,
        });
        self.emit(&value, || match identity {
            None => format!("Not joined to a hub. Outbox: {outbox} changes."),
            Some(i) => format!(
                "Device {} ({}, {}) at {}, key {key_id}\nOutbox: {outbox} changes not yet acknowledged by the hub\nLast sync: {}{}",
                i.device_id,
                i.name,
                i.role,
                i.hub_url,
                last_sync.map_or("never".into(), local),
                problems_text(problems)
            ),
        })
    }

    /// An invite, with the join link (hub, code, pin) its QR code would carry.
    pub fn invite(&self, invite: &InviteResponse, link: &JoinLink) -> anyhow::Result<()> {
        let mut value = serde_json::to_value(invite)?;
        value["pin"] = json!(link.pin);
        value["link"] = json!(link.to_link());
        self.emit(&value, || {
            format!(
                "Invite code {} for {} ({}), single use, expires {}\nJoin link: {}",
                invite.code,
                invite.name,
                invite.role,
                local(invite.expires_at),
                link.to_link()
            )
        })
    }

    pub fn hub_backup(&self, backup: &doorstep_hub::backup::Backup) -> anyhow::Result<()> {
        self.emit(backup, || {
            format!(
                "Backup of {} ({} documents) written to {} ({} bytes)",
                backup.ward,
                backup.documents,
                backup.out.display(),
                backup.bytes
            )
        })
    }

    pub fn hub_restored(&self, restored: &doorstep_hub::backup::Restored) -> anyhow::Result<()> {
        self.emit(restored, || {
            format!(
                "Hub of {} restored: {} documents, {} devices. Devices send what it lacks at \
                 their next sync.{}",
                restored.ward,
                restored.documents,
                restored.devices,
                restored
                    .kept
                    .as_ref()
                    .map(|k| format!("\nWhat it held before is kept in {k}"))
                    .unwrap_or_default()
            )
        })
    }

    /// A ward added to a city: its id and key, groups, and its first coordinator's invite.
    pub fn city_ward(
        &self,
        listed: &doorstep_hub::city::CityWard,
        ward: &Ward,
        groups: &[ResidentialGroup],
        invite: &InviteResponse,
        link: &JoinLink,
    ) -> anyhow::Result<()> {
        let mut coordinator = serde_json::to_value(invite)?;
        coordinator["pin"] = json!(link.pin);
        coordinator["link"] = json!(link.to_link());
        let value = json!({
            "ward_id": ward.id,
            "key": listed.key,
            "name": ward.name,
            "groups": groups,
            "invite": coordinator,
        });
        self.emit(&value, || {
            format!(
                "Ward {} added (id {}, key {}) with {} residential groups
                 Coordinator invite {} for {}, single use, expires {}
Join link: {}",
                ward.name,
                ward.id,
                listed.key,
                groups.len(),
                invite.code,
                invite.name,
                local(invite.expires_at),
                link.to_link()
            )
        })
    }

    /// A ward listed as forwarding from its own hub: its key and the forwarding token.
    pub fn forwarded_ward(
        &self,
        listed: &doorstep_hub::city::CityWard,
        token: &str,
        city_url: Option<&str>,
        pin: &str,
    ) -> anyhow::Result<()> {
        let value = json!({
            "ward_id": listed.ward_id,
            "key": listed.key,
            "name": listed.name,
            "forwarding_token": token,
            "city_url": city_url,
            "pin": pin,
        });
        self.emit(&value, || {
            format!(
                "Ward {} listed (key {}): its hub forwards its roll-up with
  doorstep hub \
                 forward --data DIR --to {} --pin {pin} --token {token}
(the token is shown once)",
                listed.name,
                listed.key,
                city_url.unwrap_or("https://CITY:7300"),
            )
        })
    }

    pub fn city_viewer(
        &self,
        name: &str,
        token: &str,
        city_url: Option<&str>,
    ) -> anyhow::Result<()> {
        let page = city_url.map(|u| format!("{u}/city#token={token}"));
        let value = json!({ "name": name, "token": token, "page": page });
        self.emit(&value, || {
            format!(
                "Viewer token for {name} (shown once): {token}
Page: {}",
                page.clone()
                    .unwrap_or_else(|| "https://CITY:7300/city".into())
            )
        })
    }

    /// The roll-up: each ward's figures, aggregates only.
    pub fn rollup(
        &self,
        rows: &[doorstep_hub::city::CityRollupRow],
        file: Option<&Path>,
    ) -> anyhow::Result<()> {
        let list: Vec<_> = rows
            .iter()
            .filter_map(|row| {
                let r = row.rollup.as_ref()?;
                Some(json!({
                    "ward": r.ward,
                    "ward_id": r.ward_id,
                    "households": r.households,
                    "households_visited": r.households_visited,
                    "coverage_percent": r.coverage_percent(),
                    "priority_households": r.priority_households,
                    "priority_households_reached": r.priority_households_reached,
                    "vneid_activations": r.vneid_activations,
                    "households_vneid_activated": r.households_vneid_activated,
                    "households_online": r.households_online,
                    "walkins": r.walkins,
                    "visits": r.visits,
                    "assists_by_service": r.assists_by_service,
                    "targets": r.targets,
                    "days": r.days,
                    "current": row.current,
                    "forwarded": row.forwarded,
                    "computed_at": r.computed_at,
                }))
            })
            .collect();
        let value = match file {
            Some(f) => json!({ "wards": list, "out": f }),
            None => json!({ "wards": list }),
        };
        self.emit(&value, || {
            let mut t = table(&[
                "Ward",
                "Households",
                "Coverage",
                "Priority reached",
                "VNeID",
                "Walk-ins",
            ]);
            for row in rows {
                if let Some(r) = &row.rollup {
                    t.add_row(vec![
                        r.ward.clone(),
                        r.households.to_string(),
                        format!("{:.1}%", r.coverage_percent()),
                        format!(
                            "{} / {}",
                            r.priority_households_reached, r.priority_households
                        ),
                        r.vneid_activations.to_string(),
                        r.walkins.to_string(),
                    ]);
                }
            }
            let mut text = t.to_string();
            if let Some(f) = file {
                text.push_str(&format!("\nWritten to {}", f.display()));
            }
            text
        })
    }

    /// A roll-up sent to the city.
    pub fn forwarded(
        &self,
        rollup: &doorstep_domain::rollup::WardRollup,
        to: &str,
        answer: &serde_json::Value,
    ) -> anyhow::Result<()> {
        let value = json!({ "ward": rollup.ward, "to": to, "households": rollup.households, "received_at": answer["received_at"] });
        self.emit(&value, || {
            format!("Roll-up of {} sent to {to}", rollup.ward)
        })
    }

    pub fn city_wards(&self, wards: &[doorstep_hub::city::CityWard]) -> anyhow::Result<()> {
        let rows: Vec<_> = wards
            .iter()
            .map(|w| json!({ "ward_id": w.ward_id, "key": w.key, "name": w.name, "created_at": w.created_at }))
            .collect();
        self.emit(&rows, || {
            let mut t = table(&["Ward", "Key", "Id", "Added"]);
            for w in wards {
                t.add_row(vec![
                    w.name.clone(),
                    w.key.clone(),
                    w.ward_id.to_string(),
                    local(w.created_at),
                ]);
            }
            t.to_string()
        })
    }

    pub fn devices(&self, devices: &[DeviceInfo]) -> anyhow::Result<()> {
        self.emit(&devices, || {
            let mut t = table(&[
                "Device",
                "Name",
                "Role",
                "Key",
                "Joined",
                "Last seen",
                "Revoked",
            ]);
            for d in devices {
                t.add_row(vec![
                    d.device_id.to_string(),
                    d.name.clone(),
                    d.role.to_string(),
                    d.key_id.clone().unwrap_or_else(|| "—".into()),
                    local(d.joined_at),
                    d.last_seen_at.map(local).unwrap_or_default(),
                    d.revoked_at.map(local).unwrap_or_default(),
                ]);
            }
            t.to_string()
        })
    }

    /// Where a certificate rotation stands: the pin served, the next one, and the devices
    /// (not revoked) that have not learnt it yet.
    pub fn rotation(&self, tls: &HubTls, devices: &[DeviceInfo]) -> anyhow::Result<()> {
        let next = tls.next.as_ref().map(|n| n.pin.clone());
        let pending: Vec<&DeviceInfo> = devices
            .iter()
            .filter(|d| d.revoked_at.is_none() && next.is_some() && d.next_pin != next)
            .collect();
        let value = json!({
            "pin": tls.pin,
            "next_pin": next,
            "devices_pending": pending.iter().map(|d| json!({"device_id": d.device_id, "name": d.name})).collect::<Vec<_>>(),
        });
        self.emit(&value, || match &next {
            Some(next) => {
                format!(
                "Serving pin {}\nNext pin {next}: devices learn it at their next sync; {} of {} \
                 have not yet{}.\nThen run `doorstep hub rotate-cert --finish`.",
                tls.pin,
                pending.len(),
                devices.iter().filter(|d| d.revoked_at.is_none()).count(),
                if pending.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        pending.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
                    )
                }
            )
            }
            None => format!(
                "Serving pin {}: new invites carry it; devices that learnt it follow.",
                tls.pin
            ),
        })
    }

    pub fn erased(
        &self,
        erasure: &doorstep_proto::api::Erasure,
        report: &doorstep_sync::SyncReport,
    ) -> anyhow::Result<()> {
        let value = json!({
            "household": erasure.household,
            "group": erasure.group,
            "epoch": erasure.epoch,
            "erased_at": erasure.erased_at,
            "synced": report,
        });
        self.emit(&value, || {
            format!(
                "Household {} erased: its name, phone and notes are gone from the hub and its \
                 history; devices holding its group take the erasure at their next sync",
                erasure.household
            )
        })
    }

    pub fn history(&self, entries: &[doorstep_proto::api::HistoryEntry]) -> anyhow::Result<()> {
        self.emit(&entries, || {
            entries
                .iter()
                .map(|e| {
                    // ✓: the signer's signature verifies; ?: unsigned (the hub's own) or not.
                    format!(
                        "{}  {:<15} {:<20} {} {}",
                        e.at.format("%Y-%m-%d %H:%M"),
                        e.what,
                        e.by,
                        if e.verified { "✓" } else { "?" },
                        e.fields.join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    pub fn backup(
        &self,
        summary: &doorstep_store::BackupSummary,
        file: &std::path::Path,
    ) -> anyhow::Result<()> {
        let value = json!({
            "file": file,
            "documents": summary.documents,
            "unsynced_changes": summary.unsynced_changes,
            "made_at": summary.made_at,
        });
        self.emit(&value, || {
            format!(
                "Backup written to {} ({} documents, {} unsynced changes), encrypted with the passphrase",
                file.display(),
                summary.documents,
                summary.unsynced_changes
            )
        })
    }

    pub fn restored(&self, summary: &doorstep_store::BackupSummary) -> anyhow::Result<()> {
        self.emit(summary, || {
            format!(
                "Backup of {} restored ({} documents); {} changes to sync from this device",
                summary.made_at.format("%Y-%m-%d %H:%M"),
                summary.documents,
                summary.unsynced_changes
            )
        })
    }

    pub fn reset(&self, path: &std::path::Path) -> anyhow::Result<()> {
        self.emit(&json!({ "reset": path }), || {
            format!(
                "This device's data and keys were erased ({})",
                path.display()
            )
        })
    }

    pub fn retention(
        &self,
        rule: Option<&doorstep_hub::Retention>,
        today: chrono::NaiveDate,
    ) -> anyhow::Result<()> {
        let value = match rule {
            Some(r) => json!({
                "campaign_end": r.campaign_end,
                "days": r.days,
                "due_on": r.due_on(),
                "due": today >= r.due_on(),
            }),
            None => json!({ "campaign_end": null, "days": null, "due_on": null, "due": false }),
        };
        self.emit(&value, || match rule {
            Some(r) => format!(
                "Personal data is erased {} days after the campaign ends ({}): from {} (the serving hub applies it at start and hourly)",
                r.days,
                r.campaign_end,
                r.due_on()
            ),
            None => "No retention rule: set one with --campaign-end DATE --days N".into(),
        })
    }

    pub fn recovery_code(&self, code: &str) -> anyhow::Result<()> {
        self.emit(&json!({ "recovery_code": code }), || {
            format!("Recovery code (write it down, keep it apart from the device): {code}")
        })
    }

    pub fn revoked(&self, id: Id) -> anyhow::Result<()> {
        self.emit(&json!({ "revoked": id }), || {
            format!("Device {id} revoked: its next request will be refused")
        })
    }

    pub fn check(&self, check: &CheckReport) -> anyhow::Result<()> {
        self.emit(check, || {
            format!(
                "integrity: {}\ndocuments: {}\nquery tables match documents: {}",
                check.integrity,
                check.documents,
                if check.query_tables_match_documents {
                    "yes"
                } else {
                    "NO"
                }
            )
        })
    }
}

/// Writes one document to stdout; a reader that went away (`| head`) is not an error.
fn print(body: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{body}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A visit as JSON, with its clock flag.
fn visit_json(v: &Visit) -> serde_json::Value {
    let mut value = serde_json::to_value(v).unwrap_or_default();
    value["clock_flag"] = json!(clock_flag(v.device_time, v.received_at));
    value
}

fn flag_text(v: &Visit) -> &'static str {
    match clock_flag(v.device_time, v.received_at) {
        None => "",
        Some(ClockFlag::BeforeCampaign) => "⚠ device clock before the campaign",
        Some(ClockFlag::AheadOfHub) => "⚠ device clock ahead of the hub",
        Some(ClockFlag::LongBeforeHub) => "⚠ synced long after, or clock behind",
    }
}

fn visit_table(visits: &[Visit], addresses: &HashMap<Id, String>) -> Table {
    let mut header = vec![
        "Time",
        "Outcome",
        "Assists",
        "Follow-up",
        "Volunteer",
        "Clock",
        "Id",
    ];
    if !addresses.is_empty() {
        header.insert(1, "Household");
    }
    let mut t = table(&header);
    for v in visits {
        let mut row = vec![
            local(v.device_time),
            v.outcome.to_string(),
            assists(&v.assists),
            v.follow_up
                .as_ref()
                .map(|f| format!("{} {}", f.date, f.reason.as_deref().unwrap_or("")))
                .unwrap_or_default(),
            v.volunteer.clone(),
            flag_text(v).to_string(),
            v.id.to_string(),
        ];
        if !addresses.is_empty() {
            row.insert(
                1,
                addresses.get(&v.household_id).cloned().unwrap_or_default(),
            );
        }
        t.add_row(row);
    }
    t
}

/// The documents the hub refused, one line each, with what to do.
fn problems_text(problems: &[SyncProblem]) -> String {
    let mut text = String::new();
    for p in problems {
        text.push_str(&format!(
            "\nRefused by the hub: {} ({}, {} changes kept on this device): {} [{}]",
            p.name, p.doc, p.changes, p.message, p.code
        ));
    }
    if !problems.is_empty() {
        text.push_str(
            "\nEverything else synced. Show this to the ward coordinator; the refused changes \
             are offered again at every sync.",
        );
    }
    text
}
