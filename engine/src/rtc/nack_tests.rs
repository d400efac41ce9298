//! Sans-IO scenario tests of retransmission on NACK (`nack.rs`): a producer sends a run of
//! video packets, a consumer's endpoint NACKs some of them; what comes out again, rewritten for
//! the consumer (on its RTX stream when it negotiated one), what does not (evicted, unknown,
//! repeated within a round trip, audio), and the counters. Then the producer side: gaps in a
//! producer's stream NACKed after a short delay and again each round trip, RTX answers
//! unwrapped and forwarded once, a key frame ending the wait.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::counters::DropReason;
use super::nack_generator::NACK_DELAY;
use super::retransmission_buffer::{MAX_AGE, SLOTS};
use super::rtp_parameters::{MediaKind, RtpCapabilities, RtpParameters};
use super::rtp_stream_send::DEFAULT_RTT;
use super::*;
use crate::net::{SockId, VecTransmit};
use crate::wire::demux::{PacketKind, classify};
use crate::wire::rtcp::{RtcpPacket, write_nack};
use crate::wire::rtp::{RtpHeader, RtpPacket, write_rtp};

const PRODUCER: &str = "10.0.0.1:5000";
const CONSUMER: &str = "10.0.1.1:6000";

struct Room {
    core: WorkerCore,
    router: Uuid,
    caps: RtpCapabilities,
    next_sock: u32,
    t0: Instant,
}

use super::test_support::Leg;

/// An RTP packet as sent to an endpoint, copied out.
#[derive(Debug, Clone, PartialEq)]
struct Out {
    ssrc: u32,
    pt: u8,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: Vec<u8>,
}

impl Room {
    fn new() -> Self {
        let mut core = WorkerCore::new();
        let (router, caps) = super::test_support::opus_vp8_router(&mut core);
        let t0 = Instant::now();
        core.set_wall_clock(t0, Duration::from_secs(1_800_000_000));
        Self {
            core,
            router,
            caps,
            next_sock: 1,
            t0,
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn transport(&mut self, remote: &str) -> Leg {
        let sock = SockId(self.next_sock);
        self.next_sock += 1;
        super::test_support::plain_leg(&mut self.core, self.router, sock, remote)
    }

    fn produce(&mut self, leg: &Leg, kind: MediaKind, ssrc: u32) -> Uuid {
        let id = Uuid::new_v4();
        let codec = match kind {
            MediaKind::Video => json!({"mimeType": "video/VP8", "payloadType": 96,
                "clockRate": 90000, "rtcpFeedback": [{"type": "nack"}]}),
            MediaKind::Audio => json!({"mimeType": "audio/opus", "payloadType": 100,
                "clockRate": 48000, "channels": 2}),
        };
        let rtp_parameters: RtpParameters =
            serde_json::from_value(json!({"codecs": [codec], "encodings": [{"ssrc": ssrc}]}))
                .unwrap();
        let options = ProduceOptions {
            id,
            kind,
            rtp_parameters,
            paused: false,
            app_data: json!(null),
        };
        self.core.produce(leg.transport, options).unwrap();
        id
    }

    fn consume(&mut self, leg: &Leg, producer: Uuid, caps: RtpCapabilities) -> ConsumeReply {
        let options = ConsumeOptions {
            id: Uuid::new_v4(),
            producer_id: producer,
            rtp_capabilities: caps,
            paused: false,
            app_data: json!(null),
        };
        self.core.consume(leg.transport, options).unwrap()
    }

    fn feed(&mut self, leg: &Leg, ms: u64, bytes: &mut [u8]) -> VecTransmit {
        let mut tx = VecTransmit::default();
        let now = self.at(ms);
        self.core
            .handle_datagram(now, leg.sock, leg.remote, bytes, &mut tx);
        tx
    }

    /// Producer packet `seq` (payload: the sequence number, repeated), at `seq` ms.
    fn rtp(&mut self, leg: &Leg, ssrc: u32, pt: u8, seq: u16) -> VecTransmit {
        let h = RtpHeader {
            payload_type: pt,
            sequence: seq,
            timestamp: 3000 * u32::from(seq),
            ssrc,
            marker: seq.is_multiple_of(5),
        };
        let payload = [seq.to_be_bytes(), seq.to_be_bytes(), [0xAB, 0xCD]].concat();
        let mut buf = [0u8; 300];
        let n = write_rtp(&mut buf, &h, &[], &payload).unwrap();
        self.feed(leg, u64::from(seq), &mut buf[..n])
    }

    fn nack(&mut self, leg: &Leg, ms: u64, media_ssrc: u32, lost: &[u16]) -> VecTransmit {
        let mut b = vec![0u8; 12 + 4 * lost.len()];
        let n = write_nack(&mut b, 0x5151, media_ssrc, lost).unwrap();
        self.feed(leg, ms, &mut b[..n])
    }

    fn consumer_stats(&self, id: Uuid) -> serde_json::Value {
        self.core.consumer_stats(id).unwrap()[0].clone()
    }
}

/// The RTP packets sent to `to`.
fn rtp_to(tx: &VecTransmit, to: SocketAddr) -> Vec<Out> {
    tx.sent
        .iter()
        .filter(|(_, t, b)| *t == to && classify(b) == PacketKind::Rtp)
        .map(|(_, _, b)| {
            let p = RtpPacket::parse(b).expect("Sluice sends valid RTP");
            Out {
                ssrc: p.ssrc(),
                pt: p.payload_type(),
                seq: p.sequence(),
                ts: p.timestamp(),
                marker: p.marker(),
                payload: p.payload().to_vec(),
            }
        })
        .collect()
}

fn without_rtx(caps: &RtpCapabilities) -> RtpCapabilities {
    let mut caps = caps.clone();
    caps.codecs
        .retain(|c| !c.mime_type.to_ascii_lowercase().ends_with("/rtx"));
    caps
}

/// A video producer, one consumer; the producer sent 1..=20. Returns the consumer, its leg and
/// the 20 packets it received.
fn room_with_video(rtx: bool) -> (Room, Leg, Leg, ConsumeReply, Vec<Out>) {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let recv = room.transport(CONSUMER);
    let producer = room.produce(&send, MediaKind::Video, 2222);
    let caps = if rtx {
        room.caps.clone()
    } else {
        without_rtx(&room.caps)
    };
    let consumer = room.consume(&recv, producer, caps);
    let mut live = Vec::new();
    for seq in 1..=20 {
        live.extend(rtp_to(&room.rtp(&send, 2222, 96, seq), recv.remote));
    }
    assert_eq!(live.len(), 20);
    (room, send, recv, consumer, live)
}

#[test]
fn nacked_packets_are_resent_on_the_consumers_rtx_stream() {
    let (mut room, send, recv, consumer, live) = room_with_video(true);
    let params = &consumer.rtp_parameters;
    let ssrc = params.encodings[0].ssrc.unwrap();
    let rtx_ssrc = params.encodings[0]
        .rtx
        .as_ref()
        .expect("RTX negotiated")
        .ssrc;
    let media_pt = params.codecs[0].payload_type;
    let rtx_pt = params
        .codecs
        .iter()
        .find(|c| c.parameters.get("apt").and_then(|v| v.as_u64()) == Some(u64::from(media_pt)))
        .expect("an RTX codec for the media codec")
        .payload_type;
    // Producer packets 5 and 7 went out as live[4] and live[6]: one FCI entry, PID + BLP.
    let lost = [live[4].seq, live[6].seq];
    let tx = room.nack(&recv, 30, ssrc, &lost);
    let resent = rtp_to(&tx, recv.remote);
    assert_eq!(resent.len(), 2, "{resent:?}");
    for (r, l) in resent.iter().zip([&live[4], &live[6]]) {
        assert_eq!((r.ssrc, r.pt), (rtx_ssrc, rtx_pt));
        assert_eq!((r.ts, r.marker), (l.ts, l.marker));
        // RFC 4588 §4: OSN, then the original payload.
        assert_eq!(r.payload[..2], l.seq.to_be_bytes());
        assert_eq!(r.payload[2..], l.payload[..]);
    }
    assert_eq!(
        resent[1].seq,
        resent[0].seq.wrapping_add(1),
        "the RTX stream numbers its own packets"
    );
    assert!(
        rtp_to(&tx, send.remote).is_empty(),
        "nothing to the producer"
    );
    assert!(
        tx.sent.iter().all(|(_, to, _)| *to == recv.remote),
        "the NACK is not relayed"
    );

    // The same NACK within a round trip: not resent twice.
    let tx = room.nack(&recv, 30 + DEFAULT_RTT.as_millis() as u64 / 2, ssrc, &lost);
    assert!(rtp_to(&tx, recv.remote).is_empty());
    // After it: the retransmission was lost too, so again, continuing the RTX numbering.
    let tx = room.nack(&recv, 30 + DEFAULT_RTT.as_millis() as u64, ssrc, &lost[..1]);
    let again = rtp_to(&tx, recv.remote);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].seq, resent[1].seq.wrapping_add(1));
    assert_eq!(again[0].payload[..2], live[4].seq.to_be_bytes());

    let stats = room.consumer_stats(consumer.id);
    assert_eq!(stats["nackCount"], 3);
    assert_eq!(stats["nackPacketCount"], 5);
    assert_eq!(stats["retransmittedPacketCount"], 3);
    let c = room.core.counters();
    assert_eq!((c.nacks_received, c.rtp_retransmitted), (3, 3));
}

#[test]
fn without_rtx_the_packet_is_resent_as_it_was_sent() {
    let (mut room, _send, recv, consumer, live) = room_with_video(false);
    assert!(consumer.rtp_parameters.encodings[0].rtx.is_none());
    let ssrc = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    let tx = room.nack(&recv, 40, ssrc, &[live[9].seq, live[0].seq]);
    assert_eq!(
        rtp_to(&tx, recv.remote),
        vec![live[9].clone(), live[0].clone()]
    );
}

#[test]
fn evicted_unknown_and_old_packets_are_counted_not_sent() {
    let (mut room, send, recv, consumer, live) = room_with_video(true);
    let ssrc = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    // Not sent yet, and before the consumer's first packet.
    let unknown = [live[19].seq.wrapping_add(1), live[0].seq.wrapping_sub(1)];
    let tx = room.nack(&recv, 30, ssrc, &unknown);
    assert!(rtp_to(&tx, recv.remote).is_empty());
    assert_eq!(
        room.consumer_stats(consumer.id)["retransmissionNotFoundCount"],
        2
    );
    // A NACK naming another SSRC is not the consumer's.
    let tx = room.nack(&recv, 30, ssrc ^ 1, &[live[3].seq]);
    assert!(tx.sent.is_empty());

    // SLOTS more packets evict packet 1.
    for seq in 21..=20 + SLOTS as u16 {
        room.rtp(&send, 2222, 96, seq);
    }
    let now = 20 + SLOTS as u64;
    let tx = room.nack(&recv, now, ssrc, &[live[0].seq]);
    assert!(rtp_to(&tx, recv.remote).is_empty());
    // Packet 21 is still there, until it is older than MAX_AGE.
    let seq21 = live[19].seq.wrapping_add(1);
    let later = 21 + MAX_AGE.as_millis() as u64;
    assert!(rtp_to(&room.nack(&recv, later, ssrc, &[seq21]), recv.remote).is_empty());
    assert_eq!(
        rtp_to(&room.nack(&recv, now, ssrc, &[seq21]), recv.remote).len(),
        1
    );
    assert_eq!(
        room.consumer_stats(consumer.id)["retransmissionNotFoundCount"],
        4
    );
    assert_eq!(room.core.counters().retransmissions_not_found, 4);
}

#[test]
fn audio_and_paused_consumers_do_not_retransmit() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let recv = room.transport(CONSUMER);
    let audio = room.produce(&send, MediaKind::Audio, 1111);
    let caps = room.caps.clone();
    let consumer = room.consume(&recv, audio, caps);
    let ssrc = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    let mut first = None;
    for seq in 1..=5 {
        let out = rtp_to(&room.rtp(&send, 1111, 100, seq), recv.remote);
        first = first.or(out.first().map(|o| o.seq));
    }
    let tx = room.nack(&recv, 10, ssrc, &[first.unwrap()]);
    assert!(rtp_to(&tx, recv.remote).is_empty());

    let (mut room, _send, recv, consumer, live) = room_with_video(true);
    let ssrc = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    room.core.set_consumer_paused(consumer.id, true).unwrap();
    let tx = room.nack(&recv, 30, ssrc, &[live[2].seq]);
    assert!(rtp_to(&tx, recv.remote).is_empty());
}

// ------------------------------------------------------------------ producer side

/// The NACKs (media SSRC, lost sequence numbers) in what was sent to `to`, and whether each
/// came in a full compound packet (RR first).
fn nacks_to(tx: &VecTransmit, to: SocketAddr) -> Vec<(u32, Vec<u16>, bool)> {
    let mut out = Vec::new();
    for (_, t, b) in &tx.sent {
        if *t != to || classify(b) != PacketKind::Rtcp {
            continue;
        }
        let mut rr_first = None;
        for p in crate::wire::rtcp::compound(b) {
            let p = p.expect("Sluice sends valid RTCP");
            let is_rr = matches!(p, RtcpPacket::ReceiverReport(_));
            rr_first.get_or_insert(is_rr);
            if let RtcpPacket::Nack(n) = p {
                out.push((n.media_ssrc(), n.lost().collect(), rr_first == Some(true)));
            }
        }
    }
    out
}

impl Room {
    /// A VP8 producer with `nack` and an RTX codec (PT 97, RTX SSRC 3333), reduced-size RTCP
    /// (the default: its NACKs come alone, not after an RR).
    fn produce_with_rtx(&mut self, leg: &Leg, ssrc: u32) -> Uuid {
        let id = Uuid::new_v4();
        let rtp_parameters: RtpParameters = serde_json::from_value(json!({
            "codecs": [
                {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                 "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"}]},
                {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000,
                 "parameters": {"apt": 96}}
            ],
            "encodings": [{"ssrc": ssrc, "rtx": {"ssrc": 3333}}]
        }))
        .unwrap();
        let options = ProduceOptions {
            id,
            kind: MediaKind::Video,
            rtp_parameters,
            paused: false,
            app_data: json!(null),
        };
        self.core.produce(leg.transport, options).unwrap();
        id
    }

    /// An RTX packet (RFC 4588 §4) repairing producer packet `osn` as [`Room::rtp`] sent it.
    fn rtx(&mut self, leg: &Leg, ms: u64, rtx_seq: u16, osn: u16) -> VecTransmit {
        let h = RtpHeader {
            payload_type: 97,
            sequence: rtx_seq,
            timestamp: 3000 * u32::from(osn),
            ssrc: 3333,
            marker: osn.is_multiple_of(5),
        };
        let payload = [
            osn.to_be_bytes(),
            osn.to_be_bytes(),
            osn.to_be_bytes(),
            [0xAB, 0xCD],
        ]
        .concat();
        let mut buf = [0u8; 300];
        let n = write_rtp(&mut buf, &h, &[], &payload).unwrap();
        self.feed(leg, ms, &mut buf[..n])
    }

    fn timeout(&mut self, ms: u64) -> VecTransmit {
        let mut tx = VecTransmit::default();
        let now = self.at(ms);
        self.core.handle_timeout(now, &mut tx);
        tx
    }
}

#[test]
fn producer_gaps_are_nacked_and_rtx_answers_are_forwarded_once() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let recv = room.transport(CONSUMER);
    let producer = room.produce_with_rtx(&send, 2222);
    let caps = room.caps.clone();
    let consumer = room.consume(&recv, producer, caps);
    let mut live = Vec::new();
    for seq in [1, 2, 3, 4, 7, 8] {
        live.extend(rtp_to(&room.rtp(&send, 2222, 96, seq), recv.remote));
    }
    assert_eq!(live.len(), 6);
    room.timeout(0);
    // The gap was seen at 7 ms: the NACK waits NACK_DELAY for reordered packets.
    assert!(nacks_to(&room.timeout(8), send.remote).is_empty());
    let due = room.core.poll_timeout().unwrap();
    let ms = (due - room.t0).as_millis() as u64;
    assert!(
        ms <= 7 + NACK_DELAY.as_millis() as u64,
        "woken for the NACK"
    );
    assert_eq!(
        nacks_to(&room.timeout(ms), send.remote),
        vec![(2222, vec![5, 6], false)]
    );
    assert_eq!(room.core.counters().nacks_sent, 1);
    let inbound = &room.core.producer_stats(producer).unwrap()[0];
    assert_eq!(
        (&inbound["nackCount"], &inbound["nackPacketCount"]),
        (&json!(1), &json!(2))
    );

    // The answer for 5, on the RTX stream: forwarded as packet 5 would have been.
    let out = rtp_to(&room.rtx(&send, 40, 900, 5), recv.remote);
    assert_eq!(out.len(), 1, "{out:?}");
    let ssrc = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    assert_eq!(out[0].ssrc, ssrc);
    assert_eq!(out[0].seq, live[0].seq.wrapping_add(4));
    assert_eq!(out[0].ts, live[0].ts.wrapping_add(4 * 3000));
    assert_eq!(out[0].pt, live[0].pt);
    assert_eq!(out[0].payload, [[0, 5], [0, 5], [0xAB, 0xCD]].concat());
    // A second answer for 5 repairs nothing: dropped.
    let drops = room.core.counters().drops_of(DropReason::Rtx);
    assert!(rtp_to(&room.rtx(&send, 41, 901, 5), recv.remote).is_empty());
    assert_eq!(room.core.counters().drops_of(DropReason::Rtx), drops + 1);

    // 6 is still missing: asked again a round trip later, and only it.
    assert!(nacks_to(&room.timeout(ms + 50), send.remote).is_empty());
    let again = room.timeout(ms + DEFAULT_RTT.as_millis() as u64);
    assert_eq!(nacks_to(&again, send.remote), vec![(2222, vec![6], false)]);
    // The recovered packet is in the buffer for the consumer's own NACKs.
    let tx = room.nack(&recv, 200, ssrc, &[out[0].seq]);
    assert_eq!(rtp_to(&tx, recv.remote).len(), 1);
}

#[test]
fn a_key_frame_ends_the_wait_for_what_is_missing_before_it() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let recv = room.transport(CONSUMER);
    let producer = room.produce_with_rtx(&send, 2222);
    let caps = room.caps.clone();
    room.consume(&recv, producer, caps);
    for seq in [1, 2, 4] {
        room.rtp(&send, 2222, 96, seq);
    }
    assert_eq!(
        nacks_to(&room.timeout(50), send.remote),
        vec![(2222, vec![3], false)]
    );
    // A VP8 key frame (RFC 7741 §4.3: P bit 0, start code) at 5.
    let h = RtpHeader {
        payload_type: 96,
        sequence: 5,
        timestamp: 15_000,
        ssrc: 2222,
        marker: true,
    };
    let mut buf = [0u8; 64];
    let n = write_rtp(&mut buf, &h, &[], &[0x10, 0x00, 0x9d, 0x01, 0x2a]).unwrap();
    room.feed(&send, 60, &mut buf[..n]);
    for ms in (100..1200).step_by(20) {
        assert!(nacks_to(&room.timeout(ms), send.remote).is_empty(), "{ms}");
    }
    // The RTX answer now repairs nothing.
    assert!(rtp_to(&room.rtx(&send, 1200, 1, 3), recv.remote).is_empty());
}

#[test]
fn producers_without_nack_get_none_and_their_rtx_is_dropped() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let recv = room.transport(CONSUMER);
    // Room::produce's VP8 negotiates nack; this one does not.
    let id = Uuid::new_v4();
    let rtp_parameters: RtpParameters = serde_json::from_value(json!({
        "codecs": [
            {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000},
            {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000,
             "parameters": {"apt": 96}}
        ],
        "encodings": [{"ssrc": 2222, "rtx": {"ssrc": 3333}}]
    }))
    .unwrap();
    let options = ProduceOptions {
        id,
        kind: MediaKind::Video,
        rtp_parameters,
        paused: false,
        app_data: json!(null),
    };
    room.core.produce(send.transport, options).unwrap();
    let caps = room.caps.clone();
    room.consume(&recv, id, caps);
    for seq in [1, 2, 5] {
        room.rtp(&send, 2222, 96, seq);
    }
    for ms in (0..300).step_by(20) {
        assert!(nacks_to(&room.timeout(ms), send.remote).is_empty());
    }
    assert!(rtp_to(&room.rtx(&send, 300, 1, 3), recv.remote).is_empty());
    assert_eq!(room.core.counters().drops_of(DropReason::Rtx), 1);
}

/// A simulcast consumer answers from the layer it forwards now; what it sent from the layer
/// before a switch is no longer found (another segment), and never mapped onto the new layer.
#[test]
fn a_simulcast_consumer_resends_from_the_layer_it_forwards() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let recv = room.transport(CONSUMER);
    let id = Uuid::new_v4();
    let rtp_parameters: RtpParameters = serde_json::from_value(json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                    "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"}]}],
        "encodings": [{"ssrc": 1000}, {"ssrc": 2000}]
    }))
    .unwrap();
    let options = ProduceOptions {
        id,
        kind: MediaKind::Video,
        rtp_parameters,
        paused: false,
        app_data: json!(null),
    };
    room.core.produce(send.transport, options).unwrap();
    let caps = room.caps.clone();
    let consumer = room.consume(&recv, id, caps);
    let ssrc = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    // Layer `l`, packet `seq`: VP8 (key frame when `key`), the layer and seq in the payload.
    let frame = |room: &mut Room, l: u8, seq: u16, key: bool| {
        let h = RtpHeader {
            payload_type: 96,
            sequence: seq,
            timestamp: 3000 * u32::from(seq),
            ssrc: 1000 * u32::from(l + 1),
            marker: true,
        };
        let payload = [0x10, u8::from(!key), l, seq as u8];
        let mut buf = [0u8; 64];
        let n = write_rtp(&mut buf, &h, &[], &payload).unwrap();
        rtp_to(
            &room.feed(&send, 33 * u64::from(seq), &mut buf[..n]),
            recv.remote,
        )
    };
    // Only layer 0 at first.
    let mut before = Vec::new();
    for seq in 1..=5 {
        before.extend(frame(&mut room, 0, seq, seq == 1));
        room.timeout(33 * u64::from(seq));
    }
    assert!(!before.is_empty() && before.iter().all(|o| o.payload[2] == 0));
    // Layer 1 starts, with key frames, and takes over.
    let mut after = Vec::new();
    for seq in 6..=30 {
        frame(&mut room, 0, seq, false);
        after.extend(frame(&mut room, 1, seq, true));
        room.timeout(33 * u64::from(seq));
    }
    let after: Vec<Out> = after.into_iter().filter(|o| o.payload[2] == 1).collect();
    assert!(after.len() > 2, "switched to layer 1");
    let ms = 33 * 31;
    let old = before.last().unwrap().seq;
    assert!(rtp_to(&room.nack(&recv, ms, ssrc, &[old]), recv.remote).is_empty());
    let wanted = &after[after.len() - 2];
    let resent = rtp_to(&room.nack(&recv, ms, ssrc, &[wanted.seq]), recv.remote);
    assert_eq!(resent.len(), 1);
    // RFC 4588 OSN, then layer 1's payload.
    assert_eq!(resent[0].payload[..2], wanted.seq.to_be_bytes());
    assert_eq!(resent[0].payload[2..], wanted.payload[..]);
    assert_eq!(resent[0].ts, wanted.ts);
}

/// Without reduced-size RTCP (RFC 5506) a NACK goes in a compound packet: RR and SDES first
/// (RFC 4585 §3.1), from the producer transport's SSRC.
#[test]
fn nacks_to_a_producer_without_reduced_size_rtcp_are_compound() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let id = Uuid::new_v4();
    let rtp_parameters: RtpParameters = serde_json::from_value(json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                    "rtcpFeedback": [{"type": "nack"}]}],
        "encodings": [{"ssrc": 2222}],
        "rtcp": {"reducedSize": false}
    }))
    .unwrap();
    let options = ProduceOptions {
        id,
        kind: MediaKind::Video,
        rtp_parameters,
        paused: false,
        app_data: json!(null),
    };
    room.core.produce(send.transport, options).unwrap();
    for seq in [1, 2, 4] {
        room.rtp(&send, 2222, 96, seq);
    }
    let tx = room.timeout(50);
    assert_eq!(nacks_to(&tx, send.remote), vec![(2222, vec![3], true)]);
    let (_, _, datagram) = &tx.sent[0];
    let packets: Vec<RtcpPacket> = crate::wire::rtcp::compound(datagram)
        .map(|p| p.unwrap())
        .collect();
    let RtcpPacket::ReceiverReport(rr) = packets[0] else {
        panic!("RR first: {packets:?}")
    };
    assert!(matches!(packets[1], RtcpPacket::Sdes(_)));
    let RtcpPacket::Nack(nack) = packets[2] else {
        panic!("then the NACK: {packets:?}")
    };
    assert_eq!(nack.sender_ssrc(), rr.ssrc());
}
