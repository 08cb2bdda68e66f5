//! A real hub on a loopback port, real devices (the `doorstep` binary on real SQLite files):
//! enrollment, scoping, merging a ward from several devices in several orders, and every
//! refusal leaving the hub's data unchanged.

mod support;

use chrono::Utc;
use doorstep_domain::{HouseholdDraft, Role};
use doorstep_proto::api::InviteRequest;
use doorstep_proto::wire::{self, Push, SyncRequest};
use serde_json::Value;
use support::{post, sync_body, test_client, token, Device, HubProcess};

fn ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// The foundation of the scenario: a ward of two groups, four devices, a shared household.
struct Ward {
    hub: HubProcess,
    a1: Device,
    a2: Device,
    b1: Device,
    coord: Device,
    shared: String,
}

fn ward() -> Ward {
    let hub = HubProcess::start(&["Tổ A", "Tổ B"]);
    let a1 = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let a2 = Device::joined(&hub, "volunteer", "Hùng", &["Tổ A"]);
    let b1 = Device::joined(&hub, "volunteer", "Mai", &["Tổ B"]);
    let coord = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let shared = a1.add_household("Tổ A", "Ngõ 12 Hàng Bông", "5");
    a1.sync();
    a2.sync();
    Ward {
        hub,
        a1,
        a2,
        b1,
        coord,
        shared,
    }
}

#[test]
fn devices_working_offline_converge_in_any_sync_order() {
    let orders: [&[usize]; 3] = [&[0, 1, 2, 3], &[3, 2, 1, 0], &[1, 3, 0, 2]];
    for order in orders {
        let w = ward();
        // Offline: both group-A volunteers correct the same household and record visits.
        w.a1.json(&["household", "update", &w.shared, "--internet", "yes"]);
        w.a2.json(&[
            "household",
            "update",
            &w.shared,
            "--members",
            "4",
            "--priority",
            "elderly",
        ]);
        let mut visits = 0;
        for d in [&w.a1, &w.a2] {
            for outcome in ["not_home", "assisted"] {
                let mut args = vec![
                    "visit",
                    "add",
                    "--household",
                    &w.shared,
                    "--outcome",
                    outcome,
                ];
                if outcome == "assisted" {
                    args.extend(["--assist", "vneid_activate:done:60_plus"]);
                }
                d.json(&args);
                visits += 1;
            }
        }
        let a2_house = w.a2.add_household("Tổ A", "Ngõ 7", "1");
        w.a2.json(&[
            "visit",
            "add",
            "--household",
            &a2_house,
            "--outcome",
            "declined",
        ]);
        let b_house = w.b1.add_household("Tổ B", "Ngách 3/14", "9");
        w.b1.json(&[
            "visit",
            "add",
            "--household",
            &b_house,
            "--outcome",
            "assisted",
            "--assist",
            "ihanoi",
        ]);
        visits += 2;
        w.coord.json(&["point", "add", "--name", "Điểm chợ"]);
        w.coord.json(&[
            "walkin",
            "add",
            "--point",
            "Điểm chợ",
            "--service",
            "etax",
            "--result",
            "done",
        ]);

        let devices = [&w.a1, &w.a2, &w.b1, &w.coord];
        for &i in order {
            devices[i].sync();
        }
        for &i in order {
            devices[i].sync();
        }
        for d in devices {
            assert_eq!(d.json(&["status"])["outbox"], 0);
        }

        assert_eq!(
            w.a1.state(),
            w.a2.state(),
            "group A devices differ (order {order:?})"
        );
        let merged = w.a1.json(&["household", "show", &w.shared]);
        assert_eq!(merged["household"]["internet"], "yes");
        assert_eq!(merged["household"]["members"], 4);
        assert_eq!(merged["household"]["priority"]["elderly"], true);
        assert_eq!(merged["visits"].as_array().unwrap().len(), 4);

        let report = w.coord.json(&["report"]);
        assert_eq!(report["visits"], visits, "each visit counted exactly once");
        assert_eq!(report["households"], 3);
        assert_eq!(report["walkins"], 1);
        let all_visits = w.coord.json(&["visit", "list"]);
        let mut seen = ids(&all_visits);
        seen.dedup();
        assert_eq!(seen.len() as u64, visits);

        let b_sees = w.b1.json(&["household", "list"]);
        assert_eq!(
            ids(&b_sees),
            vec![b_house.clone()],
            "group B holds nothing of group A"
        );
        assert_eq!(w.b1.json(&["visit", "list"]).as_array().unwrap().len(), 1);
        drop(w.hub);
    }
}

#[test]
fn a_volunteer_cannot_record_in_another_group() {
    let w = ward();
    let (code, msg) = w.a1.fails(&[
        "household",
        "add",
        "--group",
        "Tổ B",
        "--alley",
        "Ngõ 1",
        "--number",
        "1",
    ]);
    assert_eq!(code, 1);
    assert!(msg.contains("may not change"), "{msg}");
}

#[test]
fn unsynced_work_survives_rejoining_and_a_hub_of_another_ward_is_refused() {
    let w = ward();
    let house = w.a1.add_household("Tổ A", "Ngõ 9", "2");
    w.a1.json(&[
        "visit",
        "add",
        "--household",
        &house,
        "--outcome",
        "revisit",
    ]);
    let before = w.a1.json(&["status"])["outbox"].as_u64().unwrap();
    assert!(before >= 2, "outbox {before}");
    // A new invite on the same database: nothing local is lost, the outbox is unchanged.
    let code = w.hub.invite("volunteer", "Lan (máy mới)", &["Tổ A"], None);
    w.a1.json(&[
        "join", "--hub", &w.hub.url, "--code", &code, "--pin", &w.hub.pin,
    ]);
    assert_eq!(w.a1.json(&["status"])["outbox"].as_u64().unwrap(), before);
    assert!(ids(&w.a1.json(&["household", "list"])).contains(&house));
    w.a1.sync();
    assert_eq!(w.a1.json(&["status"])["outbox"], 0);
    w.coord.sync();
    assert!(ids(&w.coord.json(&["household", "list"])).contains(&house));

    let other = HubProcess::start(&["Tổ 1"]);
    let code = other.invite("volunteer", "Lan", &["Tổ 1"], None);
    let (_, msg) = w.a1.fails(&[
        "join", "--hub", &other.url, "--code", &code, "--pin", &other.pin,
    ]);
    assert!(msg.contains("ward"), "{msg}");
    assert!(ids(&w.a1.json(&["household", "list"])).contains(&house));
}

#[test]
fn visits_from_lying_clocks_are_kept_and_flagged() {
    let w = ward();
    // A clock fallen back to 1970 is past what any record may carry (issue 24): refused with
    // what to do, nothing recorded.
    let (_, refused) = w.a1.fails(&[
        "--json",
        "visit",
        "add",
        "--household",
        &w.shared,
        "--outcome",
        "not_home",
        "--at",
        "1970-01-01T08:00:00+07:00",
    ]);
    assert!(refused.contains("value_out_of_range"), "{refused}");
    assert!(refused.contains("check the device's date"), "{refused}");
    // Before the campaign, yet a plausible date: kept and flagged.
    w.a1.json(&[
        "visit",
        "add",
        "--household",
        &w.shared,
        "--outcome",
        "not_home",
        "--at",
        "2025-01-01T08:00:00+07:00",
    ]);
    let ahead = (Utc::now() + chrono::Duration::hours(20)).to_rfc3339();
    w.a1.json(&[
        "visit",
        "add",
        "--household",
        &w.shared,
        "--outcome",
        "revisit",
        "--at",
        &ahead,
    ]);
    w.a1.json(&[
        "visit",
        "add",
        "--household",
        &w.shared,
        "--outcome",
        "declined",
    ]);
    let before = w.a1.json(&["visit", "list"]);
    assert!(before
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["received_at"].is_null()));
    w.a1.sync();
    w.coord.sync();
    for d in [&w.a1, &w.coord] {
        let visits = d.json(&["visit", "list"]);
        let flags: Vec<(String, Value)> = visits
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["outcome"].as_str().unwrap().to_string(),
                    v["clock_flag"].clone(),
                )
            })
            .collect();
        assert!(
            flags.contains(&("not_home".into(), "before_campaign".into())),
            "{flags:?}"
        );
        assert!(
            flags.contains(&("revisit".into(), "ahead_of_hub".into())),
            "{flags:?}"
        );
        assert!(
            flags.contains(&("declined".into(), Value::Null)),
            "{flags:?}"
        );
        assert!(visits
            .as_array()
            .unwrap()
            .iter()
            .all(|v| !v["received_at"].is_null()));
    }
    assert_eq!(w.coord.json(&["report"])["visits"], 3);
}

#[test]
fn bad_codes_tokens_and_bodies_are_refused_and_change_nothing() {
    let w = ward();
    w.coord.sync();
    let hub_state = |coord: &Device| {
        let r = coord.sync();
        (r["docs_received"].clone(), coord.state())
    };
    let (_, before) = hub_state(&w.coord);
    let sync_url = format!("{}/v1/sync", w.hub.url);

    // Invite codes: wrong, reused, expired.
    let d = Device::new();
    let (_, msg) = d.fails(&[
        "join",
        "--hub",
        &w.hub.url,
        "--code",
        "AAAAA-BBBBB",
        "--pin",
        &w.hub.pin,
    ]);
    assert!(
        msg.contains("401") && msg.contains("invite code not valid"),
        "{msg}"
    );
    let code = w.hub.invite("volunteer", "Lan", &["Tổ A"], None);
    d.json(&[
        "join", "--hub", &w.hub.url, "--code", &code, "--pin", &w.hub.pin,
    ]);
    let (_, msg) = Device::new().fails(&[
        "join", "--hub", &w.hub.url, "--code", &code, "--pin", &w.hub.pin,
    ]);
    assert!(msg.contains("invite code not valid"), "{msg}");
    let mut admin =
        doorstep_hub::Enrolment::open(&w.hub.data(), &support::hub_at_rest(&w.hub.data())).unwrap();
    let expired = admin
        .invite(
            &InviteRequest {
                role: Role::Volunteer,
                name: "Cũ".into(),
                groups: vec!["Tổ A".into()],
                point: None,
                expires_hours: Some(1),
            },
            Utc::now() - chrono::Duration::hours(2),
        )
        .unwrap();
    let (_, msg) = Device::new().fails(&[
        "join",
        "--hub",
        &w.hub.url,
        "--code",
        &expired.code,
        "--pin",
        &w.hub.pin,
    ]);
    assert!(msg.contains("invite code not valid"), "{msg}");
    // Codes are typed by people: case, spaces and dashes do not matter.
    let code = w.hub.invite("volunteer", "Hoa", &["Tổ B"], None);
    let sloppy = code.to_lowercase().replace('-', " ");
    Device::new().json(&[
        "join", "--hub", &w.hub.url, "--code", &sloppy, "--pin", &w.hub.pin,
    ]);

    // Tokens: forged, missing, revoked.
    let empty = sync_body(vec![]);
    let (status, body) = post(&sync_url, Some("dst_forged"), empty.clone());
    assert_eq!(status, 401);
    assert_eq!(body["message"], "unknown device token");
    assert_eq!(body["code"], "token_unknown");
    assert_eq!(post(&sync_url, None, empty.clone()).0, 401);
    let revoked_id = support::open_store(&d.db)
        .identity()
        .unwrap()
        .unwrap()
        .device_id;
    let out = w
        .hub
        .admin(&["hub", "revoke", "--device", &revoked_id.to_string()]);
    assert!(out.status.success());
    let (_, msg) = d.fails(&["sync"]);
    assert!(msg.contains("revoked"), "{msg}");

    // A volunteer writing another group's document, and a document the ward does not have.
    let a1_token = token(&w.a1);
    let scratch = tempfile::TempDir::new().unwrap();
    let mut forger = support::open_store(&scratch.path().join("f.sqlite"));
    forger
        .merge_documents(&support::open_store(&w.coord.db).export_documents().unwrap())
        .unwrap();
    let group_b = forger.group_by_name("Tổ B").unwrap();
    forger
        .add_household(
            group_b.id,
            HouseholdDraft {
                alley: "Ngõ giả".into(),
                number: "1".into(),
                ..Default::default()
            },
            Utc::now(),
        )
        .unwrap();
    let pushes: Vec<Push> = forger
        .outbox(wire::BATCH_BYTES)
        .unwrap()
        .into_iter()
        .filter(|o| o.doc == doorstep_store::DocId::Group(group_b.id))
        .map(|o| Push {
            epoch: 0,
            doc: o.doc.into(),
            changes: o.changes,
            signatures: o.signatures,
        })
        .collect();
    assert_eq!(pushes.len(), 1);
    let (status, body) = post(&sync_url, Some(&a1_token), sync_body(pushes.clone()));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "out_of_scope", "{body}");
    assert_eq!(body["doc"], format!("group/{}", group_b.id));
    let coord_token = token(&w.coord);
    let unknown = Push {
        epoch: 0,
        doc: wire::WireDoc(1, [9; 16]),
        changes: pushes[0].changes.clone(),
        signatures: pushes[0].signatures.clone(),
    };
    let (status, body) = post(&sync_url, Some(&coord_token), sync_body(vec![unknown]));
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "unknown_document", "{body}");

    // Garbage: random, truncated, changes that are not Automerge, an oversized body.
    let (status, body) = post(
        &sync_url,
        Some(&a1_token),
        b"\x30 certainly not postcard".to_vec(),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_sync_body", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not a sync message"),
        "{body}"
    );
    let real = sync_body(pushes.clone());
    let (status, _) = post(
        &sync_url,
        Some(&coord_token),
        real[..real.len() / 2].to_vec(),
    );
    assert_eq!(status, 400);
    let junk = Push {
        epoch: 0,
        doc: pushes[0].doc,
        changes: vec![b"nope".to_vec()],
        signatures: vec![],
    };
    let (status, body) = post(&sync_url, Some(&coord_token), sync_body(vec![junk]));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "bad_change", "{body}");
    assert!(body["doc"].as_str().is_some());
    let (status, body) = post(
        &sync_url,
        Some(&coord_token),
        vec![0x10; wire::MAX_BODY + 10],
    );
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "body_too_large", "{body}");

    // Nothing reached the hub's data, and it still serves.
    let (received, after) = hub_state(&w.coord);
    assert_eq!(received, 0);
    assert_eq!(after, before);
    w.a1.sync();
}

#[test]
fn failed_invite_codes_are_rate_limited() {
    let hub = HubProcess::start(&["Tổ 1"]);
    let d = Device::new();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (_, msg) = d.fails(&[
            "join",
            "--hub",
            &hub.url,
            "--code",
            "ZZZZZ-ZZZZZ",
            "--pin",
            &hub.pin,
        ]);
        statuses.push(if msg.contains("429") {
            429
        } else if msg.contains("401") {
            401
        } else {
            0
        });
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
    // Even a good code waits out the window from that address.
    let code = hub.invite("volunteer", "Lan", &["Tổ 1"], None);
    let (_, msg) = d.fails(&[
        "join", "--hub", &hub.url, "--code", &code, "--pin", &hub.pin,
    ]);
    assert!(msg.contains("too many failed attempts"), "{msg}");
}

#[test]
fn the_hub_describes_every_endpoint_and_answers_health() {
    let hub = HubProcess::start(&["Tổ 1"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (health, spec) = rt.block_on(async {
        let c = test_client();
        let h = c
            .get(format!("{}/health", hub.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let s: Value = c
            .get(format!("{}/openapi.json", hub.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (h, s)
    });
    assert_eq!(health, 200);
    for path in [
        "/health",
        "/v1/join",
        "/v1/sync",
        "/v1/invites",
        "/v1/devices",
        "/v1/devices/{id}/revoke",
    ] {
        assert!(spec["paths"][path].is_object(), "openapi lacks {path}");
    }
    assert!(spec["components"]["schemas"]["JoinResponse"].is_object());
}

/// Every refusal a route gives, provoked against a real hub, is listed among that route's
/// responses in `/openapi.json`, and carries a code.
#[test]
fn every_status_a_route_answers_is_in_its_openapi_description() {
    let w = ward();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = test_client();
    let send = |method: &str, path: &str, token: Option<&str>, body: Vec<u8>| -> (u16, Value) {
        rt.block_on(async {
            let url = format!("{}{path}", w.hub.url);
            let mut r = match method {
                "get" => client.get(url),
                _ => client.post(url).body(body),
            };
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    };
    let volunteer = token(&w.a1);
    let coordinator = token(&w.coord);
    let ward_id = support::open_store(&w.coord.db).ward_id().unwrap().unwrap();
    let big = vec![b'x'; wire::MAX_BODY + 10];
    // Every push here is the coordinator's, signed with its key (refusals past the signature).
    let coordinator_key = support::device_key(&w.coord);
    let push = |doc: wire::WireDoc, changes: Vec<Vec<u8>>| {
        sync_body(vec![Push {
            doc,
            epoch: 0,
            signatures: support::sign_all(&coordinator_key, &changes),
            changes,
        }])
    };
    // A change whose history the hub lacks: the second of two, alone.
    let mut stray = automerge::AutoCommit::new().with_actor(coordinator_key.actor());
    automerge::transaction::Transactable::put(&mut stray, automerge::ROOT, "a", 1).unwrap();
    stray.commit();
    automerge::transaction::Transactable::put(&mut stray, automerge::ROOT, "b", 2).unwrap();
    stray.commit();
    let orphan = stray.get_last_local_change().unwrap().raw_bytes().to_vec();
    let ward_doc = wire::WireDoc::from(doorstep_doc::DocId::Ward(ward_id));
    let invite = |groups: &[&str]| {
        serde_json::to_vec(
            &serde_json::json!({"role": "volunteer", "name": "Lan", "groups": groups}),
        )
        .unwrap()
    };
    // A push naming more documents than the hub takes in one round (limits before work).
    let too_many_documents = sync_body(
        (0..2001u16)
            .map(|i| {
                let mut id = [0u8; 16];
                id[..2].copy_from_slice(&i.to_be_bytes());
                Push {
                    epoch: 0,
                    doc: wire::WireDoc(1, id),
                    changes: vec![],
                    signatures: vec![],
                }
            })
            .collect(),
    );
    // (method, path, token, body, the status it must answer)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        ("post", "/v1/join", None, b"not json".to_vec(), 400),
        (
            "post",
            "/v1/join",
            None,
            support::join_body("AAAAA-BBBBB"),
            401,
        ),
        ("post", "/v1/join", None, big.clone(), 413),
        ("post", "/v1/sync", None, sync_body(vec![]), 401),
        (
            "post",
            "/v1/sync",
            Some(&volunteer),
            b"\x30 nope".to_vec(),
            400,
        ),
        (
            "post",
            "/v1/sync",
            Some(&volunteer),
            push(ward_doc, vec![]),
            403,
        ),
        (
            "post",
            "/v1/sync",
            Some(&coordinator),
            push(wire::WireDoc(1, [7; 16]), vec![]),
            404,
        ),
        (
            "post",
            "/v1/sync",
            Some(&coordinator),
            push(ward_doc, vec![orphan]),
            409,
        ),
        ("post", "/v1/sync", Some(&coordinator), big.clone(), 413),
        (
            "post",
            "/v1/sync",
            Some(&coordinator),
            too_many_documents,
            413,
        ),
        (
            "post",
            "/v1/sync",
            Some(&coordinator),
            push(ward_doc, vec![b"nope".to_vec()]),
            422,
        ),
        (
            "post",
            "/v1/invites",
            Some(&volunteer),
            invite(&["Tổ A"]),
            403,
        ),
        (
            "post",
            "/v1/invites",
            Some(&coordinator),
            b"{".to_vec(),
            400,
        ),
        (
            "post",
            "/v1/invites",
            Some(&coordinator),
            invite(&["Tổ Z"]),
            404,
        ),
        ("post", "/v1/invites", Some(&coordinator), big.clone(), 413),
        ("get", "/v1/devices", Some(&volunteer), vec![], 403),
        ("get", "/v1/devices", Some("dst_forged"), vec![], 401),
        (
            "post",
            "/v1/devices/nobody/revoke",
            Some(&coordinator),
            vec![],
            404,
        ),
        (
            "post",
            "/v1/devices/nobody/revoke",
            Some(&volunteer),
            vec![],
            403,
        ),
        ("post", "/v1/devices/nobody/revoke", None, vec![], 401),
        ("post", "/v1/token", None, vec![], 401),
        ("post", "/v1/token", Some(&volunteer), vec![], 200),
        // The same old token again within the minute: a racing second sync.
        ("post", "/v1/token", Some(&volunteer), vec![], 409),
    ];
    let mut seen = Vec::new();
    for (method, path, token, body, expected) in cases {
        let (status, answer) = send(method, path, token, body);
        assert_eq!(status, expected, "{method} {path}: {answer}");
        if status >= 400 {
            assert!(answer["code"].is_string(), "{method} {path}: {answer}");
        }
        seen.push((method, path, status));
    }
    // Enough failed codes from one address: every route answers a bad token 429 for a while.
    for _ in 0..10 {
        send("post", "/v1/join", None, support::join_body("AAAAA-BBBBB"));
    }
    for (method, path, token) in [
        ("post", "/v1/join", None),
        ("post", "/v1/sync", Some("dst_forged")),
        ("post", "/v1/invites", Some("dst_forged")),
        ("get", "/v1/devices", Some("dst_forged")),
        ("post", "/v1/devices/nobody/revoke", Some("dst_forged")),
        ("post", "/v1/token", Some("dst_forged")),
    ] {
        let (status, answer) = send(method, path, token, br#"{"code":"x"}"#.to_vec());
        assert_eq!(status, 429, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "too_many_attempts");
        seen.push((method, path, status));
    }

    let (_, spec) = send("get", "/openapi.json", None, vec![]);
    for (method, path, status) in seen {
        let documented = path.replace("nobody", "{id}");
        assert!(
            spec["paths"][&documented][method]["responses"][status.to_string()].is_object(),
            "openapi.json does not list {status} for {method} {documented}"
        );
    }
}

/// The hub's log says, for each refusal, its code, route, device and address; and never a
/// household's name, phone or note, an invite code or a token, even at debug level.
#[test]
fn the_hub_logs_refusals_with_their_context_and_no_personal_data() {
    let hub = HubProcess::start(&["Tổ A"]);
    let code = hub.invite("volunteer", "Lan", &["Tổ A"], None);
    let lan = Device::new();
    lan.json(&[
        "join", "--hub", &hub.url, "--code", &code, "--pin", &hub.pin,
    ]);
    let household = lan.json(&[
        "household",
        "add",
        "--group",
        "Tổ A",
        "--alley",
        "Ngõ 12",
        "--number",
        "5",
        "--name",
        "Nguyễn Thị Hoa",
        "--phone",
        "0912 345 678",
        "--consent",
    ]);
    let id = household["id"].as_str().unwrap();
    lan.json(&[
        "visit",
        "add",
        "--household",
        id,
        "--outcome",
        "revisit",
        "--note",
        "Bà Hoa hẹn thứ Sáu",
    ]);
    lan.sync();
    let identity = support::open_store(&lan.db).identity().unwrap().unwrap();
    let ward_doc = wire::WireDoc::from(doorstep_doc::DocId::Ward(identity.ward_id));
    let (status, _) = post(
        &format!("{}/v1/sync", hub.url),
        Some(&identity.token),
        sync_body(vec![Push {
            epoch: 0,
            doc: ward_doc,
            changes: vec![],
            signatures: vec![],
        }]),
    );
    assert_eq!(status, 403);

    let log = hub.log();
    let refusal = log
        .lines()
        .find(|l| l.contains("request refused") && l.contains("out_of_scope"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    for context in [
        "route=/v1/sync".to_string(),
        format!("device={}", identity.device_id),
        "addr=127.0.0.1".to_string(),
        "status=403".to_string(),
    ] {
        assert!(refusal.contains(&context), "{context} missing: {refusal}");
    }
    for secret in [
        "Nguyễn Thị Hoa",
        "0912",
        "345 678",
        "hẹn thứ Sáu",
        code.as_str(),
        identity.token.as_str(),
    ] {
        assert!(!log.contains(secret), "the log holds {secret:?}");
    }
}

/// Guesses sent in parallel cannot slip past the limit while the first are being checked;
/// a device with a valid token is never blocked by its address's failures (devices behind
/// one carrier address share it).
#[test]
fn parallel_guesses_cannot_pass_the_limit_and_a_valid_token_is_never_blocked() {
    let w = ward();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/v1/join", w.hub.url);
    let statuses: Vec<u16> = rt.block_on(async {
        let client = test_client();
        let guesses: Vec<_> = (0..40)
            .map(|i| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    let body = support::join_body(&format!("ZZZZZ-{i:05}"));
                    client
                        .post(url)
                        .body(body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                })
            })
            .collect();
        let mut out = Vec::new();
        for g in guesses {
            out.push(g.await.unwrap().unwrap());
        }
        out
    });
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(refused + limited, 40, "{statuses:?}");
    assert!(
        refused <= 10,
        "{refused} guesses were checked: {statuses:?}"
    );
    // The address is blocked, yet a device with a valid token syncs.
    let (status, _) = post(&url, None, support::join_body("AAAAA-BBBBB"));
    assert_eq!(status, 429);
    let sync = format!("{}/v1/sync", w.hub.url);
    let (status, body) = post(&sync, Some(&token(&w.a1)), sync_body(vec![]));
    assert_eq!(status, 200, "{body}");
    let (status, _) = post(&sync, Some("dst_forged"), sync_body(vec![]));
    assert_eq!(status, 429);
}

/// A device that floods the hub with bytes is refused for the rest of the minute
/// (`device_rate_limited`) without its bodies being decoded; other devices sync on.
#[test]
fn a_device_sending_too_much_in_a_minute_is_refused_and_others_are_not() {
    let w = ward();
    let sync = format!("{}/v1/sync", w.hub.url);
    let flooder = token(&w.a1);
    let junk = vec![0x10u8; wire::MAX_BODY - 1024];
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (status, body) = post(&sync, Some(&flooder), junk.clone());
        statuses.push((status, body["code"].as_str().unwrap_or("").to_string()));
    }
    // 16 MiB a minute: the first sixteen bodies are read (and refused as not sync messages).
    assert!(
        statuses[..16]
            .iter()
            .all(|(s, c)| *s == 400 && c == "bad_sync_body"),
        "{statuses:?}"
    );
    assert!(
        statuses[16..]
            .iter()
            .all(|(s, c)| *s == 429 && c == "device_rate_limited"),
        "{statuses:?}"
    );
    let (status, body) = post(&sync, Some(&token(&w.a2)), sync_body(vec![]));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_coordinator_device_invites_lists_and_the_admin_revokes() {
    let w = ward();
    w.coord.json(&["point", "add", "--name", "Điểm chợ"]);
    w.coord.sync();
    let invite = w.coord.json(&[
        "invite",
        "--role",
        "student",
        "--name",
        "Minh",
        "--point",
        "Điểm chợ",
    ]);
    assert!(invite["code"].as_str().unwrap().len() >= 10);
    assert!(invite["expires_at"].as_str().is_some());
    let student = Device::new();
    // The coordinator's invite carries the join link (hub, code, pin) a QR code would.
    let link = invite["link"].as_str().unwrap();
    assert!(link.contains(&format!("pin={}", w.hub.pin)), "{link}");
    let joined = student.json(&["join", "--link", link]);
    assert_eq!(joined["role"], "student");
    assert_eq!(joined["points"][0], "Điểm chợ");
    student.sync();
    student.json(&[
        "walkin",
        "add",
        "--point",
        "Điểm chợ",
        "--service",
        "vssid",
        "--result",
        "done",
    ]);
    student.sync();
    assert_eq!(
        student
            .json(&["household", "list"])
            .as_array()
            .unwrap()
            .len(),
        0,
        "a student holds no households"
    );
    w.coord.sync();
    assert_eq!(w.coord.json(&["report"])["walkins"], 1);
    // A volunteer's device may not invite.
    let (_, msg) = w.a1.fails(&[
        "invite",
        "--role",
        "volunteer",
        "--name",
        "X",
        "--group",
        "Tổ A",
    ]);
    assert!(msg.contains("403"), "{msg}");
    let out = w.hub.admin(&["--json", "hub", "devices"]);
    let devices: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(devices.as_array().unwrap().len(), 5);
}

#[test]
fn a_hub_restored_from_an_old_backup_gets_the_history_it_lacks() {
    let mut w = ward();
    let backup = w.hub.dir.path().join("backup");
    w.hub.kill();
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(w.hub.data())
        .arg(&backup)
        .status()
        .unwrap();
    assert!(copy.success());
    w.hub.restart();
    // Acknowledged by the hub, then the hub loses it.
    w.a1.json(&[
        "visit",
        "add",
        "--household",
        &w.shared,
        "--outcome",
        "not_home",
    ]);
    w.a1.sync();
    w.hub.kill();
    std::fs::remove_dir_all(w.hub.data()).unwrap();
    std::fs::rename(&backup, w.hub.data()).unwrap();
    w.hub.restart();
    // The next visit depends on the lost one: the hub asks for the history, the device sends it.
    w.a1.json(&[
        "visit",
        "add",
        "--household",
        &w.shared,
        "--outcome",
        "revisit",
    ]);
    w.a1.sync();
    assert_eq!(w.a1.json(&["status"])["outbox"], 0);
    let fresh = Device::joined(&w.hub, "coordinator", "Anh Tuấn", &[]);
    assert_eq!(fresh.json(&["report"])["visits"], 2);
}

#[test]
fn a_pushed_record_holding_an_id_number_is_refused() {
    let w = ward();
    w.coord.sync();
    let docs = support::open_store(&w.coord.db).export_documents().unwrap();
    let group = support::open_store(&w.coord.db)
        .group_by_name("Tổ A")
        .unwrap();
    let doc_id = doorstep_store::DocId::Group(group.id);
    let bytes = &docs
        .iter()
        .find(|d| d.id == doc_id.to_string())
        .unwrap()
        .bytes;
    // A device that skipped validation: writes straight into the group's document.
    let mut doc = automerge::AutoCommit::load(bytes)
        .unwrap()
        .with_actor(support::device_key(&w.coord).actor());
    let before = doc.get_heads();
    let mut h = HouseholdDraft {
        alley: "Ngõ 1".into(),
        number: "2".into(),
        consent: true,
        name: Some("Bà Hoa 001203004567".into()),
        ..Default::default()
    }
    .into_household(doorstep_domain::new_id(), group.id, Utc::now());
    h.members = Some(2);
    doorstep_doc::put_household(&mut doc, &h).unwrap();
    doc.commit();
    let changes: Vec<Vec<u8>> = doc
        .get_changes(&before)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let request = SyncRequest {
        incarnation: 0,
        cursor: 0,
        pushes: vec![support::signed_push(&w.coord, doc_id, changes)],
    };
    let (status, body) = post(
        &format!("{}/v1/sync", w.hub.url),
        Some(&token(&w.coord)),
        wire::encode(&request),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "id_number", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("citizen ID"),
        "{body}"
    );
    let fresh = Device::joined(&w.hub, "coordinator", "Anh Tuấn", &[]);
    assert_eq!(fresh.json(&["report"])["households"], 1);
}

/// A token due for rotation (here: any, `--rotate-tokens-hours 0`) is replaced during the
/// device's sync and kept by the device. The replaced token still works until the new one is
/// used (its answer may have been lost), then never again; the device syncs on throughout.
#[test]
fn tokens_rotate_at_sync_and_a_replaced_token_dies_once_the_new_one_is_used() {
    let hub = HubProcess::start_with(&["Tổ A"], &["--rotate-tokens-hours", "0"]);
    let d = Device::new();
    let code = hub.invite("volunteer", "Lan", &["Tổ A"], None);
    d.json(&[
        "join", "--hub", &hub.url, "--code", &code, "--pin", &hub.pin,
    ]);
    let first = token(&d);
    d.sync();
    let second = token(&d);
    assert_ne!(first, second, "the sync rotated the token");
    let url = format!("{}/v1/sync", hub.url);
    // The new token is not used yet: the old one still works.
    let (status, answer) = post(&url, Some(&first), sync_body(vec![]));
    assert_eq!(status, 200, "{answer}");
    // The device's next sync uses the new one (and rotates again)...
    d.add_household("Tổ A", "Ngõ 5", "3");
    let report = d.sync();
    assert_eq!(report["outbox"], 0, "{report}");
    let third = token(&d);
    assert_ne!(third, second);
    // ...after which the first is gone for good.
    let (status, answer) = post(&url, Some(&first), sync_body(vec![]));
    assert_eq!(
        (status, answer["code"].clone()),
        (401, Value::from("token_unknown"))
    );
    // Nothing was lost: the coordinator's view holds the household.
    let coord = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let state = coord.state();
    assert_eq!(
        state["households"].as_array().map(Vec::len),
        Some(1),
        "{state}"
    );
}

/// A join whose body trickles in: its headers, one byte, then the rest after `hold`; it
/// holds one of the hub's request slots all that time. Answers the status line's code.
async fn slow_join(hub: &HubProcess, from: u8, hold: std::time::Duration) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 3, from], 0)))
        .ok()?;
    let tcp = socket
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], hub.port)))
        .await
        .ok()?;
    let connector =
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(support::any_certificate()));
    let name = rustls::pki_types::ServerName::try_from("doorstep-hub").ok()?;
    let mut tls = connector.connect(name, tcp).await.ok()?;
    let body = String::from_utf8(support::join_body("AAAAA-BBBBB")).ok()?;
    let head = format!(
        "POST /v1/join HTTP/1.1\r\nhost: hub\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{}",
        body.len(),
        &body[..1]
    );
    tls.write_all(head.as_bytes()).await.ok()?;
    tls.flush().await.ok()?;
    tokio::time::sleep(hold).await;
    tls.write_all(&body.as_bytes()[1..]).await.ok()?;
    tls.flush().await.ok()?;
    let mut answer = vec![0u8; 64];
    let n = tls.read(&mut answer).await.ok()?;
    String::from_utf8_lossy(&answer[..n])
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// A flood against a hub serving at most 8 requests at once: slow joins (bodies trickling
/// in for two seconds) from 20 addresses take every slot, and 200 fast bad requests
/// (forged-token syncs, wrong codes) from 100 more arrive meanwhile. Past the limit the hub
/// sheds at once (503 `hub_busy`) instead of queueing; every flood request is refused; a
/// good device's syncs all succeed (its client comes back after the pause the hub names),
/// and nothing of the flood is stored.
#[test]
fn a_flood_is_shed_and_refused_while_a_good_device_syncs() {
    let hub = std::sync::Arc::new(HubProcess::start_with(&["Tổ A"], &["--max-in-flight", "8"]));
    let good = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hold = std::time::Duration::from_secs(2);
    let slow: Vec<_> = (1..=20u8)
        .map(|from| {
            let hub = hub.clone();
            rt.spawn(async move { slow_join(&hub, from, hold).await })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let fast = {
        let (url, pin) = (hub.url.clone(), hub.pin.clone());
        rt.spawn(async move {
            let mut requests = Vec::new();
            for i in 0..200u32 {
                let client = reqwest::Client::builder()
                    .use_preconfigured_tls(doorstep_sync::pinned_tls(Some(&pin)).unwrap())
                    .local_address(std::net::IpAddr::from([127, 0, 2, (i % 100) as u8 + 1]))
                    .build()
                    .unwrap();
                let request = if i % 2 == 0 {
                    client
                        .post(format!("{url}/v1/sync"))
                        .bearer_auth("dst_forged_by_a_flooder")
                        .body(sync_body(vec![]))
                } else {
                    client
                        .post(format!("{url}/v1/join"))
                        .body(support::join_body("AAAAA-BBBBB"))
                };
                requests.push(tokio::spawn(async move {
                    let answer = request.send().await.ok()?;
                    let status = answer.status().as_u16();
                    let body: Value = answer.json().await.unwrap_or(Value::Null);
                    Some((status, body["code"].as_str().unwrap_or("").to_string()))
                }));
            }
            let mut answers = Vec::new();
            for r in requests {
                answers.push(r.await.unwrap());
            }
            answers
        })
    };
    // While every slot is taken: the good device's client is shed too, and comes back.
    good.add_household("Tổ A", "Ngõ 7", "1");
    let report = good.sync();
    assert_eq!(report["outbox"], 0, "{report}");
    let answers = rt.block_on(fast).unwrap();
    let shed = answers
        .iter()
        .filter(|a| matches!(a, Some((503, code)) if code == "hub_busy"))
        .count();
    assert!(shed > 0, "the hub never shed: {answers:?}");
    for answer in answers.iter().flatten() {
        assert!(
            matches!(
                (answer.0, answer.1.as_str()),
                (503, "hub_busy")
                    | (401, "token_unknown" | "invite_code_invalid")
                    | (429, "too_many_attempts")
            ),
            "{answer:?}"
        );
    }
    // The slow joins: eight held the slots (then refused as wrong codes), the rest were shed.
    let slow: Vec<Option<u16>> = slow.into_iter().map(|s| rt.block_on(s).unwrap()).collect();
    assert_eq!(
        slow.iter().filter(|s| **s == Some(401)).count(),
        8,
        "{slow:?}"
    );
    assert!(
        slow.iter().all(|s| matches!(s, Some(401 | 503))),
        "{slow:?}"
    );
    // After the flood: the good device syncs at once, and the ward holds its work only.
    good.add_household("Tổ A", "Ngõ 7", "2");
    assert_eq!(good.sync()["outbox"], 0);
    let coord = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let households = coord.json(&["household", "list"]);
    assert_eq!(households.as_array().map(Vec::len), Some(2), "{households}");
}

/// Revoked means wiped: the next sync of a revoked device erases its database, WAL and key
/// file (unsynced work included) and says so with `device_wiped`; nothing of it is left to
/// open, and the device starts again as a new one.
#[test]
fn a_revoked_device_erases_its_data_and_says_so() {
    let w = ward();
    w.a1.json(&[
        "household",
        "add",
        "--group",
        "Tổ A",
        "--alley",
        "Ngõ 3",
        "--number",
        "9",
        "--consent",
        "--name",
        "Phùng Thị Thu Hồi",
        "--phone",
        "0987654321",
    ]);
    let id = support::open_store(&w.a1.db)
        .identity()
        .unwrap()
        .unwrap()
        .device_id;
    let out = w.hub.admin(&["hub", "revoke", "--device", &id.to_string()]);
    assert!(out.status.success());
    let out = w.a1.run(&["--json", "sync"]);
    assert_eq!(out.status.code(), Some(1));
    let line: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(line["error"]["code"], "device_wiped", "{line}");
    assert!(line["error"]["message"]
        .as_str()
        .unwrap()
        .contains("erased"));
    let left: Vec<String> = std::fs::read_dir(w.a1.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.is_empty(),
        "files left on the revoked device: {left:?}"
    );
    let (_, msg) = w.a1.fails(&["status"]);
    assert!(msg.contains("no database"), "{msg}");
    // The other devices of the group go on.
    w.a2.sync();
}

/// A modified client pushing changes under an epoch the hub does not have (a stale one, or a
/// forged future one): nothing of them is stored; the answer carries the hub's epoch with the
/// document whole, and the honest device's next sync carries its work over.
#[test]
fn a_push_of_another_epoch_is_dropped_and_answered_with_the_hub_s() {
    let w = ward();
    let house = w.a1.add_household("Tổ A", "Ngõ Kỷ Nguyên", "3");
    let pushes: Vec<Push> = support::open_store(&w.a1.db)
        .outbox(wire::BATCH_BYTES)
        .unwrap()
        .into_iter()
        .map(|o| Push {
            epoch: 7,
            doc: o.doc.into(),
            changes: o.changes,
            signatures: o.signatures,
        })
        .collect();
    assert!(!pushes.is_empty());
    let url = format!("{}/v1/sync", w.hub.url);
    let body = sync_body(pushes.clone());
    let token = token(&w.a1);
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let resp = test_client()
                .post(&url)
                .header("content-type", wire::CONTENT_TYPE)
                .bearer_auth(&token)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            resp.bytes().await.unwrap().to_vec()
        });
    let response: wire::SyncResponse = wire::decode(&answer).unwrap();
    for push in &pushes {
        let pull = response
            .pulls
            .iter()
            .find(|p| p.doc == push.doc)
            .expect("the pushed document comes back");
        assert_eq!(pull.epoch, 0);
        assert!(pull.snapshot.is_some(), "whole, to carry edits over onto");
    }
    w.coord.sync();
    assert!(!ids(&w.coord.json(&["household", "list"])).contains(&house));
    // The honest device syncs as usual: its work reaches the hub.
    w.a1.sync();
    w.coord.sync();
    assert!(ids(&w.coord.json(&["household", "list"])).contains(&house));
}

/// A slow-loris flood: 1,000 connections from two addresses, half stopping inside the TLS
/// handshake and half after one byte of their headers, each then silent (a byte a minute).
/// The hub counts connections before any TLS work: past 256 from one address they are closed
/// at once, and the ones it holds are closed when their handshake or headers time out (10 s).
/// Meanwhile a good device syncs within 2 s, as fast as without the flood.
#[test]
fn a_slow_loris_flood_is_capped_and_timed_out_while_a_good_device_syncs() {
    use tokio::io::AsyncWriteExt;
    let hub = HubProcess::start(&["Tổ A"]);
    let device = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let house = device.add_household("Tổ A", "Ngõ 12 Hàng Bông", "5");
    let timed_sync = |what: &str| {
        device.json(&[
            "visit",
            "add",
            "--household",
            &house,
            "--outcome",
            "not_home",
        ]);
        let started = std::time::Instant::now();
        let report = device.sync();
        let took = started.elapsed();
        assert_eq!(report["docs_sent"], 1, "{what}: {report}");
        println!("a good device's sync, {what}: {took:?}");
        took
    };
    let quiet = timed_sync("no flood");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = hub.port;
    let flood: Vec<_> = rt.block_on(async move {
        let tasks: Vec<_> = (0..1000u32)
            .map(|i| {
                tokio::spawn(async move {
                    let from = std::net::SocketAddr::from(([127, 0, 0, 2 + (i / 2 % 2) as u8], 0));
                    let socket = tokio::net::TcpSocket::new_v4().ok()?;
                    socket.bind(from).ok()?;
                    let to = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                    let mut tcp = socket.connect(to).await.ok()?;
                    if i % 2 == 0 {
                        // One byte of a ClientHello, then silence.
                        tcp.write_all(&[0x16]).await.ok()?;
                        return Some(Box::new(tcp) as Box<dyn Held>);
                    }
                    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(
                        support::any_certificate(),
                    ));
                    let name = rustls::pki_types::ServerName::try_from("doorstep-hub").ok()?;
                    let mut tls = tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        connector.connect(name, tcp),
                    )
                    .await
                    .ok()?
                    .ok()?;
                    // One byte of the request's headers, then silence.
                    tls.write_all(b"P").await.ok()?;
                    tls.flush().await.ok()?;
                    Some(Box::new(tls) as Box<dyn Held>)
                })
            })
            .collect();
        let mut held = Vec::new();
        for t in tasks {
            held.push(t.await.ok().flatten());
        }
        held
    });
    let opened = flood.iter().filter(|c| c.is_some()).count();
    // Past 256 connections from one address, the hub closed them before their handshake.
    let handshakes = flood
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|c| c.is_some())
        .count();
    println!("flood: {opened} of 1000 connections open, {handshakes} of 500 TLS handshakes done");
    assert!(
        handshakes < 500,
        "{handshakes} handshakes: the per-address cap refused none"
    );

    let flooded = timed_sync("during the flood");
    assert!(
        flooded < std::time::Duration::from_secs(2),
        "a good device took {flooded:?} during the flood (without: {quiet:?})"
    );

    // Every connection the hub held is closed once its handshake or headers time out.
    let closed = rt.block_on(async move {
        let waits: Vec<_> = flood
            .into_iter()
            .flatten()
            .map(|mut c| {
                tokio::spawn(async move {
                    let mut byte = [0u8; 1];
                    matches!(
                        tokio::time::timeout(
                            std::time::Duration::from_secs(15),
                            tokio::io::AsyncReadExt::read(&mut c, &mut byte),
                        )
                        .await,
                        Ok(Ok(0) | Err(_))
                    )
                })
            })
            .collect();
        let mut closed = 0;
        for w in waits {
            closed += usize::from(w.await.unwrap_or(false));
        }
        closed
    });
    assert_eq!(closed, opened, "every held connection closed by the hub");
}

/// A connection the flood holds: anything that can be read from.
trait Held: tokio::io::AsyncRead + Unpin + Send {}
impl<T: tokio::io::AsyncRead + Unpin + Send> Held for T {}
