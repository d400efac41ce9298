//! What one DTLS-SRTP handshake costs: a client and a server `DtlsTransport` handshake in memory
//! (no sockets, no loss) N times on one thread; prints the CPU time per handshake (both sides
//! together, from `/proc/thread-self/schedstat`) and the wall time spent inside each side.
//!
//! `cargo run --release -p sluice-engine --example dtls_handshake_cost [-- N]`

use std::time::{Duration, Instant};

use sluice_engine::crypto::dtls::{
    DtlsCertificate, DtlsConfig, DtlsEvent, DtlsSide, DtlsState, DtlsTransport,
};

/// Nanoseconds this thread has run on a CPU (first field of schedstat).
fn thread_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    s.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("schedstat's first field is a number")
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let config = DtlsConfig::default();
    let client_cert = DtlsCertificate::generate().unwrap();
    let server_cert = DtlsCertificate::generate().unwrap();

    let mut side_time = [Duration::ZERO; 2];
    let mut datagrams = 0usize;
    let mut total_cpu = 0u64;
    // One warm-up handshake, not counted.
    for round in 0..=n {
        if round == 1 {
            side_time = [Duration::ZERO; 2];
            datagrams = 0;
        }
        let cpu0 = thread_cpu_ns();
        let now = Instant::now();
        let t = Instant::now();
        let mut client = DtlsTransport::new(
            &client_cert,
            &config,
            DtlsSide::Client,
            vec![server_cert.sha256().clone()],
            now,
        );
        side_time[0] += t.elapsed();
        let t = Instant::now();
        let mut server = DtlsTransport::new(
            &server_cert,
            &config,
            DtlsSide::Server,
            vec![client_cert.sha256().clone()],
            now,
        );
        side_time[1] += t.elapsed();
        loop {
            let mut moved = false;
            while let Some(d) = client.poll_transmit() {
                moved = true;
                datagrams += 1;
                let t = Instant::now();
                let _ = server.handle_datagram(now, &d);
                side_time[1] += t.elapsed();
            }
            while let Some(d) = server.poll_transmit() {
                moved = true;
                datagrams += 1;
                let t = Instant::now();
                let _ = client.handle_datagram(now, &d);
                side_time[0] += t.elapsed();
            }
            if !moved {
                break;
            }
        }
        assert_eq!(client.state(), DtlsState::Connected);
        assert_eq!(server.state(), DtlsState::Connected);
        assert!(matches!(client.poll_event(), Some(DtlsEvent::Connected(_))));
        assert!(matches!(server.poll_event(), Some(DtlsEvent::Connected(_))));
        if round == 0 {
            continue;
        }
        let cpu = thread_cpu_ns() - cpu0;
        total_cpu += cpu;
    }
    println!(
        "{n} handshakes (DTLS 1.2, ECDHE-ECDSA P-256, cookie exchange, mutual certificates): \
         {:.0} µs CPU per handshake, both sides; client {:.0} µs, server {:.0} µs (wall inside each); \
         {:.1} datagrams per handshake",
        total_cpu as f64 / f64::from(n) / 1e3,
        side_time[0].as_secs_f64() * 1e6 / f64::from(n),
        side_time[1].as_secs_f64() * 1e6 / f64::from(n),
        datagrams as f64 / f64::from(n),
    );
}
