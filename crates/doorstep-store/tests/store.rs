//! The store's promises on real SQLite files: changes survive reopening, the query tables
//! equal a rebuild from the documents, and replicas that merge converge with nothing lost.

use chrono::{NaiveDate, Utc};
use doorstep_domain::demo::{generate, DemoSpec};
use doorstep_domain::*;
use doorstep_store::{AtRest, DatabaseKey, DocId, DocumentBytes, IncomingDoc, Store, StoreError};
use proptest::prelude::*;
use tempfile::TempDir;

/// Every store in these tests is encrypted, with a key of its own name.
fn store(dir: &TempDir, name: &str) -> Store {
    Store::open(&dir.path().join(name), &key(name)).unwrap()
}

fn key(name: &str) -> AtRest {
    let mut bytes = [0u8; 32];
    bytes[..name.len().min(32)].copy_from_slice(&name.as_bytes()[..name.len().min(32)]);
    AtRest::Encrypted(DatabaseKey::from_bytes(bytes))
}

fn ward(dir: &TempDir) -> Store {
    let mut s = store(dir, "a.sqlite");
    s.init_ward("Phường Cửa Nam", &["Tổ 1".to_string(), "Tổ 2".to_string()])
        .unwrap();
    s.add_point("Điểm chợ", Some("Cổng chợ")).unwrap();
    s
}

/// A second device holding a copy of `origin`'s ward.
fn replica(dir: &TempDir, name: &str, origin: &mut Store) -> Store {
    let mut s = store(dir, name);
    s.merge_documents(&origin.export_documents().unwrap())
        .unwrap();
    s
}

fn draft(alley: &str, number: &str) -> HouseholdDraft {
    HouseholdDraft {
        alley: alley.into(),
        number: number.into(),
        ..Default::default()
    }
}

fn visit(household_id: Id, outcome: Outcome, assists: Vec<Assist>) -> VisitDraft {
    VisitDraft {
        household_id,
        device_time: Utc::now(),
        volunteer: "Lan".into(),
        outcome,
        note: None,
        follow_up: None,
        assists,
        not_done_reason: None,
    }
}

fn assist(service: Service) -> Assist {
    Assist {
        service,
        result: AssistResult::Done,
        age_band: Some(AgeBand::Elderly),
        priority: PriorityFlags::default(),
    }
}

fn sync_both_ways(a: &mut Store, b: &mut Store) {
    let from_a = a.export_documents().unwrap();
    b.merge_documents(&from_a).unwrap();
    let from_b = b.export_documents().unwrap();
    a.merge_documents(&from_b).unwrap();
}

#[test]
fn a_saved_visit_is_there_after_reopening() {
    let dir = TempDir::new().unwrap();
    let (household, saved) = {
        let mut s = ward(&dir);
        let group = s.group_by_name("Tổ 1").unwrap();
        let h = s
            .add_household(group.id, draft("Ngõ 5", "12"), Utc::now())
            .unwrap();
        let v = s
            .add_visit(
                visit(
                    h.id,
                    Outcome::Assisted,
                    vec![assist(Service::VneidActivate)],
                ),
                Utc::now(),
            )
            .unwrap();
        (h, v)
    };
    let s = store(&dir, "a.sqlite");
    assert_eq!(s.household(household.id).unwrap(), household);
    assert_eq!(s.visits(Some(household.id)).unwrap(), vec![saved]);
}

/// Every file in `dir`, concatenated.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A device from before encryption, with work it has not synced: the first unlock with a PIN
/// encrypts it in place, and every record and the outbox are still there; no file holds the
/// name in clear, and the PIN opens it again after a restart.
#[test]
fn a_plaintext_database_with_unsynced_work_is_encrypted_on_first_unlock() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("device.sqlite");
    let household = {
        let mut s = Store::open(&path, &AtRest::Plaintext).unwrap();
        s.init_ward("Phường Cửa Nam", &["Tổ 1".to_string()])
            .unwrap();
        let group = s.group_by_name("Tổ 1").unwrap();
        let draft = HouseholdDraft {
            consent: true,
            name: Some("Đỗ Thị Chưa Gửi".into()),
            phone: Some("0912345678".into()),
            ..draft("Ngõ 5", "12")
        };
        s.add_household(group.id, draft, Utc::now()).unwrap()
    };
    assert!(contains(&all_bytes(dir.path()), "Chưa Gửi"));
    let outbox_before = Store::open(&path, &AtRest::Plaintext)
        .unwrap()
        .outbox_count()
        .unwrap();
    assert!(outbox_before > 0);

    let unlocked = Store::unlock(&path, "246810", 0, None).unwrap();
    assert!(
        unlocked.recovery_code.is_some(),
        "the first unlock makes a recovery code"
    );
    let mut s = unlocked.store;
    assert_eq!(s.household(household.id).unwrap(), household);
    assert_eq!(s.outbox_count().unwrap(), outbox_before);
    drop(s);
    let files = all_bytes(dir.path());
    assert!(!contains(&files, "Chưa Gửi") && !contains(&files, "0912345678"));
    assert!(matches!(
        Store::open(&path, &AtRest::Plaintext),
        Err(StoreError::Vault(_))
    ));

    let again = Store::unlock(&path, "246810", 1, None).unwrap();
    assert!(again.recovery_code.is_none());
    assert_eq!(again.store.household(household.id).unwrap(), household);
}

/// A wrong PIN opens nothing and is counted; the recovery code opens the data and sets a new
/// PIN, after which the old one is refused.
#[test]
fn a_wrong_pin_opens_nothing_and_the_recovery_code_sets_a_new_one() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("device.sqlite");
    let unlocked = Store::unlock(&path, "135790", 0, None).unwrap();
    let code = unlocked.recovery_code.unwrap();
    let mut s = unlocked.store;
    s.init_ward("Phường Cửa Nam", &["Tổ 1".to_string()])
        .unwrap();
    drop(s);
    match Store::unlock(&path, "000000", 1, None) {
        Err(e) => assert_eq!(e.code(), ErrorCode::WrongPin),
        Ok(_) => panic!("a wrong PIN opened the store"),
    }
    assert!(matches!(
        Store::unlock(&path, "12", 1, None).map(|_| ()),
        Err(StoreError::Vault(_))
    ));
    let mut s = Store::recover(&path, code.as_str(), "975310", 2, None).unwrap();
    assert_eq!(s.ward().unwrap().unwrap().name, "Phường Cửa Nam");
    drop(s);
    assert!(Store::unlock(&path, "135790", 3, None).is_err());
    assert!(Store::unlock(&path, "975310", 3, None).is_ok());
}

#[test]
fn rebuild_equals_what_incremental_updates_produced() {
    let dir = TempDir::new().unwrap();
    let mut s = store(&dir, "demo.sqlite");
    let today = Utc::now().date_naive();
    s.insert_demo(&generate(&DemoSpec::new(400, 3, today)), |_| {})
        .unwrap();
    // Incremental changes on top of the demo: new records, corrections, walk-ins.
    let group = s.groups().unwrap()[1].clone();
    let h = s
        .add_household(group.id, draft("Ngách 3/14", "7A"), Utc::now())
        .unwrap();
    let existing = s.households(None).unwrap()[10].clone();
    s.update_household(
        existing.id,
        &HouseholdPatch {
            internet: Some(Internet::No),
            consent: Some(true),
            name: Some("Bà Hoa".into()),
            ..Default::default()
        },
    )
    .unwrap();
    for _ in 0..300 {
        s.add_visit(
            visit(h.id, Outcome::Assisted, vec![assist(Service::Ihanoi)]),
            Utc::now(),
        )
        .unwrap();
    }
    let point = s.points().unwrap()[0].clone();
    s.add_walkin(
        &WalkIn {
            id: new_id(),
            point_id: point.id,
            device_time: Utc::now(),
            service: Service::Etax,
            result: AssistResult::Partial,
            age_band: None,
            priority: PriorityFlags::default(),
            session: None,
        },
        Utc::now(),
    )
    .unwrap();

    let incremental = s.dump_query_tables().unwrap();
    assert!(incremental.contains("Bà Hoa"));
    let check = s.check().unwrap();
    assert_eq!(check.integrity, "ok");
    assert!(check.query_tables_match_documents);
    s.rebuild().unwrap();
    assert_eq!(s.dump_query_tables().unwrap(), incremental);
    // And from a fresh process, loading compacted documents from disk.
    drop(s);
    let mut again = store(&dir, "demo.sqlite");
    again.rebuild().unwrap();
    assert_eq!(again.dump_query_tables().unwrap(), incremental);
}

#[test]
fn concurrent_edits_of_one_household_merge_per_field_and_visits_accumulate() {
    let dir = TempDir::new().unwrap();
    let mut a = ward(&dir);
    let group = a.group_by_name("Tổ 1").unwrap();
    let h = a
        .add_household(group.id, draft("Ngõ 5", "12"), Utc::now())
        .unwrap();
    let mut b = replica(&dir, "b.sqlite", &mut a);

    // Offline, both devices correct different fields and record visits.
    a.update_household(
        h.id,
        &HouseholdPatch {
            internet: Some(Internet::Yes),
            ..Default::default()
        },
    )
    .unwrap();
    b.update_household(
        h.id,
        &HouseholdPatch {
            members: Some(4),
            priority: Some(PriorityFlags::from_list(&[Priority::Elderly])),
            ..Default::default()
        },
    )
    .unwrap();
    a.add_visit(visit(h.id, Outcome::NotHome, vec![]), Utc::now())
        .unwrap();
    b.add_visit(
        visit(h.id, Outcome::Assisted, vec![assist(Service::VneidInstall)]),
        Utc::now(),
    )
    .unwrap();
    b.add_household(group.id, draft("Ngõ 9", "1"), Utc::now())
        .unwrap();

    sync_both_ways(&mut a, &mut b);

    assert_eq!(
        a.dump_query_tables().unwrap(),
        b.dump_query_tables().unwrap()
    );
    let merged = a.household(h.id).unwrap();
    assert_eq!(merged.internet, Internet::Yes);
    assert_eq!(merged.members, Some(4));
    assert!(merged.priority.elderly);
    assert_eq!(a.visits(Some(h.id)).unwrap().len(), 2);
    assert_eq!(a.households(None).unwrap().len(), 2);
    // Merging again changes nothing.
    let before = a.dump_query_tables().unwrap();
    sync_both_ways(&mut a, &mut b);
    assert_eq!(a.dump_query_tables().unwrap(), before);
}

#[test]
fn a_name_typed_while_consent_was_withdrawn_elsewhere_is_never_shown() {
    let dir = TempDir::new().unwrap();
    let mut a = ward(&dir);
    let group = a.group_by_name("Tổ 2").unwrap();
    let mut with_consent = draft("Ngõ 1", "3");
    with_consent.consent = true;
    with_consent.name = Some("Ông Nam".into());
    let h = a.add_household(group.id, with_consent, Utc::now()).unwrap();
    let mut b = replica(&dir, "b.sqlite", &mut a);
    a.update_household(
        h.id,
        &HouseholdPatch {
            consent: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    b.update_household(
        h.id,
        &HouseholdPatch {
            phone: Some("0912345678".into()),
            ..Default::default()
        },
    )
    .unwrap();
    sync_both_ways(&mut a, &mut b);
    for s in [&a, &b] {
        let merged = s.household(h.id).unwrap();
        assert!(!merged.consent);
        assert_eq!((merged.name, merged.phone), (None, None));
    }
}

#[test]
fn garbage_or_foreign_documents_are_refused_and_change_nothing() {
    let dir = TempDir::new().unwrap();
    let mut a = ward(&dir);
    let group = a.group_by_name("Tổ 1").unwrap();
    a.add_household(group.id, draft("Ngõ 5", "12"), Utc::now())
        .unwrap();
    let before = a.dump_query_tables().unwrap();
    let good = a.export_documents().unwrap();

    let mut garbage = good.clone();
    garbage.push(DocumentBytes {
        id: format!("group/{}", group.id),
        bytes: b"not automerge at all".to_vec(),
    });
    assert!(matches!(
        a.merge_documents(&garbage),
        Err(StoreError::Unreadable { .. })
    ));
    let mut truncated = good.clone();
    let last = truncated.last_mut().unwrap();
    last.bytes.truncate(last.bytes.len() / 2);
    assert!(a.merge_documents(&truncated).is_err());
    let mislabelled = vec![DocumentBytes {
        id: format!("group/{}", new_id()),
        bytes: good[0].bytes.clone(),
    }];
    assert!(a.merge_documents(&mislabelled).is_err());
    assert!(matches!(
        a.merge_documents(&[DocumentBytes {
            id: "nonsense".into(),
            bytes: vec![]
        }]),
        Err(StoreError::Doc(doorstep_doc::DocError::BadDocumentId(_)))
    ));

    let mut other = store(&dir, "other.sqlite");
    other
        .init_ward("Phường Kiến Hưng", &["Tổ 1".into()])
        .unwrap();
    assert!(matches!(
        a.merge_documents(&other.export_documents().unwrap()),
        Err(StoreError::OtherWard { .. })
    ));
    assert_eq!(a.dump_query_tables().unwrap(), before);
    assert!(a.check().unwrap().query_tables_match_documents);
}

#[test]
fn refused_records_change_nothing() {
    let dir = TempDir::new().unwrap();
    let mut a = ward(&dir);
    let group = a.group_by_name("Tổ 1").unwrap();
    let h = a
        .add_household(group.id, draft("Ngõ 5", "12"), Utc::now())
        .unwrap();
    let before = a.dump_query_tables().unwrap();
    assert!(a
        .add_household(group.id, draft("Ngõ 5", ""), Utc::now())
        .is_err());
    let mut future = visit(h.id, Outcome::NotHome, vec![]);
    future.device_time = Utc::now() + chrono::Duration::days(3);
    assert!(a.add_visit(future, Utc::now()).is_err());
    let mut id_in_note = visit(h.id, Outcome::Declined, vec![]);
    id_in_note.note = Some("CCCD 001203004567".into());
    assert!(a.add_visit(id_in_note, Utc::now()).is_err());
    assert!(matches!(
        a.add_visit(visit(new_id(), Outcome::NotHome, vec![]), Utc::now()),
        Err(StoreError::UnknownHousehold(_))
    ));
    assert!(matches!(
        a.group_by_name("Tổ 99"),
        Err(StoreError::UnknownGroup(_))
    ));
    assert_eq!(a.dump_query_tables().unwrap(), before);
    let report = a
        .report(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
        .unwrap();
    assert_eq!((report.households, report.visits), (1, 0));
}

/// One step of the convergence property.
#[derive(Debug, Clone)]
enum Op {
    AddHousehold {
        replica: usize,
        group: usize,
    },
    Update {
        replica: usize,
        pick: usize,
        field: u8,
        value: u8,
    },
    AddVisit {
        replica: usize,
        pick: usize,
        outcome: u8,
    },
    AddWalkIn {
        replica: usize,
        service: u8,
    },
    Merge {
        from: usize,
        to: usize,
    },
}

const REPLICAS: usize = 3;

fn op() -> impl Strategy<Value = Op> {
    let r = 0..REPLICAS;
    prop_oneof![
        (r.clone(), 0..2usize).prop_map(|(replica, group)| Op::AddHousehold { replica, group }),
        (r.clone(), any::<usize>(), 0..4u8, any::<u8>()).prop_map(
            |(replica, pick, field, value)| Op::Update {
                replica,
                pick,
                field,
                value
            }
        ),
        (r.clone(), any::<usize>(), 0..4u8).prop_map(|(replica, pick, outcome)| Op::AddVisit {
            replica,
            pick,
            outcome
        }),
        (r.clone(), 0..11u8).prop_map(|(replica, service)| Op::AddWalkIn { replica, service }),
        (r.clone(), r).prop_map(|(from, to)| Op::Merge { from, to }),
    ]
}

fn merge_into(stores: &mut [Store], from: usize, to: usize) {
    if from == to {
        return;
    }
    let docs = stores[from].export_documents().unwrap();
    stores[to].merge_documents(&docs).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_in_any_merge_order_with_nothing_lost(
        ops in proptest::collection::vec(op(), 1..40),
        order in Just((0..REPLICAS).flat_map(|a| (0..REPLICAS).map(move |b| (a, b))).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let dir = TempDir::new().unwrap();
        let mut first = ward(&dir);
        let mut stores = vec![];
        for i in 1..REPLICAS {
            stores.push(replica(&dir, &format!("r{i}.sqlite"), &mut first));
        }
        stores.insert(0, first);
        let groups = stores[0].groups().unwrap();
        let point = stores[0].points().unwrap()[0].id;
        let (mut households, mut visits, mut walkins) = (0u64, 0u64, 0u64);
        let services: Vec<Service> = Service::iter().collect();
        let outcomes: Vec<Outcome> = Outcome::iter().collect();
        for op in ops {
            match op {
                Op::AddHousehold { replica, group } => {
                    let n = households.to_string();
                    stores[replica].add_household(groups[group].id, draft("Ngõ 1", &n), Utc::now()).unwrap();
                    households += 1;
                }
                Op::Update { replica, pick, field, value } => {
                    let known = stores[replica].households(None).unwrap();
                    if known.is_empty() { continue; }
                    let h = &known[pick % known.len()];
                    let patch = match field {
                        0 => HouseholdPatch { members: Some(u32::from(value % 9) + 1), ..Default::default() },
                        1 => HouseholdPatch { internet: Some([Internet::Yes, Internet::No, Internet::Unknown][usize::from(value % 3)]), ..Default::default() },
                        2 => HouseholdPatch { alley: Some(format!("Ngõ {value}")), ..Default::default() },
                        _ => HouseholdPatch { priority: Some(PriorityFlags { elderly: value % 2 == 0, poor: value % 3 == 0, ..Default::default() }), ..Default::default() },
                    };
                    stores[replica].update_household(h.id, &patch).unwrap();
                }
                Op::AddVisit { replica, pick, outcome } => {
                    let known = stores[replica].households(None).unwrap();
                    if known.is_empty() { continue; }
                    let h = &known[pick % known.len()];
                    let outcome = outcomes[usize::from(outcome)];
                    let assists = if outcome == Outcome::Assisted { vec![assist(Service::VneidActivate)] } else { vec![] };
                    stores[replica].add_visit(visit(h.id, outcome, assists), Utc::now()).unwrap();
                    visits += 1;
                }
                Op::AddWalkIn { replica, service } => {
                    let w = WalkIn { id: new_id(), point_id: point, device_time: Utc::now(), service: services[usize::from(service)], result: AssistResult::Done, age_band: None, priority: PriorityFlags::default(), session: None };
                    stores[replica].add_walkin(&w, Utc::now()).unwrap();
                    walkins += 1;
                }
                Op::Merge { from, to } => merge_into(&mut stores, from, to),
            }
        }
        // Every pair in a random order, twice: enough for any change to reach everyone.
        for _ in 0..2 {
            for (from, to) in &order {
                merge_into(&mut stores, *from, *to);
            }
        }
        let dump = stores[0].dump_query_tables().unwrap();
        for s in &mut stores[1..] {
            prop_assert_eq!(&s.dump_query_tables().unwrap(), &dump);
        }
        let report = stores[0].report(Utc::now().date_naive()).unwrap();
        prop_assert_eq!(report.households, households);
        prop_assert_eq!(report.visits, visits);
        prop_assert_eq!(report.walkins, walkins);
        for s in &mut stores {
            prop_assert!(s.check().unwrap().query_tables_match_documents);
        }
    }
}

/// Overdue follow-ups per volunteer: the household's assignee when it has one, else whoever
/// recorded the visit that asked for the follow-up; a later visit closes it; not yet due is
/// not overdue.
#[test]
fn overdue_follow_ups_are_counted_per_volunteer() {
    let dir = TempDir::new().unwrap();
    let mut s = ward(&dir);
    let group = s.groups().unwrap()[0].id;
    let now = Utc::now();
    let visit = |s: &mut Store, h: Id, minutes: i64, follow_up: Option<&str>| {
        s.add_visit(
            VisitDraft {
                household_id: h,
                device_time: now - chrono::Duration::minutes(minutes),
                volunteer: "Lan".into(),
                outcome: Outcome::Revisit,
                note: None,
                follow_up: follow_up.map(|d| FollowUp {
                    date: d.parse().unwrap(),
                    reason: None,
                }),
                assists: Vec::new(),
                not_done_reason: None,
            },
            now,
        )
        .unwrap();
    };
    let ids: Vec<Id> = ["1", "2", "3", "4"]
        .iter()
        .map(|n| s.add_household(group, draft("Ngõ 9", n), now).unwrap().id)
        .collect();
    s.assign_household(ids[0], "Minh", now).unwrap();
    visit(&mut s, ids[0], 30, Some("2026-11-20"));
    visit(&mut s, ids[1], 30, Some("2026-11-21"));
    visit(&mut s, ids[2], 30, Some("2026-11-22"));
    visit(&mut s, ids[2], 10, None); // a later visit closes it
    visit(&mut s, ids[3], 30, Some("2026-11-30")); // not due yet
    let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    assert_eq!(
        s.overdue_by_volunteer(today).unwrap(),
        vec![("Lan".to_string(), 1), ("Minh".to_string(), 1)]
    );
}

/// A document the hub refused is remembered with its reason, what it holds and the changes
/// waiting, across reopening, until a sync that did not refuse it clears it.
#[test]
fn a_refused_document_is_remembered_until_a_sync_takes_it() {
    let dir = TempDir::new().unwrap();
    let mut s = ward(&dir);
    let group = s.group_by_name("Tổ 2").unwrap();
    s.add_household(group.id, draft("Ngõ Huyện", "14"), Utc::now())
        .unwrap();
    let doc = doorstep_store::DocId::Group(group.id);
    let at = Utc::now();
    s.set_sync_problem(
        doc,
        ErrorCode::CoordinatorOnly,
        "a volunteer voids only…",
        at,
    )
    .unwrap();
    drop(s);
    let mut s = store(&dir, "a.sqlite");
    let problems = s.sync_problems().unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].doc, doc.to_string());
    assert_eq!(problems[0].name, "Tổ 2");
    assert_eq!(problems[0].code, ErrorCode::CoordinatorOnly);
    assert!(problems[0].changes >= 1, "{problems:?}");
    assert_eq!(problems[0].at.timestamp_millis(), at.timestamp_millis());

    // Refused again: kept (and its reason updated); taken by a sync: gone.
    s.set_sync_problem(doc, ErrorCode::BadChange, "again", at)
        .unwrap();
    s.clear_sync_problems(&[doc].into_iter().collect()).unwrap();
    assert_eq!(s.sync_problems().unwrap()[0].code, ErrorCode::BadChange);
    s.clear_sync_problems(&Default::default()).unwrap();
    assert!(s.sync_problems().unwrap().is_empty());
}

/// The city roll-up computed from the ward's documents (what a hub does) says what this
/// device's report says, on a demo ward with merged duplicates, a voided visit and a voided
/// household: one set of counting rules on both sides.
#[test]
fn the_roll_up_of_the_documents_agrees_with_the_device_report() {
    use doorstep_doc::DocId;
    let dir = TempDir::new().unwrap();
    let mut s = store(&dir, "rollup.sqlite");
    let today = Utc::now().date_naive();
    s.insert_demo(&generate(&DemoSpec::new(400, 5, today)), |_| {})
        .unwrap();
    let households = s.households(None).unwrap();
    let (a, b) = (households[0].id, households[1].id);
    if households[0].group_id == households[1].group_id {
        s.merge_households(a, b).unwrap();
    }
    s.void_household(households[5].id, "địa chỉ nhập nhầm", Utc::now())
        .unwrap();
    let visit = s.visits(None).unwrap()[3].id;
    s.void_visit(visit, "nhập hai lần", Utc::now()).unwrap();

    let report = s.report(today).unwrap();
    let ward = s.ward().unwrap().unwrap();
    let docs: Vec<(DocId, automerge::AutoCommit)> = s
        .export_documents()
        .unwrap()
        .into_iter()
        .map(|d| {
            (
                d.id.parse().unwrap(),
                automerge::AutoCommit::load(&d.bytes).unwrap(),
            )
        })
        .collect();
    let ward_doc = &docs
        .iter()
        .find(|(id, _)| matches!(id, DocId::Ward(_)))
        .unwrap()
        .1;
    let of = |kind: fn(&DocId) -> Option<doorstep_domain::Id>| {
        docs.iter()
            .filter_map(|(id, doc)| kind(id).map(|i| (i, doc)))
            .collect::<Vec<_>>()
    };
    let groups = of(|id| match id {
        DocId::Group(g) => Some(*g),
        _ => None,
    });
    let points = of(|id| match id {
        DocId::Point(p) => Some(*p),
        _ => None,
    });
    let rollup =
        doorstep_doc::rollup::ward_rollup(ward.id, ward_doc, &groups, &points, Utc::now()).unwrap();
    assert_eq!(rollup.ward, ward.name);
    assert_eq!(rollup.households, report.households);
    assert_eq!(rollup.households_visited, report.households_visited);
    assert_eq!(rollup.priority_households, report.priority_households);
    assert_eq!(
        rollup.priority_households_reached,
        report.priority_households_visited
    );
    assert_eq!(rollup.visits, report.visits);
    assert_eq!(rollup.assists_by_service, report.assists_by_service);
    assert_eq!(rollup.walkins, report.walkins);
    assert_eq!(rollup.households_online, report.households_with_internet);
    assert_eq!(
        rollup.days.iter().map(|d| d.visits).sum::<u64>(),
        report.visits
    );
    assert_eq!(
        rollup.days.iter().map(|d| d.walkins).sum::<u64>(),
        report.walkins
    );
    // Aggregates only: no name, phone, address or record id anywhere in it.
    let json = serde_json::to_string(&rollup).unwrap();
    for h in &households {
        assert!(!json.contains(&h.id.to_string()));
        assert!(!json.contains(&h.alley));
        if let Some(name) = &h.name {
            assert!(!json.contains(name.as_str()));
        }
    }
}

/// The walk list's window is kept between questions, and never outlives a change: a visit, a
/// household added, another replica's work merged, or another connection's write.
#[test]
fn the_walk_window_follows_every_change_of_the_database() {
    let dir = TempDir::new().unwrap();
    let mut s = ward(&dir);
    let group = s.group_by_name("Tổ 1").unwrap();
    let today = Utc::now().date_naive();
    let all = walk::WalkQuery {
        today,
        ..Default::default()
    };
    let not_visited = walk::WalkQuery {
        filter: walk::WalkFilter::NotVisited,
        ..all.clone()
    };
    let first = s
        .add_household(group.id, draft("Ngõ 5", "12"), Utc::now())
        .unwrap();
    assert_eq!(s.walk_window(&all, 0, 10).unwrap().total, 1);
    assert_eq!(s.walk_window(&not_visited, 0, 10).unwrap().total, 1);

    s.add_visit(visit(first.id, Outcome::NotHome, vec![]), Utc::now())
        .unwrap();
    let w = s.walk_window(&all, 0, 10).unwrap();
    assert_eq!((w.total, w.rows[0].visits), (1, 1));
    assert_eq!(s.walk_window(&not_visited, 0, 10).unwrap().total, 0);

    s.add_household(group.id, draft("Ngõ 5", "14"), Utc::now())
        .unwrap();
    assert_eq!(s.walk_window(&all, 0, 10).unwrap().total, 2);

    let mut other = replica(&dir, "b.sqlite", &mut s);
    other
        .add_household(group.id, draft("Ngõ 7", "1"), Utc::now())
        .unwrap();
    sync_both_ways(&mut s, &mut other);
    let w = s.walk_window(&all, 0, 10).unwrap();
    assert_eq!(w.total, 3);
    assert_eq!(
        w.runs
            .iter()
            .map(|r| (r.alley.as_str(), r.count))
            .collect::<Vec<_>>(),
        [("Ngõ 5", 2), ("Ngõ 7", 1)]
    );

    // Another connection to the same file (the CLI beside the app) adds a household.
    {
        let mut beside = store(&dir, "a.sqlite");
        beside
            .add_household(group.id, draft("Ngõ 9", "3"), Utc::now())
            .unwrap();
    }
    assert_eq!(s.walk_window(&all, 0, 10).unwrap().total, 4);
}

/// A first sync's bulk write (a big ward's documents, new here) leaves out the indexes nothing
/// reads while rows are written and builds them once after: the report is right meanwhile,
/// and reopening the store (a sync cut short) or the sync's next write builds them.
#[test]
fn a_bulk_first_sync_builds_its_indexes_once_after_it() {
    let dir = TempDir::new().unwrap();
    let today = Utc::now().date_naive();
    let mut spec = DemoSpec::new(2_500, 3, today);
    spec.visits_per_household = 6.0;
    let demo = generate(&spec);
    let mut seed = store(&dir, "seed.sqlite");
    seed.insert_demo(&demo, |_| {}).unwrap();
    let expected = seed.report(today).unwrap();
    let mut incoming = |group: bool| -> Vec<IncomingDoc> {
        seed.export_documents()
            .unwrap()
            .into_iter()
            .map(|d| IncomingDoc {
                doc: d.id.parse().unwrap(),
                epoch: 0,
                snapshot: Some(d.bytes),
                changes: Vec::new(),
                signatures: Vec::new(),
            })
            .filter(|d| matches!(d.doc, DocId::Group(_)) == group)
            .collect()
    };
    let (ward, groups) = (incoming(false), incoming(true));
    let bytes: usize = groups.iter().flat_map(|g| &g.snapshot).map(Vec::len).sum();
    assert!(bytes > 256 * 1024, "a bulk write's worth: {bytes} bytes");
    let now = Utc::now();
    for name in ["reopened.sqlite", "synced.sqlite"] {
        let mut device = store(&dir, name);
        device.apply_sync(&[], &ward, now, &[], 1).unwrap();
        assert!(
            device.deferred_indexes().unwrap().is_empty(),
            "a small write"
        );
        device.apply_sync(&[], &groups, now, &[], 2).unwrap();
        assert_eq!(
            device.deferred_indexes().unwrap(),
            ["visits_by_time", "visits_by_change", "assists_by_time"]
        );
        assert_eq!(device.report(today).unwrap(), expected);
        // The log is copied into the database once, when the indexes are built.
        let wal = dir.path().join(format!("{name}-wal"));
        let wal_bytes = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        assert!(
            wal_bytes() > bytes as u64,
            "{} bytes in the log",
            wal_bytes()
        );
        let mut device = if name == "reopened.sqlite" {
            drop(device);
            store(&dir, name)
        } else {
            device.apply_sync(&[], &[], now, &[], 3).unwrap();
            assert_eq!(wal_bytes(), 0, "the log copied and emptied");
            device
        };
        assert!(device.deferred_indexes().unwrap().is_empty(), "{name}");
        assert_eq!(device.report(today).unwrap(), expected, "{name}");
    }
}

/// The walk window's query comes from the screen, but is input all the same: a huge limit
/// gets at most `WALK_WINDOW_MAX` rows, an offset past the end none, and a megabyte of search
/// text, control characters or emoji no match and no error.
#[test]
fn the_walk_window_takes_hostile_queries_in_stride() {
    let dir = TempDir::new().unwrap();
    let today = Utc::now().date_naive();
    let mut s = store(&dir, "a.sqlite");
    s.insert_demo(&generate(&DemoSpec::new(600, 5, today)), |_| {})
        .unwrap();
    let all = walk::WalkQuery {
        today,
        ..Default::default()
    };
    let huge = s.walk_window(&all, 0, u32::MAX).unwrap();
    assert_eq!(huge.total, 600);
    assert_eq!(huge.rows.len(), Store::WALK_WINDOW_MAX as usize);
    let past = s.walk_window(&all, u32::MAX, u32::MAX).unwrap();
    assert_eq!((past.total, past.rows.len()), (600, 0));
    for search in [
        "ngõ ".repeat(1 << 18),
        "\u{0}\u{7f}🙂\u{202e}".into(),
        "%_*".into(),
    ] {
        let query = walk::WalkQuery {
            search,
            ..all.clone()
        };
        let w = s.walk_window(&query, 0, 100).unwrap();
        assert_eq!((w.total, w.rows.len()), (0, 0));
    }
}
