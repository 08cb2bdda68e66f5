//! `doorstep-bench`: measures Doorstep at ward scale, side by side with the naive way, in one
//! run, and prints every figure (a table, or `--json` with stable keys). It asserts nothing:
//! the targets live in BENCHMARKS.md next to a recorded run.
//!
//! The hub runs in a child process (this binary with `--serve-hub`), so its memory can be read
//! while simulated devices sync against it; cold start runs in a child too (`--cold-start`),
//! so its memory is the app's alone.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::Parser;
use doorstep_bench::naive_exchange;
use doorstep_domain::demo::{generate, DemoSpec};
use doorstep_domain::*;
use doorstep_hub::Hub;
use doorstep_proto::api::InviteRequest;
use doorstep_store::{AtRest, DatabaseKey, DocumentBytes, Store};
use serde_json::{json, Value};

#[derive(Debug, Parser)]
#[command(name = "doorstep-bench", about = "Ward-scale benchmarks of Doorstep")]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    households: u32,
    #[arg(long, default_value_t = 50_000)]
    visits: u32,
    #[arg(long, default_value_t = 40)]
    groups: u32,
    /// Ward sizes (households, five visits each) for the scaling table.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,50000")]
    scales: Vec<u32>,
    /// Simulated devices syncing at once, for the hub's throughput.
    #[arg(long, value_delimiter = ',', default_value = "50,200")]
    devices: Vec<u32>,
    /// Visits each simulated device pushes.
    #[arg(long, default_value_t = 10)]
    visits_per_device: u32,
    /// Visit saves timed for the latency percentiles.
    #[arg(long, default_value_t = 1000)]
    saves: usize,
    #[arg(long)]
    json: bool,
    /// Keep every database unencrypted (for before figures; the at-rest table compares both
    /// in any run).
    #[arg(long)]
    plaintext: bool,
    /// Households of the ward the at-rest table (plaintext against encrypted) is measured on.
    #[arg(long, default_value_t = 10_000)]
    at_rest_households: u32,
    /// Households of the ward the coordinator's tools (duplicate scan, merge) are timed on.
    #[arg(long, default_value_t = 50_000)]
    coordination_households: u32,
    /// Where the hub keeps its data in the throughput table: `sqlite`, `postgres` or both
    /// (`postgres` needs `--postgres`; it also measures two hub processes and the city roll-up).
    #[arg(long, value_delimiter = ',', default_value = "sqlite")]
    storage: Vec<String>,
    /// A PostgreSQL server the bench makes its databases on (`scripts/bench-postgres.sh`
    /// starts a throwaway one).
    #[arg(long, env = "DOORSTEP_BENCH_POSTGRES")]
    postgres: Option<String>,
    /// The city roll-up: wards, and households in each.
    #[arg(long, default_value_t = 126)]
    city_wards: u32,
    #[arg(long, default_value_t = 2_000)]
    city_households: u32,
    #[arg(long, hide = true)]
    serve_hub: Option<PathBuf>,
    #[arg(long, hide = true)]
    serve_database: Option<String>,
    #[arg(long, hide = true)]
    cold_start: Option<PathBuf>,
    /// Times one coordinator's first sync of a ward of `--households` (five visits each) kept
    /// in DIR (built there on the first run): to profile the first sync alone.
    #[arg(long, value_name = "DIR")]
    first_sync_ward: Option<PathBuf>,
}

static PLAINTEXT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How the bench's databases are kept: encrypted (as in the field) with a fixed key, or
/// plaintext with `--plaintext`. The key is the bench's own: what is measured is SQLCipher's
/// cost, not the PIN's (the at-rest table times that separately).
fn at_rest() -> AtRest {
    if PLAINTEXT.load(std::sync::atomic::Ordering::Relaxed) {
        AtRest::Plaintext
    } else {
        AtRest::Encrypted(DatabaseKey::from_bytes([0x42; 32]))
    }
}

/// A number from a process's `/proc/<pid>/status` (`VmRSS:` in kB, `Threads:`...), 0 if gone.
fn proc_status(pid: Option<u32>, field: &str) -> u64 {
    match pid {
        Some(p) => proc_number(&format!("/proc/{p}/status"), field),
        None => proc_number("/proc/self/status", field),
    }
}

/// A counter of this process's `/proc/self/io` (`write_bytes:`...), 0 if unreadable.
fn proc_io(field: &str) -> u64 {
    proc_number("/proc/self/io", field)
}

/// The number after `field` in a `/proc` file of `name: value` lines, 0 if absent.
fn proc_number(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
}

fn rss_bytes(pid: Option<u32>) -> u64 {
    proc_status(pid, "VmRSS:") * 1024
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// The hub, served by this binary in a child process.
struct HubProcess {
    child: Child,
    url: String,
    /// The pin of the hub's certificate key: devices join over HTTPS, as in the field.
    pin: String,
    place: doorstep_hub::HubPlace,
    /// From spawning the process to the hub listening, its documents loaded.
    start_seconds: f64,
}

impl HubProcess {
    fn start(dir: &Path) -> Result<Self> {
        Self::start_at(doorstep_hub::HubPlace::Dir {
            dir: dir.to_path_buf(),
            at_rest: at_rest(),
        })
    }

    /// A hub process serving `place` (a directory, or a PostgreSQL database).
    fn start_at(place: doorstep_hub::HubPlace) -> Result<Self> {
        let started = Instant::now();
        let mut command = Command::new(std::env::current_exe()?);
        if !at_rest().is_encrypted() {
            command.arg("--plaintext");
        }
        match &place {
            doorstep_hub::HubPlace::Dir { dir, .. } => command.arg("--serve-hub").arg(dir),
            doorstep_hub::HubPlace::Postgres { url, .. } => {
                command.arg("--serve-database").arg(url)
            }
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("hub stdout")?).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .context("hub did not start")?
            .to_string();
        Ok(HubProcess {
            child,
            url,
            pin: place.tls()?.pin,
            place,
            start_seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn rss(&self) -> u64 {
        rss_bytes(Some(self.child.id()))
    }

    fn invite(&self, role: Role, groups: Vec<String>) -> Result<String> {
        Ok(self
            .place
            .enrolment()?
            .invite(
                &InviteRequest {
                    role,
                    name: "bench".into(),
                    groups,
                    point: None,
                    expires_hours: Some(1),
                },
                Utc::now(),
            )?
            .code)
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A ward built from the demo generator, imported into a hub in `dir`.
fn build_ward(
    dir: &Path,
    households: u32,
    visits: u32,
    groups: Option<u32>,
) -> Result<(DemoSpec, f64)> {
    let started = Instant::now();
    let (spec, demo, documents) = demo_documents(dir, households, visits, groups, 1)?;
    Hub::import(&dir.join("hub"), &demo.ward, &documents, &at_rest())?;
    Ok((spec, started.elapsed().as_secs_f64()))
}

/// A demo ward (seed `seed`) as a device's documents, written through a store in `dir`.
fn demo_documents(
    dir: &Path,
    households: u32,
    visits: u32,
    groups: Option<u32>,
    seed: u64,
) -> Result<(
    DemoSpec,
    doorstep_domain::demo::DemoWard,
    Vec<DocumentBytes>,
)> {
    let mut spec = DemoSpec::new(households, seed, Utc::now().date_naive());
    spec.groups = groups;
    spec.visits_per_household = f64::from(visits) / f64::from(households.max(1));
    let demo = generate(&spec);
    let seed_path = dir.join(format!("seed-{seed}.sqlite"));
    let mut store = Store::open(&seed_path, &at_rest())?;
    store.insert_demo(&demo, |_| {})?;
    let documents = store.export_documents()?;
    drop(store);
    let _ = std::fs::remove_file(&seed_path);
    Ok((spec, demo, documents))
}

/// A new, empty database on the bench's PostgreSQL server, and its URL.
fn fresh_database(server: &str) -> Result<String> {
    let name = format!("bench_{}", new_id().simple());
    postgres::Client::connect(server, postgres::NoTls)?
        .batch_execute(&format!("CREATE DATABASE {name}"))?;
    Ok(format!("{server} dbname={name}"))
}

/// Where a throughput run keeps the hub: its SQLite directory, or a new PostgreSQL database
/// served by `processes` hub processes at once.
#[derive(Debug, Clone)]
enum Storage {
    Sqlite,
    Postgres { server: String, processes: u32 },
}

fn naive_all(device: &[DocumentBytes], hub: &[DocumentBytes]) -> Result<usize> {
    let mut total = 0;
    for h in hub {
        let d = device
            .iter()
            .find(|d| d.id == h.id)
            .map_or(&[][..], |d| &d.bytes[..]);
        total += naive_exchange(d, &h.bytes)?;
    }
    Ok(total)
}

fn wire(report: &doorstep_sync::SyncReport) -> u64 {
    report.sent_bytes + report.received_bytes
}

fn one_visit(store: &mut Store) -> Result<()> {
    let household = store
        .walk_list()?
        .first()
        .map(|r| r.id)
        .context("no household")?;
    store.add_visit(
        VisitDraft {
            household_id: household,
            device_time: Utc::now(),
            volunteer: "Nguyễn Thu Trang".into(),
            outcome: Outcome::Assisted,
            note: None,
            follow_up: None,
            assists: vec!["vneid_activate:done:60_plus"
                .parse()
                .map_err(anyhow::Error::msg)?],
            not_done_reason: None,
        },
        Utc::now(),
    )?;
    Ok(())
}

/// The visit the save-latency figures time: a door nobody opened.
fn not_home(household_id: Id) -> VisitDraft {
    VisitDraft {
        household_id,
        device_time: Utc::now(),
        volunteer: "Lan".into(),
        outcome: Outcome::NotHome,
        note: None,
        follow_up: None,
        assists: vec![],
        not_done_reason: None,
    }
}

/// Everything measured on one ward size.
async fn measure_ward(
    households: u32,
    visits: u32,
    groups: Option<u32>,
    saves: usize,
    naive: bool,
) -> Result<Value> {
    let dir = tempfile::TempDir::new()?;
    let (_, build_s) = build_ward(dir.path(), households, visits, groups)?;
    let hub = HubProcess::start(&dir.path().join("hub"))?;
    let db = dir.path().join("coordinator.sqlite");
    let mut store = Store::open(&db, &at_rest())?;
    let code = hub.invite(Role::Coordinator, vec![])?;
    doorstep_sync::join(&mut store, &hub.url, &code, Some(&hub.pin)).await?;
    let t = Instant::now();
    let first = doorstep_sync::sync(&mut store, None).await?;
    let first_s = t.elapsed().as_secs_f64();
    let docs = store.document_count()?;
    let hub_docs = store.export_documents()?;

    let quiet = doorstep_sync::sync(&mut store, None).await?;
    let (rtts, visit_bytes) = one_visit_syncs(&mut store, 20).await?;

    let mut out = json!({
        "households": households,
        "visits": visits,
        "documents": docs,
        "build_seconds": build_s,
        "first_sync_seconds": first_s,
        "first_sync_bytes": wire(&first),
        "whole_documents_bytes": hub_docs.iter().map(|d| d.bytes.len()).sum::<usize>(),
        "no_change_sync_bytes": wire(&quiet),
        "one_visit_sync_bytes": visit_bytes,
        "one_visit_sync_ms_p50": percentile(&rtts, 0.5),
        "one_visit_sync_ms_p95": percentile(&rtts, 0.95),
    });
    if naive {
        let before = store.export_documents()?;
        one_visit(&mut store)?;
        let after = store.export_documents()?;
        let changed = after
            .iter()
            .find(|a| before.iter().any(|b| b.id == a.id && b.bytes != a.bytes))
            .map_or(0, |d| d.bytes.len());
        let naive_visit = naive_all(&after, &before)?;
        let naive_quiet = naive_all(&before, &before)?;
        let naive_first = naive_all(&[], &hub_docs)?;
        let ratio = |naive: usize, ours: u64| naive as f64 / ours.max(1) as f64;
        out["naive_one_visit_sync_bytes"] = json!(naive_visit);
        out["naive_one_visit_whole_document_bytes"] = json!(changed);
        out["naive_no_change_sync_bytes"] = json!(naive_quiet);
        out["naive_first_sync_bytes"] = json!(naive_first);
        out["ratio_one_visit"] = json!(ratio(naive_visit, visit_bytes));
        out["ratio_no_change"] = json!(ratio(naive_quiet, wire(&quiet)));
        out["ratio_first_sync"] = json!(ratio(naive_first, wire(&first)));
        doorstep_sync::sync(&mut store, None).await?;

        // The same syncs as TCP payload both ways (TLS handshake and records, HTTP headers):
        // through a relay that counts every byte. The first sync through it opens a fresh
        // TLS connection; the next ones reuse it, as a device's syncs in one session do.
        let hub_addr: std::net::SocketAddr = hub.url.trim_start_matches("https://").parse()?;
        let (relay_url, counted) = counting_relay(hub_addr).await?;
        let tcp_bytes = |counted: &std::sync::Arc<std::sync::atomic::AtomicU64>| {
            counted.swap(0, std::sync::atomic::Ordering::SeqCst)
        };
        let settled = || tokio::time::sleep(Duration::from_millis(100));
        one_visit(&mut store)?;
        doorstep_sync::sync(&mut store, Some(&relay_url)).await?;
        settled().await;
        out["one_visit_sync_tcp_bytes_fresh"] = json!(tcp_bytes(&counted));
        one_visit(&mut store)?;
        doorstep_sync::sync(&mut store, None).await?;
        settled().await;
        out["one_visit_sync_tcp_bytes"] = json!(tcp_bytes(&counted));
        doorstep_sync::sync(&mut store, None).await?;
        settled().await;
        out["no_change_sync_tcp_bytes"] = json!(tcp_bytes(&counted));
        // Back to the hub itself, then the same one-visit syncs while a flood arrives.
        doorstep_sync::sync(&mut store, Some(&hub.url)).await?;
        let flood = measure_flood(&mut store, &hub).await?;
        out["flood"] = flood;
    }

    // Visit save latency on the synced coordinator's store.
    let ids: Vec<Id> = store.walk_list()?.iter().map(|r| r.id).collect();
    let mut times = Vec::with_capacity(saves);
    for i in 0..saves {
        let draft = not_home(ids[(i * 7919) % ids.len()]);
        let t = Instant::now();
        store.add_visit(draft, Utc::now())?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    out["visit_save_ms_p50"] = json!(percentile(&times, 0.5));
    out["visit_save_ms_p95"] = json!(percentile(&times, 0.95));
    out["visit_save_ms_p99"] = json!(percentile(&times, 0.99));
    if naive {
        let (shared_ms, held_ms) = saves_during_slow_sync(store, &ids, saves.min(200)).await?;
        out["visit_save_during_slow_sync_ms_p95"] = json!(percentile(&shared_ms, 0.95));
        out["visit_save_during_slow_sync_ms_max"] = json!(shared_ms.last().copied());
        out["visit_save_during_slow_sync_lock_held_ms_max"] = json!(held_ms.last().copied());
    } else {
        drop(store);
    }

    let mut cold = Command::new(std::env::current_exe()?);
    if !at_rest().is_encrypted() {
        cold.arg("--plaintext");
    }
    let cold = cold.arg("--cold-start").arg(&db).output()?;
    if !cold.status.success() {
        bail!(
            "cold start failed: {}",
            String::from_utf8_lossy(&cold.stderr)
        );
    }
    let cold: Value = serde_json::from_slice(&cold.stdout)?;
    out["cold_start_seconds"] = cold["seconds"].clone();
    out["walk_list_json_bytes"] = cold["walk_list_json_bytes"].clone();
    out["walk_window_cold_seconds"] = cold["window_seconds"].clone();
    out["walk_window_json_bytes"] = cold["window_json_bytes"].clone();
    out["walk_search_ms"] = cold["search_ms"].clone();
    if cold["window_total"] != json!(households) {
        bail!(
            "the walk window selected {} of {households}",
            cold["window_total"]
        );
    }
    out["ram_per_household_bytes"] =
        json!(cold["rss_delta_bytes"].as_f64().unwrap_or(0.0) / f64::from(households.max(1)));
    Ok(out)
}

/// `count` syncs of one new visit each: their round trips (ms, sorted) and the last one's
/// body bytes.
async fn one_visit_syncs(store: &mut Store, count: usize) -> Result<(Vec<f64>, u64)> {
    let (mut times, mut bytes) = (Vec::new(), 0);
    for _ in 0..count {
        one_visit(store)?;
        let t = Instant::now();
        bytes = wire(&doorstep_sync::sync(store, None).await?);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times, bytes))
}

/// One-visit syncs of a good device (100, p95) while nothing else happens and while 500 bad
/// joins and 500 forged-token syncs a second arrive from 250 other addresses (the whole of
/// 127.0.0.0/8 is this machine). Each attacker address is refused 401, with a token check
/// or a code lookup, until the limiter answers it 429 (after 10 in a minute): the good
/// syncs are timed in the first seconds, while most of the flood still costs the hub a check.
async fn measure_flood(store: &mut Store, hub: &HubProcess) -> Result<Value> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let (quiet, _) = one_visit_syncs(store, 100).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let statuses: Arc<[AtomicU64; 6]> = Arc::new(Default::default());
    let sent = Arc::new(AtomicU64::new(0));
    let clients: Vec<reqwest::Client> = (0..250u8)
        .map(|i| {
            reqwest::Client::builder()
                .use_preconfigured_tls(doorstep_sync::pinned_tls(Some(&hub.pin))?)
                .local_address(std::net::IpAddr::from([127, 0, 1, i.wrapping_add(1)]))
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(anyhow::Error::from)
        })
        .collect::<Result<_>>()?;
    let forged = doorstep_proto::wire::encode(&doorstep_proto::wire::SyncRequest {
        incarnation: 0,
        cursor: 0,
        pushes: vec![],
    });
    let flooding = {
        let (stop, statuses, sent, url) = (
            stop.clone(),
            statuses.clone(),
            sent.clone(),
            hub.url.clone(),
        );
        tokio::spawn(async move {
            // 1,000 requests a second: one of each kind every 2 ms, never waiting for answers.
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                tick.tick().await;
                for kind in 0..2 {
                    let client = clients[i % clients.len()].clone();
                    i += 1;
                    let request = if kind == 0 {
                        client
                            .post(format!("{url}/v1/join"))
                            .json(&serde_json::json!({"code": "AAAAA-BBBBB"}))
                    } else {
                        client
                            .post(format!("{url}/v1/sync"))
                            .bearer_auth("dst_forged_token_of_an_attacker")
                            .body(forged.clone())
                    };
                    let statuses = statuses.clone();
                    sent.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let slot = match request.send().await.map(|r| r.status().as_u16()) {
                            Ok(401) => 0,
                            Ok(429) => 1,
                            Ok(503) => 2,
                            Ok(s) if s < 300 => 3,
                            Ok(_) => 4,
                            Err(_) => 5,
                        };
                        statuses[slot].fetch_add(1, Ordering::SeqCst);
                    });
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let sent_before = sent.load(Ordering::SeqCst);
    let (flooded, _) = one_visit_syncs(store, 100).await?;
    let seconds = started.elapsed().as_secs_f64();
    let rate = (sent.load(Ordering::SeqCst) - sent_before) as f64 / seconds;
    stop.store(true, Ordering::SeqCst);
    flooding.await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let count = |i: usize| statuses[i].load(Ordering::SeqCst);
    Ok(json!({
        "quiet_one_visit_sync_ms_p95": percentile(&quiet, 0.95),
        "flood_one_visit_sync_ms_p95": percentile(&flooded, 0.95),
        "flood_one_visit_sync_ms_max": flooded.last().copied(),
        "flood_requests_per_second": rate,
        "flood_answered_401": count(0),
        "flood_answered_429": count(1),
        "flood_answered_503": count(2),
        "flood_answered_2xx": count(3),
        "flood_answered_other": count(4),
        "flood_failed_to_connect": count(5),
    }))
}

/// A relay to `upstream` that counts every byte it passes, both ways.
async fn counting_relay(
    upstream: std::net::SocketAddr,
) -> Result<(String, std::sync::Arc<std::sync::atomic::AtomicU64>)> {
    use std::sync::atomic::AtomicU64;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://{}", listener.local_addr()?);
    let counted = std::sync::Arc::new(AtomicU64::new(0));
    let total = counted.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let total = total.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let up = tokio::spawn(pump(cr, sw, total.clone()));
                pump(sr, cw, total).await;
                let _ = up.await;
            });
        }
    });
    Ok((url, counted))
}

/// Copies `from` to `to` until either ends, counting the bytes into `total`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    total: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16384];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        total.fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
    }
    let _ = to.shutdown().await;
}

/// A hub that reads a request and answers only after `delay` (with a 503): a slow link.
async fn slow_hub(delay: Duration) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    Ok(url)
}

/// Visit saves (milliseconds each, sorted) while a sync waits on a hub that answers after
/// 5 s, the store shared as the app shares it: as the sync does now (the store locked only
/// around its own work), and as it did before (the store locked for the whole sync).
async fn saves_during_slow_sync(
    store: Store,
    households: &[Id],
    saves: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let url = slow_hub(Duration::from_secs(5)).await?;
    let shared = std::sync::Arc::new(tokio::sync::Mutex::new(store));
    let mut results = Vec::new();
    for lock_held in [false, true] {
        let syncing = {
            let (shared, url) = (shared.clone(), url.clone());
            tokio::spawn(async move {
                if lock_held {
                    let mut store = shared.lock().await;
                    doorstep_sync::sync(&mut store, Some(&url)).await
                } else {
                    doorstep_sync::sync_shared(&*shared, Some(&url)).await
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut times = Vec::with_capacity(saves);
        for i in 0..saves {
            let draft = not_home(households[(i * 104_729) % households.len()]);
            let t = Instant::now();
            shared.lock().await.add_visit(draft, Utc::now())?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        // The slow hub's 503 ends the sync with an error: expected.
        let _ = syncing.await?;
        times.sort_by(f64::total_cmp);
        results.push(times);
    }
    let held = results.pop().unwrap_or_default();
    let shared_times = results.pop().unwrap_or_default();
    Ok((shared_times, held))
}

/// The city roll-up: `wards` wards of `households` each in one PostgreSQL database; the time
/// the page's data takes (every ward's cached roll-up in one query, and the same over HTTPS
/// from a serving city hub), and the time every roll-up takes to compute from documents.
async fn measure_city(server: &str, wards: u32, households: u32) -> Result<Value> {
    // The synchronous PostgreSQL client runs its own runtime: never on an async thread.
    let (built, hub, token) =
        tokio::task::block_in_place(|| build_city(server, wards, households))?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(doorstep_sync::pinned_tls(Some(&hub.pin))?)
        .build()?;
    let mut https = Vec::new();
    for _ in 0..5 {
        let at = Instant::now();
        let answer = client
            .get(format!("{}/v1/city/rollup", hub.url))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        https.push(at.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(!answer.is_empty());
    }
    https.sort_by(f64::total_cmp);
    let mut built = built;
    built["rollup_https_ms"] = json!(https[https.len() / 2]);
    tokio::task::block_in_place(|| drop(hub));
    Ok(built)
}

/// The city of `measure_city`, its roll-ups computed and timed, served by a hub process with a
/// viewer's token.
fn build_city(server: &str, wards: u32, households: u32) -> Result<(Value, HubProcess, String)> {
    let dir = tempfile::TempDir::new()?;
    let url = fresh_database(server)?;
    let mut city = doorstep_hub::City::open(&url, true)?;
    let built = Instant::now();
    for n in 0..wards {
        let (_, mut demo, documents) =
            demo_documents(dir.path(), households, households, None, u64::from(n) + 100)?;
        demo.ward.name = format!("Phường {n:03}");
        city.import_ward(&demo.ward, &documents)?;
    }
    let build_seconds = built.elapsed().as_secs_f64();
    let computed = Instant::now();
    city.refresh_rollups(Utc::now())?;
    let compute_all_seconds = computed.elapsed().as_secs_f64();
    let mut times = Vec::new();
    for _ in 0..5 {
        let at = Instant::now();
        let rows = city.rollups()?;
        times.push(at.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(rows.len() == wards as usize && rows.iter().all(|r| r.current));
    }
    times.sort_by(f64::total_cmp);
    let token = city.add_viewer("bench")?;
    let hub = HubProcess::start_at(doorstep_hub::HubPlace::Postgres { url, ward: None })?;
    Ok((
        json!({
            "wards": wards,
            "households_per_ward": households,
            "build_seconds": build_seconds,
            "compute_all_seconds": compute_all_seconds,
            "rollup_data_ms": times[times.len() / 2],
        }),
        hub,
        token,
    ))
}

/// Devices syncing at once against one hub: document updates per second and hub memory.
async fn measure_hub(
    households: u32,
    visits: u32,
    groups: u32,
    devices: u32,
    per_device: u32,
    storage: &Storage,
) -> Result<Value> {
    let dir = tempfile::TempDir::new()?;
    let hubs: Vec<HubProcess> = match storage {
        Storage::Sqlite => {
            build_ward(dir.path(), households, visits, Some(groups))?;
            vec![HubProcess::start(&dir.path().join("hub"))?]
        }
        // The synchronous PostgreSQL client runs its own runtime: never on an async thread.
        Storage::Postgres { server, processes } => tokio::task::block_in_place(|| {
            let url = fresh_database(server)?;
            let (_, demo, documents) =
                demo_documents(dir.path(), households, visits, Some(groups), 1)?;
            let place = doorstep_hub::HubPlace::Postgres {
                url: url.clone(),
                ward: None,
            };
            Hub::import_in(
                &mut doorstep_hub::postgres::PgStorage::open(&url)?,
                &demo.ward,
                &documents,
            )?;
            (0..*processes)
                .map(|_| HubProcess::start_at(place.clone()))
                .collect::<Result<Vec<_>>>()
        })?,
    };
    let hub = &hubs[0];
    let group_names: Vec<String> = tokio::task::block_in_place(|| {
        anyhow::Ok(
            hub.place
                .hub()?
                .ward()?
                .1
                .into_iter()
                .map(|g| g.name)
                .collect(),
        )
    })?;
    let rss = || hubs.iter().map(HubProcess::rss).sum::<u64>();
    let idle_rss = rss();
    let mut stores = Vec::new();
    for i in 0..devices {
        let path = dir.path().join(format!("device-{i}.sqlite"));
        let mut store = Store::open(&path, &at_rest())?;
        let group = group_names[i as usize % group_names.len()].clone();
        // Devices spread over the hub processes (a load balancer's round robin).
        let through = &hubs[i as usize % hubs.len()];
        let code = tokio::task::block_in_place(|| through.invite(Role::Volunteer, vec![group]))?;
        doorstep_sync::join(&mut store, &through.url, &code, Some(&through.pin)).await?;
        doorstep_sync::sync(&mut store, None).await?;
        for _ in 0..per_device {
            one_visit(&mut store)?;
        }
        stores.push(store);
    }
    let joined_rss = rss();
    let cpu = || hubs.iter().map(|h| cpu_seconds(h.child.id())).sum::<f64>();
    let hub_cpu = cpu();
    eprintln!(
        "concurrent sync of {devices} devices: hub pids {:?}",
        hubs.iter().map(|h| h.child.id()).collect::<Vec<_>>()
    );
    let started = Instant::now();
    let tasks: Vec<_> = stores
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move { doorstep_sync::sync(&mut s, None).await.map(|_| ()) })
        })
        .collect();
    let threads = || {
        hubs.iter()
            .map(|h| proc_status(Some(h.child.id()), "Threads:"))
            .sum::<u64>()
    };
    let (mut peak, mut peak_threads) = (rss(), threads());
    for t in tasks {
        t.await??;
        peak = peak.max(rss());
        peak_threads = peak_threads.max(threads());
    }
    let seconds = started.elapsed().as_secs_f64();
    let hub_cpu = cpu() - hub_cpu;
    let updates = f64::from(devices * per_device);
    let (storage_name, processes) = match storage {
        Storage::Sqlite => ("sqlite", 1),
        Storage::Postgres { processes, .. } => ("postgres", *processes),
    };
    Ok(json!({
        "storage": storage_name,
        "processes": processes,
        "devices": devices,
        "updates": updates,
        "seconds": seconds,
        "updates_per_second": updates / seconds,
        "hub_cpu_seconds": hub_cpu,
        "updates_per_hub_cpu_second": updates / hub_cpu.max(0.01),
        "hub_start_seconds": hub.start_seconds,
        "hub_rss_idle_bytes": idle_rss,
        "hub_rss_joined_bytes": joined_rss,
        "hub_rss_peak_bytes": peak,
        "hub_threads_peak": peak_threads,
    }))
}

/// A device's first sync of the ward, its database's size and its visit save latency, with
/// the database plaintext and encrypted, in one run against one (encrypted) hub; and what
/// unlocking costs: Argon2id on the PIN, then opening the database and reading the walk list.
/// The coordinator's tools on a ward of `households`: the duplicate scan over every group, and
/// the merge of two households with 50 visits each (the merge's write and its tables).
fn measure_coordination(households: u32) -> Result<Value> {
    let dir = tempfile::TempDir::new()?;
    let mut store = Store::open(&dir.path().join("coordinator.sqlite"), &at_rest())?;
    let today = Utc::now().date_naive();
    let mut spec = DemoSpec::new(households, 40, today);
    // Five visits a household: the 250,000 visits of a 50,000-household ward.
    spec.visits_per_household = 5.0;
    store.insert_demo(&generate(&spec), |_| {})?;
    let started = Instant::now();
    let pairs = store.duplicates(None)?;
    let scan = started.elapsed().as_secs_f64();
    let visits = store.report(today)?.visits;
    let from = today - chrono::Duration::days(30);
    // The first report after the database is opened (every page decrypted once), then each
    // breakdown again, as a coordinator reading the dashboard does.
    drop(store);
    let mut store = Store::open(&dir.path().join("coordinator.sqlite"), &at_rest())?;
    let started = Instant::now();
    store.range_report(from, today, ReportBy::Day)?;
    let first_report_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut report_ms = BTreeMap::new();
    for by in [ReportBy::Day, ReportBy::Group, ReportBy::Volunteer] {
        let started = Instant::now();
        let report = store.range_report(from, today, by)?;
        report_ms.insert(by.as_str(), started.elapsed().as_secs_f64() * 1000.0);
        if report.total.visits == 0 {
            bail!("the range report found no visits");
        }
    }
    let group = store.groups()?[0].id;
    let now = Utc::now();
    let mut pair = Vec::new();
    for number in ["số 1", "1"] {
        let draft = HouseholdDraft {
            alley: "Ngõ Đo Thử".into(),
            number: number.into(),
            ..Default::default()
        };
        let h = store.add_household(group, draft, now)?;
        for i in 0..50 {
            store.add_visit(
                VisitDraft {
                    household_id: h.id,
                    device_time: now - chrono::Duration::minutes(i),
                    volunteer: "Lan".into(),
                    outcome: Outcome::NotHome,
                    note: None,
                    follow_up: None,
                    assists: Vec::new(),
                    not_done_reason: None,
                },
                now,
            )?;
        }
        pair.push(h.id);
    }
    let started = Instant::now();
    store.merge_households(pair[0], pair[1])?;
    let merge_ms = started.elapsed().as_secs_f64() * 1000.0;
    if store.visits(Some(pair[0]))?.len() != 100 {
        bail!("the merge did not count the duplicate's 50 visits for the survivor");
    }
    Ok(json!({
        "households": households,
        "duplicate_pairs": pairs.len(),
        "duplicate_scan_seconds": scan,
        "visits": visits,
        "range_report_30_days_ms": report_ms,
        "range_report_first_after_open_ms": first_report_ms,
        "merge_50_visits_each_ms": merge_ms,
    }))
}

async fn measure_at_rest(households: u32, saves: usize) -> Result<Value> {
    let dir = tempfile::TempDir::new()?;
    build_ward(dir.path(), households, households * 5, None)?;
    let hub = HubProcess::start(&dir.path().join("hub"))?;
    let mut out = json!({ "households": households });
    const PIN: &str = "246810";
    for (name, encrypted) in [("plaintext", false), ("encrypted", true)] {
        let db = dir.path().join(format!("{name}.sqlite"));
        let mut store = if encrypted {
            Store::unlock(&db, PIN, 0, None)?.store
        } else {
            Store::open(&db, &AtRest::Plaintext)?
        };
        let code = hub.invite(Role::Coordinator, vec![])?;
        doorstep_sync::join(&mut store, &hub.url, &code, Some(&hub.pin)).await?;
        let t = Instant::now();
        doorstep_sync::sync(&mut store, None).await?;
        let first_sync_seconds = t.elapsed().as_secs_f64();
        let ids: Vec<Id> = store.walk_list()?.iter().map(|r| r.id).collect();
        let mut times = Vec::with_capacity(saves);
        for i in 0..saves {
            let t = Instant::now();
            store.add_visit(not_home(ids[(i * 7919) % ids.len()]), Utc::now())?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        // Closing the last connection checkpoints the WAL into the database file.
        drop(store);
        out[name] = json!({
            "first_sync_seconds": first_sync_seconds,
            "database_bytes": std::fs::metadata(&db)?.len(),
            "visit_save_ms_p50": percentile(&times, 0.5),
            "visit_save_ms_p95": percentile(&times, 0.95),
        });
        if encrypted {
            let t = Instant::now();
            let unlocked = Store::unlock(&db, PIN, 1, None)?;
            let rows = unlocked.store.walk_list()?.len();
            out["unlock_seconds"] = json!(t.elapsed().as_secs_f64());
            out["unlock_walk_list_rows"] = json!(rows);
        }
    }
    let bytes = |name: &str| out[name]["database_bytes"].as_f64().unwrap_or(0.0);
    out["size_overhead_percent"] =
        json!((bytes("encrypted") / bytes("plaintext").max(1.0) - 1.0) * 100.0);
    Ok(out)
}

/// One coordinator's first sync of the ward kept in `dir` (built there if missing), timed.
async fn first_sync_only(dir: &Path, households: u32) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    if !dir.join("hub").exists() {
        let (_, build_s) = build_ward(dir, households, households * 5, None)?;
        eprintln!("built the ward in {build_s:.1} s");
    }
    let hub = HubProcess::start(&dir.join("hub"))?;
    // Kept after the run (to look into), replaced by the next one.
    let db = dir.join("coordinator.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("coordinator.sqlite{suffix}")));
    }
    let mut store = Store::open(&db, &at_rest())?;
    let code = hub.invite(Role::Coordinator, vec![])?;
    doorstep_sync::join(&mut store, &hub.url, &code, Some(&hub.pin)).await?;
    let written = || proc_io("write_bytes:");
    let written_before = written();
    let t = Instant::now();
    let first = doorstep_sync::sync(&mut store, None).await?;
    let seconds = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "households": store.walk_list()?.len(),
            "first_sync_seconds": seconds,
            "first_sync_bytes": wire(&first),
            "rounds": first.rounds,
            "disk_bytes_written": written().saturating_sub(written_before),
            "database_bytes": std::fs::metadata(&db)?.len(),
        })
    );
    Ok(())
}

/// Opens `db` cold and reads what a walk list screen needs: the window the app sends (alley
/// runs and the first 100 rows), then a search over the rows it keeps; then, opened again, the
/// whole walk list (as the app sent it before the window, and the RAM it takes).
fn cold_start(db: &Path) -> Result<()> {
    let query = doorstep_domain::walk::WalkQuery {
        today: Utc::now().date_naive(),
        ..Default::default()
    };
    let t = Instant::now();
    let store = Store::open(db, &at_rest())?;
    let window = store.walk_window(&query, 0, 100)?;
    let window_seconds = t.elapsed().as_secs_f64();
    let window_bytes = serde_json::to_vec(&window)?.len();
    let searched = doorstep_domain::walk::WalkQuery {
        search: "ngo 1".into(),
        ..query
    };
    let t = Instant::now();
    let found = store.walk_window(&searched, 0, 100)?;
    let search_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(store);
    let before = rss_bytes(None);
    let t = Instant::now();
    let store = Store::open(db, &at_rest())?;
    let rows = store.walk_list()?;
    let seconds = t.elapsed().as_secs_f64();
    let after = rss_bytes(None);
    println!(
        "{}",
        json!({
            "seconds": seconds,
            "rss_delta_bytes": after.saturating_sub(before),
            "households": rows.len(),
            "walk_list_json_bytes": serde_json::to_vec(&rows)?.len(),
            "window_seconds": window_seconds,
            "window_json_bytes": window_bytes,
            "window_total": window.total,
            "search_ms": search_ms,
            "search_found": found.total,
        })
    );
    Ok(())
}

fn print_table(result: &Value) {
    let main = &result["ward"];
    let f = |v: &Value| match v {
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or(0.0)),
        v => v.to_string(),
    };
    println!(
        "Doorstep benchmark — {}",
        result["machine"].as_str().unwrap_or("")
    );
    println!(
        "\nWard: {} households, {} visits, {} documents",
        main["households"], main["visits"], main["documents"]
    );
    let rows: &[(&str, &str)] = &[
        ("first full sync (bytes)", "first_sync_bytes"),
        (
            "  naive: sync exchange per document",
            "naive_first_sync_bytes",
        ),
        ("  naive: whole documents", "whole_documents_bytes"),
        ("  ratio (naive exchange / ours)", "ratio_first_sync"),
        ("first full sync (s)", "first_sync_seconds"),
        ("one new visit (bytes)", "one_visit_sync_bytes"),
        (
            "  TCP both ways, TLS and headers, kept-alive (bytes)",
            "one_visit_sync_tcp_bytes",
        ),
        (
            "  the same on a fresh TLS connection (bytes)",
            "one_visit_sync_tcp_bytes_fresh",
        ),
        (
            "  naive: sync exchange per document",
            "naive_one_visit_sync_bytes",
        ),
        (
            "  naive: whole changed document",
            "naive_one_visit_whole_document_bytes",
        ),
        ("  ratio (naive exchange / ours)", "ratio_one_visit"),
        (
            "one-visit sync round trip p50 (ms)",
            "one_visit_sync_ms_p50",
        ),
        (
            "one-visit sync round trip p95 (ms)",
            "one_visit_sync_ms_p95",
        ),
        ("nothing changed (bytes)", "no_change_sync_bytes"),
        (
            "  TCP both ways, TLS and headers, kept-alive (bytes)",
            "no_change_sync_tcp_bytes",
        ),
        (
            "  naive: sync exchange per document",
            "naive_no_change_sync_bytes",
        ),
        ("  ratio", "ratio_no_change"),
        (
            "cold start to a listable walk list (s)",
            "cold_start_seconds",
        ),
        ("RAM per household held (bytes)", "ram_per_household_bytes"),
        ("visit save p50 (ms)", "visit_save_ms_p50"),
        ("visit save p95 (ms)", "visit_save_ms_p95"),
        ("visit save p99 (ms)", "visit_save_ms_p99"),
        (
            "visit save while a sync waits 5 s, p95 (ms)",
            "visit_save_during_slow_sync_ms_p95",
        ),
        ("  the same, max (ms)", "visit_save_during_slow_sync_ms_max"),
        (
            "  sync holding the store (before), max (ms)",
            "visit_save_during_slow_sync_lock_held_ms_max",
        ),
    ];
    for (label, key) in rows {
        println!("  {label:<42} {}", f(&main[*key]));
    }
    let flood = &main["flood"];
    if flood.is_object() {
        println!(
            "\nFlood: {:.0} bad requests/s (bad joins and forged-token syncs from 250 addresses)",
            flood["flood_requests_per_second"].as_f64().unwrap_or(0.0)
        );
        for (label, key) in [
            (
                "one-visit sync p95, quiet (ms)",
                "quiet_one_visit_sync_ms_p95",
            ),
            (
                "one-visit sync p95, during the flood (ms)",
                "flood_one_visit_sync_ms_p95",
            ),
            ("  the same, max (ms)", "flood_one_visit_sync_ms_max"),
            ("flood answered 401 / 429 / 503", "flood_answered_401"),
        ] {
            let value = if key == "flood_answered_401" {
                format!(
                    "{} / {} / {} (other {}, failed {})",
                    flood["flood_answered_401"],
                    flood["flood_answered_429"],
                    flood["flood_answered_503"],
                    flood["flood_answered_other"],
                    flood["flood_failed_to_connect"]
                )
            } else {
                f(&flood[key])
            };
            println!("  {label:<42} {value}");
        }
    }
    println!("\nHub throughput");
    for h in result["hub"].as_array().into_iter().flatten() {
        println!(
            "  {:<8} x{} {:>4} devices: {:>6.0} updates/s wall, {:>6.0} per hub CPU-second ({} updates in {:.2} s); hub start {:.2} s, RSS idle {:.1} MB, joined {:.1} MB, peak {:.1} MB, {} threads at most",
            h["storage"].as_str().unwrap_or("sqlite"), h["processes"], h["devices"], h["updates_per_second"].as_f64().unwrap_or(0.0), h["updates_per_hub_cpu_second"].as_f64().unwrap_or(0.0),
            h["updates"], h["seconds"].as_f64().unwrap_or(0.0), h["hub_start_seconds"].as_f64().unwrap_or(0.0),
            h["hub_rss_idle_bytes"].as_f64().unwrap_or(0.0) / 1e6, h["hub_rss_joined_bytes"].as_f64().unwrap_or(0.0) / 1e6,
            h["hub_rss_peak_bytes"].as_f64().unwrap_or(0.0) / 1e6, h["hub_threads_peak"]
        );
    }
    let city = &result["city"];
    if city.is_object() {
        println!(
            "\nCity roll-up: {} wards x {} households: page data {:.0} ms (over HTTPS {:.0} ms); \
             computing every ward's roll-up {:.1} s",
            city["wards"],
            city["households_per_ward"],
            city["rollup_data_ms"].as_f64().unwrap_or(0.0),
            city["rollup_https_ms"].as_f64().unwrap_or(0.0),
            city["compute_all_seconds"].as_f64().unwrap_or(0.0)
        );
    }
    println!("\nScaling (five visits per household)");
    println!(
        "  {:>10} {:>12} {:>14} {:>10} {:>10} {:>11} {:>12} {:>10}",
        "households",
        "first sync s",
        "first sync B",
        "visit B",
        "quiet B",
        "cold start",
        "RAM/hh B",
        "save p95"
    );
    let scaling = result["scaling"].as_array().cloned().unwrap_or_default();
    for s in &scaling {
        println!(
            "  {:>10} {:>12} {:>14} {:>10} {:>10} {:>11} {:>12} {:>10}",
            s["households"],
            f(&s["first_sync_seconds"]),
            s["first_sync_bytes"],
            s["one_visit_sync_bytes"],
            s["no_change_sync_bytes"],
            f(&s["cold_start_seconds"]),
            f(&s["ram_per_household_bytes"]),
            f(&s["visit_save_ms_p95"])
        );
    }
    println!("\nThe walk list screen (cold open, the app's window against the whole list)");
    println!(
        "  {:>10} {:>14} {:>12} {:>13} {:>12} {:>10}",
        "households", "window open s", "window B", "whole list s", "whole B", "search ms"
    );
    for s in &scaling {
        println!(
            "  {:>10} {:>14} {:>12} {:>13} {:>12} {:>10}",
            s["households"],
            f(&s["walk_window_cold_seconds"]),
            s["walk_window_json_bytes"],
            f(&s["cold_start_seconds"]),
            s["walk_list_json_bytes"],
            f(&s["walk_search_ms"])
        );
    }
    let a = &result["at_rest"];
    println!(
        "\nAt rest: a coordinator's device, {} households (hub encrypted)",
        a["households"]
    );
    println!(
        "  {:<12} {:>12} {:>14} {:>10} {:>10}",
        "database", "first sync s", "database B", "save p50", "save p95"
    );
    for name in ["plaintext", "encrypted"] {
        let m = &a[name];
        println!(
            "  {:<12} {:>12} {:>14} {:>10} {:>10}",
            name,
            f(&m["first_sync_seconds"]),
            m["database_bytes"],
            f(&m["visit_save_ms_p50"]),
            f(&m["visit_save_ms_p95"])
        );
    }
    println!(
        "  size overhead {} %; unlock (Argon2id on the PIN, open, walk list of {}) {} s",
        f(&a["size_overhead_percent"]),
        a["unlock_walk_list_rows"],
        f(&a["unlock_seconds"])
    );
    let c = &result["coordination"];
    println!(
        "\nCoordinator's tools, {} households: duplicate scan {} s ({} pairs); merge of two \
         households with 50 visits each {} ms",
        c["households"],
        f(&c["duplicate_scan_seconds"]),
        c["duplicate_pairs"],
        f(&c["merge_50_visits_each_ms"])
    );
    let r = &c["range_report_30_days_ms"];
    println!(
        "  range report over 30 days of {} visits: first after opening {} ms; then by day {} ms, \
         by group {} ms, by volunteer {} ms",
        c["visits"],
        f(&c["range_report_first_after_open_ms"]),
        f(&r["day"]),
        f(&r["group"]),
        f(&r["volunteer"])
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    PLAINTEXT.store(args.plaintext, std::sync::atomic::Ordering::Relaxed);
    if let Some(db) = &args.cold_start {
        return cold_start(db);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = match (&args.serve_hub, &args.serve_database) {
        (Some(dir), _) => Some(doorstep_hub::HubPlace::Dir {
            dir: dir.clone(),
            at_rest: at_rest(),
        }),
        (None, Some(url)) => Some(doorstep_hub::HubPlace::Postgres {
            url: url.clone(),
            ward: None,
        }),
        (None, None) => None,
    };
    if let Some(place) = served {
        return runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            doorstep_hub::serve_place(place, listener, Default::default(), |addr| {
                println!("listening on https://{addr}");
                use std::io::Write;
                let _ = std::io::stdout().flush();
            })
            .await?;
            Ok(())
        });
    }
    if let Some(dir) = &args.first_sync_ward {
        return runtime.block_on(first_sync_only(dir, args.households));
    }
    let started = Instant::now();
    let result = runtime.block_on(async {
        let ward = measure_ward(
            args.households,
            args.visits,
            Some(args.groups),
            args.saves,
            true,
        )
        .await?;
        let mut storages = Vec::new();
        for name in &args.storage {
            match name.as_str() {
                "sqlite" => storages.push(Storage::Sqlite),
                "postgres" => {
                    let server = args
                        .postgres
                        .clone()
                        .context("--storage postgres needs --postgres URL")?;
                    for processes in [1, 2] {
                        storages.push(Storage::Postgres {
                            server: server.clone(),
                            processes,
                        });
                    }
                }
                other => anyhow::bail!("unknown storage {other:?}: sqlite or postgres"),
            }
        }
        let mut hub = Vec::new();
        for storage in &storages {
            for d in &args.devices {
                hub.push(
                    measure_hub(
                        args.households,
                        args.visits,
                        args.groups,
                        *d,
                        args.visits_per_device,
                        storage,
                    )
                    .await?,
                );
            }
        }
        let city = match &args.postgres {
            Some(server) if args.storage.iter().any(|s| s == "postgres") => {
                measure_city(server, args.city_wards, args.city_households).await?
            }
            _ => Value::Null,
        };
        let at_rest = measure_at_rest(args.at_rest_households, args.saves.min(500)).await?;
        let coordination = measure_coordination(args.coordination_households)?;
        let mut scaling = Vec::new();
        for s in &args.scales {
            scaling.push(measure_ward(*s, s * 5, None, args.saves.min(300), false).await?);
        }
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mut top = BTreeMap::new();
        top.insert(
            "machine",
            json!(format!("{cores} cores, {}", std::env::consts::OS)),
        );
        top.insert("date", json!(Utc::now().to_rfc3339()));
        top.insert("ward", ward);
        top.insert("hub", json!(hub));
        top.insert("city", city);
        top.insert("scaling", json!(scaling));
        top.insert("at_rest", at_rest);
        top.insert("coordination", coordination);
        anyhow::Ok(json!(top))
    })?;
    let mut result = result;
    result["total_seconds"] = json!(started.elapsed().as_secs_f64());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_table(&result);
        println!("\ntotal: {:.0} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}
