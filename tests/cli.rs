//! The `doorstep` command contract, through the real binary on real SQLite files: every
//! command of the foundation issue, its JSON, its table, and its refusals (exit code, one line
//! on stderr, nothing changed).

mod support;

use serde_json::Value;
use support::{Device, HubProcess};

#[test]
fn ward_init_creates_groups_that_group_list_shows() {
    let d = Device::new();
    let ward = d.json(&[
        "ward",
        "init",
        "--name",
        "Phường Cửa Nam",
        "--group",
        "Tổ 1",
        "--group",
        "Tổ 2",
    ]);
    assert_eq!(ward["name"], "Phường Cửa Nam");
    assert_eq!(ward["groups"].as_array().unwrap().len(), 2);
    let groups = d.json(&["group", "list"]);
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Tổ 1", "Tổ 2"]);
    assert!(d.ok(&["group", "list"]).contains("Tổ 2"));
    let (code, msg) = d.fails(&["ward", "init", "--name", "Again", "--group", "X"]);
    assert_eq!(code, 1);
    assert!(msg.contains("already holds ward"), "{msg}");
}

#[test]
fn household_add_update_list_and_show() {
    let d = Device::with_ward();
    let h = d.json(&[
        "household",
        "add",
        "--group",
        "Tổ 1",
        "--alley",
        "Ngõ 12 Hàng Bông",
        "--number",
        "5",
        "--members",
        "3",
        "--priority",
        "elderly",
        "--priority",
        "poor",
        "--internet",
        "no",
    ]);
    let id = h["id"].as_str().unwrap().to_string();
    assert_eq!(h["alley"], "Ngõ 12 Hàng Bông");
    assert_eq!(h["members"], 3);
    assert_eq!(h["priority"]["elderly"], true);
    assert_eq!(h["priority"]["poor"], true);
    assert_eq!(h["internet"], "no");
    assert_eq!(h["consent"], false);

    let updated = d.json(&[
        "household",
        "update",
        &id,
        "--internet",
        "yes",
        "--consent",
        "--name",
        "Bà Hoa",
        "--phone",
        "0912345678",
    ]);
    assert_eq!(updated["internet"], "yes");
    assert_eq!(updated["name"], "Bà Hoa");
    assert_eq!(updated["members"], 3, "fields not given stay");

    d.add_household("Tổ 2", "Ngõ 3", "1");
    d.add_household("Tổ 1", "Ngõ 12 Hàng Bông", "10");
    d.add_household("Tổ 1", "Ngõ 12 Hàng Bông", "9");
    let in_group: Vec<String> = d
        .json(&["household", "list", "--group", "Tổ 1"])
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        in_group,
        ["5", "9", "10"],
        "walk order: alley, then house number"
    );
    assert_eq!(d.json(&["household", "list"]).as_array().unwrap().len(), 4);

    let shown = d.json(&["household", "show", &id]);
    assert_eq!(shown["household"]["id"], id.as_str());
    assert_eq!(shown["group"], "Tổ 1");
    assert!(d
        .ok(&["household", "show", &id])
        .contains("Ngõ 12 Hàng Bông"));

    let withdrawn = d.json(&["household", "update", &id, "--withdraw-consent"]);
    assert_eq!(withdrawn["name"], Value::Null);
    assert_eq!(withdrawn["phone"], Value::Null);
}

#[test]
fn visits_with_assists_and_follow_ups_reach_the_report() {
    let d = Device::with_ward();
    let a = d.add_household("Tổ 1", "Ngõ 5", "1");
    let b = d.add_household("Tổ 2", "Ngõ 7", "2");
    d.add_household("Tổ 2", "Ngõ 7", "4");
    let v = d.json(&[
        "visit",
        "add",
        "--household",
        &a,
        "--outcome",
        "assisted",
        "--assist",
        "vneid_activate:done:60_plus:elderly",
        "--assist",
        "ihanoi:partial",
        "--follow-up",
        "2026-11-20",
        "--follow-up-reason",
        "L2 tại công an phường",
        "--volunteer",
        "Thu Trang",
    ]);
    assert!(v["id"].as_str().is_some());
    assert_eq!(v["assists"][0]["service"], "vneid_activate");
    assert_eq!(v["assists"][0]["age_band"], "60_plus");
    assert_eq!(v["assists"][1]["result"], "partial");
    assert_eq!(v["follow_up"]["date"], "2026-11-20");
    d.json(&["visit", "add", "--household", &b, "--outcome", "not_home"]);
    d.json(&[
        "visit",
        "add",
        "--household",
        &b,
        "--outcome",
        "revisit",
        "--follow-up",
        "2026-12-01",
    ]);

    assert_eq!(d.json(&["visit", "list"]).as_array().unwrap().len(), 3);
    assert_eq!(
        d.json(&["visit", "list", "--household", &b])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(d.ok(&["visit", "list"]).contains("Ngõ 5 › 1"));

    let r = d.json(&["report", "--today", "2026-11-25"]);
    assert_eq!(r["households"], 3);
    assert_eq!(r["households_visited"], 2);
    assert_eq!(r["visits"], 3);
    assert_eq!(r["assists_by_service"]["vneid_activate"], 1);
    assert_eq!(r["assists_by_service"]["ihanoi"], 0, "partial is not done");
    assert_eq!(r["assists_by_service_and_result"]["ihanoi"]["partial"], 1);
    assert_eq!(r["walkins"], 0);
    assert_eq!(
        r["follow_ups_due"], 1,
        "2026-12-01 is not due on 2026-11-25"
    );
    assert_eq!(r["follow_ups"][0]["household_id"], a.as_str());
    let groups = r["by_group"].as_array().unwrap();
    assert_eq!(groups[0]["group"], "Tổ 1");
    assert_eq!(groups[0]["households"], 1);
    assert_eq!(groups[0]["visited"], 1);
    assert_eq!(groups[1]["households"], 2);
    assert_eq!(groups[1]["visited"], 1);
    // A later visit closes the follow-up.
    d.json(&[
        "visit",
        "add",
        "--household",
        &a,
        "--outcome",
        "assisted",
        "--assist",
        "vneid_level2_guide",
    ]);
    assert_eq!(
        d.json(&["report", "--today", "2026-11-25"])["follow_ups_due"],
        0
    );
    assert!(d.ok(&["report"]).contains("Tổ 2"));
}

#[test]
fn literacy_point_walkins_are_counted() {
    let d = Device::with_ward();
    let p = d.json(&[
        "point",
        "add",
        "--name",
        "Điểm chợ Cửa Nam",
        "--place",
        "Cổng chợ",
    ]);
    assert_eq!(p["place"], "Cổng chợ");
    let w = d.json(&[
        "walkin",
        "add",
        "--point",
        "Điểm chợ Cửa Nam",
        "--service",
        "vneid_install",
        "--result",
        "done",
        "--age-band",
        "60_plus",
        "--priority",
        "elderly",
    ]);
    assert_eq!(w["service"], "vneid_install");
    assert_eq!(w["priority"]["elderly"], true);
    d.json(&[
        "walkin",
        "add",
        "--point",
        "Điểm chợ Cửa Nam",
        "--service",
        "etax",
        "--result",
        "needs_follow_up",
    ]);
    let r = d.json(&["report"]);
    assert_eq!(r["walkins"], 2);
    assert_eq!(r["walkins_by_point"][0]["walkins"], 2);
    assert_eq!(r["assists_by_service"]["vneid_install"], 1);
    assert!(d.ok(&["point", "list"]).contains("Cổng chợ"));
}

#[test]
fn bad_input_exits_non_zero_with_one_line_and_changes_nothing() {
    let d = Device::with_ward();
    let h = d.add_household("Tổ 1", "Ngõ 5", "1");
    d.ok(&["point", "add", "--name", "Điểm 1"]);
    let before = d.state();
    let unknown = "01a212c8-583d-7730-9a2f-7b10834cd04d";
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec![
                "household",
                "add",
                "--group",
                "Tổ 9",
                "--alley",
                "Ngõ 1",
                "--number",
                "1",
            ],
            1,
            "unknown residential group",
        ),
        (
            vec![
                "household",
                "add",
                "--group",
                "Tổ 1",
                "--alley",
                "Ngõ 1",
                "--number",
                " ",
            ],
            1,
            "house number is empty",
        ),
        (
            vec![
                "household",
                "add",
                "--group",
                "Tổ 1",
                "--alley",
                "Ngõ 1",
                "--number",
                "2",
                "--name",
                "Bà Hoa",
            ],
            1,
            "consent",
        ),
        (
            vec![
                "household",
                "add",
                "--group",
                "Tổ 1",
                "--alley",
                "Ngõ 1",
                "--number",
                "2",
                "--consent",
                "--name",
                "Hoa 001203004567",
            ],
            1,
            "citizen ID",
        ),
        (
            vec![
                "household",
                "add",
                "--group",
                "Tổ 1",
                "--alley",
                "Ngõ 1",
                "--number",
                "2",
                "--consent",
                "--phone",
                "12",
            ],
            1,
            "phone",
        ),
        (
            vec![
                "household",
                "add",
                "--group",
                "Tổ 1",
                "--alley",
                "Ngõ 1",
                "--number",
                "2",
                "--members",
                "0",
            ],
            1,
            "members",
        ),
        (
            vec!["household", "add", "--group", "Tổ 1", "--alley", "Ngõ 1"],
            2,
            "--number",
        ),
        (
            vec![
                "household",
                "add",
                "--group",
                "Tổ 1",
                "--alley",
                "Ngõ 1",
                "--number",
                "2",
                "--priority",
                "rich",
            ],
            2,
            "elderly, disability",
        ),
        (
            vec!["household", "update", unknown, "--members", "2"],
            1,
            "unknown household",
        ),
        (vec!["household", "update", &h], 1, "nothing to change"),
        (
            vec!["household", "update", &h, "--phone", "0912345678"],
            1,
            "consent",
        ),
        (
            vec!["household", "show", "not-an-id"],
            1,
            "unknown household",
        ),
        (
            vec![
                "visit",
                "add",
                "--household",
                unknown,
                "--outcome",
                "assisted",
            ],
            1,
            "unknown household",
        ),
        (
            vec!["visit", "add", "--household", &h, "--outcome", "gone"],
            2,
            "not_home",
        ),
        (
            vec![
                "visit",
                "add",
                "--household",
                &h,
                "--outcome",
                "declined",
                "--assist",
                "ihanoi",
            ],
            1,
            "outcome is assisted",
        ),
        (
            vec![
                "visit",
                "add",
                "--household",
                &h,
                "--outcome",
                "assisted",
                "--assist",
                "teleport",
            ],
            2,
            "vneid_install",
        ),
        (
            vec![
                "visit",
                "add",
                "--household",
                &h,
                "--outcome",
                "revisit",
                "--note",
                "CMND 012345678",
            ],
            1,
            "citizen ID",
        ),
        (
            vec![
                "visit",
                "add",
                "--household",
                &h,
                "--outcome",
                "revisit",
                "--follow-up",
                "2026-12-01",
                "--follow-up-reason",
                "số 0012 0300 4567",
            ],
            1,
            "citizen ID",
        ),
        (
            vec![
                "visit",
                "add",
                "--household",
                &h,
                "--outcome",
                "revisit",
                "--at",
                "2099-01-01T00:00:00Z",
            ],
            1,
            "more than a day",
        ),
        (
            vec![
                "visit",
                "add",
                "--household",
                &h,
                "--outcome",
                "revisit",
                "--follow-up",
                "next friday",
            ],
            2,
            "not a date",
        ),
        (
            vec![
                "visit",
                "add",
                "--household",
                &h,
                "--outcome",
                "revisit",
                "--follow-up-reason",
                "x",
            ],
            2,
            "--follow-up",
        ),
        (
            vec!["visit", "list", "--household", unknown],
            1,
            "unknown household",
        ),
        (
            vec!["point", "add", "--name", "Điểm 1"],
            1,
            "already exists",
        ),
        (
            vec![
                "walkin",
                "add",
                "--point",
                "Điểm 9",
                "--service",
                "etax",
                "--result",
                "done",
            ],
            1,
            "unknown literacy point",
        ),
        (
            vec![
                "walkin",
                "add",
                "--point",
                "Điểm 1",
                "--service",
                "etax",
                "--result",
                "great",
            ],
            2,
            "needs_follow_up",
        ),
        (vec!["demo", "--households", "10"], 1, "already holds ward"),
        (vec!["report", "--today", "yesterday"], 2, "not a date"),
    ];
    for (args, code, needle) in cases {
        let (got, msg) = d.fails(&args);
        assert_eq!(got, code, "doorstep {args:?}: {msg}");
        assert!(
            msg.contains(needle),
            "doorstep {args:?}: {msg:?} should mention {needle:?}"
        );
    }
    assert_eq!(d.state(), before, "a refused command changed the database");
    assert!(d
        .ok(&["check"])
        .contains("query tables match documents: yes"));
}

#[test]
fn commands_on_a_missing_database_refuse_without_creating_it() {
    let d = Device::new();
    for args in [
        vec!["household", "list"],
        vec!["report"],
        vec!["visit", "list"],
    ] {
        let (code, msg) = d.fails(&args);
        assert_eq!(code, 1);
        assert!(msg.contains("ward init"), "{msg}");
    }
    assert!(!d.db.exists());
}

#[test]
fn demo_is_realistic_and_the_same_for_the_same_seed() {
    let a = Device::new();
    let b = Device::new();
    let c = Device::new();
    let summary = a.json(&["demo", "--households", "600", "--seed", "42"]);
    b.json(&["demo", "--households", "600", "--seed", "42"]);
    c.json(&["demo", "--households", "600", "--seed", "43"]);
    assert_eq!(summary["households"], 600);
    assert_eq!(a.state(), b.state());
    assert_ne!(a.state()["households"], c.state()["households"]);

    let r = a.json(&["report"]);
    let households = r["households"].as_u64().unwrap();
    let visited = r["households_visited"].as_u64().unwrap() as f64 / households as f64;
    assert!((0.5..0.85).contains(&visited), "visited share {visited}");
    assert!(r["priority_households"].as_u64().unwrap() > 60);
    assert!(r["assists_by_service"]["vneid_activate"].as_u64().unwrap() > 0);
    assert!(r["walkins"].as_u64().unwrap() > 0);
    let first = &a.json(&["household", "list"])[0];
    assert!(
        first["alley"].as_str().unwrap().starts_with("Ng"),
        "{first}"
    );
    assert!(a.ok(&["group", "list"]).contains("Tổ dân phố số 1"));
    assert!(a.ok(&["check"]).contains("yes"));
}

#[test]
fn rebuild_keeps_the_query_tables_equal() {
    let d = Device::new();
    d.json(&["demo", "--households", "300"]);
    let before = d.state();
    let check = d.json(&["rebuild"]);
    assert_eq!(check["query_tables_match_documents"], true);
    assert_eq!(d.state(), before);
}

/// The error code of a failed `--json` command's one stderr line.
fn error_code(stderr: &str) -> String {
    let v: Value = serde_json::from_str(stderr).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// The PIN contract: `DOORSTEP_PIN` creates and opens an encrypted database; without it (and no
/// terminal) nothing opens; a wrong PIN is refused and counted; `--plaintext` is the explicit
/// way to an unencrypted file, which the PIN then encrypts in place; the recovery code shown
/// again with the PIN replaces a forgotten one.
#[test]
fn the_pin_opens_the_database_and_nothing_else_does() {
    let d = Device::with_ward();
    let bytes = std::fs::read(&d.db).unwrap();
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "the database is encrypted"
    );
    assert!(!bytes
        .windows("Cửa Nam".len())
        .any(|w| w == "Cửa Nam".as_bytes()));

    let without = d
        .command(&["--json", "status"])
        .env_remove("DOORSTEP_PIN")
        .output()
        .unwrap();
    assert_eq!(without.status.code(), Some(1));
    assert_eq!(
        error_code(&String::from_utf8_lossy(&without.stderr)),
        "pin_needed"
    );

    let wrong = d
        .command(&["--json", "status"])
        .env("DOORSTEP_PIN", "999999")
        .output()
        .unwrap();
    assert_eq!(
        error_code(&String::from_utf8_lossy(&wrong.stderr)),
        "wrong_pin"
    );
    let plain = d
        .command(&["--json", "--plaintext", "status"])
        .output()
        .unwrap();
    assert_eq!(
        error_code(&String::from_utf8_lossy(&plain.stderr)),
        "database_encrypted"
    );

    let code = d.json(&["pin", "recovery-code"])["recovery_code"]
        .as_str()
        .unwrap()
        .to_string();
    let recovered = d
        .command(&["pin", "recover", "--code", &code])
        .env_remove("DOORSTEP_PIN")
        .env("DOORSTEP_NEW_PIN", "112233")
        .output()
        .unwrap();
    assert!(
        recovered.status.success(),
        "{}",
        String::from_utf8_lossy(&recovered.stderr)
    );
    let old = d.command(&["--json", "status"]).output().unwrap();
    assert_eq!(
        error_code(&String::from_utf8_lossy(&old.stderr)),
        "wrong_pin"
    );
    let new = d
        .command(&["--json", "group", "list"])
        .env("DOORSTEP_PIN", "112233")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&new.stdout).contains("Tổ 2"));

    // Unencrypted only when asked; the PIN's first use encrypts it, losing nothing.
    let p = Device::new();
    let made = p
        .command(&[
            "--json",
            "--plaintext",
            "ward",
            "init",
            "--name",
            "Phường Rõ",
            "--group",
            "Tổ 9",
        ])
        .output()
        .unwrap();
    assert!(made.status.success());
    assert!(std::fs::read(&p.db)
        .unwrap()
        .starts_with(b"SQLite format 3"));
    let groups = p.json(&["group", "list"]);
    assert_eq!(groups[0]["name"], "Tổ 9");
    assert!(!std::fs::read(&p.db)
        .unwrap()
        .starts_with(b"SQLite format 3"));
}

/// The duplicates contract: `household duplicates` lists two spellings of one house with the
/// reason; `household merge` keeps one, whose visits then include the other's (counted once,
/// the duplicate out of every list and count); a visit recorded on the merged-away id lands
/// on the survivor; `household not-duplicate` is remembered.
#[test]
fn duplicates_are_listed_merged_and_remembered() {
    let d = Device::with_ward();
    let kept = d.add_household("Tổ 1", "Ngõ 12 Hàng Bông", "số 5");
    let gone = d.add_household("Tổ 1", "ngo 12 hang bong", "5");
    let near = d.add_household("Tổ 1", "Ngõ 40 Hàng Gai", "9");
    let far = d.add_household("Tổ 1", "ngo 40 hang gai", "9");
    d.add_household("Tổ 2", "Ngõ 12 Hàng Bông", "5"); // another group: not a duplicate
    for h in [&kept, &gone, &gone] {
        d.json(&["visit", "add", "--household", h, "--outcome", "not_home"]);
    }
    let pairs = d.json(&["household", "duplicates"]);
    let pairs = pairs.as_array().unwrap();
    assert_eq!(pairs.len(), 2, "{pairs:?}");
    let pair = pairs
        .iter()
        .find(|p| p["first"] == kept.as_str() || p["second"] == kept.as_str())
        .unwrap();
    assert_eq!(pair["reasons"], serde_json::json!(["same_address"]));
    assert_eq!(pair["group"], "Tổ 1");
    assert_eq!(
        d.json(&["household", "duplicates", "--group", "Tổ 2"]),
        serde_json::json!([])
    );

    let before = d.json(&["report", "--today", "2026-11-25"]);
    assert_eq!(before["households"], 5);
    let survivor = d.json(&["household", "merge", &kept, &gone]);
    assert_eq!(survivor["id"], kept.as_str());
    d.json(&[
        "visit",
        "add",
        "--household",
        &gone,
        "--outcome",
        "assisted",
    ]);
    let after = d.json(&["report", "--today", "2026-11-25"]);
    assert_eq!(after["households"], 4);
    assert_eq!(after["visits"], 4);
    let listed = d.json(&["household", "list"]);
    assert!(!listed
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["id"] == gone.as_str()));
    let shown = d.json(&["household", "show", &kept]);
    assert_eq!(shown["visits"].as_array().unwrap().len(), 4, "{shown}");
    let (code, msg) = d.fails(&["--json", "household", "merge", &kept, &gone]);
    assert_ne!(code, 0);
    assert!(msg.contains("cannot_merge"), "{msg}");

    d.json(&["household", "not-duplicate", &near, &far]);
    assert_eq!(d.json(&["household", "duplicates"]), serde_json::json!([]));
}

/// Voids: a voided visit leaves every count; a voided household leaves every list and count
/// with its visits (a visit recorded on it later too); both are kept and listed; a void
/// needs a reason.
#[test]
fn voided_records_are_kept_and_never_counted() {
    let d = Device::with_ward();
    let kept = d.add_household("Tổ 1", "Ngõ 4", "1");
    let mistaken = d.add_household("Tổ 1", "Ngõ 4", "99");
    let visit = |h: &str| {
        d.json(&[
            "visit",
            "add",
            "--household",
            h,
            "--outcome",
            "assisted",
            "--assist",
            "vneid_activate:done",
        ])["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let tapped = visit(&kept);
    visit(&kept);
    visit(&mistaken);
    let report = d.json(&["report"]);
    assert_eq!(
        (report["households"].as_u64(), report["visits"].as_u64()),
        (Some(2), Some(3))
    );

    let (_, msg) = d.fails(&["--json", "visit", "void", &tapped, "--reason", "   "]);
    assert!(msg.contains("empty_text"), "{msg}");
    let v = d.json(&["visit", "void", &tapped, "--reason", "bấm nhầm hộ"]);
    assert_eq!(v["voided"]["reason"], "bấm nhầm hộ");
    let h = d.json(&[
        "household",
        "void",
        &mistaken,
        "--reason",
        "không có số nhà này",
    ]);
    assert_eq!(h["id"], mistaken.as_str());
    visit(&kept);
    let report = d.json(&["report"]);
    assert_eq!(report["households"], 1);
    assert_eq!(report["visits"], 2);
    assert_eq!(report["assists_by_service"]["vneid_activate"], 2);
    let listed = d.json(&["household", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let voided = d.json(&["visit", "voided"]);
    let maps: Vec<&str> = voided
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["map"].as_str().unwrap())
        .collect();
    assert_eq!(maps.len(), 2, "{voided}");
    assert!(maps.contains(&"visits") && maps.contains(&"households"));
    // What the tables show is what the documents say: a rebuild gives the same.
    let before = d.json(&["report"]);
    d.ok(&["rebuild"]);
    assert_eq!(d.json(&["report"]), before);
    assert_eq!(d.json(&["check"])["query_tables_match_documents"], true);
}

/// What is at an address: coverage counts only where people live (lives_here,
/// temporary_residents); vacant, moved away, business and no-such-address are addresses
/// checked, reported apart; why a visit's purpose was not done is counted by reason.
#[test]
fn coverage_counts_only_where_people_live() {
    let d = Device::with_ward();
    let lives = d.add_household("Tổ 1", "Ngõ 4", "1");
    let renters = d.json(&[
        "household",
        "add",
        "--group",
        "Tổ 1",
        "--alley",
        "Ngõ 4",
        "--number",
        "3",
        "--state",
        "temporary_residents",
    ]);
    assert_eq!(renters["state"], "temporary_residents");
    let empty = d.add_household("Tổ 1", "Ngõ 4", "5");
    d.json(&["household", "update", &empty, "--state", "vacant"]);
    d.json(&[
        "household",
        "add",
        "--group",
        "Tổ 1",
        "--alley",
        "Ngõ 4",
        "--number",
        "7",
        "--state",
        "business",
    ]);
    d.json(&[
        "visit",
        "add",
        "--household",
        &lives,
        "--outcome",
        "revisit",
        "--not-done-reason",
        "sim_not_own_name",
    ]);
    d.json(&[
        "visit",
        "add",
        "--household",
        &empty,
        "--outcome",
        "not_home",
    ]);
    let (_, msg) = d.fails(&["--json", "household", "update", &lives, "--state", "castle"]);
    assert!(msg.contains("castle"), "{msg}");

    let r = d.json(&["report"]);
    assert_eq!(r["households"], 2, "{r}");
    assert_eq!(r["households_visited"], 1);
    assert_eq!(r["visits"], 2);
    assert_eq!(r["addresses_not_households"]["vacant"], 1);
    assert_eq!(r["addresses_not_households"]["business"], 1);
    assert_eq!(r["addresses_not_households"]["no_such_address"], 0);
    assert_eq!(r["not_done_reasons"]["sim_not_own_name"], 1);
    assert_eq!(r["by_group"][0]["households"], 2);
}

/// The range report against a ward computed by hand: days are Hanoi's (a visit at 01:30 on
/// the 25th in Hanoi is 18:30 UTC on the 24th), households reached are distinct and only where
/// people live, people assisted are assists (door to door and at literacy points) by age band
/// and priority group, VNeID activations and level-2 guides are theirs; the same per group and
/// per volunteer; the CSV and XLSX hold it.
#[test]
fn the_range_report_matches_a_ward_computed_by_hand() {
    let d = Device::with_ward();
    d.ok(&["point", "add", "--name", "Điểm chợ"]);
    let hh = |group: &str, number: &str, extra: &[&str]| {
        let mut args = vec![
            "household",
            "add",
            "--group",
            group,
            "--alley",
            "Ngõ 5",
            "--number",
            number,
        ];
        args.extend_from_slice(extra);
        d.json(&args)["id"].as_str().unwrap().to_string()
    };
    let a = hh("Tổ 1", "1", &["--priority", "elderly"]);
    let b = hh("Tổ 1", "2", &["--priority", "poor"]);
    let c = hh("Tổ 2", "3", &[]);
    let vacant = hh("Tổ 2", "4", &["--state", "vacant"]);
    let visit = |h: &str, by: &str, at: &str, outcome: &str, assists: &[&str]| {
        let mut args = vec![
            "visit",
            "add",
            "--household",
            h,
            "--volunteer",
            by,
            "--at",
            at,
            "--outcome",
            outcome,
        ];
        for x in assists {
            args.push("--assist");
            args.push(x);
        }
        d.json(&args);
    };
    visit(
        &a,
        "Lan",
        "2026-11-24T18:30:00Z",
        "assisted",
        &[
            "vneid_activate:done:60_plus:elderly",
            "ihanoi:partial:60_plus:elderly",
        ],
    );
    visit(
        &b,
        "Lan",
        "2026-11-25T03:00:00Z",
        "assisted",
        &["vneid_level2_guide:done:18_59:poor"],
    );
    visit(&c, "Minh", "2026-11-25T10:00:00Z", "not_home", &[]);
    visit(
        &a,
        "Minh",
        "2026-11-26T02:00:00Z",
        "assisted",
        &["vneid_activate:done:18_59"],
    );
    visit(&vacant, "Minh", "2026-11-26T03:00:00Z", "not_home", &[]);
    visit(&c, "Lan", "2026-11-24T16:59:00Z", "not_home", &[]); // the 24th in Hanoi: outside
    d.json(&[
        "walkin",
        "add",
        "--point",
        "Điểm chợ",
        "--service",
        "vneid_activate",
        "--result",
        "done",
        "--age-band",
        "60_plus",
        "--priority",
        "elderly",
        "--at",
        "2026-11-25T05:00:00Z",
    ]);

    let by_day = d.json(&[
        "report",
        "--from",
        "2026-11-25",
        "--to",
        "2026-11-26",
        "--by",
        "day",
    ]);
    let rows = by_day["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{by_day}");
    let (d25, d26, total) = (&rows[0], &rows[1], &by_day["total"]);
    assert_eq!(d25["key"], "2026-11-25");
    assert_eq!(
        (d25["visits"].as_u64(), d25["households_reached"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(d25["priority_households_reached"]["elderly"], 1);
    assert_eq!(d25["priority_households_reached"]["poor"], 1);
    assert_eq!(d25["people_assisted"], 4);
    assert_eq!(
        (
            d25["vneid_activations"].as_u64(),
            d25["level2_guides"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(d25["walkins"], 1);
    assert_eq!(d25["people_by_age_band"]["60_plus"], 3);
    assert_eq!(d25["people_by_age_band"]["18_59"], 1);
    assert_eq!(d25["people_by_priority"]["elderly"], 3);
    assert_eq!(d25["people_by_priority"]["poor"], 1);
    assert_eq!(d25["assists_by_service_and_result"]["ihanoi"]["partial"], 1);
    assert_eq!(d26["key"], "2026-11-26");
    assert_eq!(
        (d26["visits"].as_u64(), d26["households_reached"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (
            d26["people_assisted"].as_u64(),
            d26["vneid_activations"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(d26["people_by_age_band"]["18_59"], 1);
    assert_eq!(total["visits"], 5);
    assert_eq!(
        total["households_reached"], 3,
        "A is reached on both days: once in total"
    );
    assert_eq!(total["priority_households_reached"]["elderly"], 1);
    assert_eq!(
        (
            total["people_assisted"].as_u64(),
            total["vneid_activations"].as_u64()
        ),
        (Some(5), Some(3))
    );

    let by_volunteer = d.json(&[
        "report",
        "--from",
        "2026-11-25",
        "--to",
        "2026-11-26",
        "--by",
        "volunteer",
    ]);
    let key = |r: &serde_json::Value, k: &str| {
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["key"] == k)
            .cloned()
            .unwrap()
    };
    let lan = key(&by_volunteer, "Lan");
    assert_eq!(
        (
            lan["visits"].as_u64(),
            lan["households_reached"].as_u64(),
            lan["people_assisted"].as_u64()
        ),
        (Some(2), Some(2), Some(3))
    );
    let minh = key(&by_volunteer, "Minh");
    assert_eq!(
        (minh["visits"].as_u64(), minh["households_reached"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(key(&by_volunteer, "Điểm: Điểm chợ")["walkins"], 1);
    let by_group = d.json(&[
        "report",
        "--from",
        "2026-11-25",
        "--to",
        "2026-11-26",
        "--by",
        "group",
    ]);
    assert_eq!(key(&by_group, "Tổ 1")["visits"], 3);
    assert_eq!(key(&by_group, "Tổ 2")["households_reached"], 1);

    let csv = d.dir.path().join("bao-cao.csv");
    let xlsx = d.dir.path().join("bao-cao.xlsx");
    for file in [&csv, &xlsx] {
        d.json(&[
            "report",
            "--from",
            "2026-11-25",
            "--to",
            "2026-11-26",
            "--out",
            file.to_str().unwrap(),
        ]);
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("Ngày / Day") && lines[0].contains("Kích hoạt VNeID"),
        "{}",
        lines[0]
    );
    assert!(lines[3].starts_with("Tổng / Total,5,3,"), "{}", lines[3]);
    let bytes = std::fs::read(&xlsx).unwrap();
    assert_eq!(&bytes[..2], b"PK", "an XLSX is a zip");
    let (_, msg) = d.fails(&[
        "--json",
        "report",
        "--from",
        "2026-11-25",
        "--to",
        "2026-11-26",
        "--out",
        "x.pdf",
    ]);
    assert!(msg.contains("export_failed"), "{msg}");
}

/// Paper: `print walk-list|follow-ups --group NAME --out FILE.pdf` writes one group's sheet
/// (other groups' households and closed follow-ups left out), read back with pdftotext; an
/// unknown group or an unwritable path is a clear error and writes nothing.
#[test]
fn print_writes_a_groups_walk_list_and_follow_ups_as_pdf() {
    let d = Device::with_ward();
    let a = d.add_household("Tổ 1", "Ngõ 12 Hàng Bông", "5");
    let b = d.add_household("Tổ 1", "Ngõ 12 Hàng Bông", "7");
    d.add_household("Tổ 2", "Ngõ Tạm Thương", "3");
    let follow = |h: &str, date: &str, reason: &str| {
        d.json(&[
            "visit",
            "add",
            "--household",
            h,
            "--outcome",
            "revisit",
            "--follow-up",
            date,
            "--follow-up-reason",
            reason,
        ]);
    };
    follow(&a, "2026-11-20", "Hướng dẫn định danh mức 2");
    follow(&b, "2026-11-21", "Cài iHanoi khi có điện thoại");
    // A later visit to b closes its follow-up.
    d.json(&["visit", "add", "--household", &b, "--outcome", "assisted"]);

    let walk = d.dir.path().join("walk.pdf");
    let printed = d.json(&[
        "print",
        "walk-list",
        "--group",
        "Tổ 1",
        "--out",
        walk.to_str().unwrap(),
    ]);
    assert_eq!(printed["sheet"], "walk-list");
    assert_eq!(printed["group"], "Tổ 1");
    assert_eq!(printed["rows"], 2);
    assert_eq!(printed["pages"], 1);
    assert_eq!(printed["out"], walk.to_str().unwrap());
    let bytes = std::fs::read(&walk).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    assert_eq!(printed["bytes"], bytes.len());
    let text = pdf_text(&walk);
    assert!(text.contains("Danh sách đi hộ"), "{text}");
    assert!(text.contains("Phường Cửa Nam"), "{text}");
    assert!(
        text.contains("Ngõ 12 Hàng Bông (2 hộ / households)"),
        "{text}"
    );
    assert!(
        !text.contains("Tạm Thương"),
        "another group's household:\n{text}"
    );

    let follow_ups = d.dir.path().join("follow.pdf");
    let printed = d.json(&[
        "print",
        "follow-ups",
        "--group",
        "Tổ 1",
        "--out",
        follow_ups.to_str().unwrap(),
    ]);
    assert_eq!(
        printed["rows"], 1,
        "b's follow-up was closed by a later visit"
    );
    let text = pdf_text(&follow_ups);
    assert!(text.contains("Hướng dẫn định danh mức 2"), "{text}");
    assert!(text.contains("20/11/2026"), "{text}");
    assert!(!text.contains("Cài iHanoi"), "{text}");

    let (code, msg) = d.fails(&[
        "--json",
        "print",
        "walk-list",
        "--group",
        "Tổ 9",
        "--out",
        walk.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(msg.contains("unknown_group"), "{msg}");
    let nowhere = d.dir.path().join("no-such-dir").join("x.pdf");
    let (code, msg) = d.fails(&[
        "--json",
        "print",
        "follow-ups",
        "--group",
        "Tổ 1",
        "--out",
        nowhere.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(msg.contains("export_failed"), "{msg}");
    assert!(!nowhere.exists());
    let (code, _) = d.fails(&["print", "map", "--group", "Tổ 1", "--out", "x.pdf"]);
    assert_ne!(code, 0);
}

fn pdf_text(pdf: &std::path::Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils, installed by scripts/setup.sh)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// A certificate pin is base64url and may start with `-`: the flags that take one accept it
/// (the command then fails for what it is, not for its arguments).
#[test]
fn a_pin_starting_with_a_dash_is_a_value() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = support::bin()
        .args(["--json", "hub", "forward", "--data"])
        .arg(dir.path().join("no-hub"))
        .args([
            "--to",
            "https://127.0.0.1:9",
            "--token",
            "dsf_x",
            "--pin",
            "-Uabc",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
}

/// A visit added on a joined volunteer's device carries her name (the invite's) without
/// `--volunteer`, and the range report by volunteer names her; `--volunteer` still names
/// someone else (a shared device); a device that never joined records "volunteer" as before.
#[test]
fn a_visit_without_volunteer_carries_the_joined_devices_name() {
    let household = |d: &Device| {
        let h = d.json(&[
            "household",
            "add",
            "--group",
            "Tổ 1",
            "--alley",
            "Ngõ 3",
            "--number",
            "7",
        ]);
        h["id"].as_str().unwrap().to_string()
    };
    let hub = HubProcess::start(&["Tổ 1"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ 1"]);
    let id = &household(&lan);
    let at = "2026-11-25T03:00:00Z";
    let mine = lan.json(&[
        "visit",
        "add",
        "--household",
        id,
        "--outcome",
        "assisted",
        "--at",
        at,
    ]);
    assert_eq!(mine["volunteer"], "Lan", "{mine}");
    let shared = lan.json(&[
        "visit",
        "add",
        "--household",
        id,
        "--outcome",
        "not_home",
        "--at",
        at,
        "--volunteer",
        "Hùng",
    ]);
    assert_eq!(shared["volunteer"], "Hùng", "{shared}");
    let report = lan.json(&[
        "report",
        "--from",
        "2026-11-25",
        "--to",
        "2026-11-25",
        "--by",
        "volunteer",
    ]);
    let mut names: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Hùng", "Lan"], "{report}");

    let alone = Device::with_ward();
    let id = &household(&alone);
    let v = alone.json(&["visit", "add", "--household", id, "--outcome", "not_home"]);
    assert_eq!(v["volunteer"], "volunteer", "{v}");
}
