//! The strict schema at the boundary, tried as a modified client would: changes written with
//! raw Automerge calls (not through `Store`) on top of a group's real document, pushed to a
//! real hub over HTTP. Each kind of change the app could never make is refused with 422 and
//! its code, nothing of it is stored, and the coordinator never receives it. The same changes
//! arriving from a hub are refused by a device's store, which stays as it was.

mod support;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use chrono::Utc;
use doorstep_doc::DocId;
use doorstep_domain::{new_id, ErrorCode, Id};
use doorstep_store::IncomingDoc;
use serde_json::Value as Json;
use support::{post, sync_body, token, Device, HubProcess};

/// A raw change: what it does to the group's document, and the code it must be refused with.
struct Forgery {
    what: &'static str,
    code: ErrorCode,
    write: fn(&mut AutoCommit, &Ctx),
}

/// What a forgery writes against: the group's maps and a household that exists.
struct Ctx {
    households: ObjId,
    visits: ObjId,
    household: ObjId,
    household_id: Id,
}

fn map(doc: &AutoCommit, obj: &ObjId, key: &str) -> ObjId {
    match doc.get(obj, key).unwrap() {
        Some((Value::Object(ObjType::Map), id)) => id,
        other => panic!("{key} is not a map: {other:?}"),
    }
}

/// A visit record as the app writes it, with `outcome` and `by` as given.
fn visit(doc: &mut AutoCommit, ctx: &Ctx, outcome: &str, by: &str) {
    let now = Utc::now().timestamp_millis();
    visit_of(doc, ctx, ctx.household_id, now, outcome, by);
}

/// A visit record of `household` at `at` (Unix milliseconds); its object.
fn visit_of(
    doc: &mut AutoCommit,
    ctx: &Ctx,
    household: Id,
    at: i64,
    outcome: &str,
    by: &str,
) -> ObjId {
    let v = doc
        .put_object(&ctx.visits, new_id().to_string(), ObjType::Map)
        .unwrap();
    doc.put(
        &v,
        "household",
        ScalarValue::Bytes(household.as_bytes().to_vec()),
    )
    .unwrap();
    doc.put(&v, "at", at).unwrap();
    doc.put(&v, "by", by).unwrap();
    doc.put(&v, "outcome", outcome).unwrap();
    v
}

const FORGERIES: &[Forgery] = &[
    Forgery {
        what: "an unknown key on a household",
        code: ErrorCode::UnknownField,
        write: |doc, ctx| doc.put(&ctx.household, "cccd_photo", "base64...").unwrap(),
    },
    Forgery {
        what: "a nested object where the alley belongs",
        code: ErrorCode::NestedObject,
        write: |doc, ctx| {
            let o = doc
                .put_object(&ctx.household, "alley", ObjType::Map)
                .unwrap();
            doc.put(&o, "hidden", "x").unwrap();
        },
    },
    Forgery {
        what: "a list where the house number belongs",
        code: ErrorCode::NestedObject,
        write: |doc, ctx| {
            doc.put_object(&ctx.household, "number", ObjType::List)
                .unwrap();
        },
    },
    Forgery {
        what: "text where a number belongs",
        code: ErrorCode::WrongType,
        write: |doc, ctx| doc.put(&ctx.household, "members", "three").unwrap(),
    },
    Forgery {
        what: "a new root key",
        code: ErrorCode::RootChanged,
        write: |doc, _| doc.put(ROOT, "backdoor", "x").unwrap(),
    },
    Forgery {
        what: "a replaced record map",
        code: ErrorCode::RootChanged,
        write: |doc, _| {
            doc.put_object(ROOT, "households", ObjType::Map).unwrap();
        },
    },
    Forgery {
        what: "a newer schema version",
        code: ErrorCode::SchemaTooNew,
        write: |doc, _| doc.put(ROOT, "schema", 2).unwrap(),
    },
    Forgery {
        what: "text over the limit",
        code: ErrorCode::TextTooLong,
        write: |doc, ctx| doc.put(&ctx.household, "alley", "N".repeat(501)).unwrap(),
    },
    Forgery {
        what: "an ID number in a house number",
        code: ErrorCode::IdNumber,
        write: |doc, ctx| {
            doc.put(&ctx.household, "number", "5 CCCD 001203004567")
                .unwrap()
        },
    },
    Forgery {
        what: "an ID number in who made a visit",
        code: ErrorCode::IdNumber,
        write: |doc, ctx| visit(doc, ctx, "not_home", "Lan 012345678"),
    },
    Forgery {
        what: "a name on a household without consent",
        code: ErrorCode::NameWithoutConsent,
        write: |doc, ctx| doc.put(&ctx.household, "name", "Bà Hoa").unwrap(),
    },
    Forgery {
        what: "a volunteer deleting a household",
        code: ErrorCode::RecordDeleted,
        write: |doc, ctx| {
            doc.delete(&ctx.households, ctx.household_id.to_string())
                .unwrap()
        },
    },
    Forgery {
        what: "a volunteer replacing a household with an empty one",
        code: ErrorCode::RecordExists,
        write: |doc, ctx| {
            doc.put_object(&ctx.households, ctx.household_id.to_string(), ObjType::Map)
                .unwrap();
        },
    },
    Forgery {
        what: "a required field deleted",
        code: ErrorCode::FieldDeleted,
        write: |doc, ctx| doc.delete(&ctx.household, "alley").unwrap(),
    },
    Forgery {
        what: "a record under a key that is not an id",
        code: ErrorCode::BadRecordId,
        write: |doc, ctx| {
            doc.put_object(&ctx.households, "admin", ObjType::Map)
                .unwrap();
        },
    },
    Forgery {
        what: "a scalar where a record belongs",
        code: ErrorCode::WrongType,
        write: |doc, ctx| doc.put(&ctx.visits, new_id().to_string(), "visit").unwrap(),
    },
    Forgery {
        what: "an address state the app does not know",
        code: ErrorCode::InvalidRecord,
        write: |doc, ctx| doc.put(&ctx.household, "state", "castle").unwrap(),
    },
    Forgery {
        what: "a reason not done the app does not know",
        code: ErrorCode::InvalidRecord,
        write: |doc, ctx| {
            let now = Utc::now().timestamp_millis();
            let v = visit_of(doc, ctx, ctx.household_id, now, "revisit", "Lan");
            doc.put(&v, "not_done_reason", "no_luck").unwrap();
        },
    },
    Forgery {
        what: "a void without a reason",
        code: ErrorCode::EmptyText,
        write: |doc, ctx| {
            doc.put(&ctx.household, "voided_at", Utc::now().timestamp_millis())
                .unwrap()
        },
    },
    Forgery {
        what: "an ID number written and overwritten in the same change",
        code: ErrorCode::IdNumber,
        write: |doc, ctx| {
            doc.put(&ctx.household, "alley", "Ngõ 001203004567")
                .unwrap();
            doc.put(&ctx.household, "alley", "Ngõ 12").unwrap();
        },
    },
    Forgery {
        what: "a text over the limit, overwritten in the same change",
        code: ErrorCode::TextTooLong,
        write: |doc, ctx| {
            doc.put(&ctx.household, "number", "5".repeat(20_000))
                .unwrap();
            doc.put(&ctx.household, "number", "5").unwrap();
        },
    },
    Forgery {
        what: "a void dated past any representable time",
        code: ErrorCode::ValueOutOfRange,
        write: |doc, ctx| {
            doc.put(&ctx.household, "voided_at", i64::MAX).unwrap();
            doc.put(&ctx.household, "voided_by", "Lan").unwrap();
            doc.put(&ctx.household, "void_reason", "nhầm").unwrap();
        },
    },
    Forgery {
        what: "a review answered at time 0",
        code: ErrorCode::ValueOutOfRange,
        write: |doc, ctx| {
            doc.put(&ctx.household, "review_state", "fixed").unwrap();
            doc.put(&ctx.household, "review_at", 0).unwrap();
        },
    },
    Forgery {
        what: "a visit dated decades ahead",
        code: ErrorCode::ValueOutOfRange,
        // 2103: past the hub's clock, and past what any device accepts.
        write: |doc, ctx| {
            visit_of(
                doc,
                ctx,
                ctx.household_id,
                4_200_000_000_000,
                "not_home",
                "Lan",
            );
        },
    },
    Forgery {
        what: "a visit of a household that is not in the group",
        code: ErrorCode::WrongGroup,
        write: |doc, ctx| {
            let now = Utc::now().timestamp_millis();
            visit_of(doc, ctx, new_id(), now, "not_home", "Lan");
        },
    },
    Forgery {
        what: "a members count out of range",
        code: ErrorCode::MembersOutOfRange,
        write: |doc, ctx| doc.put(&ctx.household, "members", -4).unwrap(),
    },
    Forgery {
        what: "a visit with an outcome the app does not know",
        code: ErrorCode::InvalidRecord,
        write: |doc, ctx| visit(doc, ctx, "teleported", "Lan"),
    },
];

/// The group's document as the hub holds it, and the changes `write` makes on top of it.
fn forge(
    base: &mut AutoCommit,
    actor: &ActorId,
    household_id: Id,
    write: fn(&mut AutoCommit, &Ctx),
) -> Vec<Vec<u8>> {
    let mut doc = base.fork().with_actor(actor.clone());
    let households = map(&doc, &ROOT, "households");
    let ctx = Ctx {
        visits: map(&doc, &ROOT, "visits"),
        household: map(&doc, &households, &household_id.to_string()),
        households,
        household_id,
    };
    let before = doc.get_heads();
    write(&mut doc, &ctx);
    doc.commit();
    doc.get_changes(&before)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

fn group_document(device: &Device, doc: DocId) -> AutoCommit {
    let docs = support::open_store(&device.db).export_documents().unwrap();
    let bytes = &docs.iter().find(|d| d.id == doc.to_string()).unwrap().bytes;
    AutoCommit::load(bytes).unwrap()
}

/// What a modified client pushes: `write` applied to `device`'s copy of group document
/// `doc` as raw Automerge, signed with the device's key and pushed to the hub with its token.
/// The hub's answer.
fn push_raw(
    hub: &HubProcess,
    device: &Device,
    doc: DocId,
    write: impl FnOnce(&mut AutoCommit),
) -> (u16, Json) {
    let mut copy = group_document(device, doc).with_actor(support::device_key(device).actor());
    let before = copy.get_heads();
    write(&mut copy);
    copy.commit();
    let changes = copy
        .get_changes(&before)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    post(
        &format!("{}/v1/sync", hub.url),
        Some(&token(device)),
        sync_body(vec![support::signed_push(device, doc, changes)]),
    )
}

/// The record `id` of `map` in a group document.
fn record_in(doc: &AutoCommit, map_name: &str, id: &str) -> ObjId {
    let records = map(doc, &ROOT, map_name);
    map(doc, &records, id)
}

#[test]
fn changes_the_app_could_never_make_are_refused_by_hub_and_device() {
    let hub = HubProcess::start(&["Tổ A", "Tổ B"]);
    let volunteer = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let household: Id = volunteer
        .add_household("Tổ A", "Ngõ 12 Hàng Bông", "5")
        .parse()
        .unwrap();
    volunteer.sync();
    coordinator.sync();
    let group = support::open_store(&volunteer.db)
        .group_by_name("Tổ A")
        .unwrap();
    let doc_id = DocId::Group(group.id);
    let mut base = group_document(&volunteer, doc_id);
    let url = format!("{}/v1/sync", hub.url);
    let volunteer_token = token(&volunteer);
    let coordinator_before = coordinator.state();
    let volunteer_before = volunteer.state();

    let actor = support::device_key(&volunteer).actor();
    for forgery in FORGERIES {
        let changes = forge(&mut base, &actor, household, forgery.write);
        let push = support::signed_push(&volunteer, doc_id, changes.clone());
        let (status, body) = post(&url, Some(&volunteer_token), sync_body(vec![push]));
        assert_eq!(status, 422, "{}: {body}", forgery.what);
        assert_eq!(
            body["code"],
            Json::from(forgery.code.as_str()),
            "{}: {body}",
            forgery.what
        );
        assert_eq!(body["doc"], Json::from(doc_id.to_string()), "{body}");
        if forgery.code == ErrorCode::SchemaTooNew {
            assert!(
                body["message"].as_str().unwrap().contains("update the app"),
                "{body}"
            );
        }

        // The same changes, arriving from a hub: the device refuses them too (deletions aside:
        // a device cannot know who wrote what it pulls, and the hub checked the author).
        if forgery.code != ErrorCode::RecordDeleted {
            let mut store = support::open_store(&volunteer.db);
            let refused = store.apply_sync(
                &[],
                &[IncomingDoc {
                    epoch: 0,
                    doc: doc_id,
                    snapshot: None,
                    changes: changes.into_iter().map(|c| (c, Utc::now())).collect(),
                    signatures: vec![],
                }],
                Utc::now(),
                &[],
                store.sync_cursor().unwrap(),
            );
            let code = refused.as_ref().map_err(|e| e.code());
            assert_eq!(code.err(), Some(forgery.code), "{}", forgery.what);
        }
    }

    // Nothing of any of it was stored, forwarded or kept.
    let report = coordinator.sync();
    assert_eq!(report["docs_received"], 0, "{report}");
    assert_eq!(coordinator.state(), coordinator_before);
    assert_eq!(volunteer.state(), volunteer_before);
    volunteer.sync();
    assert_eq!(volunteer.state(), volunteer_before);
}

#[test]
fn a_coordinator_may_delete_a_record_and_devices_follow() {
    let hub = HubProcess::start(&["Tổ A"]);
    let volunteer = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let household: Id = volunteer
        .add_household("Tổ A", "Ngõ 3", "1")
        .parse()
        .unwrap();
    volunteer.add_household("Tổ A", "Ngõ 3", "2");
    volunteer.sync();
    coordinator.sync();
    let group = support::open_store(&coordinator.db)
        .group_by_name("Tổ A")
        .unwrap();
    let doc_id = DocId::Group(group.id);
    let mut base = group_document(&coordinator, doc_id);
    let actor = support::device_key(&coordinator).actor();
    let changes = forge(&mut base, &actor, household, |doc, ctx| {
        doc.delete(&ctx.households, ctx.household_id.to_string())
            .unwrap()
    });
    let push = support::signed_push(&coordinator, doc_id, changes);
    let url = format!("{}/v1/sync", hub.url);
    let (status, body) = post(&url, Some(&token(&coordinator)), sync_body(vec![push]));
    assert_eq!(status, 200, "{body}");
    volunteer.sync();
    let left = volunteer.json(&["household", "list"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert!(!left.to_string().contains(&household.to_string()));
}

/// Refusals across every boundary carry a code: the CLI's `--json` error line too.
#[test]
fn the_cli_reports_refusals_as_one_json_line_with_a_code() {
    let device = Device::with_ward();
    let out = device.run(&[
        "--json",
        "household",
        "add",
        "--group",
        "Tổ 1",
        "--alley",
        "Ngõ 1",
        "--number",
        "CCCD 001203004567",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let line: Json = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["error"]["code"], "id_number", "{line}");
    assert!(line["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ID number"));

    let out = device.run(&["--json", "household", "show", "not-an-id"]);
    let line: Json = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(line["error"]["code"], "bad_request", "{line}");
    let out = device.run(&["--json", "household", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let line: Json = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(line["error"]["code"], "bad_request", "{line}");
}

/// Voids at the boundary, as a modified client would write them (raw Automerge on the group's
/// document): a volunteer voiding another device's visit is refused 403 `coordinator_only`;
/// voiding its own is accepted, and the visit leaves every count on the coordinator's device;
/// undoing a void is refused (`field_deleted`).
#[test]
fn a_volunteer_voids_only_its_own_records_and_a_void_is_final() {
    let hub = HubProcess::start(&["Tổ A"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let minh = Device::joined(&hub, "volunteer", "Minh", &["Tổ A"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let household = lan.add_household("Tổ A", "Ngõ 12 Hàng Bông", "5");
    let visit = lan.json(&[
        "visit",
        "add",
        "--household",
        &household,
        "--outcome",
        "not_home",
    ]);
    let visit: Id = visit["id"].as_str().unwrap().parse().unwrap();
    lan.sync();
    minh.sync();
    coordinator.sync();
    assert_eq!(coordinator.json(&["report"])["visits"], 1);
    let group = support::open_store(&lan.db).group_by_name("Tổ A").unwrap();
    let doc_id = DocId::Group(group.id);
    let void = |device: &Device, undo: bool| {
        push_raw(&hub, device, doc_id, |doc| {
            let v = record_in(doc, "visits", &visit.to_string());
            if undo {
                doc.delete(&v, "voided_at").unwrap();
            } else {
                doc.put(&v, "voided_at", Utc::now().timestamp_millis())
                    .unwrap();
                doc.put(&v, "voided_by", "someone").unwrap();
                doc.put(&v, "void_reason", "mis-tapped").unwrap();
            }
        })
    };
    // The store refuses it before a change is even made.
    let (_, refused) = minh.fails(&[
        "--json",
        "visit",
        "void",
        &visit.to_string(),
        "--reason",
        "x",
    ]);
    assert!(refused.contains("coordinator_only"), "{refused}");
    // A modified client pushes it anyway: the hub refuses.
    let (status, body) = void(&minh, false);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "coordinator_only", "{body}");
    coordinator.sync();
    assert_eq!(coordinator.json(&["report"])["visits"], 1);

    // Its own device: accepted, and the visit leaves the coordinator's counts.
    lan.json(&["visit", "void", &visit.to_string(), "--reason", "bấm nhầm"]);
    assert_eq!(lan.json(&["report"])["visits"], 0);
    lan.sync();
    coordinator.sync();
    assert_eq!(coordinator.json(&["report"])["visits"], 0);
    let voided = coordinator.json(&["visit", "voided"]);
    assert_eq!(voided[0]["void"]["reason"], "bấm nhầm", "{voided}");
    assert_eq!(voided[0]["void"]["by"], "Lan", "{voided}");

    // Undone by a modified client: refused, even the coordinator's.
    let (status, body) = void(&coordinator, true);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "field_deleted", "{body}");
}

/// The review loop across a hub: the coordinator asks for a fix with a comment, the
/// volunteer's device lists it after sync and answers `fixed`, the coordinator sees the answer
/// and approves. A volunteer cannot approve: its store refuses, and the hub refuses the same
/// change written raw.
#[test]
fn a_review_goes_to_the_field_and_back() {
    let hub = HubProcess::start(&["Tổ A"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let household = lan.add_household("Tổ A", "Ngõ 12 Hàng Bông", "5");
    let visit = lan.json(&[
        "visit",
        "add",
        "--household",
        &household,
        "--outcome",
        "assisted",
    ]);
    let visit = visit["id"].as_str().unwrap().to_string();
    lan.sync();
    coordinator.sync();

    let set = coordinator.json(&[
        "review",
        "set",
        "visit",
        &visit,
        "needs_fix",
        "--comment",
        "Thiếu dịch vụ đã hỗ trợ",
    ]);
    assert_eq!(set["review"]["state"], "needs_fix");
    coordinator.sync();
    lan.sync();
    let open = lan.json(&["review", "list"]);
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["review"]["comment"], "Thiếu dịch vụ đã hỗ trợ");
    assert_eq!(open[0]["review"]["by"], "Chị Hà");
    assert_eq!(open[0]["address"], "Ngõ 12 Hàng Bông 5");

    let (_, refused) = lan.fails(&["--json", "review", "set", "visit", &visit, "approved"]);
    assert!(refused.contains("coordinator_only"), "{refused}");
    let group = support::open_store(&lan.db).group_by_name("Tổ A").unwrap();
    let doc_id = DocId::Group(group.id);
    let (status, body) = push_raw(&hub, &lan, doc_id, |doc| {
        let v = record_in(doc, "visits", &visit);
        doc.put(&v, "review_state", "approved").unwrap();
    });
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("coordinator_only")),
        "{body}"
    );

    lan.json(&[
        "review",
        "set",
        "visit",
        &visit,
        "fixed",
        "--comment",
        "Đã ghi lại lượt thăm",
    ]);
    lan.sync();
    coordinator.sync();
    let answered = coordinator.json(&["review", "list"]);
    assert_eq!(answered[0]["review"]["state"], "fixed", "{answered}");
    assert_eq!(answered[0]["review"]["by"], "Lan");
    coordinator.json(&["review", "set", "visit", &visit, "approved"]);
    assert_eq!(coordinator.json(&["review", "list"]), serde_json::json!([]));
    assert_eq!(
        coordinator.json(&["review", "list", "--all"])[0]["review"]["state"],
        "approved"
    );
    coordinator.sync();
    lan.sync();
    assert_eq!(lan.json(&["review", "list"]), serde_json::json!([]));
}

/// Assignment across a hub: a coordinator hands an alley (however each household spelled it)
/// to a volunteer, whose device sees it after sync; a volunteer cannot assign (store and hub).
#[test]
fn a_coordinator_assigns_an_alley_and_the_volunteer_sees_it() {
    let hub = HubProcess::start(&["Tổ A"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let a = lan.add_household("Tổ A", "Ngõ 12 Hàng Bông", "5");
    let b = lan.add_household("Tổ A", "ngo 12 hang bong", "7");
    let other = lan.add_household("Tổ A", "Ngõ 40 Hàng Gai", "1");
    lan.sync();
    coordinator.sync();

    let assigned = coordinator.json(&[
        "assign",
        "--volunteer",
        "Lan",
        "--alley",
        "NGÕ 12 HÀNG BÔNG",
        "--group",
        "Tổ A",
    ]);
    let ids: Vec<&str> = assigned["households"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{assigned}");
    assert!(ids.contains(&a.as_str()) && ids.contains(&b.as_str()));
    coordinator.sync();
    lan.sync();
    let listed = lan.json(&["household", "list"]);
    for h in listed.as_array().unwrap() {
        let to = h["assignment"]["to"].as_str();
        if h["id"] == other.as_str() {
            assert_eq!(to, None);
        } else {
            assert_eq!(to, Some("Lan"), "{h}");
            assert_eq!(h["assignment"]["by"], "Chị Hà");
        }
    }

    let (_, refused) = lan.fails(&[
        "--json",
        "assign",
        "--volunteer",
        "Lan",
        "--household",
        &other,
    ]);
    assert!(refused.contains("coordinator_only"), "{refused}");
    let group = support::open_store(&lan.db).group_by_name("Tổ A").unwrap();
    let doc_id = DocId::Group(group.id);
    let (status, body) = push_raw(&hub, &lan, doc_id, |doc| {
        let h = record_in(doc, "households", &other);
        doc.put(&h, "assigned_to", "Lan").unwrap();
    });
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("coordinator_only")),
        "{body}"
    );
}

/// One refused document never blocks the rest of the outbox. A modified client (raw
/// Automerge merged into its own store, past the store's checks) voids another device's visit
/// in Tổ A and records ordinary work in Tổ B: the hub refuses Tổ A's document (403
/// `coordinator_only`), Tổ B's syncs in the same sync, the refused document stays on the
/// device with the hub's reason (`status`, the sync's report, a non-zero exit), and it is
/// offered again at the next sync without holding anything else back.
#[test]
fn a_refused_document_is_set_aside_and_the_rest_of_the_outbox_syncs() {
    let hub = HubProcess::start(&["Tổ A", "Tổ B"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ A", "Tổ B"]);
    let minh = Device::joined(&hub, "volunteer", "Minh", &["Tổ A"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let household = minh.add_household("Tổ A", "Ngõ 12 Hàng Bông", "5");
    let visit = minh.json(&[
        "visit",
        "add",
        "--household",
        &household,
        "--outcome",
        "not_home",
    ]);
    let visit = visit["id"].as_str().unwrap().to_string();
    minh.sync();
    lan.sync();

    // The forged void, merged into Lan's store as a modified client would.
    let group_a = DocId::Group(
        support::open_store(&lan.db)
            .group_by_name("Tổ A")
            .unwrap()
            .id,
    );
    let mut copy = group_document(&lan, group_a).with_actor(support::device_key(&lan).actor());
    let v = record_in(&copy, "visits", &visit);
    copy.put(&v, "voided_at", Utc::now().timestamp_millis())
        .unwrap();
    copy.put(&v, "voided_by", "Lan").unwrap();
    copy.put(&v, "void_reason", "không phải của tôi").unwrap();
    copy.commit();
    support::open_store(&lan.db)
        .merge_documents(&[doorstep_store::DocumentBytes {
            id: group_a.to_string(),
            bytes: copy.save(),
        }])
        .unwrap();
    // Ordinary work in the other group.
    let other = lan.add_household("Tổ B", "Ngõ Huyện", "14");
    lan.json(&[
        "visit",
        "add",
        "--household",
        &other,
        "--outcome",
        "assisted",
        "--assist",
        "vneid_activate:done",
    ]);

    let out = lan.run(&["--json", "sync"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a refused document is not a clean sync"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("coordinator_only") && stderr.contains("Tổ A"),
        "{stderr}"
    );
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    let refused = report["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{report}");
    assert_eq!(refused[0]["doc"], group_a.to_string());
    assert_eq!(refused[0]["name"], "Tổ A");
    assert_eq!(refused[0]["code"], "coordinator_only");
    assert!(refused[0]["changes"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["docs_sent"], 1, "Tổ B's document went: {report}");

    // Tổ B reached the coordinator; Minh's visit is still counted (the void was refused).
    coordinator.sync();
    let seen = coordinator.json(&["report"]);
    assert_eq!(seen["households"], 2, "{seen}");
    assert_eq!(seen["visits"], 2, "{seen}");

    // The device keeps the refused changes and says so.
    let status = lan.json(&["status"]);
    assert_eq!(
        status["problems"][0]["code"], "coordinator_only",
        "{status}"
    );
    assert_eq!(status["problems"][0]["name"], "Tổ A", "{status}");
    assert!(status["outbox"].as_u64().unwrap() >= 1, "{status}");

    // New work in Tổ B still syncs at the next sync; the problem stays listed.
    lan.json(&[
        "visit",
        "add",
        "--household",
        &other,
        "--outcome",
        "revisit",
    ]);
    let again = lan.run(&["--json", "sync"]);
    assert_ne!(again.status.code(), Some(0));
    coordinator.sync();
    assert_eq!(coordinator.json(&["report"])["visits"], 3);
    assert_eq!(
        lan.json(&["status"])["problems"].as_array().unwrap().len(),
        1
    );
}

/// A modified client claims a hub incarnation it never saw, with a forged push: the hub
/// answers with the heads of this device's own scope only (not the other group's, not a
/// record), applies nothing of the push, and the device's next honest sync is normal.
#[test]
fn a_made_up_incarnation_gets_its_own_scope_heads_and_nothing_stored() {
    use doorstep_proto::wire::{self, SyncRequest, SyncResponse};
    let hub = HubProcess::start(&["Tổ 1", "Tổ 2"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ 1"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    coordinator.add_household("Tổ 2", "Ngõ 9 Lò Sũ", "1");
    coordinator.sync();
    let household = lan.add_household("Tổ 1", "Ngõ 5 Hàng Bông", "1");
    lan.sync();
    let store = support::open_store(&lan.db);
    let group_1 = store
        .groups()
        .unwrap()
        .into_iter()
        .find(|g| g.name == "Tổ 1")
        .unwrap()
        .id;
    let ward = store.ward_id().unwrap().unwrap();
    drop(store);
    let doc = DocId::Group(group_1);
    let mut base = group_document(&lan, doc);
    let household: Id = household.parse().unwrap();
    let actor = support::device_key(&lan).actor();
    let changes = forge(&mut base, &actor, household, |doc, ctx| {
        visit(doc, ctx, "assisted", "Lan")
    });
    let request = SyncRequest {
        cursor: 0,
        pushes: vec![support::signed_push(&lan, doc, changes)],
        incarnation: 424_242,
    };
    let (status, bytes) = support::post_sync(
        &format!("{}/v1/sync", hub.url),
        &token(&lan),
        wire::encode(&request),
    );
    assert_eq!(status, 200);
    let answer: SyncResponse = wire::decode(&bytes).unwrap();
    let listed: Vec<DocId> = answer
        .restored
        .iter()
        .map(|d| DocId::try_from(d.doc).unwrap())
        .collect();
    let mut expected = vec![DocId::Ward(ward), doc];
    expected.sort_by_key(|d| d.to_string());
    let mut got = listed.clone();
    got.sort_by_key(|d| d.to_string());
    assert_eq!(got, expected, "its own scope only");
    assert!(answer.pulls.is_empty() && answer.receipts.is_empty());
    // Nothing of the push was stored: the coordinator sees no visit.
    coordinator.sync();
    assert_eq!(coordinator.json(&["report"])["visits"], 0);
    // The honest device syncs on as before.
    lan.add_household("Tổ 1", "Ngõ 5 Hàng Bông", "3");
    let report = lan.sync();
    assert_eq!(report["hub_restored"], false, "{report}");
    coordinator.sync();
    assert_eq!(coordinator.json(&["report"])["households"], 3);
}
