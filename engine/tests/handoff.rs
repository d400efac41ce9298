//! The shared media port: two workers in one `SO_REUSEPORT` group, flows owned by worker 0.
//! Datagrams the kernel hashes to worker 1 are handed to worker 0 through its hand-off queue,
//! and every one is answered; the counters on both sides agree.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sluice_engine::io::IoKind;

fn handoff(io: IoKind) {
    let workers = common::spawn(2, io);
    let shared = workers.media_addr();
    let clients: Vec<UdpSocket> = (0..32).map(|_| common::endpoint()).collect();
    for c in &clients {
        workers.own_echo_flow(c.local_addr().unwrap(), 0).unwrap();
    }
    let mut buf = [0u8; 2048];
    for round in 0..10u8 {
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[round, i as u8, 0xEE], shared).unwrap();
        }
        for (i, c) in clients.iter().enumerate() {
            // Only the shared port's answer counts: an ephemeral client port may have been
            // some earlier test's, whose late datagrams still arrive.
            let n = loop {
                let Ok((n, from)) = c.recv_from(&mut buf) else {
                    let w0 = workers.get(0).unwrap().stats();
                    let w1 = workers.get(1).unwrap().stats();
                    panic!("round {round} client {i}: no echo; w0 {w0:?} w1 {w1:?}");
                };
                if from == shared {
                    break n;
                }
            };
            assert_eq!(&buf[..n], &[round, i as u8, 0xEE]);
        }
    }
    // Counters are published once per loop iteration: wait until they settle.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let w0 = workers.get(0).unwrap().stats().rtc;
        let w1 = workers.get(1).unwrap().stats().rtc;
        let settled = w0.packets_in + w1.packets_in == 320 && w0.handoffs_in == w1.handoffs_out;
        if settled {
            assert!(
                w1.handoffs_out > 0,
                "with 32 flows some hash to worker 1 (p of none = 2^-32)"
            );
            assert_eq!(w0.handoffs_out, 0, "worker 0 owns every flow");
            assert_eq!(
                w1.packets_in, w1.handoffs_out,
                "worker 1 handed off everything it received"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counters never settled: {w0:?} {w1:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn handoff_uring() {
    handoff(IoKind::Uring);
}

#[test]
fn handoff_mmsg() {
    handoff(IoKind::Mmsg);
}

#[test]
fn unknown_flows_on_the_shared_port_are_dropped_and_counted() {
    let workers = common::spawn(2, IoKind::Auto);
    let c = common::endpoint();
    for _ in 0..20 {
        c.send_to(b"who am i", workers.media_addr()).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let drops: u64 = workers
            .handles()
            .iter()
            .map(|h| {
                h.stats()
                    .rtc
                    .drops_of(sluice_engine::rtc::DropReason::UnknownFlow)
            })
            .sum();
        if drops == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "drops counted: {drops}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
