//! Fuzz target: RTP view, CSRCs, RFC 8285 header extensions, in-place rewrites, writer round trip.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sluice_engine::fuzz_entry::rtp(data);
});
