//! What the benchmark shares with the tests that hold Doorstep to its wire targets: the naive
//! way's cost, one Automerge sync exchange per document.

use anyhow::Result;
use automerge::sync::{Message, State, SyncDoc};
use automerge::AutoCommit;

/// Bytes of one Automerge sync exchange between two copies of a document (`a` may be empty:
/// a device that has nothing yet), from fresh sync state: what a client that keeps no
/// per-document state sends on every reconnect.
pub fn naive_exchange(a: &[u8], b: &[u8]) -> Result<usize> {
    let mut a = if a.is_empty() {
        AutoCommit::new()
    } else {
        AutoCommit::load(a)?
    };
    let mut b = AutoCommit::load(b)?;
    let (mut sa, mut sb) = (State::new(), State::new());
    let mut bytes = 0;
    for _ in 0..64 {
        let mut quiet = true;
        if let Some(m) = a.sync().generate_sync_message(&mut sa) {
            let e = m.encode();
            bytes += e.len();
            b.sync()
                .receive_sync_message(&mut sb, Message::decode(&e)?)?;
            quiet = false;
        }
        if let Some(m) = b.sync().generate_sync_message(&mut sb) {
            let e = m.encode();
            bytes += e.len();
            a.sync()
                .receive_sync_message(&mut sa, Message::decode(&e)?)?;
            quiet = false;
        }
        if quiet {
            break;
        }
    }
    Ok(bytes)
}
