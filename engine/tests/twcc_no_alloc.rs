//! Proves that transport-cc feedback allocates nothing once set up: a counting global allocator
//! around a sans-IO [`WorkerCore`] with a VP8 producer that negotiated transport-cc (and one
//! consumer), driven for 30 simulated seconds with ~300 packets/s carrying transport-wide
//! numbers (across the 16-bit wrap, with loss, reordering and duplicates) and the timers every
//! 10 ms: every packet recorded, feedback every 100 ms written into a preallocated transmit
//! buffer, zero allocations after warm-up.
//!
//! `harness = false`: libtest's own threads would allocate while we count.

mod alloc_counter;
mod plain_room;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use sluice_engine::net::{MAX_DATAGRAM, SockId, Transmit};
use sluice_engine::rtc::rtp_parameters::MediaKind;
use sluice_engine::rtc::{ConsumeOptions, ProduceOptions, WorkerCore};
use sluice_engine::wire::rtp::{RtpHeader, write_rtp};
use uuid::Uuid;

const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// A transmit queue with one reused buffer: counts transport-cc feedback datagrams.
struct Sink {
    buf: Box<[u8; MAX_DATAGRAM]>,
    feedback: u64,
}

impl Transmit for Sink {
    fn send_with<F: FnOnce(&mut [u8]) -> usize>(&mut self, _: SockId, _: SocketAddr, f: F) -> bool {
        let n = f(&mut self.buf[..]);
        if n >= 20 && self.buf[1] == 205 && self.buf[0] & 0x1f == 15 {
            self.feedback += 1;
        }
        true
    }
}

fn main() {
    let plain_room::PlainRoom {
        mut core,
        t0,
        caps,
        legs,
    } = plain_room::vp8_room(2);
    let producer = Uuid::new_v4();
    let rtp_parameters = serde_json::from_value(json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                    "rtcpFeedback": [{"type": "transport-cc"}]}],
        "headerExtensions": [{"uri": TWCC_URI, "id": 3}],
        "encodings": [{"ssrc": 2222}],
        "rtcp": {"cname": "cam", "reducedSize": true}
    }))
    .unwrap();
    core.produce(
        legs[0].0,
        ProduceOptions {
            id: producer,
            kind: MediaKind::Video,
            rtp_parameters,
            paused: false,
            app_data: json!(null),
        },
    )
    .unwrap();
    core.consume(
        legs[1].0,
        ConsumeOptions {
            id: Uuid::new_v4(),
            producer_id: producer,
            rtp_capabilities: caps,
            paused: false,
            app_data: json!(null),
        },
    )
    .unwrap();

    let mut sink = Sink {
        buf: Box::new([0; MAX_DATAGRAM]),
        feedback: 0,
    };
    let mut buf = [0u8; 1500];
    // Three packets every 10 ms; every 50th lost, every 70th a duplicate, pairs swapped every
    // 40th; transport-wide numbers from 65000 on, so they wrap.
    let mut drive = |core: &mut WorkerCore, sink: &mut Sink, from: u64, to: u64| {
        for tick in from..to {
            let now = t0 + Duration::from_millis(tick * 10);
            for k in 0..3u64 {
                let i = tick * 3 + k;
                if i % 50 == 7 {
                    continue;
                }
                let n = if i % 40 == 3 {
                    i + 1
                } else if i % 40 == 4 {
                    i - 1
                } else {
                    i
                };
                let seq = n as u16;
                let twcc = 65_000u16.wrapping_add(n as u16).to_be_bytes();
                let h = RtpHeader {
                    payload_type: 96,
                    sequence: seq,
                    timestamp: 3000 * u32::from(seq),
                    ssrc: 2222,
                    ..Default::default()
                };
                let len = write_rtp(&mut buf, &h, &[(3, &twcc)], &[0x10, 1, 0, 0]).unwrap();
                for _ in 0..1 + u64::from(i % 70 == 5) {
                    core.handle_datagram(now, legs[0].1, legs[0].2, &mut buf[..len], sink);
                }
            }
            core.handle_timeout(now, sink);
        }
    };
    drive(&mut core, &mut sink, 0, 500);
    let feedback0 = sink.feedback;
    let before = alloc_counter::allocations();
    drive(&mut core, &mut sink, 500, 3_500);
    let after = alloc_counter::allocations();
    let feedback = sink.feedback - feedback0;
    // One every 100 ms.
    assert!(feedback >= 290, "transport-cc feedback sent: {feedback}");
    assert_eq!(
        core.transport_cc_feedback_sent(legs[0].0),
        Some(sink.feedback)
    );
    assert_eq!(
        after - before,
        0,
        "{} heap allocations over 30 s of transport-cc ({feedback} feedback packets)",
        after - before
    );
    println!(
        "twcc_no_alloc: {feedback} feedback packets in 30 simulated seconds with 0 allocations"
    );
}
