//! Fuzz target: The whole sans-IO receive path, WorkerCore::handle_datagram, driven by a script of datagrams
//! and control steps (see sluice_engine::fuzz_entry::handle_datagram).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sluice_engine::fuzz_entry::handle_datagram(data);
});
