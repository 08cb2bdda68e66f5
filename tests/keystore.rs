//! The CLI's `--keystore system` against a real Secret Service (GNOME Keyring on a private
//! session bus: `scripts/keystore-tests.sh`, run by `scripts/test.sh`; `#[ignore]`d in a plain
//! `cargo test`, which has no session bus).

mod support;

use doorstep_vault::{KeyFile, Keystore, SecretService};
use serde_json::Value;
use support::Device;

fn error_code(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

#[test]
#[ignore = "needs a Secret Service: scripts/keystore-tests.sh"]
fn a_database_bound_to_the_keystore_opens_only_where_the_keystore_is() {
    let d = Device::new();
    let with_keystore = |args: &[&str]| {
        let mut c = d.command(args);
        c.env("DOORSTEP_KEYSTORE", "system");
        c.output().unwrap()
    };
    let init = with_keystore(&[
        "--json",
        "ward",
        "init",
        "--name",
        "Phường Cửa Nam",
        "--group",
        "Tổ 1",
    ]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let entry = KeyFile::read(&d.db)
        .unwrap()
        .keystore()
        .expect("the PIN is bound to the keystore")
        .to_string();
    assert!(SecretService.get(&entry).unwrap().is_some());

    // The same files without the keystore (copied to another machine): the right PIN does not
    // open them, and says why.
    let without = d.command(&["--json", "group", "list"]).output().unwrap();
    assert_eq!(error_code(&without.stderr), "keystore_unavailable");
    let with = with_keystore(&["--json", "group", "list"]);
    assert!(String::from_utf8_lossy(&with.stdout).contains("Tổ 1"));

    // A reset (the work saved first: handover) erases the keystore's entry with the files.
    let backup = d.dir.path().join("work.age");
    let saved = d
        .command(&["--json", "backup", "--out", backup.to_str().unwrap()])
        .env("DOORSTEP_KEYSTORE", "system")
        .env("DOORSTEP_BACKUP_PASSPHRASE", "một câu dài để thử")
        .output()
        .unwrap();
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let reset = with_keystore(&["--json", "reset"]);
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert!(SecretService.get(&entry).unwrap().is_none());
    assert!(!d.db.exists() && !KeyFile::exists(&d.db));
}
