//! The query tables: rows derived from the documents, so that lists and reports are SQL and
//! the app starts without loading a single document.
//!
//! Rows are only ever written from what a document holds after a change (never from what a
//! command meant to write), by the same functions whether one record changed or a whole
//! document is rebuilt; that is why a rebuild equals what incremental updates produced.

use std::collections::HashSet;
use std::str::FromStr;

use automerge::{AutoCommit, ChangeHash};
use chrono::{NaiveDate, TimeZone, Utc};
use doorstep_domain::*;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Row};

use crate::schema::QUERY_TABLES;
use crate::StoreError;
use doorstep_doc::{self as document, DocId};

/// Keeps a record's review in `reviews` (or removes it when the record has none).
fn upsert_review(
    conn: &Connection,
    map: &str,
    id: Id,
    group_id: Id,
    household_id: Id,
    review: Option<&Review>,
) -> Result<(), StoreError> {
    match review {
        Some(r) => conn
            .prepare_cached(
                "INSERT OR REPLACE INTO reviews (id, map, group_id, household_id, state, comment,
                    by, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id.to_string(),
                map,
                group_id.to_string(),
                household_id.to_string(),
                r.state.as_str(),
                r.comment,
                r.by,
                r.at.timestamp_millis(),
            ])?,
        None => conn
            .prepare_cached("DELETE FROM reviews WHERE id = ?1")?
            .execute([id.to_string()])?,
    };
    Ok(())
}

/// Keeps a voided record's row in `voided`, and removes it (with, for a household, its
/// visits) from the tables lists and counts read.
fn upsert_void(
    conn: &Connection,
    map: &str,
    id: Id,
    group_id: Id,
    household_id: Id,
    void: &Void,
) -> Result<(), StoreError> {
    let id = id.to_string();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO voided (id, map, group_id, household_id, at, by, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        map,
        group_id.to_string(),
        household_id.to_string(),
        void.at.timestamp_millis(),
        void.by,
        void.reason,
    ])?;
    let deletes: &[&str] = if map == "households" {
        &[
            "DELETE FROM assists WHERE visit_id IN (SELECT id FROM visits WHERE household_id = ?1)",
            "DELETE FROM visits WHERE household_id = ?1",
            "DELETE FROM households WHERE id = ?1",
        ]
    } else {
        &[
            "DELETE FROM assists WHERE visit_id = ?1",
            "DELETE FROM visits WHERE id = ?1",
        ]
    };
    for sql in deletes {
        conn.prepare_cached(sql)?.execute([&id])?;
    }
    Ok(())
}

pub fn upsert_household(conn: &Connection, h: &Household) -> Result<(), StoreError> {
    write_household(conn, h, false)
}

/// A household's rows; `fresh`: its group's rows were all just deleted (no review to remove).
fn write_household(conn: &Connection, h: &Household, fresh: bool) -> Result<(), StoreError> {
    let review = h.review.as_ref().filter(|_| h.voided.is_none());
    if !(fresh && review.is_none()) {
        upsert_review(conn, "households", h.id, h.group_id, h.id, review)?;
    }
    if let Some(void) = &h.voided {
        return upsert_void(conn, "households", h.id, h.group_id, h.id, void);
    }
    conn.prepare_cached(
        "INSERT OR REPLACE INTO households (id, group_id, alley, number, members, elderly,
            disability, poor, near_poor, internet, consent, name, phone, created_at, erased_at,
            consent_purpose, consent_given_at, consent_given_by, consent_withdrawn_at,
            consent_withdrawn_by, merged_into, not_duplicate_of, assigned_to, assigned_by,
            assigned_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
            ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
    )?
    .execute(params![
        h.id.to_string(),
        h.group_id.to_string(),
        h.alley,
        h.number,
        h.members,
        h.priority.elderly,
        h.priority.disability,
        h.priority.poor,
        h.priority.near_poor,
        h.internet.as_str(),
        h.consent,
        h.name,
        h.phone,
        h.created_at.timestamp_millis(),
        h.erased_at.map(|t| t.timestamp_millis()),
        h.consent_record.purpose,
        h.consent_record.given_at.map(|t| t.timestamp_millis()),
        h.consent_record.given_by,
        h.consent_record.withdrawn_at.map(|t| t.timestamp_millis()),
        h.consent_record.withdrawn_by,
        h.merged_into.map(|m| m.to_string()),
        (!h.not_duplicate_of.is_empty()).then(|| {
            h.not_duplicate_of
                .iter()
                .map(Id::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }),
        h.assignment.as_ref().map(|a| a.to.as_str()),
        h.assignment.as_ref().map(|a| a.by.as_str()),
        h.assignment.as_ref().map(|a| a.at.timestamp_millis()),
        h.state.as_str(),
    ])?;
    Ok(())
}

/// Resolves the merges of group `group_id` (see `document::survivors`): each merged
/// household's `survivor_id`, its visits moved to the survivor, and each survivor's row
/// rewritten with the corrections its duplicates received unseen by the merge
/// (`document::read_survivor`). Cheap when the group has no merge (two probes of partial
/// indexes); run after every write to a group's rows, with the group's document `doc`.
pub fn resolve_merges(conn: &Connection, group_id: Id, doc: &AutoCommit) -> Result<(), StoreError> {
    let gid = group_id.to_string();
    let merges: Vec<(Id, Id)> = conn
        .prepare_cached(
            "SELECT id, merged_into FROM households WHERE group_id = ?1 AND merged_into IS NOT NULL",
        )?
        .query_map([&gid], |r| Ok((parse(r, 0)?, parse(r, 1)?)))?
        .collect::<Result<_, _>>()?;
    let had: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM households WHERE group_id = ?1 AND survivor_id IS NOT NULL)")?
        .query_row([&gid], |r| r.get(0))?;
    if merges.is_empty() && !had {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE households SET survivor_id = NULL WHERE group_id = ?1 AND survivor_id IS NOT NULL",
    )?
    .execute([&gid])?;
    let resolved = document::survivors(&merges);
    let mut duplicates_of: std::collections::BTreeMap<Id, Vec<Id>> = Default::default();
    for (merged, into) in &resolved {
        duplicates_of.entry(*into).or_default().push(*merged);
    }
    for (survivor, duplicates) in &duplicates_of {
        if let Some(h) = document::read_survivor(doc, group_id, *survivor, duplicates)? {
            upsert_household(conn, &h)?;
        }
    }
    let mut survivor =
        conn.prepare_cached("UPDATE households SET survivor_id = ?2 WHERE id = ?1")?;
    let mut visits =
        conn.prepare_cached("UPDATE visits SET household_id = ?2 WHERE household_id = ?1")?;
    for (merged, into) in resolved {
        survivor.execute([merged.to_string(), into.to_string()])?;
        visits.execute([merged.to_string(), into.to_string()])?;
    }
    Ok(())
}

/// Writes a visit's rows; `made_by` is the change that created it, whose hub receipt (if
/// this device has one) becomes the visit's `received_at`.
pub fn upsert_visit(
    conn: &Connection,
    v: &Visit,
    made_by: Option<ChangeHash>,
) -> Result<(), StoreError> {
    write_visit(conn, v, made_by, None)
}

/// A visit's rows. `fresh`: its group's rows were all just deleted (no review or assists to
/// remove) and rewritten from its households, these the ones voided.
fn write_visit(
    conn: &Connection,
    v: &Visit,
    made_by: Option<ChangeHash>,
    fresh: Option<&HashSet<Id>>,
) -> Result<(), StoreError> {
    let review = v.review.as_ref().filter(|_| v.voided.is_none());
    if !(fresh.is_some() && review.is_none()) {
        upsert_review(conn, "visits", v.id, v.group_id, v.household_id, review)?;
    }
    if let Some(void) = &v.voided {
        return upsert_void(conn, "visits", v.id, v.group_id, v.household_id, void);
    }
    let household_voided = match fresh {
        Some(voided) => voided.contains(&v.household_id),
        None => conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM voided WHERE id = ?1)")?
            .query_row([v.household_id.to_string()], |r| r.get(0))?,
    };
    if household_voided {
        return Ok(());
    }
    let id = v.id.to_string();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO visits (id, household_id, group_id, device_time, volunteer,
            outcome, note, follow_up_date, follow_up_reason, received_at, made_by,
            not_done_reason)
         VALUES (?1, coalesce((SELECT survivor_id FROM households WHERE id = ?2), ?2), ?3, ?4,
            ?5, ?6, ?7, ?8, ?9, (SELECT received_at FROM change_receipts WHERE hash = ?10), ?10,
            ?11)",
    )?
    .execute(params![
        id,
        v.household_id.to_string(),
        v.group_id.to_string(),
        v.device_time.timestamp_millis(),
        v.volunteer,
        v.outcome.as_str(),
        v.note,
        v.follow_up.as_ref().map(|f| f.date.to_string()),
        v.follow_up.as_ref().and_then(|f| f.reason.clone()),
        made_by.map(|h| h.0.to_vec()),
        v.not_done_reason.map(NotDoneReason::as_str),
    ])?;
    if fresh.is_none() {
        conn.prepare_cached("DELETE FROM assists WHERE visit_id = ?1")?
            .execute([&id])?;
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO assists (visit_id, position, service, result, age_band, elderly,
            disability, poor, near_poor, device_time, group_id, volunteer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for (i, a) in v.assists.iter().enumerate() {
        insert.execute(params![
            id,
            i as i64,
            a.service.as_str(),
            a.result.as_str(),
            a.age_band.map(AgeBand::as_str),
            a.priority.elderly,
            a.priority.disability,
            a.priority.poor,
            a.priority.near_poor,
            v.device_time.timestamp_millis(),
            v.group_id.to_string(),
            v.volunteer,
        ])?;
    }
    Ok(())
}

pub fn upsert_walkin(conn: &Connection, w: &WalkIn) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO walkins (id, point_id, device_time, service, result, age_band,
            elderly, disability, poor, near_poor, session)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        w.id.to_string(),
        w.point_id.to_string(),
        w.device_time.timestamp_millis(),
        w.service.as_str(),
        w.result.as_str(),
        w.age_band.map(AgeBand::as_str),
        w.priority.elderly,
        w.priority.disability,
        w.priority.poor,
        w.priority.near_poor,
        w.session,
    ])?;
    Ok(())
}

/// A group document's records as its rows need them (households, and visits each with the
/// change that created it): read apart from the transaction that writes them (a first sync
/// takes them from the schema check, on another core).
pub use document::GroupRecords as GroupRows;

/// Every record of a group document, read for its rows.
fn read_group_rows(doc: &AutoCommit, group_id: Id) -> Result<GroupRows, StoreError> {
    Ok(GroupRows {
        households: document::read_households(doc, group_id)?,
        visits: document::read_visits(doc, group_id)?,
    })
}

/// Replaces the rows of group `group_id` by `rows`, read from its document `doc`.
pub fn write_group_rows(
    conn: &Connection,
    group_id: Id,
    doc: &AutoCommit,
    rows: &GroupRows,
) -> Result<(), StoreError> {
    let gid = group_id.to_string();
    conn.execute(
        "DELETE FROM assists WHERE visit_id IN (SELECT id FROM visits WHERE group_id = ?1)",
        [&gid],
    )?;
    conn.execute("DELETE FROM visits WHERE group_id = ?1", [&gid])?;
    conn.execute("DELETE FROM households WHERE group_id = ?1", [&gid])?;
    conn.execute("DELETE FROM voided WHERE group_id = ?1", [&gid])?;
    conn.execute("DELETE FROM reviews WHERE group_id = ?1", [&gid])?;
    // Every row of the group is gone: nothing to look for before writing each.
    for h in &rows.households {
        write_household(conn, h, true)?;
    }
    let voided: HashSet<Id> = rows
        .households
        .iter()
        .filter(|h| h.voided.is_some())
        .map(|h| h.id)
        .collect();
    for (v, made_by) in &rows.visits {
        write_visit(conn, v, *made_by, Some(&voided))?;
    }
    resolve_merges(conn, group_id, doc)
}

/// Replaces every row derived from one document by what the document holds now.
pub fn materialize_document(
    conn: &Connection,
    id: DocId,
    doc: &AutoCommit,
) -> Result<(), StoreError> {
    match id {
        DocId::Ward(ward_id) => {
            let (ward, groups, points) = document::read_ward(ward_id, doc)?;
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('ward_name', ?1)",
                [&ward.name],
            )?;
            conn.execute("DELETE FROM residential_groups", [])?;
            conn.execute("DELETE FROM literacy_points", [])?;
            for g in groups {
                conn.execute(
                    "INSERT INTO residential_groups (id, name) VALUES (?1, ?2)",
                    params![g.id.to_string(), g.name],
                )?;
            }
            for p in points {
                conn.execute(
                    "INSERT INTO literacy_points (id, name, place) VALUES (?1, ?2, ?3)",
                    params![p.id.to_string(), p.name, p.place],
                )?;
            }
        }
        DocId::Group(group_id) => {
            write_group_rows(conn, group_id, doc, &read_group_rows(doc, group_id)?)?;
        }
        DocId::Point(point_id) => {
            conn.execute(
                "DELETE FROM walkins WHERE point_id = ?1",
                [point_id.to_string()],
            )?;
            for w in document::read_walkins(doc, point_id)? {
                upsert_walkin(conn, &w)?;
            }
        }
    }
    Ok(())
}

/// Rewrites the rows of only the records `ids` of a document (what a merge touched); the
/// ward document, small, is always rewritten whole.
pub fn materialize_records(
    conn: &Connection,
    id: DocId,
    doc: &AutoCommit,
    ids: &HashSet<Id>,
) -> Result<(), StoreError> {
    match id {
        DocId::Ward(_) => materialize_document(conn, id, doc)?,
        DocId::Group(group_id) => {
            for rid in ids {
                let household = document::read_household(doc, group_id, *rid)?;
                let visit = document::read_visit(doc, group_id, *rid)?;
                if let Some(h) = &household {
                    upsert_household(conn, h)?;
                }
                if let Some((v, made_by)) = &visit {
                    upsert_visit(conn, v, *made_by)?;
                }
                if household.is_none() && visit.is_none() {
                    // A coordinator deleted the record: its rows go with it.
                    delete_rows(conn, *rid)?;
                }
            }
            resolve_merges(conn, group_id, doc)?;
        }
        DocId::Point(point_id) => {
            for rid in ids {
                match document::read_walkin(doc, point_id, *rid)? {
                    Some(w) => upsert_walkin(conn, &w)?,
                    None => delete_rows(conn, *rid)?,
                }
            }
        }
    }
    Ok(())
}

/// Gives visits made by these changes the hub's receive time just recorded for them.
pub fn refresh_receipts(conn: &Connection, hashes: &[ChangeHash]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE visits SET received_at =
            (SELECT received_at FROM change_receipts WHERE hash = ?1) WHERE made_by = ?1",
    )?;
    for h in hashes {
        stmt.execute([h.0.to_vec()])?;
    }
    Ok(())
}

/// Removes the rows of a record that no longer exists in its document.
fn delete_rows(conn: &Connection, id: Id) -> Result<(), StoreError> {
    let id = id.to_string();
    for sql in [
        "DELETE FROM assists WHERE visit_id = ?1",
        "DELETE FROM visits WHERE id = ?1",
        "DELETE FROM households WHERE id = ?1",
        "DELETE FROM walkins WHERE id = ?1",
        "DELETE FROM voided WHERE id = ?1",
        "DELETE FROM reviews WHERE id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([&id])?;
    }
    Ok(())
}

/// Empties every query table (before a rebuild).
pub fn clear(conn: &Connection) -> Result<(), StoreError> {
    for (table, _) in QUERY_TABLES {
        conn.execute(&format!("DELETE FROM {table}"), [])?;
    }
    Ok(())
}

/// Every row of every query table as text, in key order: equal dumps mean equal tables.
pub fn dump(conn: &Connection) -> Result<String, StoreError> {
    let mut out = String::new();
    for (table, key) in QUERY_TABLES {
        out.push_str(&format!("# {table}\n"));
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {key}"))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let cells: Vec<String> = (0..columns)
                .map(|i| match row.get_ref(i) {
                    Ok(ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned(),
                    Ok(ValueRef::Null) => "NULL".into(),
                    Ok(v) => format!("{v:?}"),
                    Err(e) => format!("<{e}>"),
                })
                .collect();
            out.push_str(&cells.join("|"));
            out.push('\n');
        }
    }
    Ok(out)
}

pub(crate) fn parse<T: FromStr>(row: &Row, i: usize) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    text.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unexpected value {text:?}").into(),
        )
    })
}

fn parse_opt<T: FromStr>(row: &Row, i: usize) -> rusqlite::Result<Option<T>> {
    match row.get::<_, Option<String>>(i)? {
        Some(_) => parse(row, i).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn time(row: &Row, i: usize) -> rusqlite::Result<chrono::DateTime<Utc>> {
    let ms: i64 = row.get(i)?;
    Ok(Utc.timestamp_millis_opt(ms).single().unwrap_or_default())
}

fn time_opt(row: &Row, i: usize) -> rusqlite::Result<Option<chrono::DateTime<Utc>>> {
    Ok(row
        .get::<_, Option<i64>>(i)?
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
}

fn flags(row: &Row, first: usize) -> rusqlite::Result<PriorityFlags> {
    Ok(PriorityFlags {
        elderly: row.get(first)?,
        disability: row.get(first + 1)?,
        poor: row.get(first + 2)?,
        near_poor: row.get(first + 3)?,
    })
}

pub const HOUSEHOLD_COLUMNS: &str = "h.id, h.group_id, h.alley, h.number, h.members, h.elderly,
    h.disability, h.poor, h.near_poor, h.internet, h.consent, h.name, h.phone, h.created_at,
    h.erased_at, h.consent_purpose, h.consent_given_at, h.consent_given_by, h.consent_withdrawn_at,
    h.consent_withdrawn_by, h.survivor_id, h.not_duplicate_of, h.assigned_to, h.assigned_by,
    h.assigned_at, h.state";

pub fn household_from_row(row: &Row) -> rusqlite::Result<Household> {
    Ok(Household {
        id: parse(row, 0)?,
        group_id: parse(row, 1)?,
        alley: row.get(2)?,
        number: row.get(3)?,
        members: row.get(4)?,
        priority: flags(row, 5)?,
        internet: parse(row, 9)?,
        consent: row.get(10)?,
        name: row.get(11)?,
        phone: row.get(12)?,
        created_at: time(row, 13)?,
        erased_at: time_opt(row, 14)?,
        consent_record: ConsentRecord {
            purpose: row.get(15)?,
            given_at: time_opt(row, 16)?,
            given_by: row.get(17)?,
            withdrawn_at: time_opt(row, 18)?,
            withdrawn_by: row.get(19)?,
        },
        merged_into: parse_opt(row, 20)?,
        not_duplicate_of: row
            .get::<_, Option<String>>(21)?
            .map(|ids| {
                ids.split_whitespace()
                    .filter_map(|i| Id::parse_str(i).ok())
                    .collect()
            })
            .unwrap_or_default(),
        voided: None,
        review: None,
        assignment: match (row.get::<_, Option<String>>(22)?, time_opt(row, 24)?) {
            (Some(to), Some(at)) => Some(Assignment {
                to,
                by: row.get::<_, Option<String>>(23)?.unwrap_or_default(),
                at,
            }),
            _ => None,
        },
        state: parse(row, 25)?,
    })
}

pub const VISIT_COLUMNS: &str = "v.id, v.household_id, v.group_id, v.device_time, v.volunteer,
    v.outcome, v.note, v.follow_up_date, v.follow_up_reason, v.received_at, v.not_done_reason";

/// A visit row; its assists are filled in by [`load_assists`].
pub fn visit_from_row(row: &Row) -> rusqlite::Result<Visit> {
    let date: Option<NaiveDate> = parse_opt(row, 7)?;
    Ok(Visit {
        id: parse(row, 0)?,
        household_id: parse(row, 1)?,
        group_id: parse(row, 2)?,
        device_time: time(row, 3)?,
        volunteer: row.get(4)?,
        outcome: parse(row, 5)?,
        note: row.get(6)?,
        follow_up: date.map(|date| FollowUp {
            date,
            reason: row.get(8).ok().flatten(),
        }),
        assists: Vec::new(),
        received_at: time_opt(row, 9)?,
        voided: None,
        review: None,
        not_done_reason: parse_opt(row, 10)?,
    })
}

/// Fills in the assists of each visit.
pub fn load_assists(conn: &Connection, visits: &mut [Visit]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT service, result, age_band, elderly, disability, poor, near_poor
         FROM assists WHERE visit_id = ?1 ORDER BY position",
    )?;
    for v in visits.iter_mut() {
        v.assists = stmt
            .query_map([v.id.to_string()], |row| {
                Ok(Assist {
                    service: parse(row, 0)?,
                    result: parse(row, 1)?,
                    age_band: parse_opt(row, 2)?,
                    priority: flags(row, 3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

pub fn walk_row(row: &Row) -> rusqlite::Result<WalkRow> {
    Ok(WalkRow {
        id: parse(row, 0)?,
        group_id: parse(row, 1)?,
        group: row.get(2)?,
        alley: row.get(3)?,
        number: row.get(4)?,
        members: row.get(5)?,
        priority: flags(row, 6)?,
        internet: parse(row, 10)?,
        name: row.get(11)?,
        visits: row.get(12)?,
        last_outcome: parse_opt(row, 13)?,
        last_visit: time_opt(row, 14)?,
        follow_up: parse_opt(row, 15)?,
        assigned_to: row.get(16)?,
        phone: row.get(17)?,
        follow_up_reason: row.get(18)?,
    })
}

pub fn walkin_from_row(row: &Row) -> rusqlite::Result<WalkIn> {
    Ok(WalkIn {
        id: parse(row, 0)?,
        point_id: parse(row, 1)?,
        device_time: time(row, 2)?,
        service: parse(row, 3)?,
        result: parse(row, 4)?,
        age_band: parse_opt(row, 5)?,
        priority: flags(row, 6)?,
        session: row.get(10)?,
    })
}
