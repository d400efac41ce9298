//! Proves that simulcast forwarding allocates nothing once set up: a counting global
//! allocator around a sans-IO [`WorkerCore`] with one VP8 producer of three RID-only encodings
//! (SSRCs learnt from the MID and RID header extensions during warm-up) and three simulcast
//! consumers that prefer layers 0, 1 and 2. For 30 simulated seconds every layer sends 30 fps
//! with MID and RID in every packet (libwebrtc keeps them until a receiver report acknowledges
//! the SSRC), sender reports per layer, consumers' PLIs, and the timers (reports, inactivity
//! scan) run: zero allocations, and each consumer gets only its layer.
//!
//! Layer switches are not in the measured part: each one queues a `consumer.layerschange`
//! event for the control plane, whose queue may grow.
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
use sluice_engine::wire::rtcp::{SenderInfo, write_pli, write_sender_report};
use sluice_engine::wire::rtp::{RtpHeader, RtpPacket, write_rtp};
use uuid::Uuid;

/// A transmit queue with one reused buffer: counts RTP datagrams per destination port and
/// remembers which layer (payload byte 4) each destination got last.
struct Sink {
    buf: Box<[u8; MAX_DATAGRAM]>,
    rtp: [u64; 4],
    layer: [u8; 4],
}

impl Transmit for Sink {
    fn send_with<F: FnOnce(&mut [u8]) -> usize>(
        &mut self,
        _: SockId,
        to: SocketAddr,
        f: F,
    ) -> bool {
        let n = f(&mut self.buf[..]);
        let leg = usize::from(to.port() - 5000);
        if let Ok(p) = RtpPacket::parse(&self.buf[..n])
            && !(200..=206).contains(&self.buf[1])
        {
            self.rtp[leg] += 1;
            self.layer[leg] = p.payload()[4];
        }
        true
    }
}

const MID_ID: u8 = 1;
const RID_ID: u8 = 2;

fn main() {
    let plain_room::PlainRoom {
        mut core,
        t0,
        caps,
        legs,
    } = plain_room::vp8_room(4);
    let producer = Uuid::new_v4();
    let rtp_parameters = serde_json::from_value(json!({
        "mid": "0",
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                    "rtcpFeedback": [{"type": "nack", "parameter": "pli"}]}],
        "headerExtensions": [
            {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": MID_ID},
            {"uri": "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "id": RID_ID}
        ],
        "encodings": [{"rid": "r0"}, {"rid": "r1"}, {"rid": "r2"}],
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
    for (layer, leg) in legs[1..].iter().enumerate() {
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
        core.set_consumer_preferred_layers(reply.id, layer as u8, None)
            .unwrap();
        consumer_ssrcs.push(reply.rtp_parameters.encodings[0].ssrc.unwrap());
    }

    let mut sink = Sink {
        buf: Box::new([0; MAX_DATAGRAM]),
        rtp: [0; 4],
        layer: [0; 4],
    };
    let mut buf = [0u8; 1500];
    // 30 fps on every layer for `secs` seconds from `start_ms`, with the RTCP of both sides.
    let mut drive = |core: &mut WorkerCore, sink: &mut Sink, start_ms: u64, secs: u64| {
        for frame in 0..secs * 30 {
            let ms = start_ms + frame * 33;
            let now = t0 + Duration::from_millis(ms);
            let n_frame = (ms / 33) as u32;
            for layer in 0..3u8 {
                let ssrc = 0x5100 + u32::from(layer);
                let ts = 3000 * n_frame + 1_000_000 * u32::from(layer);
                let h = RtpHeader {
                    marker: true,
                    payload_type: 96,
                    sequence: (n_frame as u16).wrapping_add(1000 * u16::from(layer)),
                    timestamp: ts,
                    ssrc,
                };
                let key = frame % 90 == 0;
                let payload = [0x10, if key { 0 } else { 1 }, 0x9d, 0x01, layer];
                let rid = [b'r', b'0' + layer];
                let ext: [(u8, &[u8]); 2] = [(MID_ID, b"0"), (RID_ID, &rid)];
                let n = write_rtp(&mut buf, &h, &ext, &payload).unwrap();
                core.handle_datagram(now, legs[0].1, legs[0].2, &mut buf[..n], sink);
                if frame % 30 == u64::from(layer) {
                    let info = SenderInfo {
                        ssrc,
                        ntp_sec: 3_900_000_000 + (ms / 1000) as u32,
                        rtp_timestamp: ts,
                        ..Default::default()
                    };
                    let n = write_sender_report(&mut buf, &info, &[]).unwrap();
                    core.handle_datagram(now, legs[0].1, legs[0].2, &mut buf[..n], sink);
                }
            }
            for (i, leg) in legs[1..].iter().enumerate() {
                if frame % 20 == 5 {
                    let n = write_pli(&mut buf, 7, consumer_ssrcs[i]).unwrap();
                    core.handle_datagram(now, leg.1, leg.2, &mut buf[..n], sink);
                }
            }
            core.handle_timeout(now, sink);
        }
    };
    drive(&mut core, &mut sink, 0, 5);
    let before_rtp = sink.rtp;
    let before = alloc_counter::allocations();
    drive(&mut core, &mut sink, 5_000, 30);
    let after = alloc_counter::allocations();
    for (leg, ((now, then), layer)) in sink
        .rtp
        .iter()
        .zip(before_rtp)
        .zip(sink.layer)
        .enumerate()
        .skip(1)
    {
        assert_eq!(
            now - then,
            900,
            "consumer {leg}: one layer at 30 fps for 30 s"
        );
        assert_eq!(
            usize::from(layer),
            leg - 1,
            "consumer {leg} forwards its preferred layer"
        );
    }
    assert_eq!(
        after - before,
        0,
        "{} heap allocations over 30 s of simulcast media and RTCP",
        after - before
    );
    println!(
        "simulcast_no_alloc: 3 layers x 3 consumers for 30 simulated seconds with 0 allocations"
    );
}
