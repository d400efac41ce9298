//! Proves the forwarding path allocates nothing: a counting global allocator, a real worker
//! (both I/O backends) forwarding plain RTP from one producer to three consumers, and zero
//! allocations in the process over 10 000 forwarded input packets after warm-up.
//!
//! `harness = false`: libtest's own threads would allocate while we count.

mod alloc_counter;

mod common;

use std::net::UdpSocket;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use sluice_engine::io::IoKind;
use sluice_engine::rtc::{ConsumeOptions, PlainTransportOptions, ProduceOptions, RtcError};
use sluice_engine::worker::{Request, Response, Workers};
use uuid::Uuid;

/// Sends `count` packets starting at `first_seq` and waits until every receiver got them all.
/// Paced in small bursts so that no socket buffer overflows; no allocation here either.
fn call(w: &Workers, worker: usize, req: Request) -> Result<Response, RtcError> {
    let (tx, rx) = mpsc::channel();
    w.get(worker)
        .unwrap()
        .send(
            req,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("worker answers")
}

/// Router with opus; one producer (SSRC 1111, PT 100) on a transport connected to `sender`;
/// one consumer per receiver. Returns the producer transport's address.
fn opus_fanout(w: &Workers, sender: &UdpSocket, receivers: &[UdpSocket]) -> SocketAddr {
    let router = Uuid::new_v4();
    let codecs = serde_json::from_value(json!([
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
    ]))
    .unwrap();
    let Ok(Response::Router(r)) = call(
        w,
        0,
        Request::CreateRouter {
            id: router,
            media_codecs: codecs,
        },
    ) else {
        panic!("router")
    };
    let transport = |remote: SocketAddr| {
        let id = Uuid::new_v4();
        let options = PlainTransportOptions {
            comedia: false,
            rtcp_mux: true,
            app_data: json!(null),
        };
        let Ok(Response::PlainTransport(t)) = call(
            w,
            0,
            Request::CreatePlainTransport {
                router_id: router,
                id,
                options,
            },
        ) else {
            panic!("transport")
        };
        call(
            w,
            0,
            Request::ConnectPlainTransport {
                id,
                ip: remote.ip(),
                port: remote.port(),
                rtcp_port: None,
            },
        )
        .unwrap();
        (
            id,
            SocketAddr::new(t.tuple.local_address.parse().unwrap(), t.tuple.local_port),
        )
    };
    let (send_t, send_addr) = transport(sender.local_addr().unwrap());
    let producer_id = Uuid::new_v4();
    let rtp_parameters = serde_json::from_value(json!({
        "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
        "encodings": [{"ssrc": 1111}]
    }))
    .unwrap();
    let options = ProduceOptions {
        id: producer_id,
        kind: sluice_engine::rtc::rtp_parameters::MediaKind::Audio,
        rtp_parameters,
        paused: false,
        app_data: json!(null),
    };
    call(
        w,
        0,
        Request::Produce {
            transport_id: send_t,
            options,
        },
    )
    .unwrap();
    for rx in receivers {
        let (t, _) = transport(rx.local_addr().unwrap());
        let options = ConsumeOptions {
            id: Uuid::new_v4(),
            producer_id,
            rtp_capabilities: r.rtp_capabilities.clone(),
            paused: false,
            app_data: json!(null),
        };
        call(
            w,
            0,
            Request::Consume {
                transport_id: t,
                options,
            },
        )
        .unwrap();
    }
    send_addr
}

/// A 200-byte RTP packet of the producer.
fn opus_packet(seq: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 200];
    let h = sluice_engine::wire::rtp::RtpHeader {
        payload_type: 100,
        sequence: seq,
        timestamp: 960 * seq as u32,
        ssrc: 1111,
        ..Default::default()
    };
    let n = sluice_engine::wire::rtp::write_rtp(&mut buf, &h, &[], &[0xAB; 188]).unwrap();
    buf.truncate(n);
    buf
}

fn pump(
    sender: &UdpSocket,
    to: std::net::SocketAddr,
    receivers: &[UdpSocket],
    packets: &[Vec<u8>],
) {
    let mut buf = [0u8; 2048];
    for burst in packets.chunks(50) {
        for p in burst {
            sender.send_to(p, to).unwrap();
        }
        for r in receivers {
            for _ in burst {
                let (n, _) = r
                    .recv_from(&mut buf)
                    .expect("every forwarded packet arrives");
                assert_eq!(n, 200);
            }
        }
    }
}

fn run(io: IoKind) {
    let workers = common::spawn(1, io);
    let sender = common::endpoint();
    let receivers: Vec<UdpSocket> = (0..3).map(|_| common::endpoint()).collect();
    let to = opus_fanout(&workers, &sender, &receivers);
    // Prepare every packet before counting: building them allocates, forwarding must not.
    let warmup: Vec<Vec<u8>> = (0..1000).map(opus_packet).collect();
    let measured: Vec<Vec<u8>> = (1000..11_000u32).map(|s| opus_packet(s as u16)).collect();
    pump(&sender, to, &receivers, &warmup);
    let before = alloc_counter::allocations();
    pump(&sender, to, &receivers, &measured);
    let after = alloc_counter::allocations();
    let forwarded = workers.get(0).unwrap().stats().rtc.rtp_forwarded;
    drop(workers);
    assert!(forwarded >= 30_000, "{io:?}: forwarded {forwarded}");
    assert_eq!(
        after - before,
        0,
        "{io:?}: {} heap allocations while forwarding 10 000 packets",
        after - before
    );
    println!("no_alloc {io:?}: 10000 packets x 3 consumers forwarded with 0 allocations");
}

fn main() {
    run(IoKind::Uring);
    run(IoKind::Mmsg);
    println!("no_alloc: 2 passed, 0 failed");
}
