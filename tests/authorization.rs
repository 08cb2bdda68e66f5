//! The authorization matrix against a real hub: every route × every kind of caller (no token,
//! a forged one, an expired one, a revoked device's, a volunteer's, a student's, a
//! coordinator's) × every kind of document a sync can name (the caller's own, another
//! group's, one the ward does not have). Each answer's status and code are asserted.

mod support;

use doorstep_doc::DocId;
use doorstep_proto::wire::{Push, WireDoc};
use serde_json::Value;
use support::{any_certificate, sync_body, token, Device, HubProcess};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    NoToken,
    Forged,
    Expired,
    Revoked,
    Volunteer,
    Student,
    Coordinator,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Own,
    OtherGroup,
    Unknown,
}

/// One request from loopback address `from` (the whole of 127.0.0.0/8 is this machine): each
/// caller has its own, so that one caller's refused tokens do not earn the next a 429.
fn send(
    hub: &HubProcess,
    from: u8,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("{}{path}", hub.url);
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(any_certificate())
            .local_address(std::net::IpAddr::from([127, 0, 0, from]))
            .build()
            .unwrap();
        let mut request = match method {
            "get" => client.get(url),
            _ => client.post(url).body(body),
        };
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

#[test]
fn every_route_answers_every_caller_as_its_role_and_scope_allow() {
    let hub = HubProcess::start(&["Tổ A", "Tổ B"]);
    let coordinator = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    coordinator.json(&["point", "add", "--name", "Điểm chợ"]);
    coordinator.sync();
    let volunteer = Device::joined(&hub, "volunteer", "Lan", &["Tổ A"]);
    let student = {
        let code = hub.invite("student", "Minh", &[], Some("Điểm chợ"));
        let d = Device::new();
        d.json(&[
            "join", "--hub", &hub.url, "--code", &code, "--pin", &hub.pin,
        ]);
        d
    };
    let expired = Device::joined(&hub, "volunteer", "Hùng", &["Tổ A"]);
    let revoked = Device::joined(&hub, "volunteer", "Mai", &["Tổ B"]);
    let id_of = |d: &Device| support::open_store(&d.db).identity().unwrap().unwrap();
    let out = hub.admin(&[
        "hub",
        "revoke",
        "--device",
        &id_of(&revoked).device_id.to_string(),
    ]);
    assert!(out.status.success());
    // An expired token: the hub's own file says so (admin commands work on it while it serves).
    let db = doorstep_vault::open_database(
        &hub.data().join("hub.sqlite"),
        &support::hub_at_rest(&hub.data()),
    )
    .unwrap();
    db.execute(
        "UPDATE devices SET token_expires_at = 0 WHERE id = ?1",
        [id_of(&expired).device_id.to_string()],
    )
    .unwrap();

    let household = coordinator.add_household("Tổ A", "Ngõ 1", "1");
    coordinator.sync();
    let store = support::open_store(&coordinator.db);
    let group_a = DocId::Group(store.group_by_name("Tổ A").unwrap().id);
    let group_b = DocId::Group(store.group_by_name("Tổ B").unwrap().id);
    let point = DocId::Point(store.point_by_name("Điểm chợ").unwrap().id);
    let unknown = DocId::Group(doorstep_domain::new_id());
    let victim = id_of(&volunteer).device_id;

    let tokens = [
        (Caller::NoToken, None),
        (Caller::Forged, Some("dst_forged_token".to_string())),
        (Caller::Expired, Some(token(&expired))),
        (Caller::Revoked, Some(token(&revoked))),
        (Caller::Volunteer, Some(token(&volunteer))),
        (Caller::Student, Some(token(&student))),
        (Caller::Coordinator, Some(token(&coordinator))),
    ];
    let unauthenticated = |caller: Caller| match caller {
        Caller::NoToken => Some("token_missing"),
        Caller::Forged => Some("token_unknown"),
        Caller::Expired => Some("token_expired"),
        Caller::Revoked => Some("device_revoked"),
        _ => None,
    };
    let mut checked = 0;
    for (i, (caller, bearer)) in tokens.iter().enumerate() {
        let bearer = bearer.as_deref();
        let from = 10 + i as u8;
        // Sync: each kind of document.
        for target in [Target::Own, Target::OtherGroup, Target::Unknown] {
            let doc = match (caller, target) {
                (Caller::Student, Target::Own) => point,
                (_, Target::Own) => group_a,
                (_, Target::OtherGroup) => group_b,
                (_, Target::Unknown) => unknown,
            };
            let body = sync_body(vec![Push {
                epoch: 0,
                doc: WireDoc::from(doc),
                changes: vec![],
                signatures: vec![],
            }]);
            let (status, answer) = send(&hub, from, "post", "/v1/sync", bearer, body);
            let expected = match (unauthenticated(*caller), caller, target) {
                (Some(code), _, _) => (401, Some(code)),
                (None, Caller::Coordinator, Target::Unknown) => (404, Some("unknown_document")),
                (None, Caller::Coordinator, _) => (200, None),
                (None, _, Target::Own) => (200, None),
                (None, _, _) => (403, Some("out_of_scope")),
            };
            assert_eq!(status, expected.0, "sync {caller:?} {target:?}: {answer}");
            if let Some(code) = expected.1 {
                assert_eq!(answer["code"], code, "sync {caller:?} {target:?}");
            }
            checked += 1;
        }
        // The coordinator's routes.
        let invite = serde_json::to_vec(
            &serde_json::json!({"role": "volunteer", "name": "Hoa", "groups": ["Tổ A"]}),
        )
        .unwrap();
        let revoke = format!("/v1/devices/{victim}/revoke");
        let history = format!("/v1/households/{household}/history");
        let erase = format!("/v1/households/{household}/erase");
        for (method, path, body) in [
            ("post", "/v1/invites", invite),
            ("get", "/v1/devices", vec![]),
            ("get", history.as_str(), vec![]),
            ("post", erase.as_str(), vec![]),
            ("post", revoke.as_str(), vec![]),
        ] {
            // Revoking the victim is the coordinator's last act: it stays revoked.
            let (status, answer) = send(&hub, from, method, path, bearer, body);
            let expected = match (unauthenticated(*caller), caller) {
                (Some(code), _) => (401, Some(code)),
                (None, Caller::Coordinator) => (200, None),
                (None, _) => (403, Some("coordinator_only")),
            };
            assert_eq!(status, expected.0, "{method} {path} {caller:?}: {answer}");
            if let Some(code) = expected.1 {
                assert_eq!(answer["code"], code, "{method} {path} {caller:?}");
            }
            checked += 1;
        }
        // Joining takes no token: any bearer is ignored, a wrong code is refused.
        let (status, answer) = send(
            &hub,
            from,
            "post",
            "/v1/join",
            bearer,
            support::join_body("AAAAA-BBBBB"),
        );
        assert_eq!(
            (status, answer["code"].clone()),
            (401, Value::from("invite_code_invalid"))
        );
        checked += 1;
        // A new token, last: any device may rotate its own.
        let (status, answer) = send(&hub, from, "post", "/v1/token", bearer, vec![]);
        match unauthenticated(*caller) {
            Some(code) => assert_eq!(
                (status, answer["code"].clone()),
                (401, Value::from(code)),
                "token {caller:?}"
            ),
            None => {
                assert_eq!(status, 200, "token {caller:?}: {answer}");
                let fresh = answer["token"].as_str().unwrap_or_default();
                assert!(
                    fresh.starts_with("dst_") && Some(fresh) != bearer,
                    "{answer}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 7 * 10);
    // A coordinator naming a household that is not one: refused, nothing rewritten.
    for path in [
        "/v1/households/not-an-id/erase".to_string(),
        format!("/v1/households/{}/erase", doorstep_domain::new_id()),
        format!("/v1/households/{}/history", doorstep_domain::new_id()),
    ] {
        let method = if path.ends_with("erase") {
            "post"
        } else {
            "get"
        };
        let (status, answer) = send(&hub, 30, method, &path, Some(&token(&coordinator)), vec![]);
        assert_eq!(
            (status, answer["code"].clone()),
            (404, Value::from("unknown_household")),
            "{path}"
        );
    }
    // What was revoked along the way is revoked.
    let (status, answer) = send(
        &hub,
        1,
        "post",
        "/v1/sync",
        Some(&token(&volunteer)),
        sync_body(vec![]),
    );
    assert_eq!(
        (status, answer["code"].clone()),
        (401, Value::from("device_revoked"))
    );
}
