//! How long saving one visit takes (Automerge change + SQLite transaction with fsync), over
//! 1,000 saves into a demo ward on a real file. Prints p50/p95/p99; asserts nothing about speed.
//!
//!     cargo bench -p doorstep-store --bench visit_save [-- HOUSEHOLDS SAVES]

use std::time::Instant;

use chrono::Utc;
use doorstep_domain::demo::{generate, DemoSpec};
use doorstep_domain::*;
use doorstep_store::Store;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let households: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let saves: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let dir = tempfile::TempDir::new().expect("temp dir");
    let path = dir.path().join("bench.sqlite");
    let mut store = Store::open(&path).expect("open");
    let started = Instant::now();
    let demo = generate(&DemoSpec::new(households, 1, Utc::now().date_naive()));
    store.insert_demo(&demo, |_| {}).expect("demo");
    println!(
        "demo ward: {households} households, {} visits written in {:.1} s, {:.1} MB on disk",
        demo.visits.len(),
        started.elapsed().as_secs_f64(),
        store.size_on_disk() as f64 / 1e6
    );

    let targets: Vec<Id> = demo.households.iter().map(|h| h.id).collect();
    let mut times = Vec::with_capacity(saves);
    for i in 0..saves {
        let draft = VisitDraft {
            household_id: targets[(i * 7919) % targets.len()],
            device_time: Utc::now(),
            volunteer: "Nguyễn Thu Trang".into(),
            outcome: Outcome::Assisted,
            note: None,
            follow_up: None,
            assists: vec![Assist {
                service: Service::VneidActivate,
                result: AssistResult::Done,
                age_band: Some(AgeBand::Elderly),
                priority: PriorityFlags::from_list(&[Priority::Elderly]),
            }],
        };
        let t = Instant::now();
        store.add_visit(draft, Utc::now()).expect("save visit");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "visit save over {saves} saves: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.50),
        at(0.95),
        at(0.99),
        times[times.len() - 1]
    );
}
