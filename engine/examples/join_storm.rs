//! Forwarding latency of a running WebRTC flow before and during a join storm.
//!
//! One worker; the DTLS driver on a thread of its own, as the control plane runs it. A publisher
//! sends SRTP at 1 000 packets/s to one subscriber through the worker (each payload carries its
//! send time); the subscriber decrypts and records send→receive latency. Phase 1: 3 000 packets
//! with nothing else going on. Phase 2: 3 000 packets while `STORM` new WebRTC transports (each
//! its own client thread) do ICE and a full DTLS handshake at once. The worker never runs a
//! handshake (DESIGN §2), so phase 2 should look like phase 1 apart from CPU contention: on a
//! machine with few cores the clients' own handshakes and the DTLS thread compete with the
//! worker for the same cores, which is part of what this shows.
//!
//! `cargo run --release -p sluice-engine --example join_storm [uring|mmsg] [storm]`
//!
//! The storm's client threads run at nice 19 (they stand for browsers elsewhere) and the DTLS
//! thread at nice 10, as the control plane runs it. Latencies include the client's own send
//! and receive on loopback. Shared, noisy machines:
//! compare only the two phases of one run.

#[path = "../tests/webrtc_common/mod.rs"]
mod webrtc_common;

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_engine::io::IoKind;
use sluice_engine::rtc::webrtc_peer::PeerInput;
use webrtc_common::{Client, Sfu, recv};

const PHASE: u32 = 3_000;
/// The DTLS thread's nice value, as `control/src/webrtc.rs` sets it.
const DTLS_NICE: i32 = 10;

/// Creates a transport and runs ICE and DTLS (we are the DTLS client) to completion.
fn join(s: &Sfu, router: uuid::Uuid) -> Client {
    let mut c = webrtc_common::join_ice(s, router, Duration::from_millis(50));
    webrtc_common::handshake(&mut c, s.media, Duration::from_secs(60));
    c
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let io = match args.get(1).map(String::as_str) {
        Some("mmsg") => IoKind::Mmsg,
        _ => IoKind::Uring,
    };
    let storm: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let (sfu, dtls) = webrtc_common::start(io, Some(DTLS_NICE));
    let (workers, media) = (sfu.workers.clone(), sfu.media);
    let (router, r) = webrtc_common::opus_router(&workers);
    let mut publisher = join(&sfu, router);
    let mut subscriber = join(&sfu, router);
    let producer_id = webrtc_common::produce(
        &workers,
        publisher.t.id,
        json!({
            "codecs": [{"mimeType": "audio/opus", "payloadType": 111,
                        "clockRate": 48000, "channels": 2}],
            "encodings": [{"ssrc": 1111}]
        }),
    );
    webrtc_common::consume(&workers, subscriber.t.id, producer_id, &r);

    let t0 = Instant::now();
    let (lat_tx, lat_rx) = mpsc::channel::<(u32, u64)>();
    std::thread::spawn(move || {
        loop {
            if let Some(PeerInput::Rtp(p)) = recv(&mut subscriber) {
                let Ok(pkt) = sluice_engine::wire::rtp::RtpPacket::parse(&p) else {
                    continue;
                };
                let b = pkt.payload();
                if b.len() < 12 {
                    continue;
                }
                let sent = u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
                let idx = u32::from_be_bytes(b[8..12].try_into().expect("4 bytes"));
                let now = t0.elapsed().as_nanos() as u64;
                if lat_tx.send((idx, now.saturating_sub(sent))).is_err() {
                    return;
                }
            }
        }
    });
    let mut send = |i: u32| {
        let mut payload = [0u8; 160];
        payload[..8].copy_from_slice(&(t0.elapsed().as_nanos() as u64).to_be_bytes());
        payload[8..12].copy_from_slice(&i.to_be_bytes());
        let mut buf = [0u8; 256];
        let h = sluice_engine::wire::rtp::RtpHeader {
            payload_type: 111,
            sequence: i as u16,
            timestamp: 48 * i,
            ssrc: 1111,
            ..Default::default()
        };
        let n = sluice_engine::wire::rtp::write_rtp(&mut buf, &h, &[], &payload).expect("rtp");
        let srtp = publisher.peer.protect_rtp(&buf[..n]).expect("protect");
        publisher.sock.send_to(&srtp, media).expect("send");
    };
    let paced = |i: u32, start: Instant| {
        let due = start + Duration::from_millis(u64::from(i));
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    };
    let start = Instant::now();
    for i in 0..PHASE {
        paced(i, start);
        send(i);
    }
    // The storm: every client thread joins at once.
    let storm_started = Instant::now();
    let joined = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..storm {
        let (s, j) = (sfu.clone(), joined.clone());
        std::thread::spawn(move || {
            // The joining clients stand for browsers on other machines: on this one they
            // should not take the cores from the SFU (`nice` as high as it goes).
            let _ = sluice_engine::io::thread::set_current_thread_nice(19);
            let _client = join(&s, router);
            j.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(30));
        });
    }
    let start = Instant::now();
    let mut storm_done = None;
    let mut storm_end = PHASE;
    for i in 0..PHASE {
        paced(i, start);
        send(PHASE + i);
        if storm_done.is_none() && joined.load(std::sync::atomic::Ordering::SeqCst) == storm {
            storm_done = Some(storm_started.elapsed());
            storm_end = i + 1;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut before = Vec::new();
    let mut during = Vec::new();
    let mut after = Vec::new();
    while let Ok((idx, ns)) = lat_rx.try_recv() {
        if idx < PHASE {
            before.push(ns / 1000);
        } else if idx < PHASE + storm_end {
            during.push(ns / 1000);
        } else {
            after.push(ns / 1000);
        }
    }
    before.sort_unstable();
    during.sort_unstable();
    after.sort_unstable();
    let row = |name: &str, v: &[u64]| {
        if v.is_empty() {
            println!("{name:>8}: no packets");
            return;
        }
        println!(
            "{name:>8}: {:>5} packets  p50 {:>6} µs  p99 {:>6} µs  p99.9 {:>6} µs  max {:>6} µs",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 0.999),
            v.last().copied().unwrap_or(0)
        );
    };
    println!(
        "join_storm {io:?}: {storm} transports joining (ICE + DTLS) while 1000 SRTP packets/s flow; \
         storm finished in {:?} ({} of {storm} within the phase)",
        storm_done.unwrap_or_default(),
        joined.load(std::sync::atomic::Ordering::SeqCst)
    );
    row("before", &before);
    row("during", &during);
    if !after.is_empty() {
        row("after", &after);
    }
    sfu.stop_dtls(dtls);
}
