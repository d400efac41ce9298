//! Proves that RTCP allocates nothing once set up: a counting global allocator around a sans-IO
//! [`WorkerCore`] with one VP8 producer and three consumers, driven for 30 simulated seconds
//! with media, the producer's sender reports, consumers' PLIs, FIRs and receiver reports, and
//! the timers (sender and receiver reports, key frame retransmissions) — zero allocations after
//! warm-up, with every report written into a preallocated transmit buffer.
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
use sluice_engine::wire::rtcp::{
    ReportBlock, SenderInfo, write_fir, write_pli, write_receiver_report, write_sender_report,
};
use sluice_engine::wire::rtp::{RtpHeader, write_rtp};
use uuid::Uuid;

/// A transmit queue with one reused buffer: counts datagrams, RTCP ones apart.
struct Sink {
    buf: Box<[u8; MAX_DATAGRAM]>,
    sent: u64,
    rtcp: u64,
}

impl Transmit for Sink {
    fn send_with<F: FnOnce(&mut [u8]) -> usize>(&mut self, _: SockId, _: SocketAddr, f: F) -> bool {
        let n = f(&mut self.buf[..]);
        self.sent += 1;
        if n >= 2 && (200..=206).contains(&self.buf[1]) {
            self.rtcp += 1;
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
    } = plain_room::vp8_room(4);
    let producer = Uuid::new_v4();
    let rtp_parameters = serde_json::from_value(json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                    "rtcpFeedback": [{"type": "nack", "parameter": "pli"},
                                     {"type": "ccm", "parameter": "fir"}]}],
        "encodings": [{"ssrc": 2222}],
        "rtcp": {"cname": "cam"}
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
    let mut consumer_ssrcs = Vec::new();
    for leg in &legs[1..] {
        let reply = core
            .consume(
                leg.0,
                ConsumeOptions {
                    id: Uuid::new_v4(),
                    producer_id: producer,
                    rtp_capabilities: caps.clone(),
                    paused: false,
                    app_data: json!(null),
                },
            )
            .unwrap();
        consumer_ssrcs.push(reply.rtp_parameters.encodings[0].ssrc.unwrap());
    }

    let mut sink = Sink {
        buf: Box::new([0; MAX_DATAGRAM]),
        sent: 0,
        rtcp: 0,
    };
    let mut buf = [0u8; 1500];
    // 30 fps for `secs` seconds from `start_ms`, with the RTCP of both sides.
    let mut drive = |core: &mut WorkerCore, sink: &mut Sink, start_ms: u64, secs: u64| {
        for frame in 0..secs * 30 {
            let ms = start_ms + frame * 33;
            let now = t0 + Duration::from_millis(ms);
            let seq = (ms / 33) as u16;
            let key = frame % 90 == 0;
            let h = RtpHeader {
                payload_type: 96,
                sequence: seq,
                timestamp: 3000 * u32::from(seq),
                ssrc: 2222,
                ..Default::default()
            };
            let payload: &[u8] = if key {
                &[0x10, 0, 0, 0]
            } else {
                &[0x10, 1, 0, 0]
            };
            let n = write_rtp(&mut buf, &h, &[], payload).unwrap();
            core.handle_datagram(now, legs[0].1, legs[0].2, &mut buf[..n], sink);
            if frame % 30 == 0 {
                let info = SenderInfo {
                    ssrc: 2222,
                    ntp_sec: 3_900_000_000 + (ms / 1000) as u32,
                    rtp_timestamp: 3000 * u32::from(seq),
                    ..Default::default()
                };
                let n = write_sender_report(&mut buf, &info, &[]).unwrap();
                core.handle_datagram(now, legs[0].1, legs[0].2, &mut buf[..n], sink);
            }
            for (i, leg) in legs[1..].iter().enumerate() {
                let ssrc = consumer_ssrcs[i];
                let n = match frame % 20 {
                    5 => write_pli(&mut buf, 7, ssrc).unwrap(),
                    10 => write_fir(&mut buf, 7, &[(ssrc, (frame / 20) as u8)]).unwrap(),
                    15 => {
                        let block = ReportBlock {
                            ssrc,
                            lsr: 1,
                            ..Default::default()
                        };
                        write_receiver_report(&mut buf, 7, &[block]).unwrap()
                    }
                    _ => continue,
                };
                core.handle_datagram(now, leg.1, leg.2, &mut buf[..n], sink);
            }
            core.handle_timeout(now, sink);
        }
    };
    drive(&mut core, &mut sink, 0, 5);
    let (sent0, rtcp0) = (sink.sent, sink.rtcp);
    let before = alloc_counter::allocations();
    drive(&mut core, &mut sink, 5_000, 30);
    let after = alloc_counter::allocations();
    let rtcp = sink.rtcp - rtcp0;
    let c = core.counters();
    // At least one SR per consumer transport and one RR per 1.6 s (the longest timer period).
    assert!(rtcp >= 4 * 18, "reports and requests were sent: {rtcp}");
    assert!(c.key_frame_requests_sent > 10 && c.key_frame_requests_suppressed > 10);
    assert_eq!(
        after - before,
        0,
        "{} heap allocations over 30 s of media and RTCP ({} datagrams, {rtcp} RTCP)",
        after - before,
        sink.sent - sent0
    );
    println!(
        "rtcp_no_alloc: {} datagrams ({rtcp} RTCP) in 30 simulated seconds with 0 allocations",
        sink.sent - sent0
    );
}
