//! Handover (issue 12): a device with unsynced work refuses to be reset, or joined anew to
//! someone who could not send it, until that work is synced or saved to an encrypted backup, which another device of the same
//! volunteer restores and syncs; a backup made before an erasure never brings the erased data
//! back. Real binary, real hub on loopback.

mod support;

use serde_json::Value;
use support::{Device, HubProcess};

const PASSPHRASE: &str = "sổ tay bàn giao 2026";

fn with_passphrase(d: &Device, args: &[&str], passphrase: &str) -> std::process::Output {
    d.command(args)
        .env("DOORSTEP_BACKUP_PASSPHRASE", passphrase)
        .output()
        .unwrap()
}

fn error_code(out: &std::process::Output) -> String {
    let v: Value = serde_json::from_slice(&out.stderr).unwrap_or(Value::Null);
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

#[test]
fn unsynced_work_is_handed_over_through_an_encrypted_backup() {
    let hub = HubProcess::start(&["Tổ A", "Tổ B"]);
    let coord = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let old = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let synced = old.json(&[
        "household",
        "add",
        "--group",
        "Tổ A",
        "--alley",
        "Ngõ 2",
        "--number",
        "1",
        "--consent",
        "--name",
        "Cao Thị Đã Gửi",
        "--phone",
        "0933000111",
    ])["id"]
        .as_str()
        .unwrap()
        .to_string();
    old.sync();
    // Work the hub has not seen.
    let unsynced = old.add_household("Tổ A", "Ngõ Bàn Giao", "7");

    // Refused while the work is neither synced nor saved.
    let out = old.run(&["--json", "reset"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(error_code(&out), "unsynced_work");
    let link = {
        let code = hub.invite("volunteer", "Người khác", &["Tổ B"], None);
        format!(
            "doorstep://join?hub={}&code={code}&pin={}",
            hub.url, hub.pin
        )
    };
    // Handed to another person who works in another group: the work could not be sent.
    let out = old.run(&["--json", "join", "--link", &link]);
    assert_eq!(error_code(&out), "unsynced_work");
    assert_eq!(
        old.json(&["status"])["name"],
        "Lan",
        "the old identity is kept"
    );

    // Saved: an encrypted, owner-only file; then the reset goes through.
    let file = old.dir.path().join("../handover.doorstep-backup");
    let file = std::path::absolute(file).unwrap();
    let out = with_passphrase(
        &old,
        &["--json", "backup", "--out", file.to_str().unwrap()],
        "ngắn",
    );
    assert_eq!(
        error_code(&out),
        "weak_pin",
        "a short passphrase is refused"
    );
    let out = with_passphrase(
        &old,
        &["--json", "backup", "--out", file.to_str().unwrap()],
        PASSPHRASE,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        summary["unsynced_changes"].as_u64().unwrap() > 0,
        "{summary}"
    );
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    for needle in ["Bàn Giao", "Đã Gửi", "0933000111"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Meanwhile the citizen of the synced household asks to be erased.
    coord.sync();
    coord.json(&["household", "erase", &synced]);

    let out = old.run(&["--json", "reset"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!old.db.exists());

    // The volunteer's new device: joins, restores (a wrong passphrase opens nothing), syncs.
    let new = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let out = with_passphrase(
        &new,
        &["--json", "restore", file.to_str().unwrap()],
        "mật khẩu sai rồi",
    );
    assert_eq!(error_code(&out), "wrong_backup_passphrase");
    // A file that is not a backup, and a backup cut short: refused, nothing restored.
    let junk = new.dir.path().join("junk.doorstep-backup");
    std::fs::write(&junk, b"not an age file at all").unwrap();
    let out = with_passphrase(
        &new,
        &["--json", "restore", junk.to_str().unwrap()],
        PASSPHRASE,
    );
    assert_eq!(error_code(&out), "bad_backup");
    let cut = new.dir.path().join("cut.doorstep-backup");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = with_passphrase(
        &new,
        &["--json", "restore", cut.to_str().unwrap()],
        PASSPHRASE,
    );
    let code = error_code(&out);
    assert!(
        code == "bad_backup" || code == "wrong_backup_passphrase",
        "{out:?}"
    );
    assert_eq!(new.json(&["status"])["outbox"], 0, "nothing restored");
    let out = with_passphrase(
        &new,
        &["--json", "restore", file.to_str().unwrap()],
        PASSPHRASE,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        restored["unsynced_changes"].as_u64().unwrap() > 0,
        "{restored}"
    );
    let report = new.sync();
    assert_eq!(report["outbox"], 0, "{report}");
    coord.sync();
    let shown = coord.json(&["household", "show", &unsynced]);
    assert_eq!(shown["household"]["alley"], "Ngõ Bàn Giao");
    // The backup predates the erasure: restoring it brought nothing of it back.
    for d in [&new, &coord] {
        let erased = d.json(&["household", "show", &synced]);
        assert!(erased["household"]["name"].is_null(), "{erased}");
        assert!(erased["household"]["erased_at"].as_str().is_some());
        let docs = support::open_store(&d.db).export_documents().unwrap();
        for doc in docs {
            let mut doc = automerge::AutoCommit::load(&doc.bytes).unwrap();
            for change in doc.get_changes(&[]) {
                let text = format!("{:?}", change.decode().operations);
                assert!(!text.contains("Đã Gửi") && !text.contains("0933000111"));
            }
        }
    }
}
