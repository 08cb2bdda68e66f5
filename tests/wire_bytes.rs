//! Bytes on the wire (request and response bodies, HTTP headers aside) for the syncs that
//! happen all day, measured through a real hub, against the naive way: one Automerge sync
//! exchange per document. Prints the figures; holds them to the targets of the sync issue.

mod support;

use doorstep_bench::naive_exchange;
use doorstep_store::DocumentBytes;
use support::{Device, HubProcess};

fn naive_total(device: &[DocumentBytes], hub: &[DocumentBytes]) -> usize {
    device
        .iter()
        .map(|d| {
            let h = hub.iter().find(|h| h.id == d.id).unwrap_or(d);
            naive_exchange(&d.bytes, &h.bytes).unwrap()
        })
        .sum()
}

fn bytes(report: &serde_json::Value) -> u64 {
    report["sent_bytes"].as_u64().unwrap() + report["received_bytes"].as_u64().unwrap()
}

#[test]
fn one_new_visit_and_a_quiet_sync_cost_a_few_hundred_bytes() {
    let names: Vec<String> = (1..=199).map(|i| format!("Tổ dân phố số {i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let hub = HubProcess::start(&refs);
    let coord = Device::joined(&hub, "coordinator", "Chị Hà", &[]);
    let household = coord.add_household("Tổ dân phố số 7", "Ngõ 12 Hàng Bông", "5");
    coord.sync();
    let held = support::open_store(&coord.db).document_count().unwrap();
    assert_eq!(held, 200, "ward document and 199 group documents");
    let hub_before = support::open_store(&coord.db).export_documents().unwrap();

    let quiet = coord.sync();
    let quiet_bytes = bytes(&quiet);
    assert_eq!(quiet["docs_unchanged"], 200);

    coord.json(&[
        "visit",
        "add",
        "--household",
        &household,
        "--outcome",
        "assisted",
        "--assist",
        "vneid_activate:done:60_plus",
        "--volunteer",
        "Nguyễn Thu Trang",
    ]);
    let device_after = support::open_store(&coord.db).export_documents().unwrap();
    let one_visit = coord.sync();
    let visit_bytes = bytes(&one_visit);
    assert_eq!(one_visit["docs_sent"], 1);

    let naive_quiet = naive_total(&hub_before, &hub_before);
    let naive_visit = naive_total(&device_after, &hub_before);
    println!("wire bytes (bodies), {held} documents held:");
    println!(
        "  one new visit:   {visit_bytes:>6} B  (sent {}, received {}); naive {naive_visit} B; {:.0}x fewer",
        one_visit["sent_bytes"], one_visit["received_bytes"],
        naive_visit as f64 / visit_bytes as f64
    );
    println!(
        "  nothing changed: {quiet_bytes:>6} B; naive {naive_quiet} B; {:.0}x fewer",
        naive_quiet as f64 / quiet_bytes as f64
    );
    // ~365 B: the change itself (~250 B), its signature (64 B, issue 24: at most 100 B more
    // than the 310 B before) and the round's framing, which carries the hub's incarnation and
    // the bytes still to pull (issue 14).
    assert!(visit_bytes <= 410, "one visit cost {visit_bytes} bytes");
    assert!(quiet_bytes < 512, "a quiet sync cost {quiet_bytes} bytes");
    assert!(
        naive_visit >= 10 * visit_bytes as usize,
        "only {naive_visit} vs {visit_bytes}"
    );
}
