//! A big first sync: a coordinator's device joining a ward of 10,000 households (several
//! rounds) sees its progress (documents and bytes, of how many, the total known from the
//! first round), and a first sync cut off midway (a relay that drops the connection) resumes
//! from what was already received instead of starting over.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use doorstep_domain::demo::{generate, DemoSpec};
use support::{hub_at_rest, open_store, Device, HubProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A hub serving a demo ward of `households`, imported as a ward moved from another hub is.
fn big_hub(households: u32) -> HubProcess {
    let dir = tempfile::TempDir::new().unwrap();
    let mut spec = DemoSpec::new(households, 7, chrono::Utc::now().date_naive());
    // Six visits a household: past the 900 KB a round carries, several times, and long
    // enough a pull that its rounds are written two at a time.
    spec.visits_per_household = 6.0;
    let demo = generate(&spec);
    let mut seed = doorstep_store::Store::open(
        &dir.path().join("seed.sqlite"),
        &doorstep_store::AtRest::Plaintext,
    )
    .unwrap();
    seed.insert_demo(&demo, |_| {}).unwrap();
    let documents = seed.export_documents().unwrap();
    let data = dir.path().join("hub");
    doorstep_hub::Hub::import(&data, &demo.ward, &documents, &hub_at_rest(&data)).unwrap();
    HubProcess::serve_made(dir)
}

/// A TCP relay to `upstream` (TLS passes through untouched) that drops every connection once
/// it has carried `limit` bytes from the hub, and refuses new ones after that.
fn cutting_relay(upstream: String, limit: u64) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let carried = Arc::new(AtomicU64::new(0));
            let cut = Arc::new(AtomicBool::new(false));
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if cut.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let Ok(mut hub) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (carried, cut) = (carried.clone(), cut.clone());
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.split();
                    let (mut hub_read, mut hub_write) = hub.split();
                    let up = tokio::io::copy(&mut client_read, &mut hub_write);
                    let down = async {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            let n = hub_read.read(&mut buf).await.unwrap_or(0);
                            if n == 0 || cut.load(Ordering::SeqCst) {
                                return;
                            }
                            if carried.fetch_add(n as u64, Ordering::SeqCst) + n as u64 > limit {
                                cut.store(true, Ordering::SeqCst);
                                return;
                            }
                            if client_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    tokio::select! { _ = up => {}, () = down => {} }
                });
            }
        });
    });
    let addr = rx.recv().unwrap();
    format!("https://{addr}")
}

#[test]
fn a_big_first_sync_shows_its_progress_and_resumes_after_a_cut() {
    let hub = big_hub(10_000);
    let upstream = hub.url.trim_start_matches("https://").to_string();

    // A full first sync, watched round by round.
    let watched = Device::new();
    let code = hub.invite("coordinator", "Chị Hà", &[], None);
    watched.json(&[
        "join", "--hub", &hub.url, "--code", &code, "--pin", &hub.pin,
    ]);
    let seen: Arc<Mutex<Vec<doorstep_sync::SyncProgress>>> = Arc::default();
    let report = {
        let mut store = open_store(&watched.db);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let seen = seen.clone();
        rt.block_on(doorstep_sync::sync_shared_with(
            &tokio::sync::Mutex::new(&mut store),
            None,
            &move |p| seen.lock().unwrap().push(p.clone()),
        ))
        .unwrap()
    };
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "several rounds: {seen:?}");
    let last = seen.last().unwrap();
    assert_eq!(last.bytes_done, last.bytes_total, "{seen:?}");
    assert_eq!(last.documents_done, last.documents_total);
    assert!(last.documents_total > 30, "{last:?}");
    assert_eq!(
        seen[0].bytes_total, last.bytes_total,
        "the first round already knows how much there is"
    );
    assert!(seen.windows(2).all(|w| w[0].bytes_done < w[1].bytes_done));
    let full_bytes = report.received_bytes;
    assert!(
        report.writes < report.rounds,
        "a long pull is written a few rounds at a time: {report:?}"
    );
    assert_eq!(watched.json(&["report"])["households"], 10_000);

    // The documents were stored as the hub sent them: they load again, nothing goes back, and
    // a visit made afterwards is the one change the next sync sends.
    {
        let mut store = open_store(&watched.db);
        assert!(
            !store.has_outbox().unwrap(),
            "a first sync leaves nothing to send"
        );
        let household = store.walk_list().unwrap()[0].id;
        let draft = doorstep_domain::VisitDraft {
            household_id: household,
            device_time: chrono::Utc::now(),
            volunteer: "Chị Hà".into(),
            outcome: doorstep_domain::Outcome::NotHome,
            note: None,
            follow_up: None,
            assists: Vec::new(),
            not_done_reason: None,
        };
        store.add_visit(draft, chrono::Utc::now()).unwrap();
        let outbox = store.outbox(doorstep_proto::wire::BATCH_BYTES).unwrap();
        assert_eq!(outbox.len(), 1, "one document");
        assert_eq!(outbox[0].changes.len(), 1, "one change");
    }
    // The rows written from what the check read are the rows a rebuild reads anew.
    let report = watched.json(&["report"]);
    watched.json(&["rebuild"]);
    assert_eq!(watched.json(&["report"]), report);
    let after = watched.json(&["sync"]);
    assert!(after["sent_bytes"].as_u64().unwrap() < 2_000, "{after}");
    assert!(!open_store(&watched.db).has_outbox().unwrap());

    // Another device's first sync, cut off halfway through its third round (the first two
    // were written together).
    let cut = Device::new();
    let code = hub.invite("coordinator", "Anh Tuấn", &[], None);
    cut.json(&[
        "join", "--hub", &hub.url, "--code", &code, "--pin", &hub.pin,
    ]);
    let rounds = seen.len() as u64;
    let relay = cutting_relay(upstream, full_bytes * 5 / (2 * rounds));
    let (code, _) = cut.fails(&["--json", "sync", "--hub", &relay]);
    assert_ne!(code, 0);
    let kept = open_store(&cut.db).sync_cursor().unwrap();
    assert!(kept > 0, "the rounds received before the cut are kept");
    // Resumed at the hub's own address: only what was missing comes.
    let resumed = cut.json(&["sync", "--hub", &hub.url]);
    let resumed_bytes = resumed["received_bytes"].as_u64().unwrap();
    assert!(
        resumed_bytes < full_bytes * 4 / 5,
        "resumed with {resumed_bytes} bytes of {full_bytes}"
    );
    assert_eq!(cut.json(&["report"])["households"], 10_000);
}
