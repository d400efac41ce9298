//! The per-consumer RTP rewrite, at 160- and 1200-byte payloads: `cargo bench -p sluice-engine
//! --bench rtp_rewrite`.
//!
//! Rows:
//! - `copy`: the bare copy of the packet into a send buffer (the floor of every rewrite);
//! - `in-place`: copy, fixed header, extension ids remapped in place and the mid written where
//!   its length matches (zero-filled otherwise): the rewrite before the extension block writer;
//! - `block`: the received packet's elements read, then the copy with the consumer's own
//!   header extension block written on the way (`wire::rtp::write_rewritten_with`): mid at the
//!   consumer's length, a transport-wide sequence number and abs-send-time stamped, the other
//!   elements under the consumer's ids;
//! - `forward`: a whole [`WorkerCore::handle_datagram`] of a VP8 packet from a plain transport
//!   to three plain consumers (remapped ids), per forwarded packet.
//!
//! `harness = false`: each figure is the fastest of several timed runs of many iterations, in
//! nanoseconds per packet (`benches/timing/mod.rs`, as in `benches/srtp.rs`). Compare rows of one run only (DESIGN.md §6).

mod timing;

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_engine::net::{MAX_DATAGRAM, SockId, Transmit};
use sluice_engine::rtc::rtp_parameters::{MediaKind, RtpCodecCapability, RtpParameters};
use sluice_engine::rtc::{ConsumeOptions, PlainTransportOptions, ProduceOptions, WorkerCore};
use sluice_engine::wire::rtp::{self, RtpHeader, RtpPacket, RtpPacketMut, write_rtp};
use uuid::Uuid;

const SIZES: [usize; 2] = [160, 1200];

/// [`timing::measure`]; with `RTP_REWRITE_ITERS=n` in the environment, calls `f` exactly `n`
/// times, untimed, for instruction counts: run under `valgrind --tool=callgrind` with two
/// values of `n` (and `RTP_REWRITE_ROW=<row>`, `RTP_REWRITE_SIZE=<payload>`) and divide the
/// difference.
fn measure(mut f: impl FnMut(u64)) -> f64 {
    if let Some(n) = std::env::var("RTP_REWRITE_ITERS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        for i in 0..n {
            f(i);
        }
        return 0.0;
    }
    timing::measure(f)
}

/// A packet as a browser sends it: mid "0" (id 9), abs-send-time (id 2), transport-wide
/// sequence number (id 3), toffset (id 5).
fn packet(buf: &mut [u8], payload: usize, seq: u16) -> usize {
    let h = RtpHeader {
        payload_type: 96,
        sequence: seq,
        timestamp: 3000 * u32::from(seq),
        ssrc: 0x1111,
        ..RtpHeader::default()
    };
    let body = vec![0xab; payload];
    let ext: [(u8, &[u8]); 4] = [
        (9, b"0"),
        (2, &[1, 2, 3]),
        (3, &seq.to_be_bytes()),
        (5, &[0, 0, 7]),
    ];
    write_rtp(buf, &h, &ext, &body).expect("packet fits")
}

fn copy_row(payload: usize) -> f64 {
    let mut src = [0u8; MAX_DATAGRAM];
    let n = packet(&mut src, payload, 1);
    let mut out = [0u8; MAX_DATAGRAM];
    measure(|_| {
        out[..n].copy_from_slice(black_box(&src[..n]));
        black_box(&mut out);
    })
}

fn in_place_row(payload: usize) -> f64 {
    let mut src = [0u8; MAX_DATAGRAM];
    let n = packet(&mut src, payload, 1);
    let mut map = [0u8; 256];
    (map[9], map[2], map[3], map[5]) = (1, 4, 5, 12);
    let mut out = [0u8; MAX_DATAGRAM];
    measure(|i| {
        let o = &mut out[..n];
        o.copy_from_slice(black_box(&src[..n]));
        rtp::rewrite_fixed_header(o, 100, i as u16, i as u32, 0x2222);
        if let Ok(mut m) = RtpPacketMut::parse(o) {
            m.remap_extension_ids(black_box(&map));
            m.set_or_clear_extension(1, black_box(b"1"));
        }
        black_box(&mut out);
    })
}

fn block_row(payload: usize) -> f64 {
    let mut src = [0u8; MAX_DATAGRAM];
    let n = packet(&mut src, payload, 1);
    let src = &src[..n];
    let mut map = [0u8; 256];
    // As the core maps them: mid, abs-send-time and transport-wide-cc are the consumer's own.
    map[5] = 12;
    let mut out = [0u8; MAX_DATAGRAM];
    measure(|i| {
        // Once per received packet (here: per rewrite, the case of a single consumer).
        let p = RtpPacket::parse(black_box(src)).expect("parses");
        let elements = rtp::ExtensionElements::read(&p).expect("few elements");
        // Per consumer.
        let twcc = (i as u16).to_be_bytes();
        let abs = [1, 2, 3];
        let fixed = rtp::FixedFields {
            payload_type: 100,
            sequence: i as u16,
            timestamp: i as u32,
            ssrc: 0x2222,
        };
        let n = rtp::write_rewritten_with(&mut out, &p, &fixed, |w| {
            w.push(1, b"1")?;
            for (id, data) in elements.iter() {
                let to = map[usize::from(id)];
                if to != 0 {
                    w.push(to, data)?;
                }
            }
            w.push(4, &abs)?;
            w.push(5, &twcc)
        });
        black_box(n.expect("fits"));
    })
}

/// A [`Transmit`] with one buffer, reused for every datagram.
struct Sink {
    buf: Box<[u8; MAX_DATAGRAM]>,
    sent: u64,
}

impl Transmit for Sink {
    fn send_with<F: FnOnce(&mut [u8]) -> usize>(
        &mut self,
        _sock: SockId,
        _to: SocketAddr,
        fill: F,
    ) -> bool {
        black_box(fill(&mut self.buf[..]));
        self.sent += 1;
        true
    }
}

fn forward_row(payload: usize) -> f64 {
    let mut core = WorkerCore::new();
    let router = Uuid::new_v4();
    let codecs: Vec<RtpCodecCapability> = serde_json::from_value(json!([
        {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
    ]))
    .expect("codecs");
    let caps = core
        .create_router(router, &codecs)
        .expect("router")
        .rtp_capabilities;
    let mut transport = |port: u16| {
        let id = Uuid::new_v4();
        let local = SocketAddr::from(([127, 0, 0, 1], port));
        let options = PlainTransportOptions {
            comedia: false,
            rtcp_mux: true,
            app_data: json!(null),
        };
        core.create_plain_transport(router, id, (SockId(u32::from(port)), local), None, options)
            .expect("transport");
        core.connect_plain_transport(id, [10, 0, 0, 1].into(), port, None)
            .expect("connect");
        id
    };
    let send = transport(5000);
    let receivers: Vec<Uuid> = (1..=3).map(|k| transport(5000 + k)).collect();
    let rtp_parameters: RtpParameters = serde_json::from_value(json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}],
        "headerExtensions": [
            {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 9},
            {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "id": 2},
            {"uri": "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01", "id": 3},
            {"uri": "urn:ietf:params:rtp-hdrext:toffset", "id": 5}
        ],
        "encodings": [{"ssrc": 0x1111}]
    }))
    .expect("parameters");
    let producer = Uuid::new_v4();
    core.produce(
        send,
        ProduceOptions {
            id: producer,
            kind: MediaKind::Video,
            rtp_parameters,
            paused: false,
            app_data: json!(null),
        },
    )
    .expect("produce");
    for t in &receivers {
        core.consume(
            *t,
            ConsumeOptions {
                id: Uuid::new_v4(),
                producer_id: producer,
                rtp_capabilities: caps.clone(),
                paused: false,
                app_data: json!(null),
            },
        )
        .expect("consume");
    }
    let mut pkt = [0u8; MAX_DATAGRAM];
    let n = packet(&mut pkt, payload, 0);
    let mut tx = Sink {
        buf: Box::new([0u8; MAX_DATAGRAM]),
        sent: 0,
    };
    let from: SocketAddr = "10.0.0.1:5000".parse().expect("address");
    let t0 = Instant::now();
    let per_packet = measure(|i| {
        let seq = i as u16;
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&(3000 * i as u32).to_be_bytes());
        let now = t0 + Duration::from_micros(i * 300);
        core.handle_datagram(now, SockId(5000), from, &mut pkt[..n], &mut tx);
    });
    assert!(tx.sent > 0, "the consumers forwarded");
    per_packet / receivers.len() as f64
}

fn main() {
    println!("load before: {}", timing::load_average());
    println!("{:<10} {:>8} {:>10}", "row", "payload", "ns/packet");
    let only_row = std::env::var("RTP_REWRITE_ROW").ok();
    let only_size = std::env::var("RTP_REWRITE_SIZE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    for &size in &SIZES {
        if only_size.is_some_and(|s| s != size) {
            continue;
        }
        for (name, f) in [
            ("copy", copy_row as fn(usize) -> f64),
            ("in-place", in_place_row),
            ("block", block_row),
            ("forward", forward_row),
        ] {
            if only_row.as_deref().is_some_and(|r| r != name) {
                continue;
            }
            println!("{name:<10} {size:>8} {:>10.1}", f(size));
        }
    }
    println!("load after: {}", timing::load_average());
}
