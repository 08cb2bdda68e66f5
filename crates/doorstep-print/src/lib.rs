//! Paper for the teams without phones and for ward meetings: a residential group's walk list
//! and its follow-up list as A4 PDFs.
//!
//! Why it exists: some teams walk with a printout, and ward meetings read from paper. The
//! sheets carry Vietnamese text, so the fonts (DejaVu Sans, which covers every Vietnamese
//! letter) are compiled in and embedded, subset, in every PDF: a sheet reads the same on any
//! printer or viewer, with no font installed. No IO: the caller reads the rows from its store
//! and writes the bytes where it wants.
//!
//! Each sheet says who it is for and warns that it carries residents' details (names and
//! phones appear only where the household consented, as in the app). Columns for a pen are
//! left blank; rows are tall enough to write in.

mod layout;

use chrono::NaiveDate;
use doorstep_domain::clock::vietnam_time;
use doorstep_domain::{Internet, Outcome, PriorityFlags, WalkRow};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use layout::{Align, Cell, Column, Row, Sheet};
pub use layout::{PrintError, Printed};

/// The two sheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SheetKind {
    /// A group's households in walk order, with a column to write today's result in.
    WalkList,
    /// A group's open follow-ups, earliest first.
    FollowUps,
}

impl SheetKind {
    /// The sheet's name in files and in the CLI: `walk-list`, `follow-ups`.
    pub fn word(self) -> &'static str {
        match self {
            SheetKind::WalkList => "walk-list",
            SheetKind::FollowUps => "follow-ups",
        }
    }

    /// The sheet of this kind for `rows` (one group's walk list).
    pub fn print(self, heading: &Heading<'_>, rows: &[WalkRow]) -> Result<Printed, PrintError> {
        match self {
            SheetKind::WalkList => walk_list(heading, rows),
            SheetKind::FollowUps => follow_ups(heading, rows),
        }
    }
}

/// What a sheet's heading names: the ward, the group, the day it was printed.
#[derive(Debug, Clone)]
pub struct Heading<'a> {
    pub ward: &'a str,
    pub group: &'a str,
    pub printed_on: NaiveDate,
}

/// The walk list of one residential group: its households in walk order under their alleys,
/// with what is known of each and a blank column for today's result.
pub fn walk_list(heading: &Heading<'_>, rows: &[WalkRow]) -> Result<Printed, PrintError> {
    let columns = vec![
        Column::new("STT", "No.", 26.0, Align::Right),
        Column::new("Số nhà", "House no.", 44.0, Align::Left),
        Column::new("Chủ hộ", "Household head", 96.0, Align::Left),
        Column::new("Điện thoại", "Phone", 72.0, Align::Left),
        Column::new("Nhân khẩu", "Members", 40.0, Align::Right),
        Column::new("Ưu tiên", "Priority", 58.0, Align::Left),
        Column::new("Internet", "Internet", 44.0, Align::Left),
        Column::new("Lần thăm gần nhất", "Last visit", 122.0, Align::Left),
        Column::new("Hẹn lại", "Follow-up", 58.0, Align::Left),
        Column::new("Giao cho", "Assigned to", 70.0, Align::Left),
        Column::rest("Kết quả hôm nay, ghi chú", "Today's result, notes"),
    ];
    let mut body = Vec::new();
    let mut alley: Option<&str> = None;
    let mut n = 0;
    for r in rows {
        if alley != Some(r.alley.as_str()) {
            alley = Some(r.alley.as_str());
            let count = rows.iter().filter(|o| o.alley == r.alley).count();
            body.push(Row::Heading(format!(
                "{} ({count} hộ / households)",
                r.alley
            )));
        }
        n += 1;
        body.push(Row::Cells(vec![
            Cell::plain(n.to_string()),
            Cell::bold(r.number.clone()),
            Cell::plain(r.name.clone().unwrap_or_default()),
            Cell::plain(r.phone.clone().unwrap_or_default()),
            Cell::plain(r.members.map(|m| m.to_string()).unwrap_or_default()),
            Cell::plain(priority_short(&r.priority)),
            Cell::plain(internet(r.internet).to_string()),
            Cell::plain(last_visit(r)),
            Cell::plain(r.follow_up.map(day).unwrap_or_default()),
            Cell::plain(r.assigned_to.clone().unwrap_or_default()),
            Cell::plain(String::new()),
        ]));
    }
    Sheet {
        title: "Danh sách đi hộ",
        title_en: "Walk list",
        summary: format!("{n} hộ / households"),
        legend: Some(PRIORITY_LEGEND),
        empty: "Tổ này chưa có hộ nào. / This group has no households yet.",
        columns,
        rows: body,
    }
    .render(heading)
}

/// The follow-up list of one residential group: every open follow-up (the household's latest
/// visit asked for one), earliest first, those already due marked, with a box to tick.
pub fn follow_ups(heading: &Heading<'_>, rows: &[WalkRow]) -> Result<Printed, PrintError> {
    let columns = vec![
        Column::new("STT", "No.", 26.0, Align::Right),
        Column::new("Hẹn ngày", "Date", 70.0, Align::Left),
        Column::new("Địa chỉ", "Address", 140.0, Align::Left),
        Column::new("Chủ hộ", "Household head", 100.0, Align::Left),
        Column::new("Điện thoại", "Phone", 72.0, Align::Left),
        Column::new("Ưu tiên", "Priority", 56.0, Align::Left),
        Column::new("Hẹn để làm gì", "What for", 130.0, Align::Left),
        Column::new("Giao cho", "Assigned to", 70.0, Align::Left),
        Column::new("Đã đến", "Done", 40.0, Align::Left),
        Column::rest("Ghi chú", "Notes"),
    ];
    let mut due: Vec<&WalkRow> = rows.iter().filter(|r| r.follow_up.is_some()).collect();
    due.sort_by_key(|r| r.follow_up);
    let overdue = due
        .iter()
        .filter(|r| r.follow_up.is_some_and(|d| d < heading.printed_on))
        .count();
    let body = due
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let date = r.follow_up.unwrap_or(heading.printed_on);
            let when = if date < heading.printed_on {
                Cell::bold(format!("{}\nQUÁ HẠN", day(date)))
            } else {
                Cell::plain(day(date))
            };
            Row::Cells(vec![
                Cell::plain((i + 1).to_string()),
                when,
                Cell::plain(format!("Số {}, {}", r.number, r.alley)),
                Cell::plain(r.name.clone().unwrap_or_default()),
                Cell::plain(r.phone.clone().unwrap_or_default()),
                Cell::plain(priority_short(&r.priority)),
                Cell::plain(r.follow_up_reason.clone().unwrap_or_default()),
                Cell::plain(r.assigned_to.clone().unwrap_or_default()),
                Cell::plain("☐".to_string()),
                Cell::plain(String::new()),
            ])
        })
        .collect();
    Sheet {
        title: "Danh sách hẹn lại",
        title_en: "Follow-up list",
        summary: format!(
            "{} hẹn, {overdue} quá hạn / {} follow-ups, {overdue} overdue",
            due.len(),
            due.len()
        ),
        legend: Some(FOLLOW_UP_LEGEND),
        empty: "Tổ này không có hẹn lại nào đang chờ. / No follow-ups are open in this group.",
        columns,
        rows: body,
    }
    .render(heading)
}

const FOLLOW_UP_LEGEND: &str = "QUÁ HẠN / overdue: ngày hẹn đã qua / the day has passed · Ưu tiên / Priority: NCT người cao tuổi / elderly · KT khuyết tật / disability · N nghèo / poor · CN cận nghèo / near-poor";
const PRIORITY_LEGEND: &str = "Ưu tiên / Priority: NCT người cao tuổi / elderly · KT người khuyết tật / disability · N hộ nghèo / poor · CN hộ cận nghèo / near-poor";

/// The priority groups in the legend's short words.
fn priority_short(p: &PriorityFlags) -> String {
    [
        (p.elderly, "NCT"),
        (p.disability, "KT"),
        (p.poor, "N"),
        (p.near_poor, "CN"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, w)| *w)
    .collect::<Vec<_>>()
    .join(", ")
}

fn internet(i: Internet) -> &'static str {
    match i {
        Internet::Yes => "Có",
        Internet::No => "Không",
        Internet::Unknown => "Chưa rõ",
    }
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Assisted => "Đã hỗ trợ",
        Outcome::NotHome => "Vắng nhà",
        Outcome::Declined => "Từ chối",
        Outcome::Revisit => "Hẹn quay lại",
    }
}

/// "Vắng nhà, 28/11 (2 lần)": the latest outcome, its day in Hanoi, and how many visits.
fn last_visit(r: &WalkRow) -> String {
    match (r.last_outcome, r.last_visit) {
        (Some(o), Some(at)) => {
            format!(
                "{}, {} ({} lần)",
                outcome(o),
                vietnam_time(at).format("%d/%m"),
                r.visits
            )
        }
        _ => "Chưa thăm".to_string(),
    }
}

fn day(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}
