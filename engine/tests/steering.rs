//! Flow steering on the shared media port (DESIGN.md §3): two workers in one `SO_REUSEPORT`
//! group, 64 flows owned by worker 0. Unsteered, the kernel hashes about half of them to
//! worker 1, which hands their datagrams to worker 0. Once worker 0 steers them (a connected
//! per-flow socket each), no datagram reaches worker 1 and none is handed off; every one is
//! still answered. Unsteered again, hand-offs resume and the shared sockets still work.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sluice_engine::io::IoKind;
use sluice_engine::rtc::WorkerCounters;
use sluice_engine::worker::{Request, Workers};

const FLOWS: usize = 64;
const PER_ROUND: usize = 4;

/// Sends `SteerFlow` (or `UnsteerFlow`) for each of `remotes` to worker `owner` and waits
/// for every answer.
fn steer(workers: &Workers, owner: usize, remotes: &[SocketAddr], on: bool) {
    let (tx, rx) = mpsc::channel();
    let h = workers.get(owner).unwrap();
    for &remote in remotes {
        let req = if on {
            Request::SteerFlow { remote }
        } else {
            Request::UnsteerFlow { remote }
        };
        let tx = tx.clone();
        h.send(
            req,
            Box::new(move |r| {
                let _ = tx.send(r.is_ok());
            }),
        )
        .unwrap();
    }
    for _ in remotes {
        let ok = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("worker answers");
        assert!(ok, "steering command failed");
    }
}

/// Every client sends [`PER_ROUND`] datagrams; each must come back, byte for byte, from the
/// shared address.
fn round(workers: &Workers, clients: &[UdpSocket], tag: u8) {
    let shared = workers.media_addr();
    for k in 0..PER_ROUND as u8 {
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[tag, k, i as u8], shared).unwrap();
        }
    }
    let mut buf = [0u8; 64];
    for (i, c) in clients.iter().enumerate() {
        let mut got = [false; PER_ROUND];
        for _ in 0..PER_ROUND {
            let Ok((n, from)) = c.recv_from(&mut buf) else {
                panic!(
                    "round {tag} client {i}: echo missing; {:?}",
                    counters(workers)
                );
            };
            assert_eq!(from, shared);
            assert_eq!(n, 3);
            assert_eq!(
                (buf[0], buf[2]),
                (tag, i as u8),
                "client {i} got another echo"
            );
            let k = usize::from(buf[1]);
            assert!(!got[k], "round {tag} client {i}: echo {k} twice");
            got[k] = true;
        }
    }
}

fn counters(workers: &Workers) -> [WorkerCounters; 2] {
    [0, 1].map(|i| workers.get(i).unwrap().stats().rtc)
}

/// Waits until the published counters account for `total` datagrams received on the shared
/// port since start and every hand-off was taken in.
fn settled(workers: &Workers, total: u64) -> [WorkerCounters; 2] {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = counters(workers);
        let received = c[0].packets_in + c[1].packets_in;
        let handed = c[0].handoffs_out + c[1].handoffs_out;
        if received == total && handed == c[0].handoffs_in + c[1].handoffs_in {
            return c;
        }
        assert!(Instant::now() < deadline, "counters never settled: {c:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn steering(io: IoKind) {
    let workers = common::spawn(2, io);
    let clients: Vec<UdpSocket> = (0..FLOWS).map(|_| common::endpoint()).collect();
    let remotes: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    for &r in &remotes {
        workers.own_echo_flow(r, 0).unwrap();
    }
    let per_round = (FLOWS * PER_ROUND) as u64;

    // Unsteered: the flows the kernel hashes to worker 1 are handed off.
    round(&workers, &clients, 1);
    let before = settled(&workers, per_round);
    assert_eq!(before[0].handoffs_out, 0, "worker 0 owns every flow");
    assert_eq!(before[1].handoffs_out, before[1].packets_in);
    // Binomial(64, 1/2) flows land on worker 1; outside 8..=56 has probability < 1e-9.
    let handed = before[1].handoffs_out;
    assert!(
        (8 * PER_ROUND as u64..=56 * PER_ROUND as u64).contains(&handed),
        "about half the flows are handed off: {handed} of {per_round}"
    );

    // Steered: everything arrives on worker 0 directly.
    steer(&workers, 0, &remotes, true);
    round(&workers, &clients, 2);
    let after = settled(&workers, 2 * per_round);
    assert_eq!(
        after[1].packets_in, before[1].packets_in,
        "no datagram of a steered flow reaches worker 1"
    );
    assert_eq!(after[1].handoffs_out, handed, "no hand-off once steered");
    assert_eq!(after[0].packets_in, before[0].packets_in + per_round);

    // Steering twice is harmless; unsteering releases the flows and keeps the shared sockets.
    steer(&workers, 0, &remotes, true);
    steer(&workers, 0, &remotes, false);
    steer(&workers, 0, &remotes, false);
    round(&workers, &clients, 3);
    let again = settled(&workers, 3 * per_round);
    assert!(
        again[1].handoffs_out > handed,
        "hand-offs resume once unsteered: {again:?}"
    );
    assert_eq!(again[1].handoffs_out, again[0].handoffs_in);
    for c in &again {
        assert_eq!(
            c.drops_of(sluice_engine::rtc::DropReason::UnknownFlow),
            0,
            "{c:?}"
        );
    }
}

#[test]
fn steering_uring() {
    steering(IoKind::Uring);
}

#[test]
fn steering_mmsg() {
    steering(IoKind::Mmsg);
}

/// Steering and unsteering while datagrams are in flight loses none: each flow sends, is
/// (un)steered without waiting, sends again; every datagram is answered exactly once.
fn steer_under_traffic(io: IoKind) {
    let workers = common::spawn(2, io);
    let clients: Vec<UdpSocket> = (0..FLOWS).map(|_| common::endpoint()).collect();
    let remotes: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    for &r in &remotes {
        workers.own_echo_flow(r, 0).unwrap();
    }
    let shared = workers.media_addr();
    let owner = workers.get(0).unwrap();
    for (phase, on) in [(0u8, true), (2, false), (4, true), (6, false)] {
        let (tx, rx) = mpsc::channel();
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[phase, i as u8], shared).unwrap();
            let tx = tx.clone();
            let remote = remotes[i];
            let req = if on {
                Request::SteerFlow { remote }
            } else {
                Request::UnsteerFlow { remote }
            };
            owner
                .send(
                    req,
                    Box::new(move |r| {
                        let _ = tx.send(r.is_ok());
                    }),
                )
                .unwrap();
            c.send_to(&[phase + 1, i as u8], shared).unwrap();
        }
        let mut buf = [0u8; 16];
        for (i, c) in clients.iter().enumerate() {
            let mut got = [false; 2];
            for _ in 0..2 {
                let (n, _) = c.recv_from(&mut buf).unwrap_or_else(|e| {
                    panic!("phase {phase} client {i}: {e}; {:?}", counters(&workers))
                });
                assert_eq!((n, buf[1]), (2, i as u8));
                let k = usize::from(buf[0] - phase);
                assert!(!got[k], "phase {phase} client {i}: echo {k} twice");
                got[k] = true;
            }
        }
        for _ in 0..FLOWS {
            assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
        }
    }
    settled(&workers, 8 * FLOWS as u64);
}

#[test]
fn steer_under_traffic_uring() {
    steer_under_traffic(IoKind::Uring);
}

#[test]
fn steer_under_traffic_mmsg() {
    steer_under_traffic(IoKind::Mmsg);
}

/// Each worker steers at most its share of `MAX_STEERED_FLOWS`; past it steering is refused
/// (the flow stays on the hand-off path) until a steered flow is released.
#[test]
fn steering_is_capped() {
    use sluice_engine::worker::MAX_STEERED_FLOWS;
    const WORKERS: usize = 4;
    let workers = common::spawn(WORKERS, IoKind::Mmsg);
    let share = MAX_STEERED_FLOWS / WORKERS;
    // Remotes that never send: a connected socket needs no peer to exist.
    let remotes: Vec<SocketAddr> = (0..=share)
        .map(|i| SocketAddr::new([127, 0, 0, 2].into(), 20_000 + i as u16))
        .collect();
    steer(&workers, 0, &remotes[..share], true);
    let (tx, rx) = mpsc::channel();
    let ask = |req: Request| {
        let tx = tx.clone();
        workers
            .get(0)
            .unwrap()
            .send(req, Box::new(move |r| tx.send(r.is_ok()).unwrap()))
            .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    };
    let over = SteerOrNot::Steer(remotes[share]);
    assert!(!ask(over.request()), "one past the share is refused");
    assert!(
        ask(SteerOrNot::Steer(remotes[0]).request()),
        "already steered: fine"
    );
    assert!(ask(SteerOrNot::Unsteer(remotes[0]).request()));
    assert!(ask(over.request()), "room again after a release");
    // Another worker has its own share.
    steer(&workers, 1, &remotes[..1], true);
}

enum SteerOrNot {
    Steer(SocketAddr),
    Unsteer(SocketAddr),
}

impl SteerOrNot {
    fn request(&self) -> Request {
        match *self {
            Self::Steer(remote) => Request::SteerFlow { remote },
            Self::Unsteer(remote) => Request::UnsteerFlow { remote },
        }
    }
}
