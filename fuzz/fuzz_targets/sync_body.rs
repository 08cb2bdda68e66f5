//! A sync body from a peer: the hub decodes requests, a device decodes answers. Any bytes
//! must decode or be refused, never panic or allocate past the limits.
#![no_main]

use doorstep_proto::wire::{decode, SyncRequest, SyncResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode::<SyncRequest>(data);
    let _ = decode::<SyncResponse>(data);
});
