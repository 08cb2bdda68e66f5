//! The rules refuse nothing the app makes (issue 24), as a property: two volunteers of one
//! residential group and a coordinator, each with a real device store and its own key,
//! record households and visits, correct households, void their own visits, ask for and
//! answer reviews, and sync with an in-process hub (`Hub::sync`, the round the HTTP route
//! runs) in any order. Every push is accepted, signatures and every rule included, and
//! once all have synced every device holds what the hub holds.

use base64::Engine;
use chrono::{Duration, Utc};
use doorstep_domain::*;
use doorstep_hub::storage::DeviceRecord;
use doorstep_hub::{Enrolment, Hub};
use doorstep_proto::api::{InviteRequest, JoinRequest};
use doorstep_proto::wire::{Push, SyncRequest, BATCH_BYTES};
use doorstep_store::{AtRest, DeviceIdentity, IncomingDoc, Store};
use proptest::prelude::*;
use tempfile::TempDir;

#[derive(Debug, Clone)]
enum Op {
    AddHousehold {
        device: usize,
    },
    Correct {
        device: usize,
        household: usize,
        members: u32,
    },
    Visit {
        device: usize,
        household: usize,
    },
    VoidOwnVisit {
        device: usize,
    },
    AskFix {
        visit: usize,
    },
    AnswerFixed {
        device: usize,
        visit: usize,
    },
    Sync {
        device: usize,
    },
}

/// Devices 0 and 1 are volunteers, 2 the coordinator.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..3usize).prop_map(|device| Op::AddHousehold { device }),
        2 => (0..3usize, 0..8usize, 1..9u32)
            .prop_map(|(device, household, members)| Op::Correct { device, household, members }),
        3 => (0..3usize, 0..8usize).prop_map(|(device, household)| Op::Visit { device, household }),
        1 => (0..2usize).prop_map(|device| Op::VoidOwnVisit { device }),
        1 => (0..16usize).prop_map(|visit| Op::AskFix { visit }),
        1 => (0..2usize, 0..16usize).prop_map(|(device, visit)| Op::AnswerFixed { device, visit }),
        3 => (0..3usize).prop_map(|device| Op::Sync { device }),
    ]
}

struct Member {
    store: Store,
    record: DeviceRecord,
}

/// Enrols a device store at the hub with its key, as `doorstep join` does.
fn join(
    enrolment: &mut Enrolment,
    store: &mut Store,
    role: Role,
    name: &str,
    groups: &[String],
) -> DeviceRecord {
    let now = Utc::now();
    let invite = enrolment
        .invite(
            &InviteRequest {
                role,
                name: name.into(),
                groups: groups.to_vec(),
                point: None,
                expires_hours: None,
            },
            now,
        )
        .unwrap();
    let key = store.device_key();
    let joined = enrolment
        .join(
            &JoinRequest {
                code: invite.code.clone(),
                key: key.public().to_base64(),
                proof: base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(key.sign_join(&invite.code)),
            },
            now,
        )
        .unwrap();
    let ward = base64::engine::general_purpose::STANDARD
        .decode(&joined.ward_document)
        .unwrap();
    store
        .apply_sync(
            &[],
            &[IncomingDoc {
                doc: doorstep_store::DocId::Ward(joined.ward_id),
                epoch: 0,
                snapshot: Some(ward),
                changes: vec![],
                signatures: vec![],
            }],
            now,
            &[],
            0,
        )
        .unwrap();
    store
        .set_identity(&DeviceIdentity {
            hub_url: "https://hub.invalid".into(),
            pin: None,
            next_pin: None,
            device_id: joined.device_id,
            name: joined.name.clone(),
            token: joined.token.clone(),
            role,
            ward_id: joined.ward_id,
            groups: joined.groups.iter().map(|g| g.id).collect(),
            points: vec![],
        })
        .unwrap();
    enrolment.authenticate(&joined.token, now).unwrap().device
}

/// Syncs one device with the hub until nothing is left either way: every round must be
/// accepted (the property).
fn sync(hub: &mut Hub, m: &mut Member) -> Result<(), TestCaseError> {
    for _ in 0..50 {
        let outbox = m.store.outbox(BATCH_BYTES).unwrap();
        let request = SyncRequest {
            cursor: m.store.sync_cursor().unwrap(),
            incarnation: m.store.hub_incarnation().unwrap(),
            pushes: outbox
                .iter()
                .map(|o| Push {
                    doc: o.doc.into(),
                    epoch: o.epoch,
                    changes: o.changes.clone(),
                    signatures: o.signatures.clone(),
                })
                .collect(),
        };
        let answer = hub
            .sync(&m.record, request, Utc::now())
            .map_err(|e| TestCaseError::fail(format!("the hub refused what the app made: {e}")))?;
        if answer.incarnation != 0 {
            m.store.set_hub_incarnation(answer.incarnation).unwrap();
        }
        let at = |ms: i64| chrono::TimeZone::timestamp_millis_opt(&Utc, ms).unwrap();
        let incoming: Vec<IncomingDoc> = answer
            .pulls
            .iter()
            .map(|p| IncomingDoc {
                doc: p.doc.try_into().unwrap(),
                epoch: p.epoch,
                snapshot: p.snapshot.clone(),
                changes: p
                    .changes
                    .iter()
                    .map(|c| (c.bytes.clone(), at(c.received_at)))
                    .collect(),
                signatures: p.changes.iter().map(|c| c.signature.clone()).collect(),
            })
            .collect();
        let earlier: Vec<([u8; 32], chrono::DateTime<Utc>)> = answer
            .receipts
            .iter()
            .map(|r| (r.hash, at(r.received_at)))
            .collect();
        m.store
            .apply_sync(
                &outbox,
                &incoming,
                at(answer.hub_time),
                &earlier,
                answer.cursor,
            )
            .map_err(|e| TestCaseError::fail(format!("a device refused what the hub sent: {e}")))?;
        if !answer.more && outbox.is_empty() {
            return Ok(());
        }
    }
    Err(TestCaseError::fail("a sync that never ends"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_rules_accept_everything_the_app_makes(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = TempDir::new().unwrap();
        let hub_dir = dir.path().join("hub");
        let at_rest = doorstep_hub::AtRest::Plaintext;
        Hub::init(&hub_dir, "Phường Cửa Nam", &["Tổ 1".to_string()], &at_rest).unwrap();
        let mut hub = Hub::open(&hub_dir, &at_rest).unwrap();
        let mut enrolment = Enrolment::open(&hub_dir, &at_rest).unwrap();
        let group = vec!["Tổ 1".to_string()];
        let mut members: Vec<Member> = [
            (Role::Volunteer, "Lan"),
            (Role::Volunteer, "Minh"),
            (Role::Coordinator, "Chị Hà"),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (role, name))| {
            let mut store =
                Store::open(&dir.path().join(format!("d{i}.sqlite")), &AtRest::Plaintext).unwrap();
            let groups = if role == Role::Coordinator { vec![] } else { group.clone() };
            let record = join(&mut enrolment, &mut store, role, name, &groups);
            Member { store, record }
        })
        .collect();
        for m in members.iter_mut() {
            sync(&mut hub, m)?;
        }
        let group_id = members[0].store.groups().unwrap()[0].id;
        let now = Utc::now();
        let mut n = 0i64;
        for op in &ops {
            n += 1;
            match *op {
                Op::AddHousehold { device } => {
                    members[device]
                        .store
                        .add_household(
                            group_id,
                            HouseholdDraft {
                                alley: "Ngõ 12 Hàng Bông".into(),
                                number: format!("{n}"),
                                ..Default::default()
                            },
                            now,
                        )
                        .unwrap();
                }
                Op::Correct { device, household, members: count } => {
                    let store = &mut members[device].store;
                    let households = store.households(None).unwrap();
                    if let Some(h) = households.get(household % households.len().max(1)) {
                        store
                            .update_household(h.id, &HouseholdPatch {
                                members: Some(count),
                                ..Default::default()
                            })
                            .unwrap();
                    }
                }
                Op::Visit { device, household } => {
                    let store = &mut members[device].store;
                    let households = store.households(None).unwrap();
                    if let Some(h) = households.get(household % households.len().max(1)) {
                        store
                            .add_visit(VisitDraft {
                                household_id: h.id,
                                device_time: now - Duration::minutes(n),
                                volunteer: format!("Tình nguyện viên {device}"),
                                outcome: Outcome::NotHome,
                                note: Some("hẹn lại".into()),
                                follow_up: None,
                                assists: Vec::new(),
                                not_done_reason: None,
                            }, now)
                            .unwrap();
                    }
                }
                Op::VoidOwnVisit { device } => {
                    // What the app offers: a visit this device recorded, not voided yet.
                    let m = &mut members[device];
                    let name = format!("Tình nguyện viên {device}");
                    let own = m.store.visits(None).unwrap().into_iter().find(|v| v.volunteer == name);
                    if let Some(v) = own {
                        m.store.void_visit(v.id, "ghi nhầm", now).unwrap();
                    }
                }
                Op::AskFix { visit } => {
                    let store = &mut members[2].store;
                    let visits = store.visits(None).unwrap();
                    if let Some(v) = visits.get(visit % visits.len().max(1)) {
                        store
                            .set_review("visits", v.id, ReviewState::NeedsFix, Some("ghi rõ hơn"), now)
                            .unwrap();
                    }
                }
                Op::AnswerFixed { device, visit } => {
                    let store = &mut members[device].store;
                    let asked: Vec<Id> = store
                        .reviews(true)
                        .unwrap()
                        .into_iter()
                        .filter(|r| r.review.state == ReviewState::NeedsFix && r.map == "visits")
                        .map(|r| r.id)
                        .collect();
                    if let Some(id) = asked.get(visit % asked.len().max(1)) {
                        store.set_review("visits", *id, ReviewState::Fixed, None, now).unwrap();
                    }
                }
                Op::Sync { device } => sync(&mut hub, &mut members[device])?,
            }
        }
        for _ in 0..2 {
            for m in members.iter_mut() {
                sync(&mut hub, m)?;
            }
        }
        let coordinator = members[2].store.report(now.date_naive()).unwrap();
        for m in members.iter_mut().take(2) {
            prop_assert_eq!(m.store.report(now.date_naive()).unwrap(), coordinator.clone());
        }
    }
}
