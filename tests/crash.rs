//! A process killed (SIGKILL) while writing leaves a database that opens cleanly, with every
//! record it had committed intact and the query tables equal to the documents.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use support::Device;

/// Starts a large demo, kills it after `groups` residential groups were committed, and
/// returns what the demo said it had committed: group name → households.
fn kill_demo_after(d: &Device, groups: usize) -> HashMap<String, u64> {
    let mut child = d
        .command(&["demo", "--households", "40000", "--groups", "160"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start demo");
    let stderr = child.stderr.take().expect("stderr");
    let mut committed = HashMap::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("stderr line");
        // "committed Tổ dân phố số 3: 250 households, 231 visits"
        let Some(rest) = line.strip_prefix("committed ") else {
            continue;
        };
        let (group, counts) = rest.split_once(": ").expect("progress line");
        let households = counts.split(' ').next().unwrap().parse().unwrap();
        committed.insert(group.to_string(), households);
        if committed.len() == groups {
            child.kill().expect("SIGKILL");
            break;
        }
    }
    let status = child.wait().expect("wait");
    assert!(
        !status.success(),
        "the demo should have been killed, not finished"
    );
    committed
}

#[test]
fn a_demo_killed_mid_write_leaves_every_committed_record_intact() {
    for groups in [1, 4, 9] {
        let d = Device::new();
        let committed = kill_demo_after(&d, groups);
        assert_eq!(committed.len(), groups);

        let check = d.json(&["check"]);
        assert_eq!(check["integrity"], "ok");
        assert_eq!(check["query_tables_match_documents"], true);
        for (group, households) in &committed {
            let listed = d.json(&["household", "list", "--group", group]);
            assert_eq!(
                listed.as_array().unwrap().len() as u64,
                *households,
                "group {group} lost records"
            );
        }
        // The database still takes new work after the crash.
        let id = d.add_household("Tổ dân phố số 1", "Ngõ 1", "999");
        d.json(&["visit", "add", "--household", &id, "--outcome", "not_home"]);
        assert_eq!(d.json(&["check"])["query_tables_match_documents"], true);
    }
}
