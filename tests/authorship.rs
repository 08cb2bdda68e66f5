//! Who made a change, tried as an attacker would (issue 24): a modified client that writes raw
//! Automerge changes, under a colleague's actor or without a valid signature, pushed to a real
//! hub over HTTPS. Each is refused with its code, nothing of it is stored or forwarded, and the
//! victim's own next change still syncs. The hub names every device's key; a household's
//! history names who signed each change, verified, whatever name a record carries.

mod support;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use chrono::Utc;
use doorstep_doc::DocId;
use doorstep_domain::new_id;
use doorstep_proto::wire::Push;
use serde_json::Value as Json;
use support::{post, sync_body, token, Device, HubProcess};

/// `device`'s copy of document `doc`.
fn copy_of(device: &Device, doc: DocId) -> AutoCommit {
    let docs = support::open_store(&device.db).export_documents().unwrap();
    let bytes = &docs.iter().find(|d| d.id == doc.to_string()).unwrap().bytes;
    AutoCommit::load(bytes).unwrap()
}

/// The map under `key` of `parent` in `doc`.
fn map_in(doc: &AutoCommit, parent: &automerge::ObjId, key: &str) -> automerge::ObjId {
    match doc.get(parent, key).unwrap() {
        Some((Value::Object(ObjType::Map), id)) => id,
        other => panic!("no map {key}: {other:?}"),
    }
}

/// The changes `doc` made since `before`, as bytes.
fn made_since(doc: &mut AutoCommit, before: &[automerge::ChangeHash]) -> Vec<Vec<u8>> {
    doc.get_changes(before)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

/// A raw visit of `household` written on `doc` (as the app writes one).
fn forged_visit(doc: &mut AutoCommit, household: &str, by: &str) -> Vec<Vec<u8>> {
    let before = doc.get_heads();
    let visits = map_in(doc, &ROOT, "visits");
    let v = doc
        .put_object(&visits, new_id().to_string(), ObjType::Map)
        .unwrap();
    let household: doorstep_domain::Id = household.parse().unwrap();
    doc.put(
        &v,
        "household",
        ScalarValue::Bytes(household.as_bytes().to_vec()),
    )
    .unwrap();
    doc.put(&v, "at", Utc::now().timestamp_millis()).unwrap();
    doc.put(&v, "by", by).unwrap();
    doc.put(&v, "outcome", "not_home").unwrap();
    doc.commit();
    made_since(doc, &before)
}

fn push(
    url: &str,
    device: &Device,
    doc: DocId,
    changes: Vec<Vec<u8>>,
    signatures: Vec<Vec<u8>>,
) -> (u16, Json) {
    post(
        &format!("{url}/v1/sync"),
        Some(&token(device)),
        sync_body(vec![Push {
            doc: doc.into(),
            epoch: 0,
            changes,
            signatures,
        }]),
    )
}

struct Ward {
    hub: HubProcess,
    lan: Device,
    minh: Device,
    coordinator: Device,
    group: DocId,
    household: String,
}

/// A hub with two volunteers of one group and a coordinator, one household synced to all.
fn ward() -> Ward {
    let hub = HubProcess::start(&["Tổ A"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let minh = Device::joined(&hub, "volunteer", "Minh", &["Tổ A"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let household = lan.add_household("Tổ A", "Ngõ 12 Hàng Bông", "5");
    lan.json(&[
        "visit",
        "add",
        "--household",
        &household,
        "--outcome",
        "not_home",
    ]);
    lan.sync();
    minh.sync();
    coordinator.sync();
    let group = DocId::Group(
        support::open_store(&lan.db)
            .group_by_name("Tổ A")
            .unwrap()
            .id,
    );
    Ward {
        hub,
        lan,
        minh,
        coordinator,
        group,
        household,
    }
}

/// A colleague's actor (Lan's, read from the document Minh holds) with the next sequence
/// number: refused whatever it is signed with, so Lan's own next change is never made
/// unacceptable; nothing reaches the coordinator.
#[test]
fn a_change_under_a_colleagues_actor_is_refused_and_the_colleague_syncs_on() {
    let w = ward();
    let lan_actor = support::device_key(&w.lan).actor();
    let mut copy = copy_of(&w.minh, w.group).with_actor(lan_actor.clone());
    let changes = forged_visit(&mut copy, &w.household, "Lan");
    let minh_key = support::device_key(&w.minh);
    let before = w.coordinator.state();
    for (what, signatures) in [
        ("signed by Minh", support::sign_all(&minh_key, &changes)),
        ("unsigned", vec![]),
        ("a made-up signature", vec![vec![7; 64]]),
    ] {
        let (status, body) = push(&w.hub.url, &w.minh, w.group, changes.clone(), signatures);
        assert_eq!(status, 422, "{what}: {body}");
        assert_eq!(body["code"], "actor_not_yours", "{what}: {body}");
        assert_eq!(body["doc"], Json::from(w.group.to_string()), "{body}");
    }
    // The hub's actor and the documents' first-change actor are no device's either.
    let mut hub_actor = copy_of(&w.minh, w.group).with_actor(automerge::ActorId::from([0u8; 1]));
    let changes = forged_visit(&mut hub_actor, &w.household, "Minh");
    let (status, body) = push(
        &w.hub.url,
        &w.minh,
        w.group,
        changes.clone(),
        support::sign_all(&minh_key, &changes),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "root_changed", "{body}");

    // Lan's own next visit (the same sequence number the forgery took) syncs, and reaches
    // the coordinator; the forgeries never do.
    w.lan.json(&[
        "visit",
        "add",
        "--household",
        &w.household,
        "--outcome",
        "revisit",
    ]);
    let report = w.lan.sync();
    assert_eq!(report["docs_sent"], 1, "{report}");
    w.coordinator.sync();
    let visits = w.coordinator.json(&["visit", "list"]);
    let outcomes: Vec<&str> = visits
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 2, "{visits}");
    assert!(outcomes.contains(&"revisit"), "{visits}");
    assert_ne!(w.coordinator.state(), before);
}

/// A device's own actor with a signature missing, altered, or made with another device's key:
/// refused `bad_signature`, nothing stored.
#[test]
fn a_missing_wrong_or_foreign_signature_is_refused() {
    let w = ward();
    let lan_key = support::device_key(&w.lan);
    let mut copy = copy_of(&w.lan, w.group).with_actor(lan_key.actor());
    let changes = forged_visit(&mut copy, &w.household, "Lan");
    let mut altered = support::sign_all(&lan_key, &changes);
    altered[0][5] ^= 1;
    let coordinator_before = w.coordinator.state();
    for (what, signatures) in [
        ("missing", vec![]),
        ("empty", vec![vec![]]),
        ("altered", altered),
        (
            "Minh's",
            support::sign_all(&support::device_key(&w.minh), &changes),
        ),
    ] {
        let (status, body) = push(&w.hub.url, &w.lan, w.group, changes.clone(), signatures);
        assert_eq!(status, 422, "{what}: {body}");
        assert_eq!(body["code"], "bad_signature", "{what}: {body}");
    }
    let report = w.coordinator.sync();
    assert_eq!(report["docs_received"], 0, "{report}");
    assert_eq!(w.coordinator.state(), coordinator_before);
    // Signed properly, the same change is taken.
    let (status, body) = push(
        &w.hub.url,
        &w.lan,
        w.group,
        changes.clone(),
        support::sign_all(&lan_key, &changes),
    );
    assert_eq!(status, 200, "{body}");
}

/// A join must prove it holds the key it enrols: a proof of another code, or by another key,
/// is refused and the invite is not spent.
#[test]
fn a_join_proves_its_key_and_a_bad_proof_spends_nothing() {
    use base64::Engine;
    let hub = HubProcess::start(&["Tổ A"]);
    let code = hub.invite("volunteer", "Lan", &["Tổ A"], None);
    let key = doorstep_doc::DeviceKey::from_secret([21; 32]);
    let other = doorstep_doc::DeviceKey::from_secret([22; 32]);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let url = format!("{}/v1/join", hub.url);
    for (what, proof) in [
        ("of another code", b64.encode(key.sign_join("ZZZZZ-ZZZZZ"))),
        ("by another key", b64.encode(other.sign_join(&code))),
        ("none", String::new()),
    ] {
        let body =
            serde_json::json!({"code": code, "key": key.public().to_base64(), "proof": proof});
        let (status, answer) = support::post_json(&url, None, &body);
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["code"], "bad_signature", "{what}: {answer}");
    }
    let (status, answer) = support::post_json(&url, None, &serde_json::json!({"code": code}));
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("bad_signature")),
        "{answer}"
    );
    // The invite still works for the device that holds its key.
    let device = Device::new();
    device.json(&[
        "join", "--hub", &hub.url, "--code", &code, "--pin", &hub.pin,
    ]);
    let status = device.json(&["status"]);
    let out = hub.admin(&["--json", "hub", "devices"]);
    let devices: Json = serde_json::from_slice(&out.stdout).unwrap();
    let listed = &devices.as_array().unwrap()[0];
    assert_eq!(listed["key_id"], status["key_id"], "{listed} {status}");
    let key_text = listed["key"].as_str().unwrap();
    assert_eq!(key_text.len(), 43, "32 bytes, base64url: {key_text}");
    assert_eq!(
        doorstep_doc::PublicKey::from_base64(key_text).unwrap(),
        support::device_key(&device).public()
    );
}

/// A household's history names the device whose signature each change carries, verified,
/// even when the record's free-text volunteer name says someone else.
#[test]
fn history_names_the_signer_whatever_the_record_says() {
    let w = ward();
    w.minh.sync();
    w.minh.json(&[
        "visit",
        "add",
        "--household",
        &w.household,
        "--outcome",
        "not_home",
        "--volunteer",
        "Lan",
    ]);
    w.minh.sync();
    let history = w.coordinator.json(&["history", &w.household]);
    let entries = history.as_array().unwrap();
    let ids = |d: &Device| {
        support::open_store(&d.db)
            .identity()
            .unwrap()
            .unwrap()
            .device_id
            .to_string()
    };
    let visits: Vec<&Json> = entries.iter().filter(|e| e["what"] == "visit").collect();
    assert_eq!(visits.len(), 2, "{history}");
    assert!(entries.iter().all(|e| e["verified"] == true), "{history}");
    let signers: Vec<&str> = visits
        .iter()
        .map(|e| e["signed_by"].as_str().unwrap())
        .collect();
    assert!(signers.contains(&ids(&w.lan).as_str()), "{history}");
    assert!(signers.contains(&ids(&w.minh).as_str()), "{history}");
    // Minh's visit says "Lan", yet its history says Minh made it.
    let minh_visit = visits
        .iter()
        .find(|e| e["signed_by"] == ids(&w.minh).as_str())
        .unwrap();
    assert_eq!(minh_visit["by"], "Minh", "{history}");
    let created = entries.iter().find(|e| e["what"] == "created").unwrap();
    assert_eq!(created["signed_by"], ids(&w.lan).as_str(), "{history}");
}

/// A volunteer changes only the visits its own device recorded: Minh rewriting Lan's visit
/// (its note, its volunteer) is refused `not_your_record`, whoever signs it.
#[test]
fn a_colleagues_visit_cannot_be_rewritten() {
    let w = ward();
    let visit = w.lan.json(&["visit", "list"]).as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let minh_key = support::device_key(&w.minh);
    let mut copy = copy_of(&w.minh, w.group).with_actor(minh_key.actor());
    let before = copy.get_heads();
    let visits = map_in(&copy, &ROOT, "visits");
    let v = map_in(&copy, &visits, &visit);
    copy.put(&v, "note", "Minh đã sửa").unwrap();
    copy.put(&v, "by", "Minh").unwrap();
    copy.commit();
    let changes = made_since(&mut copy, &before);
    let signatures = support::sign_all(&minh_key, &changes);
    let (status, body) = push(&w.hub.url, &w.minh, w.group, changes, signatures);
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_your_record")),
        "{body}"
    );
    // Lan's own visit is Lan's to change: the hub took nothing of Minh's.
    w.coordinator.sync();
    let listed = w.coordinator.json(&["visit", "list"]);
    assert!(!listed.to_string().contains("Minh đã sửa"), "{listed}");
}

/// Every value is judged, not only the one a record ends with: a text over the limit that
/// loses a conflict to a colleague's correction is refused all the same, and so is a household
/// made again (without `pred`) under the key of one a colleague made meanwhile.
#[test]
fn a_losing_value_and_a_concurrent_record_made_again_are_refused() {
    let w = ward();
    let minh_key = support::device_key(&w.minh);
    // Minh's copy, from before Lan's correction and Lan's new household.
    let base = copy_of(&w.minh, w.group);
    w.lan.json(&[
        "household",
        "update",
        &w.household,
        "--alley",
        "Ngõ 14 Hàng Bông",
    ]);
    w.lan.json(&[
        "household",
        "update",
        &w.household,
        "--alley",
        "Ngõ 16 Hàng Bông",
    ]);
    let new_household = w.lan.add_household("Tổ A", "Ngõ Huyện", "9");
    w.lan.sync();

    let mut copy = base.clone().with_actor(minh_key.actor());
    let before = copy.get_heads();
    let households = map_in(&copy, &ROOT, "households");
    let h = map_in(&copy, &households, &w.household);
    copy.put(&h, "alley", "N".repeat(600)).unwrap();
    copy.commit();
    let losing = made_since(&mut copy, &before);
    let signatures = support::sign_all(&minh_key, &losing);
    let (status, body) = push(&w.hub.url, &w.minh, w.group, losing, signatures);
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("text_too_long")),
        "{body}"
    );

    let mut copy = base.clone().with_actor(minh_key.actor());
    let before = copy.get_heads();
    let made = copy
        .put_object(&households, &new_household, ObjType::Map)
        .unwrap();
    copy.put(&made, "alley", "Ngõ Giả").unwrap();
    copy.put(&made, "number", "1").unwrap();
    copy.put(&made, "created_at", Utc::now().timestamp_millis())
        .unwrap();
    copy.commit();
    let again = made_since(&mut copy, &before);
    let signatures = support::sign_all(&minh_key, &again);
    let (status, body) = push(&w.hub.url, &w.minh, w.group, again, signatures);
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("record_exists")),
        "{body}"
    );

    // Lan's household and correction stand at the coordinator.
    w.coordinator.sync();
    let listed = w.coordinator.json(&["household", "list"]).to_string();
    assert!(
        listed.contains("Ngõ Huyện") && listed.contains("Ngõ 16 Hàng Bông"),
        "{listed}"
    );
    assert!(!listed.contains("Ngõ Giả"), "{listed}");
}

/// No change can stall the ward: one that inflates to 200 MiB is refused for the cost of its
/// cap (`change_too_large`), one that would inflate to 1 GiB or is larger than a page devices
/// accept is refused as sent; the ward syncs on.
#[test]
fn changes_too_large_to_judge_or_pass_on_are_refused() {
    let w = ward();
    let bomb = doorstep_doc::decode::deflate_bomb(200 << 20);
    let started = std::time::Instant::now();
    let (status, body) = push(&w.hub.url, &w.lan, w.group, vec![bomb], vec![vec![0; 64]]);
    let took = started.elapsed();
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("change_too_large")),
        "{body}"
    );
    println!("a 200 MiB deflate bomb refused in {took:?}");
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    // 1 GiB: ~1 MiB deflated (the body's own deflate shrinks it again), too large as sent.
    let huge = doorstep_doc::decode::deflate_bomb(1 << 30);
    let (status, body) = push(&w.hub.url, &w.lan, w.group, vec![huge], vec![]);
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("change_too_large")),
        "{body}"
    );
    let wide = vec![0x85; doorstep_doc::decode::MAX_CHANGE_BYTES + 1];
    let (status, body) = push(&w.hub.url, &w.lan, w.group, vec![wide], vec![]);
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("change_too_large")),
        "{body}"
    );
    w.lan.json(&[
        "visit",
        "add",
        "--household",
        &w.household,
        "--outcome",
        "revisit",
    ]);
    assert_eq!(w.lan.sync()["docs_sent"], 1);
    w.coordinator.sync();
    assert_eq!(
        w.coordinator
            .json(&["visit", "list"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// A phone's unsynced work restored on the volunteer's new phone travels with the old phone's
/// signatures: the hub takes it as the old phone's (its history says so), and a volunteer's
/// void of a visit that phone recorded stands. Once the old phone is revoked (lost), the same
/// work is refused `actor_not_yours` and kept on the new phone.
#[test]
fn restored_work_is_the_backed_up_phones_until_that_phone_is_revoked() {
    for revoked in [false, true] {
        let w = ward();
        let visit = w.lan.json(&["visit", "list"]).as_array().unwrap()[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        w.lan
            .json(&["visit", "void", &visit, "--reason", "bấm nhầm"]);
        let file = w.lan.dir.path().join("lan.doorstep-backup");
        let backup = w
            .lan
            .command(&["--json", "backup", "--out", file.to_str().unwrap()])
            .env("DOORSTEP_BACKUP_PASSPHRASE", "sao lưu của tổ")
            .output()
            .unwrap();
        assert!(
            backup.status.success(),
            "{}",
            String::from_utf8_lossy(&backup.stderr)
        );
        let new = Device::joined(&w.hub, "volunteer", "Lan", &["Tổ A"]);
        let restored = new
            .command(&["--json", "restore", file.to_str().unwrap()])
            .env("DOORSTEP_BACKUP_PASSPHRASE", "sao lưu của tổ")
            .output()
            .unwrap();
        assert!(
            restored.status.success(),
            "{}",
            String::from_utf8_lossy(&restored.stderr)
        );
        let old_id = w.lan.json(&["status"])["device_id"]
            .as_str()
            .unwrap()
            .to_string();
        if revoked {
            let out = w.hub.admin(&["hub", "revoke", "--device", &old_id]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = new.run(&["--json", "sync"]);
            assert!(!out.status.success());
            let status = new.json(&["status"]);
            assert!(status.to_string().contains("actor_not_yours"), "{status}");
            assert!(
                status["outbox"].as_u64().unwrap() > 0,
                "kept on the new phone"
            );
            w.coordinator.sync();
            let listed = w.coordinator.json(&["visit", "list"]);
            assert_eq!(
                listed.as_array().unwrap().len(),
                1,
                "the void did not count: {listed}"
            );
        } else {
            let report = new.sync();
            assert_eq!(report["docs_sent"], 1, "{report}");
            w.coordinator.sync();
            let listed = w.coordinator.json(&["visit", "list"]);
            assert!(listed.as_array().unwrap().is_empty(), "voided: {listed}");
            let history = w.coordinator.json(&["history", &w.household]).to_string();
            assert!(
                history.contains(&old_id),
                "signed by the old phone: {history}"
            );
        }
    }
}
