//! Proves that NACK handling allocates nothing once set up: a counting global allocator around
//! a sans-IO [`WorkerCore`] with one VP8 producer (NACK and RTX negotiated) and three consumers
//! (with RTX), driven for 30 simulated seconds. The producer loses one packet in ten and
//! answers Sluice's NACKs on its RTX stream; the consumers NACK recent packets, which Sluice
//! resends from its buffer as RTX — zero allocations after warm-up.
//!
//! `harness = false`: libtest's own threads would allocate while we count.

mod alloc_counter;
mod plain_room;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use sluice_engine::net::{MAX_DATAGRAM, SockId, Transmit};
use sluice_engine::rtc::rtp_parameters::MediaKind;
use sluice_engine::rtc::{ConsumeOptions, DropReason, ProduceOptions, WorkerCore};
use sluice_engine::wire::rtcp::write_nack;
use sluice_engine::wire::rtp::{RtpHeader, write_rtp};
use uuid::Uuid;

/// A transmit queue with one reused buffer: remembers the last RTP sequence number sent to
/// each remote port 5000 + i, and counts RTCP datagrams.
struct Sink {
    buf: Box<[u8; MAX_DATAGRAM]>,
    last_seq: [u16; 4],
    sent: u64,
    rtcp: u64,
}

impl Transmit for Sink {
    fn send_with<F: FnOnce(&mut [u8]) -> usize>(
        &mut self,
        _: SockId,
        to: SocketAddr,
        f: F,
    ) -> bool {
        let n = f(&mut self.buf[..]);
        self.sent += 1;
        if n >= 2 && (200..=206).contains(&self.buf[1]) {
            self.rtcp += 1;
        } else if n >= 12 {
            let i = usize::from(to.port() - 5000);
            self.last_seq[i] = u16::from_be_bytes([self.buf[2], self.buf[3]]);
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
        "codecs": [
            {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
             "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"}]},
            {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000,
             "parameters": {"apt": 96}}
        ],
        "encodings": [{"ssrc": 2222, "rtx": {"ssrc": 3333}}],
        "rtcp": {"cname": "cam", "reducedSize": false}
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
        assert!(reply.rtp_parameters.encodings[0].rtx.is_some());
        consumer_ssrcs.push(reply.rtp_parameters.encodings[0].ssrc.unwrap());
    }

    let mut sink = Sink {
        buf: Box::new([0; MAX_DATAGRAM]),
        last_seq: [0; 4],
        sent: 0,
        rtcp: 0,
    };
    let mut buf = [0u8; 1500];
    let mut rtx_seq = 0u16;
    // 30 fps of 1000-byte packets for `secs` seconds from `start_ms`; one in ten lost and
    // answered on the RTX stream after Sluice's NACK; consumers NACK every third frame.
    let mut drive = |core: &mut WorkerCore, sink: &mut Sink, start_ms: u64, secs: u64| {
        for frame in 0..secs * 30 {
            let ms = start_ms + frame * 33;
            let now = t0 + Duration::from_millis(ms);
            let seq = (ms / 33) as u16;
            // VP8 delta frames (RFC 7741 §4.3: P bit set): a key frame would end the NACKs.
            let mut payload = [0x10u8; 1000];
            payload[1] = 0x01;
            if seq % 10 != 3 {
                let h = RtpHeader {
                    payload_type: 96,
                    sequence: seq,
                    timestamp: 3000 * u32::from(seq),
                    ssrc: 2222,
                    ..Default::default()
                };
                let n = write_rtp(&mut buf, &h, &[], &payload).unwrap();
                core.handle_datagram(now, legs[0].1, legs[0].2, &mut buf[..n], sink);
            }
            if seq % 10 == 6 {
                let lost = seq.wrapping_sub(3);
                rtx_seq = rtx_seq.wrapping_add(1);
                let h = RtpHeader {
                    payload_type: 97,
                    sequence: rtx_seq,
                    timestamp: 3000 * u32::from(lost),
                    ssrc: 3333,
                    ..Default::default()
                };
                let mut rtx_payload = [0x10u8; 1002];
                rtx_payload[..2].copy_from_slice(&lost.to_be_bytes());
                rtx_payload[3] = 0x01;
                let n = write_rtp(&mut buf, &h, &[], &rtx_payload).unwrap();
                core.handle_datagram(now, legs[0].1, legs[0].2, &mut buf[..n], sink);
            }
            if frame % 3 == 0 {
                for (i, leg) in legs[1..].iter().enumerate() {
                    let last = sink.last_seq[i + 1];
                    let lost = [last.wrapping_sub(2), last.wrapping_sub(1)];
                    let n = write_nack(&mut buf, 7, consumer_ssrcs[i], &lost).unwrap();
                    core.handle_datagram(now, leg.1, leg.2, &mut buf[..n], sink);
                }
            }
            core.handle_timeout(now, sink);
        }
    };
    drive(&mut core, &mut sink, 0, 5);
    let (sent0, rtcp0) = (sink.sent, sink.rtcp);
    let c0 = *core.counters();
    let before = alloc_counter::allocations();
    drive(&mut core, &mut sink, 5_000, 30);
    let after = alloc_counter::allocations();
    let c = core.counters();
    let (nacks_sent, retransmitted) = (
        c.nacks_sent - c0.nacks_sent,
        c.rtp_retransmitted - c0.rtp_retransmitted,
    );
    // 90 losses in 30 s, each NACKed; 300 consumer NACKs per consumer, two packets each.
    assert!(nacks_sent >= 90, "NACKs to the producer: {nacks_sent}");
    assert!(retransmitted >= 3 * 300, "retransmissions: {retransmitted}");
    assert_eq!(
        c.drops_of(DropReason::Rtx),
        c0.drops_of(DropReason::Rtx),
        "every RTX answer repaired a loss"
    );
    assert_eq!(
        after - before,
        0,
        "{} heap allocations over 30 s of media and NACKs ({} datagrams, {} RTCP)",
        after - before,
        sink.sent - sent0,
        sink.rtcp - rtcp0
    );
    println!(
        "nack_no_alloc: {} datagrams ({nacks_sent} NACKs out, {retransmitted} retransmissions) \
         in 30 simulated seconds with 0 allocations",
        sink.sent - sent0
    );
}
