//! Reports over a date range, per day, per residential group or per volunteer: the figures a
//! ward sends upward every day (visits, households reached, in each priority group, people
//! assisted by service and result, by age band and priority group, VNeID activations and
//! level-2 guides, walk-ins).
//!
//! One pass over each table in Rust, not SQL joins: a 250,000-visit ward joined visit by visit
//! to its households (text keys) and counted `DISTINCT` took two seconds. Here households are
//! numbered once, the households a row reached are bit sets, and ids are 128-bit numbers in
//! hash maps that use the ids' own random bits as their hash (BENCHMARKS.md).
//!
//! Days are Vietnam's (UTC+7, no daylight saving): a visit at 23:30 in Hanoi counts for that
//! day, not the next. Walk-ins have no group or volunteer: per group or per volunteer they are
//! rows of their own, one per literacy point (`Điểm: NAME`). Households reached are distinct
//! and only where people live (the coverage rule); a household reached on two days is reached
//! once in the total.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, NaiveDate, NaiveTime};
use doorstep_domain::report::{RangeReport, RangeRow};
use doorstep_domain::*;
use rusqlite::params;

use crate::report::parse;
use crate::{Result, Store, StoreError};

/// Vietnam's offset from UTC, in seconds.
const VIETNAM: i64 = 7 * 3600;
/// A literacy point's row when rows are groups or volunteers.
const POINT_ROW: &str = "'Điểm: ' || coalesce(p.name, '?')";
const PRIORITIES: [Priority; 4] = [
    Priority::Elderly,
    Priority::Disability,
    Priority::Poor,
    Priority::NearPoor,
];

/// Vietnam's day of a time in milliseconds.
fn day_of(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms + VIETNAM * 1000)
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default()
}

/// A hasher for ids (UUIDv7: their low 64 bits are random): the bits are the hash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = (n as u64) ^ ((n >> 64) as u64).rotate_left(32);
    }
}

type IdMap<V> = HashMap<u128, V, BuildHasherDefault<IdHasher>>;

fn id_of(r: &rusqlite::Row, i: usize) -> Result<u128> {
    let text = r.get_ref(i)?.as_str().map_err(rusqlite::Error::from)?;
    Ok(parse::<Id>(text)?.as_u128())
}

/// Households reached by one row, as bit sets over the households' numbers: all, and in each
/// priority group.
struct Reached {
    all: Vec<u64>,
    priority: [Vec<u64>; 4],
}

impl Reached {
    fn new(households: usize) -> Reached {
        let words = households.div_ceil(64);
        Reached {
            all: vec![0; words],
            priority: std::array::from_fn(|_| vec![0; words]),
        }
    }

    fn add(&mut self, household: u32, flags: [bool; 4]) {
        let (word, bit) = (household as usize / 64, 1u64 << (household % 64));
        self.all[word] |= bit;
        for (set, flag) in self.priority.iter_mut().zip(flags) {
            if flag {
                set[word] |= bit;
            }
        }
    }

    fn write(&self, row: &mut RangeRow) {
        let count = |set: &[u64]| set.iter().map(|w| u64::from(w.count_ones())).sum::<u64>();
        row.households_reached = count(&self.all);
        for (p, set) in PRIORITIES.iter().zip(&self.priority) {
            row.priority_households_reached.insert(*p, count(set));
        }
    }
}

/// A household as the report needs it.
struct Household {
    /// Its bit in `Reached`.
    number: u32,
    /// Its residential group's name.
    group: std::sync::Arc<str>,
    /// People live there: it counts (the coverage rule).
    lives: bool,
    flags: [bool; 4],
}

type Households = IdMap<Household>;

/// Each visit of the range: its row (none yet per group: that is its household's), and its
/// household.
type Visited = Vec<(Option<u32>, u128)>;

/// Assists (door to door and walk-ins) counted by row key, service, result, age band and
/// priority flags; `walkin` says which table.
struct AssistCount {
    key: String,
    service: String,
    result: String,
    age: Option<String>,
    flags: PriorityFlags,
    n: u64,
    walkin: bool,
}

/// What the second connection reads while the first walks the visits: the households, and the
/// assists and walk-ins of the range counted by SQLite.
fn households_and_assists(
    conn: &rusqlite::Connection,
    by: ReportBy,
    from_ms: i64,
    to_ms: i64,
) -> Result<(Households, Vec<AssistCount>)> {
    let groups: HashMap<String, std::sync::Arc<str>> = conn
        .prepare("SELECT id, name FROM residential_groups")?
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?.into()))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let unknown: std::sync::Arc<str> = "?".into();
    let mut households = Households::default();
    let mut stmt = conn.prepare(
        "SELECT id, group_id, state IN ('lives_here', 'temporary_residents'), elderly,
            disability, poor, near_poor FROM households",
    )?;
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        let n = households.len() as u32;
        let group = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
        let group = groups.get(group).unwrap_or(&unknown).clone();
        households.insert(
            id_of(r, 0)?,
            Household {
                number: n,
                group,
                lives: r.get(2)?,
                flags: [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
            },
        );
    }
    // Assists door to door (each carries its visit's time, group and volunteer), then walk-ins
    // at literacy points: with the day's rows, else a row per point.
    let day = format!("date(a.device_time / 1000 + {VIETNAM}, 'unixepoch')");
    let (assist_key, walkin_key) = match by {
        ReportBy::Day => (day.clone(), day),
        ReportBy::Group => ("coalesce(g.name, '?')".into(), POINT_ROW.into()),
        ReportBy::Volunteer => ("a.volunteer".into(), POINT_ROW.into()),
    };
    let mut counts = Vec::new();
    for (key, from_table, walkin) in [
        (
            assist_key,
            "assists a LEFT JOIN residential_groups g ON g.id = a.group_id",
            false,
        ),
        (
            walkin_key,
            "walkins a LEFT JOIN literacy_points p ON p.id = a.point_id",
            true,
        ),
    ] {
        let mut stmt = conn.prepare(&format!(
            "SELECT {key}, a.service, a.result, a.age_band, a.elderly, a.disability, a.poor,
                a.near_poor, count(*)
             FROM {from_table}
             WHERE a.device_time >= ?1 AND a.device_time < ?2
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
        ))?;
        let mut q = stmt.query(params![from_ms, to_ms])?;
        while let Some(r) = q.next()? {
            counts.push(AssistCount {
                key: r.get(0)?,
                service: r.get(1)?,
                result: r.get(2)?,
                age: r.get(3)?,
                flags: PriorityFlags {
                    elderly: r.get(4)?,
                    disability: r.get(5)?,
                    poor: r.get(6)?,
                    near_poor: r.get(7)?,
                },
                n: r.get::<_, i64>(8)? as u64,
                walkin,
            });
        }
    }
    Ok((households, counts))
}

impl Store {
    /// The report from `from` to `to` (both included), broken down `by`.
    ///
    /// Two connections read at once (the machine's second core): this one walks the range's
    /// visits while a second reads the households and counts the assists and walk-ins; the
    /// visits' households are resolved once both are done.
    pub fn range_report(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        by: ReportBy,
    ) -> Result<RangeReport> {
        let start =
            |d: NaiveDate| (d.and_time(NaiveTime::MIN).and_utc().timestamp() - VIETNAM) * 1000;
        let (from_ms, to_ms) = (start(from), start(to.succ_opt().unwrap_or(to)));
        let reader = self.take_reader()?;
        let (visited, side) = std::thread::scope(|scope| {
            let side = scope.spawn(move || {
                let read = households_and_assists(&reader, by, from_ms, to_ms);
                (read, reader)
            });
            let visited = self.range_visits(by, from_ms, to_ms);
            (visited, side.join())
        });
        let (side, reader) = side.map_err(|_| StoreError::ReportThread)?;
        self.return_reader(reader);
        let (mut rows, visited) = visited?;
        let (households, counts) = side?;
        let mut index: HashMap<String, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.clone(), i))
            .collect();
        let mut row_of = |key: &str, rows: &mut Vec<RangeRow>| {
            if let Some(&i) = index.get(key) {
                return i;
            }
            rows.push(RangeRow {
                key: key.to_string(),
                ..Default::default()
            });
            index.insert(key.to_string(), rows.len() - 1);
            rows.len() - 1
        };

        // Per group, a visit's row is its household's group.
        let visited: Vec<(usize, Option<&Household>)> = visited
            .into_iter()
            .map(|(i, household)| {
                let h = households.get(&household);
                let i = match (i, h) {
                    (Some(i), _) => i as usize,
                    (None, Some(h)) => row_of(&h.group, &mut rows),
                    (None, None) => row_of("?", &mut rows),
                };
                if by == ReportBy::Group {
                    rows[i].visits += 1;
                }
                (i, h)
            })
            .collect();

        for c in &counts {
            let i = row_of(&c.key, &mut rows);
            let row = &mut rows[i];
            row.add_assists(
                parse(&c.service)?,
                parse(&c.result)?,
                c.age.as_deref(),
                &c.flags,
                c.n,
            );
            if c.walkin {
                row.walkins += c.n;
            }
        }

        // Households reached, distinct per row and in the total: bit sets over their numbers.
        let count = households.len();
        let mut reached: Vec<Reached> = (0..rows.len()).map(|_| Reached::new(count)).collect();
        let mut total_reached = Reached::new(count);
        for (i, household) in visited {
            if let Some(h) = household.filter(|h| h.lives) {
                reached[i].add(h.number, h.flags);
                total_reached.add(h.number, h.flags);
            }
        }
        let mut total = RangeRow {
            key: "total".into(),
            ..Default::default()
        };
        for (row, reached) in rows.iter_mut().zip(&reached) {
            reached.write(row);
            total.add(row);
        }
        total_reached.write(&mut total);
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(RangeReport {
            from,
            to,
            by,
            rows,
            total,
        })
    }

    /// The range's visits, through the time index that covers what is read here (no row
    /// looked up): the rows with their visit counts, and each visit's row (none yet per group:
    /// that is its household's) and household.
    fn range_visits(
        &self,
        by: ReportBy,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(Vec<RangeRow>, Visited)> {
        let mut rows: Vec<RangeRow> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut row_of = |key: String, rows: &mut Vec<RangeRow>| {
            *index.entry(key.clone()).or_insert_with(|| {
                rows.push(RangeRow {
                    key,
                    ..Default::default()
                });
                rows.len() - 1
            })
        };
        let mut visited = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT device_time, household_id, volunteer FROM visits
             WHERE device_time >= ?1 AND device_time < ?2",
        )?;
        let mut q = stmt.query(params![from_ms, to_ms])?;
        let mut last_day: Option<(i64, usize)> = None;
        while let Some(r) = q.next()? {
            let time: i64 = r.get(0)?;
            let i = match by {
                // Consecutive visits of one day: the day's row without a lookup.
                ReportBy::Day => {
                    let day = (time / 1000 + VIETNAM).div_euclid(86_400);
                    match last_day {
                        Some((d, i)) if d == day => i,
                        _ => {
                            let i = row_of(day_of(time), &mut rows);
                            last_day = Some((day, i));
                            i
                        }
                    }
                }
                ReportBy::Group => {
                    visited.push((None, id_of(r, 1)?));
                    continue;
                }
                ReportBy::Volunteer => row_of(r.get(2)?, &mut rows),
            };
            rows[i].visits += 1;
            visited.push((Some(i as u32), id_of(r, 1)?));
        }
        Ok((rows, visited))
    }
}
