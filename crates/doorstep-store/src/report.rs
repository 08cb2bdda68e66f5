//! The ward report, computed in SQL from the query tables.
//!
//! Definitions (also in the README): a household is *visited* when it has at least one visit
//! of any outcome, *assisted* when one visit's outcome is `assisted`. A follow-up is *open*
//! while no later visit to its household exists, and *due* when its date is today or earlier.
//! Service counts include door-to-door assists and walk-ins at literacy points.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use doorstep_domain::report::{FollowUpDue, GroupCoverage, PointCount, Report};
use doorstep_domain::IntoEnumIterator;
use doorstep_domain::{AssistResult, HouseholdState, NotDoneReason, Outcome, Service};
use rusqlite::Connection;

use crate::{Result, StoreError};

fn count(conn: &Connection, sql: &str) -> Result<u64> {
    Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
}

/// A word of the query tables as its type (a word the domain does not know is an error).
pub(crate) fn parse<T: FromStr>(text: &str) -> Result<T> {
    text.parse().map_err(|_| StoreError::Document {
        doc: "query tables".into(),
        reason: format!("unknown value {text:?}"),
    })
}

/// A household coverage counts: not a merged duplicate (counted as its survivor), and people
/// live there (an address found vacant, moved away, a business or not there is reported apart).
const COUNTED: &str = "h.survivor_id IS NULL AND h.state IN ('lives_here', 'temporary_residents')";
/// A priority household coverage counts.
const PRIORITY: &str = "(h.elderly OR h.disability OR h.poor OR h.near_poor) AND h.survivor_id IS NULL AND h.state IN ('lives_here', 'temporary_residents')";

pub fn compute(conn: &Connection, ward: Option<String>, today: NaiveDate) -> Result<Report> {
    let households = count(
        conn,
        &format!("SELECT count(*) FROM households h WHERE {COUNTED}"),
    )?;
    let households_visited = count(
        conn,
        &format!(
            "SELECT count(*) FROM households h WHERE {COUNTED} AND EXISTS
               (SELECT 1 FROM visits v WHERE v.household_id = h.id)"
        ),
    )?;
    let households_assisted = count(
        conn,
        &format!(
            "SELECT count(*) FROM households h WHERE {COUNTED} AND EXISTS
               (SELECT 1 FROM visits v WHERE v.household_id = h.id AND v.outcome = 'assisted')"
        ),
    )?;
    let households_with_internet = count(
        conn,
        &format!("SELECT count(*) FROM households h WHERE h.internet = 'yes' AND {COUNTED}"),
    )?;
    let mut addresses_not_households: BTreeMap<HouseholdState, u64> = HouseholdState::iter()
        .filter(|s| !s.is_household())
        .map(|s| (s, 0))
        .collect();
    let mut stmt = conn.prepare(
        "SELECT state, count(*) FROM households
         WHERE survivor_id IS NULL AND state NOT IN ('lives_here', 'temporary_residents')
         GROUP BY state",
    )?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (state, n) = row?;
        addresses_not_households.insert(parse(&state)?, n as u64);
    }
    let mut not_done_reasons: BTreeMap<NotDoneReason, u64> =
        NotDoneReason::iter().map(|r| (r, 0)).collect();
    let mut stmt = conn.prepare(
        "SELECT not_done_reason, count(*) FROM visits WHERE not_done_reason IS NOT NULL
         GROUP BY not_done_reason",
    )?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (reason, n) = row?;
        not_done_reasons.insert(parse(&reason)?, n as u64);
    }
    let priority_households = count(
        conn,
        &format!("SELECT count(*) FROM households h WHERE {PRIORITY}"),
    )?;
    let priority_households_visited = count(
        conn,
        &format!(
            "SELECT count(*) FROM households h WHERE {PRIORITY} AND EXISTS
               (SELECT 1 FROM visits v WHERE v.household_id = h.id)"
        ),
    )?;
    let visits = count(conn, "SELECT count(*) FROM visits")?;

    let mut visits_by_outcome: BTreeMap<Outcome, u64> = Outcome::iter().map(|o| (o, 0)).collect();
    let mut stmt = conn.prepare("SELECT outcome, count(*) FROM visits GROUP BY outcome")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (outcome, n) = row?;
        visits_by_outcome.insert(parse(&outcome)?, n as u64);
    }

    let mut assists_by_service: BTreeMap<Service, u64> = Service::iter().map(|s| (s, 0)).collect();
    let mut assists_by_service_and_result: BTreeMap<Service, BTreeMap<AssistResult, u64>> =
        Service::iter()
            .map(|s| (s, AssistResult::iter().map(|r| (r, 0)).collect()))
            .collect();
    let mut assists = 0;
    let mut stmt = conn.prepare(
        "SELECT service, result, count(*) FROM (
            SELECT service, result FROM assists
            UNION ALL SELECT service, result FROM walkins)
         GROUP BY service, result",
    )?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })? {
        let (service, result, n) = row?;
        let (service, result): (Service, AssistResult) = (parse(&service)?, parse(&result)?);
        let n = n as u64;
        assists += n;
        *assists_by_service_and_result
            .entry(service)
            .or_default()
            .entry(result)
            .or_default() += n;
        if result == AssistResult::Done {
            *assists_by_service.entry(service).or_default() += n;
        }
    }

    let walkins = count(conn, "SELECT count(*) FROM walkins")?;
    let mut stmt = conn.prepare(
        "SELECT p.name, (SELECT count(*) FROM walkins w WHERE w.point_id = p.id)
         FROM literacy_points p ORDER BY p.id",
    )?;
    let walkins_by_point = stmt
        .query_map([], |r| {
            Ok(PointCount {
                point: r.get(0)?,
                walkins: r.get::<_, i64>(1)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut stmt = conn.prepare(&format!(
        "SELECT g.name,
            count(h.id),
            count(h.id) FILTER (WHERE EXISTS (SELECT 1 FROM visits v WHERE v.household_id = h.id)),
            count(h.id) FILTER (WHERE EXISTS (SELECT 1 FROM visits v
                                WHERE v.household_id = h.id AND v.outcome = 'assisted')),
            count(h.id) FILTER (WHERE {PRIORITY}),
            count(h.id) FILTER (WHERE {PRIORITY} AND EXISTS
                                (SELECT 1 FROM visits v WHERE v.household_id = h.id))
         FROM residential_groups g
         LEFT JOIN households h ON h.group_id = g.id AND h.survivor_id IS NULL
             AND h.state IN ('lives_here', 'temporary_residents')
         GROUP BY g.id ORDER BY g.id"
    ))?;
    let by_group = stmt
        .query_map([], |r| {
            Ok(GroupCoverage {
                group: r.get(0)?,
                households: r.get::<_, i64>(1)? as u64,
                visited: r.get::<_, i64>(2)? as u64,
                assisted: r.get::<_, i64>(3)? as u64,
                priority_households: r.get::<_, i64>(4)? as u64,
                priority_visited: r.get::<_, i64>(5)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut stmt = conn.prepare(
        "SELECT v.household_id, v.id, coalesce(g.name, ''), h.alley, h.number,
                v.follow_up_date, v.follow_up_reason
         FROM visits v
         JOIN households h ON h.id = v.household_id
         LEFT JOIN residential_groups g ON g.id = h.group_id
         WHERE v.follow_up_date IS NOT NULL AND v.follow_up_date <= ?1
           AND NOT EXISTS (SELECT 1 FROM visits w WHERE w.household_id = v.household_id
                 AND (w.device_time > v.device_time
                      OR (w.device_time = v.device_time AND w.id > v.id)))
         ORDER BY v.follow_up_date, g.id, h.alley, h.number",
    )?;
    let rows = stmt.query_map([today.to_string()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut follow_ups = Vec::new();
    for row in rows {
        let (household_id, visit_id, group, alley, number, date, reason) = row?;
        follow_ups.push(FollowUpDue {
            household_id: parse(&household_id)?,
            visit_id: parse(&visit_id)?,
            group,
            alley,
            number,
            date: parse(&date)?,
            reason,
        });
    }

    Ok(Report {
        ward,
        today,
        households,
        addresses_not_households,
        not_done_reasons,
        households_visited,
        households_assisted,
        households_with_internet,
        priority_households,
        priority_households_visited,
        visits,
        visits_by_outcome,
        assists,
        assists_by_service,
        assists_by_service_and_result,
        walkins,
        walkins_by_point,
        by_group,
        follow_ups_due: follow_ups.len() as u64,
        follow_ups,
    })
}
