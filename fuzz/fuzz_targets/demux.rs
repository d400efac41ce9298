//! Fuzz target: RFC 7983 first-byte demultiplexing, checked against the RFC's table.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sluice_engine::fuzz_entry::demux(data);
});
