//! A signed push as the hub receives it: a sync body whose pushes carry changes and their
//! signatures (`doorstep_doc::fuzzing::signed_changes`). Decoding the body, each change behind
//! the size limits, checking signatures against any claimed key, applying and checking must
//! refuse or accept, never panic.
#![no_main]

use doorstep_proto::wire::{decode, SyncRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    if let Ok(request) = decode::<SyncRequest>(data) {
        for push in &request.pushes {
            doorstep_doc::fuzzing::signed_changes(&push.changes, &push.signatures);
        }
    }
});
