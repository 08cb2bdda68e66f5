//! Trust on the wire against a real hub on loopback: a device trusts only the certificate key
//! it pinned when it joined. A hub with another key on the same address, and a proxy that
//! terminates TLS with its own certificate (a man in the middle on the ward's Wi-Fi), are
//! refused before any byte of a request is sent; an eavesdropper relaying the bytes sees no
//! household's name; plain http leaves only for this machine.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use support::{Device, HubProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A runtime for the servers a test starts (they run on its worker threads).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The error line a refused `--json` command prints.
fn refusal(device: &Device, args: &[&str]) -> Value {
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(args);
    let out = device.run(&with_json);
    assert!(!out.status.success(), "doorstep {args:?} should fail");
    serde_json::from_slice(&out.stderr).unwrap_or(Value::Null)
}

#[test]
fn a_hub_with_another_key_on_the_same_address_is_refused() {
    let mut hub = HubProcess::start(&["Tổ 1"]);
    let device = Device::joined(&hub, "volunteer", "Lan", &["Tổ 1"]);
    device.add_household("Tổ 1", "Ngõ 3", "1");
    let outbox = device.json(&["status"])["outbox"].clone();
    assert!(outbox.as_u64().unwrap_or(0) > 0);
    // Another hub where this one was: a new key and certificate, the same address.
    hub.kill();
    for file in ["hub-cert.pem", "hub-key.pem"] {
        std::fs::remove_file(hub.data().join(file)).unwrap();
    }
    hub.restart();
    let error = refusal(&device, &["sync"]);
    assert_eq!(error["error"]["code"], "hub_pin_mismatch", "{error}");
    // Naming the address again changes nothing: the pin still applies.
    let again = refusal(&device, &["sync", "--hub", &hub.url]);
    assert_eq!(again["error"]["code"], "hub_pin_mismatch", "{again}");
    assert_eq!(
        device.json(&["status"])["outbox"],
        outbox,
        "nothing was acknowledged"
    );
}

#[test]
fn a_proxy_that_terminates_tls_with_its_own_certificate_is_refused() {
    let hub = HubProcess::start(&["Tổ 1"]);
    let device = Device::joined(&hub, "volunteer", "Lan", &["Tổ 1"]);
    device.add_household("Tổ 1", "Ngõ 3", "1");

    // The man in the middle: a TLS server with a certificate of its own, recording every
    // byte of every request it would have relayed.
    let rt = runtime();
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let made = rcgen::generate_simple_self_signed(vec!["doorstep-hub".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![made.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let mitm: SocketAddr = listener.local_addr().unwrap();
    let recorded = seen.clone();
    rt.spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, recorded) = (acceptor.clone(), recorded.clone());
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        recorded.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
    });

    let error = refusal(&device, &["sync", "--hub", &format!("https://{mitm}")]);
    assert_eq!(error["error"]["code"], "hub_pin_mismatch", "{error}");
    assert!(seen.lock().unwrap().is_empty(), "the proxy read a request");
    // The real hub still syncs.
    device.sync();
    assert_eq!(device.json(&["status"])["outbox"], 0);
}

#[test]
fn an_eavesdropper_relaying_a_sync_sees_no_household_name() {
    let hub = HubProcess::start(&["Tổ 1"]);
    let device = Device::joined(&hub, "volunteer", "Lan", &["Tổ 1"]);
    let h = device.json(&[
        "household",
        "add",
        "--group",
        "Tổ 1",
        "--alley",
        "Ngõ Hàng Bông",
        "--number",
        "5",
        "--name",
        "Nguyễn Thị Hoa",
        "--phone",
        "0912345678",
        "--consent",
    ]);
    device.json(&[
        "visit",
        "add",
        "--household",
        h["id"].as_str().unwrap(),
        "--outcome",
        "revisit",
        "--note",
        "hẹn thứ Sáu",
    ]);

    // A relay on the Wi-Fi: passes every byte both ways and keeps a copy.
    let rt = runtime();
    let copy = Arc::new(Mutex::new(Vec::<u8>::new()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let relay = listener.local_addr().unwrap();
    let upstream: SocketAddr = format!("127.0.0.1:{}", hub.port).parse().unwrap();
    let kept = copy.clone();
    rt.spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up_copy = kept.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 16384];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        up_copy.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
                let mut buf = vec![0u8; 16384];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    kept.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = up.await;
            });
        }
    });

    let report = device.json(&["sync", "--hub", &format!("https://{relay}")]);
    assert_eq!(report["outbox"], 0, "{report}");
    let bytes = copy.lock().unwrap().clone();
    assert!(
        bytes.len() > 1000,
        "the relay saw the sync ({} bytes)",
        bytes.len()
    );
    for secret in [
        "Nguyễn Thị Hoa",
        "0912345678",
        "hẹn thứ Sáu",
        "Ngõ Hàng Bông",
    ] {
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "{secret:?} crossed the wire in the clear");
    }
}

#[test]
fn plain_http_leaves_only_for_this_machine_and_https_needs_a_pin() {
    let device = Device::new();
    let plain = refusal(
        &device,
        &[
            "join",
            "--hub",
            "http://192.0.2.10:7300",
            "--code",
            "K7P2Q-9XMTR",
        ],
    );
    assert_eq!(plain["error"]["code"], "bad_hub_url", "{plain}");
    let no_pin = refusal(
        &device,
        &[
            "join",
            "--hub",
            "https://192.0.2.10:7300",
            "--code",
            "K7P2Q-9XMTR",
        ],
    );
    assert_eq!(no_pin["error"]["code"], "pin_missing", "{no_pin}");
    let bad_link = refusal(&device, &["join", "--link", "https://example.org"]);
    assert_eq!(bad_link["error"]["code"], "bad_request", "{bad_link}");
}

/// The device's identity as its database holds it.
fn identity(device: &Device) -> doorstep_store::DeviceIdentity {
    support::open_store(&device.db).identity().unwrap().unwrap()
}

/// Syncs `device` until `done` holds of its identity (a serving hub follows a rotation
/// within seconds).
fn sync_until(device: &Device, done: impl Fn(&doorstep_store::DeviceIdentity) -> bool) {
    for _ in 0..40 {
        device.sync();
        if done(&identity(device)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!("the device never got there: {:?}", identity(device).pin);
}

/// Rotating the hub's certificate key while it serves: the next pin, signed by the current
/// key, reaches the devices that sync; finishing is refused while one has not learnt it
/// (unless forced); then the hub serves the next certificate and the devices that learnt
/// it follow, keeping their work, while one that did not is refused as a stranger's hub
/// would be. Invites made afterwards carry the new pin.
#[test]
fn a_rotated_certificate_is_followed_by_the_devices_that_learnt_it() {
    let hub = HubProcess::start(&["Tổ 1"]);
    let lan = Device::joined(&hub, "volunteer", "Lan", &["Tổ 1"]);
    let away = Device::joined(&hub, "volunteer", "Hùng", &["Tổ 1"]);
    let admin = |args: &[&str]| {
        let out = hub.admin(args);
        (
            out.status.success(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null),
            serde_json::from_slice::<Value>(&out.stderr).unwrap_or(Value::Null),
        )
    };
    let (ok, rotation, _) = admin(&["--json", "hub", "rotate-cert"]);
    assert!(ok);
    assert_eq!(rotation["pin"], hub.pin.as_str());
    let next = rotation["next_pin"].as_str().unwrap().to_string();
    assert_ne!(next, hub.pin);
    assert_eq!(
        rotation["devices_pending"].as_array().map(Vec::len),
        Some(2)
    );

    sync_until(&lan, |i| i.next_pin.as_deref() == Some(next.as_str()));
    assert_eq!(identity(&lan).pin.as_deref(), Some(hub.pin.as_str()));
    let (_, rotation, _) = admin(&["--json", "hub", "rotate-cert"]);
    assert_eq!(
        rotation["next_pin"],
        next.as_str(),
        "asking again changes nothing"
    );
    assert_eq!(rotation["devices_pending"][0]["name"], "Hùng");

    let (ok, _, error) = admin(&["--json", "hub", "rotate-cert", "--finish"]);
    assert!(!ok);
    assert_eq!(error["error"]["code"], "devices_not_repinned", "{error}");
    let (ok, finished, _) = admin(&["--json", "hub", "rotate-cert", "--finish", "--force"]);
    assert!(ok);
    assert_eq!(finished["pin"], next.as_str());
    assert_eq!(finished["next_pin"], Value::Null);

    lan.add_household("Tổ 1", "Ngõ 9", "4");
    sync_until(&lan, |i| i.pin.as_deref() == Some(next.as_str()));
    assert_eq!(identity(&lan).next_pin, None);
    assert_eq!(lan.sync()["outbox"], 0);
    let error = refusal(&away, &["sync"]);
    assert_eq!(error["error"]["code"], "hub_pin_mismatch", "{error}");

    let out = hub.admin(&[
        "--json",
        "hub",
        "invite",
        "--role",
        "coordinator",
        "--name",
        "Chị Hà",
    ]);
    let invite: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(invite["pin"], next.as_str());
    let coord = Device::new();
    coord.json(&["join", "--link", invite["link"].as_str().unwrap()]);
    coord.sync();
    let households = coord.json(&["household", "list"]);
    assert_eq!(households.as_array().map(Vec::len), Some(1), "{households}");
    // Finishing again: no rotation is under way.
    let (ok, _, error) = admin(&["--json", "hub", "rotate-cert", "--finish"]);
    assert!(!ok);
    assert_eq!(error["error"]["code"], "no_rotation", "{error}");
}
