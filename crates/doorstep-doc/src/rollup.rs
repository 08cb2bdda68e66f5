//! A ward's roll-up (`doorstep_domain::rollup::WardRollup`) computed from its documents, by the
//! same rules a device's report follows: merged duplicates count once (as their survivor),
//! voided records not at all, addresses where nobody lives are not households. Aggregates
//! only leave this function.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::AutoCommit;
use chrono::{DateTime, NaiveDate, Utc};
use doorstep_domain::clock::vietnam_time;
use doorstep_domain::rollup::{RollupDay, Targets, WardRollup};
use doorstep_domain::{AssistResult, Id, Internet, IntoEnumIterator, Service};

use crate::records::{read_households, read_visits, read_walkins, read_ward, survivors, targets};
use crate::DocError;

fn day_of(at: DateTime<Utc>) -> NaiveDate {
    vietnam_time(at).date()
}

type Day = (RollupDay, HashSet<Id>, HashSet<Id>);

fn day(days: &mut BTreeMap<NaiveDate, Day>, d: NaiveDate) -> &mut Day {
    days.entry(d).or_insert_with(|| {
        (
            RollupDay {
                day: d,
                ..RollupDay::default()
            },
            HashSet::new(),
            HashSet::new(),
        )
    })
}

/// The roll-up of the ward whose ward document is `ward_doc`, with its residential groups' and
/// literacy points' documents (those it lacks count as empty).
pub fn ward_rollup(
    ward_id: Id,
    ward_doc: &AutoCommit,
    groups: &[(Id, &AutoCommit)],
    points: &[(Id, &AutoCommit)],
    now: DateTime<Utc>,
) -> Result<WardRollup, DocError> {
    let (ward, _, _) = read_ward(ward_id, ward_doc)?;
    let mut out = WardRollup {
        ward_id,
        ward: ward.name,
        households: 0,
        households_visited: 0,
        households_online: 0,
        households_vneid_activated: 0,
        priority_households: 0,
        priority_households_reached: 0,
        visits: 0,
        assists_by_service: Service::iter().map(|s| (s, 0)).collect(),
        vneid_activations: 0,
        walkins: 0,
        targets: targets(ward_doc)?.map(|[online, vneid, visited]| Targets {
            online_percent: online,
            vneid_activated_percent: vneid,
            visited_percent: visited,
        }),
        days: Vec::new(),
        computed_at: now,
    };
    // Per day: its figures, the households reached and the priority ones among them.
    let mut days: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for (group, doc) in groups {
        let households = read_households(doc, *group)?;
        let merges: Vec<(Id, Id)> = households
            .iter()
            .filter(|h| h.voided.is_none())
            .filter_map(|h| h.merged_into.map(|into| (h.id, into)))
            .collect();
        let survivor = survivors(&merges);
        // The households that count, and whether each is a priority one.
        let counted: HashMap<Id, bool> = households
            .iter()
            .filter(|h| h.voided.is_none() && !survivor.contains_key(&h.id))
            .filter(|h| h.state.is_household())
            .map(|h| (h.id, h.priority.any()))
            .collect();
        let voided: HashSet<Id> = households
            .iter()
            .filter(|h| h.voided.is_some())
            .map(|h| h.id)
            .collect();
        for h in households.iter().filter(|h| counted.contains_key(&h.id)) {
            out.households += 1;
            out.priority_households += u64::from(counted[&h.id]);
            out.households_online += u64::from(h.internet == Internet::Yes);
        }
        let mut visited = HashSet::new();
        let mut activated = HashSet::new();
        for (visit, _) in read_visits(doc, *group)? {
            if visit.voided.is_some() || voided.contains(&visit.household_id) {
                continue;
            }
            let household = survivor
                .get(&visit.household_id)
                .copied()
                .unwrap_or(visit.household_id);
            out.visits += 1;
            let today = day(&mut days, day_of(visit.device_time));
            today.0.visits += 1;
            if let Some(priority) = counted.get(&household) {
                visited.insert(household);
                today.1.insert(household);
                if *priority {
                    today.2.insert(household);
                }
            }
            for assist in visit
                .assists
                .iter()
                .filter(|a| a.result == AssistResult::Done)
            {
                *out.assists_by_service.entry(assist.service).or_default() += 1;
                today.0.assists_done += 1;
                if assist.service == Service::VneidActivate {
                    out.vneid_activations += 1;
                    today.0.vneid_activations += 1;
                    if counted.contains_key(&household) {
                        activated.insert(household);
                    }
                }
            }
        }
        out.households_visited += visited.len() as u64;
        out.priority_households_reached += visited.iter().filter(|h| counted[*h]).count() as u64;
        out.households_vneid_activated += activated.len() as u64;
    }
    for (point, doc) in points {
        for walkin in read_walkins(doc, *point)? {
            out.walkins += 1;
            let today = day(&mut days, day_of(walkin.device_time));
            today.0.walkins += 1;
            if walkin.result == AssistResult::Done {
                *out.assists_by_service.entry(walkin.service).or_default() += 1;
                today.0.assists_done += 1;
                if walkin.service == Service::VneidActivate {
                    out.vneid_activations += 1;
                    today.0.vneid_activations += 1;
                }
            }
        }
    }
    out.days = days
        .into_values()
        .map(|(mut d, reached, priority)| {
            d.households_reached = reached.len() as u64;
            d.priority_households_reached = priority.len() as u64;
            d
        })
        .collect();
    Ok(out)
}
