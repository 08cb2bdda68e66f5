//! The walk list as a window: which households a volunteer's search and filter select, in
//! walk order (what was handed to them first), cut into alley runs, and one window of those
//! rows. A 50,000-household scope is never sent to the screen whole: the device keeps the rows,
//! the screen asks for the alley runs (a few hundred) and the rows it shows.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::duplicates::fold;
use crate::{Id, WalkRow};

/// Which households the list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum WalkFilter {
    #[default]
    All,
    NotVisited,
    Priority,
    /// A follow-up due today or earlier.
    FollowUp,
    /// Handed to this device's volunteer by a coordinator.
    Mine,
}

/// A volunteer's question to the walk list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WalkQuery {
    /// Words of an alley and number, a name, or three digits or more of a phone; accents,
    /// case and spacing do not matter.
    #[serde(default)]
    pub search: String,
    #[serde(default)]
    pub filter: WalkFilter,
    /// The device's day (follow-ups due).
    pub today: NaiveDate,
    /// Only these residential groups (the device's own); `None`: every group it holds.
    #[serde(default)]
    pub groups: Option<Vec<Id>>,
    /// The volunteer this device records as: what was handed to them comes first.
    #[serde(default)]
    pub me: Option<String>,
}

/// Consecutive households of one alley in the list: shown under one heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AlleyRun {
    pub group_id: Id,
    pub group: String,
    pub alley: String,
    pub count: u32,
}

/// What the screen shows of the walk list: how many households the query selects, their
/// alley runs in order, the rows `offset..offset + rows.len()` of them, and the counts the
/// toolbar shows (of the device's groups, whatever the query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WalkWindow {
    pub total: u32,
    pub runs: Vec<AlleyRun>,
    pub offset: u32,
    pub rows: Vec<WalkRow>,
    /// Follow-ups due today or earlier.
    pub due: u32,
    /// Households handed to this device's volunteer.
    pub handed: u32,
}

/// Whether a follow-up of `row` is due on `today`.
pub fn is_due(row: &WalkRow, today: NaiveDate) -> bool {
    row.follow_up.is_some_and(|d| d <= today)
}

/// What a search is matched against in a row, folded once (not at every keystroke).
#[derive(Debug, Clone)]
struct Searchable {
    /// Alley and number (also as "số N"), and the name: folded.
    text: String,
    number: String,
    phone_digits: String,
}

impl Searchable {
    fn of(row: &WalkRow) -> Searchable {
        Searchable {
            text: fold(&format!(
                "{a} {n} {a} số {n} {name}",
                a = row.alley,
                n = row.number,
                name = row.name.as_deref().unwrap_or("")
            )),
            number: fold(&row.number),
            phone_digits: row
                .phone
                .as_deref()
                .unwrap_or("")
                .chars()
                .filter(char::is_ascii_digit)
                .collect(),
        }
    }
}

/// A folded search: the text, and its digits when it is a phone (three digits or more,
/// nothing else but spacing).
struct Search {
    text: String,
    phone: Option<String>,
}

impl Search {
    fn new(search: &str) -> Search {
        let text = fold(search.trim());
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let spaced = text
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '.' | '+' | '-'))
            .count();
        let phone = (digits.len() >= 3 && digits.len() == spaced).then_some(digits);
        Search { text, phone }
    }

    /// Whether a row matches: its alley and number, its name, or its phone.
    fn matches(&self, s: &Searchable) -> bool {
        s.text.contains(&self.text)
            || s.number.starts_with(&self.text)
            || self
                .phone
                .as_ref()
                .is_some_and(|d| !s.phone_digits.is_empty() && s.phone_digits.contains(d))
    }
}

/// A device's walk list (its rows in walk order) ready to be asked: each row's search text
/// folded once, at the first search. Kept by the store until its database changes.
#[derive(Debug, Clone, Default)]
pub struct WalkIndex {
    rows: Vec<WalkRow>,
    searchable: std::cell::OnceCell<Vec<Searchable>>,
}

impl WalkIndex {
    pub fn new(rows: Vec<WalkRow>) -> WalkIndex {
        WalkIndex {
            rows,
            searchable: std::cell::OnceCell::new(),
        }
    }

    /// The window `offset..offset + limit` of what `query` selects, with the alley runs of
    /// the whole selection.
    pub fn window(&self, query: &WalkQuery, offset: u32, limit: u32) -> WalkWindow {
        window_of(&self.rows, &self.select(query), query, offset, limit)
    }

    /// The indexes of the rows `query` selects (in walk order), what was handed to
    /// `query.me` first, each part keeping walk order.
    pub fn select(&self, query: &WalkQuery) -> Vec<usize> {
        let search = Search::new(&query.search);
        let searchable: &[Searchable] = if search.text.is_empty() {
            &[]
        } else {
            self.searchable
                .get_or_init(|| self.rows.iter().map(Searchable::of).collect())
        };
        let groups: Option<HashSet<Id>> =
            query.groups.as_ref().map(|g| g.iter().copied().collect());
        let me = query.me.as_deref();
        let handed = |r: &WalkRow| me.is_some() && r.assigned_to.as_deref() == me;
        let chosen: Vec<usize> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                groups.as_ref().is_none_or(|g| g.contains(&r.group_id))
                    && (search.text.is_empty() || search.matches(&searchable[*i]))
                    && match query.filter {
                        WalkFilter::All => true,
                        WalkFilter::NotVisited => r.visits == 0,
                        WalkFilter::Priority => r.priority.any(),
                        WalkFilter::FollowUp => is_due(r, query.today),
                        WalkFilter::Mine => handed(r),
                    }
            })
            .map(|(i, _)| i)
            .collect();
        let (mut first, rest): (Vec<usize>, Vec<usize>) =
            chosen.into_iter().partition(|i| handed(&self.rows[*i]));
        first.extend(rest);
        first
    }
}

fn window_of(
    rows: &[WalkRow],
    selected: &[usize],
    query: &WalkQuery,
    offset: u32,
    limit: u32,
) -> WalkWindow {
    let mut runs: Vec<AlleyRun> = Vec::new();
    for row in selected.iter().map(|i| &rows[*i]) {
        match runs.last_mut() {
            Some(run) if run.group_id == row.group_id && run.alley == row.alley => run.count += 1,
            _ => runs.push(AlleyRun {
                group_id: row.group_id,
                group: row.group.clone(),
                alley: row.alley.clone(),
                count: 1,
            }),
        }
    }
    let ours = |r: &&WalkRow| {
        query
            .groups
            .as_ref()
            .is_none_or(|g| g.contains(&r.group_id))
    };
    let me = query.me.as_deref();
    let start = (offset as usize).min(selected.len());
    let end = start.saturating_add(limit as usize).min(selected.len());
    WalkWindow {
        total: selected.len() as u32,
        runs,
        offset: start as u32,
        rows: selected[start..end]
            .iter()
            .map(|i| rows[*i].clone())
            .collect(),
        due: rows
            .iter()
            .filter(ours)
            .filter(|r| is_due(r, query.today))
            .count() as u32,
        handed: rows
            .iter()
            .filter(|r| me.is_some() && r.assigned_to.as_deref() == me)
            .count() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Internet, PriorityFlags};

    fn row(group: u128, alley: &str, number: &str) -> WalkRow {
        WalkRow {
            id: crate::new_id(),
            group_id: Id::from_u128(group),
            group: format!("Tổ {group}"),
            alley: alley.into(),
            number: number.into(),
            members: Some(3),
            priority: PriorityFlags::default(),
            internet: Internet::Unknown,
            name: None,
            visits: 0,
            last_outcome: None,
            last_visit: None,
            follow_up: None,
            follow_up_reason: None,
            assigned_to: None,
            phone: None,
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn query(search: &str, filter: WalkFilter) -> WalkQuery {
        WalkQuery {
            search: search.into(),
            filter,
            today: day("2026-11-25"),
            groups: None,
            me: None,
        }
    }

    fn numbers(rows: &[WalkRow], q: &WalkQuery) -> Vec<String> {
        WalkIndex::new(rows.to_vec())
            .select(q)
            .into_iter()
            .map(|i| rows[i].number.clone())
            .collect()
    }

    fn ward() -> Vec<WalkRow> {
        let mut rows = vec![
            row(1, "Ngõ 12 Hàng Bông", "5"),
            row(1, "Ngõ 12 Hàng Bông", "7"),
            row(1, "Ngách 3/14 Đường Thành", "9"),
            row(2, "Ngách 3/14 Đường Thành", "11"),
        ];
        rows[0].visits = 2;
        rows[1].priority.elderly = true;
        rows[2].visits = 1;
        rows[2].follow_up = Some(day("2026-11-20"));
        rows[3].visits = 1;
        rows[3].follow_up = Some(day("2026-12-20"));
        rows
    }

    #[test]
    fn searches_alleys_without_accents_names_and_phones() {
        let mut rows = ward();
        rows[1].name = Some("Bà Nguyễn Thị Hoa".into());
        rows[1].phone = Some("0912 345 678".into());
        assert_eq!(
            numbers(&rows, &query("duong thanh", WalkFilter::All)),
            ["9", "11"]
        );
        assert_eq!(numbers(&rows, &query("7", WalkFilter::All)), ["7"]);
        assert_eq!(
            numbers(&rows, &query("nguyen thi hoa", WalkFilter::All)),
            ["7"]
        );
        assert_eq!(numbers(&rows, &query("345 678", WalkFilter::All)), ["7"]);
        assert_eq!(numbers(&rows, &query("091", WalkFilter::All)), ["7"]);
        // Two digits are a house number, not a phone.
        assert!(numbers(&rows, &query("09", WalkFilter::All)).is_empty());
    }

    #[test]
    fn filters_by_visits_priority_follow_ups_and_groups() {
        let rows = ward();
        assert_eq!(numbers(&rows, &query("", WalkFilter::NotVisited)), ["7"]);
        assert_eq!(numbers(&rows, &query("", WalkFilter::Priority)), ["7"]);
        assert_eq!(numbers(&rows, &query("", WalkFilter::FollowUp)), ["9"]);
        let mut only_two = query("", WalkFilter::All);
        only_two.groups = Some(vec![Id::from_u128(2)]);
        assert_eq!(numbers(&rows, &only_two), ["11"]);
    }

    #[test]
    fn puts_what_was_handed_to_me_first_and_filters_to_it() {
        let mut rows = vec![
            row(1, "Ngõ 1", "1"),
            row(1, "Ngõ 1", "3"),
            row(1, "Ngõ 2", "2"),
            row(1, "Ngõ 2", "4"),
        ];
        rows[1].assigned_to = Some("Lan".into());
        rows[2].assigned_to = Some("Minh".into());
        rows[3].assigned_to = Some("Lan".into());
        let mut q = query("", WalkFilter::All);
        assert_eq!(numbers(&rows, &q), ["1", "3", "2", "4"]);
        q.me = Some("Lan".into());
        assert_eq!(numbers(&rows, &q), ["3", "4", "1", "2"]);
        let w = WalkIndex::new(rows.clone()).window(&q, 0, 10);
        assert_eq!(w.handed, 2);
        let runs: Vec<(&str, u32)> = w.runs.iter().map(|r| (r.alley.as_str(), r.count)).collect();
        assert_eq!(
            runs,
            [("Ngõ 1", 1), ("Ngõ 2", 1), ("Ngõ 1", 1), ("Ngõ 2", 1)]
        );
        q.filter = WalkFilter::Mine;
        assert_eq!(numbers(&rows, &q), ["3", "4"]);
    }

    #[test]
    fn a_window_holds_its_rows_the_runs_and_the_counts_of_the_whole_selection() {
        let mut rows: Vec<WalkRow> = (1..=250)
            .map(|n| row(1 + n / 100, &format!("Ngõ {}", n / 10), &n.to_string()))
            .collect();
        rows[3].follow_up = Some(day("2026-11-25"));
        rows[4].follow_up = Some(day("2026-11-26"));
        let q = query("", WalkFilter::All);
        let index = WalkIndex::new(rows);
        let w = index.window(&q, 100, 50);
        assert_eq!((w.total, w.offset, w.rows.len()), (250, 100, 50));
        assert_eq!(w.rows[0].number, "101");
        assert_eq!(w.runs.iter().map(|r| r.count).sum::<u32>(), 250);
        assert_eq!(w.due, 1);
        // Past the end: an empty window at the end, never a panic.
        let past = index.window(&q, 1_000, 50);
        assert_eq!((past.offset, past.rows.len()), (250, 0));
    }
}
