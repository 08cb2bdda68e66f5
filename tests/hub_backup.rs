//! `hub backup` and `hub restore` of a ward office's hub, with the real binary, a real hub
//! on a loopback port and real devices: a backup taken while the hub serves, work synced after
//! it, the hub restored from it; devices that synced after the backup send back what the
//! restored hub lacks, and a device whose cursor the restored hub has moved past still
//! receives everything (the hub's new incarnation).

mod support;

use support::{bin, Device, HubProcess};

/// `hub restore --data DATA FILE`, with the tests' passphrase or `passphrase`.
fn restore(
    data: &std::path::Path,
    file: &std::path::Path,
    passphrase: Option<&str>,
) -> std::process::Output {
    let mut command = bin();
    if let Some(p) = passphrase {
        command.env("DOORSTEP_HUB_PASSPHRASE", p);
    }
    command
        .args(["--json", "hub", "restore", "--data"])
        .arg(data)
        .arg(file)
        .output()
        .unwrap()
}

fn households(d: &Device) -> u64 {
    d.sync();
    d.json(&["report"])["households"]
        .as_u64()
        .expect("households")
}

fn admin(hub: &HubProcess, args: &[&str]) -> serde_json::Value {
    let out = hub.admin(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn a_restored_hub_gets_back_what_devices_hold_and_sends_them_what_they_lack() {
    let mut hub = HubProcess::start(&["Tổ 1"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ 1"]);
    let minh = Device::joined(&hub, "volunteer", "Minh", &["Tổ 1"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let first = lan.add_household("Tổ 1", "Ngõ 5 Hàng Bông", "1");
    lan.json(&[
        "visit",
        "add",
        "--household",
        &first,
        "--outcome",
        "assisted",
        "--assist",
        "vneid_activate:done",
    ]);
    lan.sync();

    // A backup while the hub serves.
    let file = hub.dir.path().join("hub-backup.tar");
    let backup = admin(
        &hub,
        &["--json", "hub", "backup", "--out", file.to_str().unwrap()],
    );
    assert!(backup["bytes"].as_u64().unwrap() > 0, "{backup}");
    assert_eq!(backup["ward"], "Phường Cửa Nam");
    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("Hàng Bông"),
        "the backup's database is encrypted"
    );
    assert!(
        !text.contains("PRIVATE KEY"),
        "the TLS key is inside the encrypted database"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Work after the backup: Lan's second household reaches the hub, and a device joins.
    let second = lan.add_household("Tổ 1", "Ngõ 7 Hàng Bông", "2");
    lan.json(&[
        "visit",
        "add",
        "--household",
        &second,
        "--outcome",
        "revisit",
    ]);
    lan.sync();
    let late = Device::joined(&hub, "volunteer", "Tú", &["Tổ 1"]);
    assert_eq!(households(&coordinator), 2);

    // The hub is lost and restored from the backup.
    hub.kill();
    let data = hub.data();
    let restored = {
        let out = restore(&data, &file, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(restored["devices"], 3, "{restored}");
    let kept = restored["kept"]
        .as_str()
        .expect("what the hub held, kept aside");
    assert!(std::path::Path::new(kept).join("hub.sqlite").exists());
    hub.restart();

    // Minh records 30 households before Lan syncs again: the restored hub's sequence passes
    // the cursor Lan holds from before the restore.
    for n in 0..30 {
        minh.add_household("Tổ 1", "Ngõ 9 Lò Sũ", &n.to_string());
    }
    minh.sync();
    let report = lan.sync();
    assert_eq!(report["hub_restored"], true, "{report}");
    assert_eq!(
        households(&lan),
        32,
        "Lan receives Minh's work past her old cursor"
    );

    // The hub holds everything again: a coordinator's device joined now pulls it all.
    let fresh = Device::joined(&hub, "coordinator", "Anh Tuấn", &[]);
    let report = fresh.json(&["report"]);
    assert_eq!(report["households"], 32, "{report}");
    assert_eq!(report["visits"], 2, "{report}");
    assert_eq!(households(&coordinator), 32);

    // A device that joined after the backup is unknown to the restored hub: it must join
    // again, and keeps its work meanwhile.
    let (code, message) = late.fails(&["--json", "sync"]);
    assert_ne!(code, 0);
    assert!(message.contains("token_unknown"), "{message}");
}

/// A stopped hub whose one device, Lan, has synced one household: what a refused restore
/// must leave as it was.
fn stopped_hub_with_one_household() -> (HubProcess, Device) {
    let mut hub = HubProcess::start(&["Tổ 1"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ 1"]);
    lan.add_household("Tổ 1", "Ngõ 5 Hàng Bông", "1");
    lan.sync();
    hub.kill();
    (hub, lan)
}

/// The hub serves again and holds Lan's household: a second one syncs beside it.
fn assert_hub_as_it_was(hub: &mut HubProcess, lan: &Device) {
    hub.restart();
    lan.add_household("Tổ 1", "Ngõ 5 Hàng Bông", "2");
    lan.sync();
    assert_eq!(households(lan), 2, "the hub is as it was");
}

#[test]
fn a_backup_that_is_not_one_is_refused_and_the_hub_is_untouched() {
    let (mut hub, lan) = stopped_hub_with_one_household();
    let data = hub.data();
    let junk = hub.dir.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar file at all").unwrap();
    let out = restore(&data, &junk, None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad_backup"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A backup under another passphrase: refused, nothing moved.
    let file = hub.dir.path().join("b.tar");
    let made = hub.admin(&["hub", "backup", "--out", file.to_str().unwrap()]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let out = restore(&data, &file, Some("another passphrase entirely"));
    assert!(!out.status.success());
    assert_hub_as_it_was(&mut hub, &lan);
}

/// A crafted archive: a database entry that is a link to a file elsewhere, and an entry whose
/// name climbs out of the directory. Neither is written; the restore is refused and the hub
/// is as it was.
#[test]
fn a_crafted_backup_writes_nothing_and_is_refused() {
    let (mut hub, lan) = stopped_hub_with_one_household();
    let data = hub.data();
    let outside = hub.dir.path().join("secret.txt");
    std::fs::write(&outside, b"not the hub's").unwrap();
    let crafted = hub.dir.path().join("crafted.tar");
    {
        let mut tar = tar::Builder::new(std::fs::File::create(&crafted).unwrap());
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        tar.append_link(&mut link, "hub.sqlite", &outside).unwrap();
        let body = b"escaped";
        let mut climb = tar::Header::new_gnu();
        climb.set_size(body.len() as u64);
        climb.set_mode(0o644);
        // Written raw: the builder itself refuses a `..` path.
        climb.as_gnu_mut().unwrap().name[..12].copy_from_slice(b"../escape.tx");
        climb.set_cksum();
        tar.append(&climb, &body[..]).unwrap();
        tar.finish().unwrap();
    }
    let out = restore(&data, &crafted, None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad_backup"));
    assert_eq!(std::fs::read(&outside).unwrap(), b"not the hub's");
    let parent = data.parent().unwrap();
    assert!(!parent.join("escape.tx").exists() && !hub.dir.path().join("escape.tx").exists());
    assert_hub_as_it_was(&mut hub, &lan);
}
