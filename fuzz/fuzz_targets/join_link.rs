//! What a device reads when it joins: a pasted or scanned join link, and the certificate a
//! hub presents (its pin). Never a panic.
#![no_main]

use doorstep_proto::pin::{certificate_pin, JoinLink};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(link) = JoinLink::parse(text) {
            let _ = JoinLink::parse(&link.to_link());
        }
    }
    let _ = certificate_pin(data);
});
