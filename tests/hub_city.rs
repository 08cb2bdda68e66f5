//! A city deployment: many wards in one PostgreSQL database (`hub ward add`), served by one
//! `hub serve --database` process. Each ward's devices join with its own codes and sync its
//! own documents; a device of one ward can neither read, change nor learn the existence of
//! anything of another, on every route: each answer about ward A's real ids, asked with
//! ward B's token, is the answer about ids that exist nowhere.

mod support;

use doorstep_domain::new_id;
use serde_json::{json, Value};
use support::{bin, fresh_database, get, post, post_json, Device, HubProcess};

/// Runs a `hub` admin command with `--json`; its answer.
fn admin(args: &[&str]) -> Value {
    let out = bin().arg("--json").args(args).output().expect("doorstep");
    assert!(
        out.status.success(),
        "doorstep {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// A failing admin command: its stderr.
fn refused(args: &[&str]) -> String {
    let out = bin().arg("--json").args(args).output().expect("doorstep");
    assert!(!out.status.success(), "doorstep {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn add_ward(url: &str, name: &str, groups: &[&str]) -> Value {
    let mut args = vec!["hub", "ward", "add", "--database", url, "--name", name];
    for g in groups {
        args.extend(["--group", g]);
    }
    admin(&args)
}

fn invite(url: &str, ward: &str, role: &str, name: &str, groups: &[&str]) -> String {
    let mut args = vec![
        "hub",
        "invite",
        "--database",
        url,
        "--ward-id",
        ward,
        "--role",
        role,
        "--name",
        name,
    ];
    for g in groups {
        args.extend(["--group", g]);
    }
    admin(&args)["code"].as_str().expect("code").to_string()
}

fn join(hub: &HubProcess, code: &str) -> Device {
    let d = Device::new();
    d.json(&["join", "--hub", &hub.url, "--code", code, "--pin", &hub.pin]);
    d.sync();
    d
}

/// A device joined by raw HTTP: its token.
fn raw_join(hub: &HubProcess, code: &str) -> String {
    let (status, answer) = post_json(
        &format!("{}/v1/join", hub.url),
        None,
        &serde_json::from_slice(&support::join_body(code)).unwrap(),
    );
    assert_eq!(status, 200, "{answer}");
    answer["token"].as_str().expect("token").to_string()
}

/// An answer with every id in `ids` replaced by `X`: answers about a real id and about an
/// unknown one must then be the same.
fn without(answer: &(u16, Value), ids: &[&str]) -> (u16, String) {
    let mut text = answer.1.to_string();
    for id in ids {
        text = text.replace(id, "X");
    }
    (answer.0, text)
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/postgres-tests.sh"]
fn a_city_serves_many_wards_and_no_ward_sees_another() {
    let url = fresh_database();
    let a = add_ward(&url, "Phường Cửa Nam", &["Tổ 1 Cửa Nam", "Tổ 2 Cửa Nam"]);
    let b = add_ward(&url, "Phường Hàng Bông", &["Tổ 1 Hàng Bông"]);
    let (key_a, key_b) = (a["key"].as_str().unwrap(), b["key"].as_str().unwrap());
    assert_ne!(key_a, key_b);
    let code_a = a["invite"]["code"].as_str().unwrap();
    assert!(code_a.starts_with(key_a), "{code_a}");
    assert_eq!(a["invite"]["role"], "coordinator");
    assert!(a["invite"]["link"]
        .as_str()
        .unwrap()
        .starts_with("doorstep://join?"));
    let listed = admin(&["hub", "ward", "list", "--database", &url]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(refused(&[
        "hub",
        "ward",
        "add",
        "--database",
        &url,
        "--name",
        "Phường Cửa Nam",
        "--group",
        "Tổ 9"
    ])
    .contains("ward_exists"));
    // A city's database is not one ward's: commands name the ward.
    assert!(refused(&["hub", "devices", "--database", &url]).contains("ward_needed"));
    assert!(
        refused(&["hub", "devices", "--database", &url, "--ward-id", "ZZZZ"])
            .contains("unknown_ward")
    );
    assert!(refused(&[
        "hub",
        "init",
        "--database",
        &url,
        "--ward",
        "Phường Khác",
        "--group",
        "Tổ 1"
    ])
    .contains("hub_exists"));

    let hub = HubProcess::serve_city(&url);
    // Ward A: its coordinator from `ward add`, a volunteer; ward B: its coordinator.
    let coordinator_a = join(&hub, code_a);
    let lan = join(
        &hub,
        &invite(&url, key_a, "volunteer", "Lan", &["Tổ 1 Cửa Nam"]),
    );
    let household = lan.add_household("Tổ 1 Cửa Nam", "Ngõ 5 Hàng Bông", "1");
    lan.json(&[
        "visit",
        "add",
        "--household",
        &household,
        "--outcome",
        "assisted",
        "--assist",
        "vneid_activate:done",
    ]);
    lan.sync();
    coordinator_a.sync();
    let report = coordinator_a.json(&["report"]);
    assert_eq!(report["households"], 1, "{report}");
    assert_eq!(report["visits"], 1, "{report}");
    let coordinator_b = join(&hub, b["invite"]["code"].as_str().unwrap());
    let report = coordinator_b.json(&["report"]);
    assert_eq!(
        report["households"], 0,
        "ward B sees none of ward A: {report}"
    );
    let by_id = admin(&[
        "hub",
        "devices",
        "--database",
        &url,
        "--ward-id",
        a["ward_id"].as_str().unwrap(),
    ]);
    assert_eq!(by_id.as_array().unwrap().len(), 2, "{by_id}");

    let base = &hub.url;
    // The page's data: to a city viewer only.
    let viewer = admin(&[
        "hub",
        "ward",
        "viewer",
        "--database",
        &url,
        "--name",
        "Sở KH&CN",
    ]);
    let token = viewer["token"].as_str().unwrap();
    let (status, page) = get(&format!("{base}/v1/city/rollup"), Some(token));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["wards"].as_array().unwrap().len(), 2, "{page}");
    let (status, html) = get(&format!("{base}/city"), None);
    assert_eq!(status, 200);
    assert!(
        html.as_str().unwrap().contains("Tiến độ"),
        "the page, Vietnamese first"
    );

    // A ward on its own LAN hub: listed by its id, it forwards its roll-up.
    let lan_hub = HubProcess::start(&["Tổ 1 Lò Đúc"]);
    let tu = Device::joined(&lan_hub, "volunteer", "Tú", &["Tổ 1 Lò Đúc"]);
    tu.add_household("Tổ 1 Lò Đúc", "Ngõ 2 Lò Đúc", "4");
    tu.sync();
    let own = admin(&["hub", "rollup", "--data", lan_hub.data().to_str().unwrap()]);
    let lan_ward_id = own["wards"][0]["ward_id"].as_str().unwrap().to_string();
    let listed = admin(&[
        "hub",
        "ward",
        "add",
        "--database",
        &url,
        "--name",
        "Phường Lò Đúc",
        "--forwarded-from",
        &lan_ward_id,
    ]);
    let forwarding = listed["forwarding_token"].as_str().unwrap();
    let forward = |token: &str, data: &std::path::Path| {
        bin()
            .args(["--json", "hub", "forward", "--data", data.to_str().unwrap()])
            .args(["--to", &hub.url, "--pin", &hub.pin, "--token", token])
            .output()
            .unwrap()
    };
    let sent = forward(forwarding, &lan_hub.data());
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    // Another ward's roll-up under this token, or a viewer's token: refused.
    let other_hub = HubProcess::start(&["Tổ 9"]);
    let wrong_ward = forward(forwarding, &other_hub.data());
    assert!(!wrong_ward.status.success());
    assert!(String::from_utf8_lossy(&wrong_ward.stderr).contains("other_ward"));
    assert!(!forward(token, &lan_hub.data()).status.success());
    // A body that is not a roll-up, or far too big, under the right token: refused with its
    // code, what the city holds unchanged.
    let (status, answer) = post(
        &format!("{base}/v1/city/forward"),
        Some(forwarding),
        b"{\"ward\": 1".to_vec(),
    );
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("bad_request")),
        "{answer}"
    );
    let (status, _) = post(
        &format!("{base}/v1/city/forward"),
        Some(forwarding),
        vec![b' '; 2 << 20],
    );
    assert_eq!(status, 413);
    let (_, page) = get(&format!("{base}/v1/city/rollup"), Some(token));
    let lo_duc = page["wards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["ward"] == "Phường Lò Đúc")
        .expect("the forwarded ward")
        .clone();
    assert_eq!(lo_duc["forwarded"], true);
    assert_eq!(lo_duc["rollup"]["households"], 1, "{lo_duc}");
    // Served with forwarding, the LAN hub sends its roll-up by itself (at start, then every
    // few minutes): its new household reaches the city's page.
    tu.add_household("Tổ 1 Lò Đúc", "Ngõ 2 Lò Đúc", "6");
    tu.sync();
    let mut lan_hub = lan_hub;
    lan_hub.restart_with(&[
        "--forward-to",
        &hub.url,
        "--forward-pin",
        &hub.pin,
        "--forward-token",
        forwarding,
    ]);
    let mut seen = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, page) = get(&format!("{base}/v1/city/rollup"), Some(token));
        seen = page["wards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["ward"] == "Phường Lò Đúc")
            .cloned()
            .unwrap_or_default();
        if seen["rollup"]["households"] == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(seen["rollup"]["households"], 2, "{seen}\n{}", lan_hub.log());

    // An attacker holding a coordinator's token of ward B.
    let token_b = raw_join(&hub, &invite(&url, key_b, "coordinator", "Kẻ tò mò", &[]));
    let lan_id = by_id
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Lan")
        .and_then(|d| d["device_id"].as_str())
        .unwrap()
        .to_string();
    let group_a = a["groups"][0]["id"].as_str().unwrap().to_string();
    let nowhere = new_id().to_string();
    let same = |what: &str, real: (u16, Value), unknown: (u16, Value), ids: &[&str]| {
        assert!(real.0 >= 400, "{what}: ward A's answered {real:?}");
        assert_eq!(without(&real, ids), without(&unknown, ids), "{what}");
    };
    let ids = [
        household.as_str(),
        lan_id.as_str(),
        group_a.as_str(),
        nowhere.as_str(),
        "Tổ 1 Cửa Nam",
        "Tổ không có",
    ];
    // Each route about one of ward A's records, and about one that exists nowhere.
    for (what, method, path, real_id) in [
        (
            "history",
            "GET",
            "/v1/households/{}/history",
            household.as_str(),
        ),
        (
            "erase",
            "POST",
            "/v1/households/{}/erase",
            household.as_str(),
        ),
        ("revoke", "POST", "/v1/devices/{}/revoke", lan_id.as_str()),
    ] {
        let ask = |id: &str| {
            let url = format!("{base}{}", path.replace("{}", id));
            match method {
                "GET" => get(&url, Some(&token_b)),
                _ => post(&url, Some(&token_b), Vec::new()),
            }
        };
        same(what, ask(real_id), ask(&nowhere), &ids);
    }
    let real = post_json(
        &format!("{base}/v1/invites"),
        Some(&token_b),
        &json!({"role": "volunteer", "name": "X", "groups": ["Tổ 1 Cửa Nam"]}),
    );
    let unknown = post_json(
        &format!("{base}/v1/invites"),
        Some(&token_b),
        &json!({"role": "volunteer", "name": "X", "groups": ["Tổ không có"]}),
    );
    same("invite", real, unknown, &ids);
    // A push to ward A's group: the answer of a group that exists nowhere.
    let push = |doc: &str| {
        support::sync_body(vec![doorstep_proto::wire::Push {
            doc: doorstep_doc::DocId::Group(doc.parse().unwrap()).into(),
            epoch: 0,
            changes: vec![vec![0x85, 0x6f, 0x4a, 0x83]],
            signatures: vec![],
        }])
    };
    let real = post(&format!("{base}/v1/sync"), Some(&token_b), push(&group_a));
    let unknown = post(&format!("{base}/v1/sync"), Some(&token_b), push(&nowhere));
    same("sync push", real, unknown, &ids);
    // A device's token, or a made-up one, reads nothing of the city.
    for wrong in [token_b.as_str(), "dsv_made_up", ""] {
        let (status, _) = get(&format!("{base}/v1/city/rollup"), Some(wrong));
        assert_eq!(status, 401, "{wrong:?}");
    }
    // The device list is ward B's own.
    let (status, devices) = get(&format!("{base}/v1/devices"), Some(&token_b));
    assert_eq!(status, 200);
    let names: Vec<&str> = devices
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(
        !names.contains(&"Lan") && names.contains(&"Kẻ tò mò"),
        "{names:?}"
    );
    // A pull from the start: ward B's documents only.
    let (status, _) = post(
        &format!("{base}/v1/sync"),
        Some(&token_b),
        support::sync_body(Vec::new()),
    );
    assert_eq!(status, 200);
    coordinator_b.sync();
    let groups_b = coordinator_b.json(&["group", "list"]);
    assert!(!groups_b.to_string().contains("Cửa Nam"), "{groups_b}");
    assert!(
        groups_b.to_string().contains("Tổ 1 Hàng Bông"),
        "{groups_b}"
    );

    // Tokens and codes: ward A's key on a made-up token or code is refused as a key of no ward.
    let random = token_b.split_once('.').unwrap().1;
    let forged_a = post(
        &format!("{base}/v1/sync"),
        Some(&format!("dst_{key_a}.{random}")),
        support::sync_body(Vec::new()),
    );
    let forged_none = post(
        &format!("{base}/v1/sync"),
        Some(&format!("dst_ZZZZ.{random}")),
        support::sync_body(Vec::new()),
    );
    assert_eq!(forged_a.0, 401);
    assert_eq!(
        forged_a, forged_none,
        "a key says nothing of which wards exist"
    );
    let code_a_guess = post_json(
        &format!("{base}/v1/join"),
        None,
        &serde_json::from_slice(&support::join_body(&format!("{key_a}-AAAAA-AAAAA"))).unwrap(),
    );
    let code_none = post_json(
        &format!("{base}/v1/join"),
        None,
        &serde_json::from_slice(&support::join_body("ZZZZ-AAAAA-AAAAA")).unwrap(),
    );
    assert_eq!(code_a_guess.0, 401);
    assert_eq!(code_a_guess, code_none);

    // Ward A is untouched by all of it.
    lan.sync();
    coordinator_a.sync();
    let report = coordinator_a.json(&["report"]);
    assert_eq!(report["households"], 1, "{report}");
    assert_eq!(report["visits"], 1, "{report}");

    // The roll-up: ward A's work, ward B's none; aggregates only, in JSON and as a table.
    let table = hub.dir.path().join("rollup.csv");
    let rollup = admin(&[
        "hub",
        "rollup",
        "--database",
        &url,
        "--out",
        table.to_str().unwrap(),
    ]);
    let ward_a = rollup["wards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["ward"] == "Phường Cửa Nam")
        .expect("ward A in the roll-up")
        .clone();
    assert_eq!(ward_a["households"], 1, "{rollup}");
    assert_eq!(ward_a["households_visited"], 1);
    assert_eq!(ward_a["vneid_activations"], 1);
    assert_eq!(ward_a["coverage_percent"], 100.0);
    let csv = std::fs::read_to_string(&table).unwrap();
    assert!(
        csv.contains("Phường Cửa Nam") && csv.contains("Phường Hàng Bông"),
        "{csv}"
    );
    for private in ["Ngõ 5 Hàng Bông", "Lan", &household] {
        assert!(
            !rollup.to_string().contains(private),
            "{private} in the roll-up"
        );
        assert!(!csv.contains(private), "{private} in the table");
    }

    // It has no devices here: a code or token with its key is refused as no ward's.
    let key_lo_duc = listed["key"].as_str().unwrap();
    let guess = post_json(
        &format!("{base}/v1/join"),
        None,
        &serde_json::from_slice(&support::join_body(&format!("{key_lo_duc}-AAAAA-AAAAA"))).unwrap(),
    );
    assert_eq!(guess, code_none);
}
