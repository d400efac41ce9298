//! CPU per packet of flows on the shared media port, handed off versus steered.
//!
//! Two workers (unpinned) in one `SO_REUSEPORT` group; `FLOWS` client sockets whose flows worker
//! 0 owns and echoes (the `own_echo_flow` test hook). One load thread keeps `WINDOW` datagrams
//! of 200 bytes in flight and reads the echoes. Each mode runs `PACKETS` echoes:
//!
//! - `handoff`: unsteered; the kernel hashes about half the flows to worker 1, which hands
//!   every datagram of them to worker 0;
//! - `steered`: the same flows after `SteerFlow` on worker 0: no hand-off.
//!
//! CPU is the process's user + system time (`RUSAGE_SELF`) minus the load thread's own
//! (`RUSAGE_THREAD`), so it is the workers' (the idle main thread adds nothing), divided by
//! the packets echoed. The extra cost of one hand-off is the difference over the hand-offs.
//!
//! `cargo run --release -p sluice-engine --example steering_cost [uring|mmsg] [flows]`
//!
//! These machines are shared and noisy: compare only figures from one run; modes alternate
//! (handoff, steered, handoff, steered) so a burst of noise shows as a disagreement.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sluice_engine::io::IoKind;
use sluice_engine::worker::{Request, WorkerConfig, Workers};

const PACKETS: u64 = 200_000;
const WINDOW: u64 = 128;

fn cpu(who: i32) -> Duration {
    // SAFETY: getrusage fills a caller-owned struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid and writable.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Keeps `WINDOW` datagrams in flight over `clients` (round robin) until `PACKETS` echoes came
/// back; returns this thread's CPU time and the wall time.
fn load(clients: &[UdpSocket], to: SocketAddr) -> (Duration, Duration) {
    let cpu0 = cpu(libc::RUSAGE_THREAD);
    let wall0 = Instant::now();
    let mut fds: Vec<libc::pollfd> = clients
        .iter()
        .map(|c| libc::pollfd {
            fd: c.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let pkt = [0x80u8; 200];
    let mut buf = [0u8; 2048];
    let (mut sent, mut got, mut next) = (0u64, 0u64, 0usize);
    while got < PACKETS {
        while sent < PACKETS && sent - got < WINDOW {
            if clients[next].send_to(&pkt, to).is_ok() {
                sent += 1;
            }
            next = (next + 1) % clients.len();
        }
        // SAFETY: `fds` is a live array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
        if n == 0 {
            // Lost datagrams (a full queue somewhere): do not wait for them forever.
            got = sent;
        }
        for (f, c) in fds.iter_mut().zip(clients) {
            if f.revents != 0 {
                while c.recv_from(&mut buf).is_ok() {
                    got += 1;
                }
            }
            f.revents = 0;
        }
    }
    (cpu(libc::RUSAGE_THREAD) - cpu0, wall0.elapsed())
}

fn steer(workers: &Workers, remotes: &[SocketAddr], on: bool) {
    let (tx, rx) = mpsc::channel();
    for &remote in remotes {
        let req = if on {
            Request::SteerFlow { remote }
        } else {
            Request::UnsteerFlow { remote }
        };
        let tx = tx.clone();
        workers
            .get(0)
            .unwrap()
            .send(req, Box::new(move |r| tx.send(r.is_ok()).unwrap()))
            .unwrap();
    }
    for _ in remotes {
        assert!(rx.recv().unwrap(), "steering failed");
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let io = match args.next().as_deref() {
        Some("mmsg") => IoKind::Mmsg,
        _ => IoKind::Uring,
    };
    let flows: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let workers = Workers::spawn(
        &WorkerConfig {
            workers: 2,
            pin: false,
            io,
            media_addr: "127.0.0.1:0".parse().unwrap(),
            rtc_ip: "127.0.0.1".parse().unwrap(),
            announced_ip: None,
            rtc_ports: (47000, 47099),
        },
        Arc::new(|_, _| {}),
    )
    .expect("workers start");
    let to = workers.media_addr();
    let clients: Vec<UdpSocket> = (0..flows)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let remotes: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    for &r in &remotes {
        workers.own_echo_flow(r, 0).unwrap();
    }
    println!("{io:?}, {flows} flows, {PACKETS} echoes of 200 bytes per mode, window {WINDOW}");
    let mut steered = false;
    for mode in ["handoff", "steered", "handoff", "steered"] {
        let want = mode == "steered";
        if want != steered {
            steer(&workers, &remotes, want);
            steered = want;
        }
        let s0 = [0, 1].map(|i| workers.get(i).unwrap().stats());
        let cpu0 = cpu(libc::RUSAGE_SELF);
        let (load_cpu, wall) =
            std::thread::scope(|s| s.spawn(|| load(&clients, to)).join()).expect("load thread");
        let cpu_workers = cpu(libc::RUSAGE_SELF) - cpu0 - load_cpu;
        std::thread::sleep(Duration::from_millis(300)); // let the counters publish
        let s1 = [0, 1].map(|i| workers.get(i).unwrap().stats());
        let handoffs = s1[1].rtc.handoffs_out - s0[1].rtc.handoffs_out;
        let rx: u64 = (0..2)
            .map(|i| s1[i].rtc.packets_in - s0[i].rtc.packets_in)
            .sum();
        let tx = s1[0].io.tx_packets - s0[0].io.tx_packets;
        println!(
            "{mode:8} {:6.0} ns CPU/echo (workers), {:5.1} % handed off, load thread {:5.0} \
             ns/echo, rx {rx} tx {tx}, wall {wall:.2?}",
            cpu_workers.as_nanos() as f64 / tx.max(1) as f64,
            100.0 * handoffs as f64 / rx.max(1) as f64,
            load_cpu.as_nanos() as f64 / tx.max(1) as f64,
        );
    }
}
