//! Merging duplicate households under concurrency (issue 13), as a property: three devices
//! correct both households and record visits on them offline, a coordinator merges one into
//! the other at any moment, and the replicas exchange documents in any order. Whatever the
//! order: once all have synced they hold the same tables, the merged-away household is in no
//! list or count, and every visit ever recorded counts exactly once, for the survivor.

use chrono::{Duration, Utc};
use doorstep_domain::*;
use doorstep_store::{AtRest, Store};
use proptest::prelude::*;
use tempfile::TempDir;

#[derive(Debug, Clone)]
enum Op {
    Edit {
        device: usize,
        household: usize,
        members: u32,
    },
    Visit {
        device: usize,
        household: usize,
    },
    Sync {
        device: usize,
    },
    Merge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..3usize, 0..2usize, 1..9u32).prop_map(|(device, household, members)| Op::Edit {
            device,
            household,
            members
        }),
        3 => (0..3usize, 0..2usize).prop_map(|(device, household)| Op::Visit { device, household }),
        2 => (0..3usize).prop_map(|device| Op::Sync { device }),
        1 => Just(Op::Merge),
    ]
}

/// Two-way exchange of whole documents between two replicas.
fn exchange(a: &mut Store, b: &mut Store) {
    let from_a = a.export_documents().unwrap();
    b.merge_documents(&from_a).unwrap();
    let from_b = b.export_documents().unwrap();
    a.merge_documents(&from_b).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_visit_counts_once_for_the_survivor(ops in proptest::collection::vec(op(), 1..30)) {
        let dir = TempDir::new().unwrap();
        let open = |name: &str| Store::open(&dir.path().join(name), &AtRest::Plaintext).unwrap();
        // The hub's replica, where the coordinator merges.
        let mut hub = open("hub.sqlite");
        hub.init_ward("Phường Cửa Nam", &["Tổ 1".to_string()]).unwrap();
        let group = hub.groups().unwrap()[0].id;
        let now = Utc::now();
        let add = |hub: &mut Store, number: &str| {
            hub.add_household(
                group,
                HouseholdDraft {
                    alley: "Ngõ 12 Hàng Bông".into(),
                    number: number.into(),
                    ..Default::default()
                },
                now,
            )
            .unwrap()
            .id
        };
        let survivor = add(&mut hub, "số 5");
        let duplicate = add(&mut hub, "5");
        let other = add(&mut hub, "7");
        let households = [survivor, duplicate];
        let mut devices: Vec<Store> = (0..3).map(|i| open(&format!("d{i}.sqlite"))).collect();
        for d in &mut devices {
            exchange(&mut hub, d);
        }
        prop_assert_eq!(hub.duplicates(None).unwrap().len(), 1);

        let mut visits = 0usize;
        let mut merged = false;
        for op in &ops {
            match *op {
                Op::Edit { device, household, members } => {
                    devices[device]
                        .update_household(households[household], &HouseholdPatch {
                            members: Some(members),
                            ..Default::default()
                        })
                        .unwrap();
                }
                Op::Visit { device, household } => {
                    devices[device]
                        .add_visit(VisitDraft {
                            household_id: households[household],
                            device_time: now - Duration::minutes(visits as i64),
                            volunteer: format!("Tình nguyện viên {device}"),
                            outcome: Outcome::NotHome,
                            note: None,
                            follow_up: None,
                            assists: Vec::new(),
                            not_done_reason: None,
                        }, now)
                        .unwrap();
                    visits += 1;
                }
                Op::Sync { device } => exchange(&mut hub, &mut devices[device]),
                Op::Merge if !merged => {
                    hub.merge_households(survivor, duplicate).unwrap();
                    merged = true;
                }
                Op::Merge => {}
            }
        }
        if !merged {
            hub.merge_households(survivor, duplicate).unwrap();
        }
        for _ in 0..2 {
            for d in &mut devices {
                exchange(&mut hub, d);
            }
        }

        let tables = hub.dump_query_tables().unwrap();
        for d in &devices {
            prop_assert_eq!(&d.dump_query_tables().unwrap(), &tables, "replicas differ");
        }
        let listed: Vec<Id> = hub.households(None).unwrap().iter().map(|h| h.id).collect();
        prop_assert_eq!(listed.len(), 2);
        prop_assert!(listed.contains(&survivor) && listed.contains(&other));
        let report = hub.report(Utc::now().date_naive()).unwrap();
        prop_assert_eq!(report.households, 2);
        prop_assert_eq!(report.visits as usize, visits);
        prop_assert_eq!(hub.visits(Some(survivor)).unwrap().len(), visits);
        prop_assert_eq!(report.households_visited, u64::from(visits > 0));
        prop_assert!(hub.duplicates(None).unwrap().is_empty());
    }
}

/// Corrections of a merged-away household land on the survivor: those the merge had not seen
/// (a device offline) win where later; those it had seen do not overwrite the survivor's own
/// values; a device that knows of the merge corrects the survivor itself.
#[test]
fn corrections_of_the_duplicate_land_on_the_survivor() {
    let dir = TempDir::new().unwrap();
    let open = |name: &str| Store::open(&dir.path().join(name), &AtRest::Plaintext).unwrap();
    let mut hub = open("hub.sqlite");
    hub.init_ward("Phường Cửa Nam", &["Tổ 1".to_string()])
        .unwrap();
    let group = hub.groups().unwrap()[0].id;
    let now = Utc::now();
    let mut add = |number: &str, members: u32| {
        hub.add_household(
            group,
            HouseholdDraft {
                alley: "Ngõ 12 Hàng Bông".into(),
                number: number.into(),
                members: Some(members),
                ..Default::default()
            },
            now,
        )
        .unwrap()
        .id
    };
    let survivor = add("số 5", 2);
    let duplicate = add("5", 4);
    let patch = |members: u32| HouseholdPatch {
        members: Some(members),
        ..Default::default()
    };
    let mut device = open("device.sqlite");
    exchange(&mut hub, &mut device);

    // Seen by the merge: the duplicate's 9 does not replace the survivor's 2.
    device.update_household(duplicate, &patch(9)).unwrap();
    exchange(&mut hub, &mut device);
    hub.merge_households(survivor, duplicate).unwrap();
    assert_eq!(hub.household(survivor).unwrap().members, Some(2));

    // Not seen: the device, offline, corrects the duplicate and gives a phone with consent.
    device
        .update_household(
            duplicate,
            &HouseholdPatch {
                members: Some(7),
                consent: Some(true),
                name: Some("Ông Tư".into()),
                phone: Some("0912345678".into()),
                ..Default::default()
            },
        )
        .unwrap();
    exchange(&mut hub, &mut device);
    for store in [&hub, &device] {
        let kept = store.household(survivor).unwrap();
        assert_eq!(kept.members, Some(7));
        assert_eq!(kept.phone.as_deref(), Some("0912345678"));
        assert!(kept.consent);
    }
    assert_eq!(
        hub.dump_query_tables().unwrap(),
        device.dump_query_tables().unwrap()
    );

    // Later on the survivor (having seen the 7): the survivor's value wins.
    hub.update_household(survivor, &patch(3)).unwrap();
    exchange(&mut hub, &mut device);
    assert_eq!(device.household(survivor).unwrap().members, Some(3));

    // The device now knows of the merge: a correction of the duplicate goes to the survivor.
    let corrected = device.update_household(duplicate, &patch(5)).unwrap();
    assert_eq!(corrected.id, survivor);
    exchange(&mut hub, &mut device);
    assert_eq!(hub.household(survivor).unwrap().members, Some(5));
    assert_eq!(
        hub.dump_query_tables().unwrap(),
        device.dump_query_tables().unwrap()
    );
}
