//! Helpers shared by the engine's end-to-end tests: start workers and drive them with commands.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use sluice_engine::io::IoKind;
use sluice_engine::worker::{WorkerConfig, Workers};

pub fn spawn(n: usize, io: IoKind) -> Workers {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let base = 20_000 + (std::process::id() % 200) as u16 * 100 + k * 20 % 100;
    Workers::spawn(
        &WorkerConfig {
            workers: n,
            pin: false,
            io,
            media_addr: "127.0.0.1:0".parse().unwrap(),
            rtc_ip: "127.0.0.1".parse().unwrap(),
            announced_ip: None,
            rtc_ports: (base, base + 99),
        },
        Arc::new(|_, _| {}),
    )
    .expect("workers start")
}

/// A socket for a simulated endpoint, with a receive timeout.
pub fn endpoint() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}
