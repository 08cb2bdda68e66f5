//! Sync over a bad link: an in-process proxy between the devices and a real hub drops,
//! duplicates, truncates, delays and replays requests and responses for 300 rounds, while the
//! hub is SIGKILLed and restarted. Everything converges, nothing is lost or doubled. Then a
//! device is killed mid-sync, again and again, and resumes cleanly.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use doorstep_domain::*;
use doorstep_store::Store;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{Device, HubProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Pass,
    DropRequest,
    DropResponse,
    Duplicate,
    TruncateRequest,
    TruncateResponse,
    Delay,
    ReplayStale,
}

struct Proxy {
    upstream: SocketAddr,
    faulty: AtomicBool,
    rng: Mutex<ChaCha8Rng>,
    /// A request held back, replayed later (out of order).
    held: Mutex<Option<Vec<u8>>>,
    counts: Mutex<HashMap<String, u32>>,
}

impl Proxy {
    fn pick(&self) -> Fault {
        if !self.faulty.load(Ordering::SeqCst) {
            return Fault::Pass;
        }
        let mut rng = self.rng.lock().unwrap();
        let fault = match rng.random_range(0..16) {
            0 => Fault::DropRequest,
            1 => Fault::DropResponse,
            2 => Fault::Duplicate,
            3 => Fault::TruncateRequest,
            4 => Fault::TruncateResponse,
            5 | 6 => Fault::Delay,
            7 => Fault::ReplayStale,
            _ => Fault::Pass,
        };
        *self
            .counts
            .lock()
            .unwrap()
            .entry(format!("{fault:?}"))
            .or_default() += 1;
        fault
    }
}

/// Reads one HTTP request (head and Content-Length body) and rewrites it to close the
/// connection after the response.
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let lines: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let mut out = format!("{}\r\nconnection: close\r\n\r\n", lines.join("\r\n")).into_bytes();
    out.extend_from_slice(&buf[head_end..head_end + length]);
    Some(out)
}

/// Cuts a request's body in half, with a Content-Length that says so.
fn truncate_request(request: &[u8]) -> Vec<u8> {
    let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = &request[head_end..];
    let cut = &body[..body.len() / 2];
    let head = String::from_utf8_lossy(&request[..head_end]);
    let head: Vec<String> = head
        .trim_end()
        .lines()
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("content-length: {}", cut.len())
            } else {
                l.to_string()
            }
        })
        .collect();
    let mut out = format!("{}\r\n\r\n", head.join("\r\n")).into_bytes();
    out.extend_from_slice(cut);
    out
}

/// Sends one request to the hub over its TLS and reads the answer until the hub closes; what
/// arrived before an error is passed on as it is (a cut answer is one of the faults anyway).
async fn forward(upstream: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(support::any_certificate()));
    let tcp = TcpStream::connect(upstream).await.ok()?;
    let name = rustls::pki_types::ServerName::try_from("doorstep-hub").ok()?;
    let mut hub = connector.connect(name, tcp).await.ok()?;
    hub.write_all(request).await.ok()?;
    let mut response = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), hub.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => response.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    (!response.is_empty()).then_some(response)
}

async fn handle(proxy: Arc<Proxy>, mut client: TcpStream) {
    let Some(request) = read_request(&mut client).await else {
        return;
    };
    let fault = proxy.pick();
    let response = match fault {
        Fault::Pass => forward(proxy.upstream, &request).await,
        Fault::DropRequest => None,
        Fault::DropResponse => {
            forward(proxy.upstream, &request).await;
            None
        }
        Fault::Duplicate => {
            forward(proxy.upstream, &request).await;
            forward(proxy.upstream, &request).await
        }
        Fault::TruncateRequest => forward(proxy.upstream, &truncate_request(&request)).await,
        Fault::TruncateResponse => forward(proxy.upstream, &request)
            .await
            .map(|r| r[..r.len() / 2].to_vec()),
        Fault::Delay => {
            let ms = proxy.rng.lock().unwrap().random_range(10..120);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            forward(proxy.upstream, &request).await
        }
        Fault::ReplayStale => {
            let stale = proxy.held.lock().unwrap().replace(request.clone());
            let response = forward(proxy.upstream, &request).await;
            if let Some(stale) = stale {
                forward(proxy.upstream, &stale).await;
            }
            response
        }
    };
    if let Some(response) = response {
        let _ = client.write_all(&response).await;
    }
    let _ = client.shutdown().await;
}

async fn start_proxy(upstream: SocketAddr, seed: u64) -> (String, Arc<Proxy>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let proxy = Arc::new(Proxy {
        upstream,
        faulty: AtomicBool::new(true),
        rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        held: Mutex::new(None),
        counts: Mutex::new(HashMap::new()),
    });
    let p = proxy.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(handle(p.clone(), client));
        }
    });
    (url, proxy)
}

/// A device in this process: its store, and what it recorded.
struct Member {
    store: Store,
    group: Option<Id>,
    households: Vec<Id>,
    _device: Device,
}

fn member(hub: &HubProcess, role: &str, groups: &[&str]) -> Member {
    let device = Device::new();
    let code = hub.invite(role, "thiết bị", groups, None);
    device.json(&[
        "join", "--hub", &hub.url, "--code", &code, "--pin", &hub.pin,
    ]);
    device.json(&["sync"]);
    let store = support::open_store(&device.db);
    let group = groups.first().map(|g| store.group_by_name(g).unwrap().id);
    Member {
        store,
        group,
        households: Vec::new(),
        _device: device,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_faulty_rounds_with_hub_crashes_converge_without_loss() {
    let mut hub = HubProcess::start(&["Tổ A", "Tổ B"]);
    let upstream: SocketAddr = hub.url.trim_start_matches("https://").parse().unwrap();
    let (proxy_url, proxy) = start_proxy(upstream, 2026).await;
    let mut members = [
        member(&hub, "volunteer", &["Tổ A"]),
        member(&hub, "volunteer", &["Tổ A"]),
        member(&hub, "volunteer", &["Tổ B"]),
        member(&hub, "coordinator", &[]),
    ];
    // Both group-A volunteers know one shared household from the start.
    let a = members[0].group.unwrap();
    let shared = members[0]
        .store
        .add_household(
            a,
            HouseholdDraft {
                alley: "Ngõ 1".into(),
                number: "1".into(),
                ..Default::default()
            },
            Utc::now(),
        )
        .unwrap()
        .id;
    doorstep_sync::sync(&mut members[0].store, None)
        .await
        .unwrap();
    doorstep_sync::sync(&mut members[1].store, None)
        .await
        .unwrap();
    members[0].households.push(shared);
    members[1].households.push(shared);

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut households, mut visits) = (1u64, 0u64);
    let mut failures = 0;
    for round in 0..300 {
        if round > 0 && round % 60 == 0 {
            hub.restart();
        }
        let who = rng.random_range(0..3);
        let m = &mut members[who];
        let group = m.group.unwrap();
        match rng.random_range(0..10) {
            0..=2 => {
                let h = m
                    .store
                    .add_household(
                        group,
                        HouseholdDraft {
                            alley: format!("Ngõ {}", rng.random_range(1..30)),
                            number: round.to_string(),
                            ..Default::default()
                        },
                        Utc::now(),
                    )
                    .unwrap();
                m.households.push(h.id);
                households += 1;
            }
            3 if !m.households.is_empty() => {
                let h = m.households[rng.random_range(0..m.households.len())];
                let patch = HouseholdPatch {
                    members: Some(rng.random_range(1..8)),
                    ..Default::default()
                };
                m.store.update_household(h, &patch).unwrap();
            }
            _ if !m.households.is_empty() => {
                let h = m.households[rng.random_range(0..m.households.len())];
                let draft = VisitDraft {
                    household_id: h,
                    device_time: Utc::now(),
                    volunteer: "Lan".into(),
                    outcome: Outcome::NotHome,
                    note: None,
                    follow_up: None,
                    assists: vec![],
                    not_done_reason: None,
                };
                m.store.add_visit(draft, Utc::now()).unwrap();
                visits += 1;
            }
            _ => {}
        }
        let syncer = rng.random_range(0..4);
        if doorstep_sync::sync(&mut members[syncer].store, Some(&proxy_url))
            .await
            .is_err()
        {
            failures += 1;
        }
    }
    println!(
        "faults injected: {:?}; failed syncs: {failures}",
        proxy.counts.lock().unwrap()
    );
    assert!(failures > 20, "the link should have been bad");

    // The link heals: everyone syncs until nothing moves.
    proxy.faulty.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        for m in members.iter_mut() {
            doorstep_sync::sync(&mut m.store, None).await.unwrap();
        }
    }
    for m in members.iter_mut() {
        assert_eq!(m.store.outbox_count().unwrap(), 0);
        assert!(m.store.check().unwrap().query_tables_match_documents);
    }
    let (a1, a2) = (
        members[0].store.dump_query_tables().unwrap(),
        members[1].store.dump_query_tables().unwrap(),
    );
    let only = |x: &str, y: &str| -> Vec<String> {
        x.lines()
            .filter(|l| !y.contains(l))
            .take(5)
            .map(String::from)
            .collect()
    };
    assert!(
        a1 == a2,
        "group-A devices differ: {:?} vs {:?}",
        only(&a1, &a2),
        only(&a2, &a1)
    );
    let report = members[3].store.report(Utc::now().date_naive()).unwrap();
    assert_eq!(report.households, households, "households lost or doubled");
    assert_eq!(report.visits, visits, "visits lost or doubled");
    let b_group = members[2].group.unwrap();
    assert!(members[2]
        .store
        .households(None)
        .unwrap()
        .iter()
        .all(|h| h.group_id == b_group));
}

#[test]
fn a_device_killed_mid_sync_resumes_cleanly() {
    let hub = HubProcess::start(&["Tổ A"]);
    let coord = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let mut expected = 0;
    {
        let mut store = support::open_store(&coord.db);
        let group = store.group_by_name("Tổ A").unwrap().id;
        for i in 0..400 {
            let h = store
                .add_household(
                    group,
                    HouseholdDraft {
                        alley: "Ngõ 3".into(),
                        number: i.to_string(),
                        ..Default::default()
                    },
                    Utc::now(),
                )
                .unwrap();
            for _ in 0..4 {
                let draft = VisitDraft {
                    household_id: h.id,
                    device_time: Utc::now(),
                    volunteer: "Lan".into(),
                    outcome: Outcome::Revisit,
                    note: None,
                    follow_up: None,
                    assists: vec![],
                    not_done_reason: None,
                };
                store.add_visit(draft, Utc::now()).unwrap();
                expected += 1;
            }
        }
    }
    for delay_ms in [5, 20, 40, 80, 150] {
        let mut child = coord.command(&["sync"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(coord.json(&["check"])["query_tables_match_documents"], true);
    }
    coord.sync();
    assert_eq!(coord.json(&["status"])["outbox"], 0);
    let other = Device::joined(&hub, "coordinator", "Anh Tuấn", &[]);
    assert_eq!(other.json(&["report"])["visits"], expected);
    assert_eq!(other.json(&["report"])["households"], 400);
}
