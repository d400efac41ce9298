//! Fuzz target: Compound RTCP (RFC 3550 §6, RFC 4585, RFC 5104): views and in-place rewrites.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sluice_engine::fuzz_entry::rtcp(data);
});
