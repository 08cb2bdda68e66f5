//! Erasure that holds (issue 12): a household erased at its citizen's request is gone from
//! every file of the hub and of the devices that hold its group once they sync, history
//! included, while its visits still count; a device offline during the erasure adopts it when
//! it returns and its unsynced edits to that household are dropped, never resurrecting it.
//! Real binary, real hub on loopback, real SQLCipher files.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{Device, HubProcess};

const ERASED_NAME: &str = "Lò Thị Xoá Bỏ";
const ERASED_PHONE: &str = "0911222333";
const ERASED_NOTE: &str = "Bà Xoá Bỏ nhờ gọi lại";
const KEPT_NAME: &str = "Vũ Văn Giữ Lại";
const KEPT_PHONE: &str = "0944555666";

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Where `needle` is found in the raw bytes of any file under `dir`.
fn raw_hits(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|f| contains(&std::fs::read(f).unwrap_or_default(), needle))
        .collect()
}

/// Every value ever written in these documents, whole history, as text.
fn history_text(docs: &[doorstep_store::DocumentBytes]) -> String {
    let mut text = String::new();
    for d in docs {
        let mut doc = automerge::AutoCommit::load(&d.bytes).unwrap();
        for change in doc.get_changes(&[]) {
            for op in change.decode().operations {
                text.push_str(&format!("{:?}\n", op.action));
            }
        }
    }
    text
}

/// A decrypted copy of every live row of an encrypted database (query tables, meta, the
/// documents' blobs), as raw bytes.
fn decrypted_rows(db: &Path, at_rest: &doorstep_store::AtRest, scratch: &Path) -> Vec<u8> {
    let plain = scratch.join(format!(
        "plain-{}.sqlite",
        db.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&plain);
    let conn = doorstep_vault::open_database(db, at_rest).unwrap();
    conn.execute(
        "ATTACH DATABASE ?1 AS plaintext KEY ''",
        [plain.display().to_string()],
    )
    .unwrap();
    conn.query_row("SELECT sqlcipher_export('plaintext')", [], |_| Ok(()))
        .unwrap();
    conn.execute_batch("DETACH DATABASE plaintext").unwrap();
    std::fs::read(&plain).unwrap()
}

fn device_key(d: &Device) -> doorstep_store::AtRest {
    let key = doorstep_vault::KeyFile::read(&d.db)
        .unwrap()
        .unlock(support::PIN, chrono::Utc::now().timestamp(), None)
        .unwrap();
    doorstep_store::AtRest::Encrypted(key)
}

#[test]
fn an_erased_household_is_in_no_file_of_the_hub_or_the_devices() {
    let hub = HubProcess::start(&["Tổ A", "Tổ B"]);
    let a1 = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let a2 = Device::joined(&hub, "volunteer", "Hùng", &["Tổ A"]);
    let coord = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let add = |d: &Device, number: &str, name: &str, phone: &str| -> String {
        d.json(&[
            "household",
            "add",
            "--group",
            "Tổ A",
            "--alley",
            "Ngõ 7",
            "--number",
            number,
            "--consent",
            "--name",
            name,
            "--phone",
            phone,
            "--priority",
            "elderly",
        ])["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let erased = add(&a1, "1", ERASED_NAME, ERASED_PHONE);
    let kept = add(&a1, "2", KEPT_NAME, KEPT_PHONE);
    a1.json(&[
        "visit",
        "add",
        "--household",
        &erased,
        "--outcome",
        "assisted",
        "--assist",
        "vneid_activate:done:60_plus",
        "--note",
        ERASED_NOTE,
    ]);
    a1.sync();
    a2.sync();
    coord.sync();

    // a2 goes offline and edits both households and visits the one about to be erased.
    a2.json(&["household", "update", &erased, "--members", "4"]);
    a2.json(&["household", "update", &kept, "--members", "5"]);
    a2.json(&[
        "visit",
        "add",
        "--household",
        &erased,
        "--outcome",
        "assisted",
        "--assist",
        "ihanoi:done",
        "--note",
        "gặp lại bà Xoá Bỏ",
    ]);

    // The coordinator erases it (online); the contract's JSON.
    let answer = coord.json(&["household", "erase", &erased]);
    assert_eq!(answer["household"], erased.as_str());
    assert_eq!(answer["epoch"], 1);
    assert!(answer["erased_at"].as_str().is_some());

    a1.sync();
    // The offline device returns: it adopts the erasure, says what it dropped, and keeps the
    // rest of its work.
    let report = a2.sync();
    assert_eq!(report["epochs_adopted"], 1, "{report}");
    assert_eq!(report["erased_edits_dropped"], serde_json::json!([erased]));
    assert_eq!(report["outbox"], 0);
    a1.sync();
    coord.sync();

    for d in [&a1, &a2, &coord] {
        let shown = d.json(&["household", "show", &erased]);
        assert!(shown["household"]["name"].is_null(), "{shown}");
        assert!(shown["household"]["phone"].is_null());
        assert_eq!(shown["household"]["consent"], false);
        assert!(shown["household"]["erased_at"].as_str().is_some());
        assert_ne!(
            shown["household"]["members"], 4,
            "a2's edit to it was dropped"
        );
        let visits = shown["visits"].as_array().unwrap();
        assert_eq!(visits.len(), 2, "both visits still count");
        assert!(visits.iter().all(|v| v["note"].is_null()), "{shown}");
        // The other household: readable through the app, a2's offline edit carried over.
        let other = d.json(&["household", "show", &kept]);
        assert_eq!(other["household"]["name"], KEPT_NAME);
        assert_eq!(other["household"]["phone"], KEPT_PHONE);
        assert_eq!(other["household"]["members"], 5);
        let report = d.json(&["report"]);
        assert_eq!(report["households_visited"], 1, "{report}");
        assert_eq!(report["visits"], 2);
    }

    // Every byte of every file: the erased name, phone and note nowhere; the kept household
    // nowhere in clear either (encrypted), though the app reads it.
    let scratch = tempfile::TempDir::new().unwrap();
    let dirs = [
        hub.dir.path(),
        a1.dir.path(),
        a2.dir.path(),
        coord.dir.path(),
    ];
    for needle in [
        ERASED_NAME,
        ERASED_PHONE,
        ERASED_NOTE,
        KEPT_NAME,
        KEPT_PHONE,
        "Xoá Bỏ",
    ] {
        for dir in dirs {
            assert_eq!(raw_hits(dir, needle), Vec::<PathBuf>::new(), "{needle:?}");
        }
    }
    // Decrypted: no live row and no value in any document's whole history holds them, on
    // the hub and on each device; the kept household's name is there (the scan can see).
    for d in [&a1, &a2, &coord] {
        let rows = decrypted_rows(&d.db, &device_key(d), scratch.path());
        let history = history_text(&support::open_store(&d.db).export_documents().unwrap());
        for needle in [ERASED_NAME, ERASED_PHONE, "Xoá Bỏ"] {
            assert!(!contains(&rows, needle), "{needle:?} in a device's rows");
            assert!(
                !history.contains(needle),
                "{needle:?} in a device's history"
            );
        }
        assert!(contains(&rows, KEPT_NAME));
        assert!(history.contains(KEPT_NAME));
    }
    let hub_key = support::hub_at_rest(&hub.data());
    let hub_rows = decrypted_rows(&hub.data().join("hub.sqlite"), &hub_key, scratch.path());
    let hub_docs = doorstep_hub::Hub::open(&hub.data(), &hub_key)
        .unwrap()
        .documents()
        .unwrap();
    let hub_history = history_text(&hub_docs);
    for needle in [ERASED_NAME, ERASED_PHONE, "Xoá Bỏ"] {
        assert!(!contains(&hub_rows, needle), "{needle:?} in the hub's rows");
        assert!(
            !hub_history.contains(needle),
            "{needle:?} in the hub's history"
        );
    }
    assert!(hub_history.contains(KEPT_NAME));

    // The audit log keeps who did what, never a value: created, visited, changed, erased.
    let history = coord.json(&["history", &erased]);
    let what: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(what.first(), Some(&"created"), "{history}");
    assert!(
        what.contains(&"visit") && what.contains(&"erased"),
        "{history}"
    );
    let by: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["by"].as_str().unwrap())
        .collect();
    assert!(by.contains(&"Lan") && by.contains(&"Chị Hà"), "{history}");
    assert!(!history.to_string().contains("Xoá Bỏ"));

    // A modified client writing the name back onto the erased household is refused.
    let (code, msg) = a1.fails(&[
        "household",
        "update",
        &erased,
        "--consent",
        "--name",
        ERASED_NAME,
    ]);
    assert_eq!(code, 1);
    assert!(msg.contains("erased"), "{msg}");
    // A volunteer may not erase.
    let (_, msg) = a1.fails(&["household", "erase", &kept]);
    assert!(msg.contains("403"), "{msg}");
}

/// Consent withdrawn on a device: the name and phone leave the record there, and the hub
/// writes the document anew so that they leave its history too, on every device.
#[test]
fn a_withdrawn_consent_leaves_no_name_in_any_history() {
    let hub = HubProcess::start(&["Tổ A"]);
    let a1 = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let a2 = Device::joined(&hub, "volunteer", "Hùng", &["Tổ A"]);
    let id = a1.json(&[
        "household",
        "add",
        "--group",
        "Tổ A",
        "--alley",
        "Ngõ 9",
        "--number",
        "3",
        "--consent",
        "--name",
        "Đinh Thị Rút Lại",
        "--phone",
        "0977000111",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    a1.sync();
    a2.sync();
    // Consent is a record: for which purpose, when, by which volunteer.
    let given = a2.json(&["household", "show", &id])["household"]["consent_record"].clone();
    assert_eq!(given["purpose"], "2026-11-v1", "{given}");
    assert_eq!(given["given_by"], "Lan");
    assert!(given["given_at"].as_str().is_some() && given["withdrawn_at"].is_null());
    a2.json(&["household", "update", &id, "--withdraw-consent"]);
    let report = a2.sync();
    assert_eq!(report["epochs_adopted"], 1, "{report}");
    a1.sync();
    for d in [&a1, &a2] {
        let history = history_text(&support::open_store(&d.db).export_documents().unwrap());
        assert!(!history.contains("Rút Lại") && !history.contains("0977000111"));
        assert!(history.contains("Ngõ 9"));
        let record = d.json(&["household", "show", &id])["household"]["consent_record"].clone();
        assert_eq!(record["given_by"], "Lan", "{record}");
        assert_eq!(record["withdrawn_by"], "Hùng", "{record}");
        assert!(record["withdrawn_at"].as_str().is_some());
    }
    let events: Value = Device::joined(&hub, "coordinator", "Chị Hà", &[]).json(&["history", &id]);
    assert!(events.to_string().contains("history_erased"), "{events}");
}

/// The retention rule: N days after the campaign ends the serving hub erases every personal
/// field (names, phones, consents, visits' notes) and their history; devices adopt it; the
/// households and visits still count.
#[test]
fn the_retention_period_erases_every_personal_field() {
    let mut hub = HubProcess::start(&["Tổ A"]);
    let a1 = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let first = a1.json(&[
        "household",
        "add",
        "--group",
        "Tổ A",
        "--alley",
        "Ngõ 1",
        "--number",
        "1",
        "--consent",
        "--name",
        "Mai Thị Hết Hạn",
        "--phone",
        "0966111222",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    a1.add_household("Tổ A", "Ngõ 1", "2");
    a1.json(&[
        "visit",
        "add",
        "--household",
        &first,
        "--outcome",
        "assisted",
        "--assist",
        "vneid_install:done",
        "--note",
        "gọi chị Hết Hạn buổi tối",
    ]);
    a1.sync();

    // A rule that runs off the calendar is never due (not a crash).
    let out = hub.admin(&[
        "--json",
        "hub",
        "retention",
        "--campaign-end",
        "2026-01-01",
        "--days",
        "4294967295",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let never: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(never["due"], false, "{never}");
    let out = hub.admin(&[
        "--json",
        "hub",
        "retention",
        "--campaign-end",
        "2026-01-01",
        "--days",
        "30",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rule: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rule["due_on"], "2026-01-31");
    assert_eq!(rule["due"], true);
    // The serving hub applies it at start (and hourly).
    hub.restart();
    let report = a1.sync();
    assert_eq!(report["epochs_adopted"], 1, "{report}");
    let shown = a1.json(&["household", "show", &first]);
    assert!(shown["household"]["name"].is_null(), "{shown}");
    assert_eq!(shown["household"]["consent"], false);
    assert!(shown["household"]["erased_at"].as_str().is_some());
    assert!(shown["visits"][0]["note"].is_null());
    let report = a1.json(&["report"]);
    assert_eq!(
        (report["households"].clone(), report["visits"].clone()),
        (2.into(), 1.into())
    );
    let history = history_text(&support::open_store(&a1.db).export_documents().unwrap());
    assert!(
        !history.contains("Hết Hạn") && !history.contains("0966111222"),
        "{history}"
    );
    assert!(hub.log().contains("retention period over"), "{}", hub.log());
}

/// An old epoch replayed (issue 24): a volunteer's copy of its group from before an erasure,
/// its epoch number rewritten to the new one and its whole history pushed again by a modified
/// client holding the volunteer's key. With the old first change it is refused `old_epoch`
/// (each epoch's first change is its own); without it, `missing_history` (nothing of the new
/// epoch to attach to). The erased name is nowhere: the hub's documents, every device's, every
/// history. (A device backup restored after an erasure: `tests/handover.rs`.)
#[test]
fn an_old_epoch_replayed_after_an_erasure_is_refused() {
    const NAME: &str = "Tạ Thị Phát Lại";
    let hub = HubProcess::start(&["Tổ A"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let coord = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let id = lan.json(&[
        "household",
        "add",
        "--group",
        "Tổ A",
        "--alley",
        "Ngõ 5",
        "--number",
        "1",
        "--consent",
        "--name",
        NAME,
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    lan.sync();
    coord.sync();
    let group = doorstep_doc::DocId::Group(
        support::open_store(&lan.db)
            .group_by_name("Tổ A")
            .unwrap()
            .id,
    );
    let before_erasure = support::open_store(&lan.db).export_documents().unwrap();
    let bytes = &before_erasure
        .iter()
        .find(|d| d.id == group.to_string())
        .unwrap()
        .bytes;
    let mut old = automerge::AutoCommit::load(bytes).unwrap();
    assert!(history_text(&before_erasure).contains(NAME));

    let answer = coord.json(&["household", "erase", &id]);
    assert_eq!(answer["epoch"], 1);
    lan.sync();

    let all: Vec<Vec<u8>> = old
        .get_changes(&[])
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let key = support::device_key(&lan);
    let replay = |changes: Vec<Vec<u8>>| {
        support::post(
            &format!("{}/v1/sync", hub.url),
            Some(&support::token(&lan)),
            support::sync_body(vec![doorstep_proto::wire::Push {
                doc: group.into(),
                epoch: 1,
                signatures: support::sign_all(&key, &changes),
                changes,
            }]),
        )
    };
    let (status, body) = replay(all.clone());
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("old_epoch")),
        "{body}"
    );
    let (status, body) = replay(all[1..].to_vec());
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("missing_history")),
        "{body}"
    );

    lan.sync();
    coord.sync();
    for d in [&lan, &coord] {
        let history = history_text(&support::open_store(&d.db).export_documents().unwrap());
        assert!(!history.contains(NAME), "the name in a device's history");
        assert!(history.contains("Ngõ 5"));
    }
    let hub_key = support::hub_at_rest(&hub.data());
    let hub_docs = doorstep_hub::Hub::open(&hub.data(), &hub_key)
        .unwrap()
        .documents()
        .unwrap();
    assert!(
        !history_text(&hub_docs).contains(NAME),
        "the name at the hub"
    );
    assert!(raw_hits(hub.dir.path(), NAME).is_empty());
}

/// A name written concurrently with a consent withdrawal (issue 24): Hùng types a new name
/// and syncs first; Lan, who had not seen it, withdraws the consent. The merged household has
/// no consent, so the hub writes the document anew, and the new epoch keeps no name written
/// before or concurrently with the withdrawal: neither is in any history, hub or device.
#[test]
fn a_name_written_concurrently_with_a_withdrawal_is_not_kept() {
    let hub = HubProcess::start(&["Tổ A"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let hung = Device::joined(&hub, "volunteer", "Hùng", &["Tổ A"]);
    let id = lan.json(&[
        "household",
        "add",
        "--group",
        "Tổ A",
        "--alley",
        "Ngõ 11",
        "--number",
        "4",
        "--consent",
        "--name",
        "Tên Cũ Đồng Thời",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    lan.sync();
    hung.sync();
    hung.json(&["household", "update", &id, "--name", "Tên Mới Đồng Thời"]);
    hung.sync();
    lan.json(&["household", "update", &id, "--withdraw-consent"]);
    let report = lan.sync();
    assert_eq!(report["epochs_adopted"], 1, "{report}");
    hung.sync();
    lan.sync();
    for d in [&lan, &hung] {
        let shown = d.json(&["household", "show", &id]);
        assert!(shown["household"]["name"].is_null(), "{shown}");
        let history = history_text(&support::open_store(&d.db).export_documents().unwrap());
        assert!(
            !history.contains("Đồng Thời"),
            "a name in a device's history"
        );
        assert!(history.contains("Ngõ 11"));
        assert_eq!(d.json(&["status"])["outbox"], 0);
    }
    let hub_key = support::hub_at_rest(&hub.data());
    let hub_docs = doorstep_hub::Hub::open(&hub.data(), &hub_key)
        .unwrap()
        .documents()
        .unwrap();
    assert!(
        !history_text(&hub_docs).contains("Đồng Thời"),
        "a name at the hub"
    );
}
