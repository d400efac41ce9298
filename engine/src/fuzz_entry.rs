//! Entry points of the `cargo fuzz` targets in `fuzz/` (STYLE.md practice 8), one per parser that
//! reads network bytes. They live in the library, as str0m keeps its fuzz exports beside the
//! code, so that the fuzzers (nightly, `fuzz/fuzz_targets/*.rs`) and the corpus replay test that
//! runs on stable (`engine/tests/fuzz_corpus.rs`, over `fuzz/corpus/<target>/*`) call exactly
//! the same functions.
//!
//! Each entry takes arbitrary bytes, must never panic on them, and asserts the invariants that
//! make a parse or a rewrite trustworthy (lengths add up, a rewritten packet still parses with
//! the values written, the payload is never touched). A failed assertion is a bug, found.
//!
//! - [`rtp`]: RTP view, CSRCs, header extensions (RFC 3550 §5.1, RFC 8285), in-place rewriting
//!   and the writer's round trip.
//! - [`rtcp`]: compound RTCP (RFC 3550 §6, RFC 4585, RFC 5104) views and in-place rewriting.
//! - [`demux`]: RFC 7983 first-byte demultiplexing, checked against the RFC's table.
//! - [`handle_datagram`]: the whole sans-IO receive path of [`WorkerCore`], with a router,
//!   producers on connected, comedia and non-muxed transports, and consumers that ask for other
//!   payload types and extension ids. The input is a little script of datagrams and control
//!   steps (see [`handle_datagram`]).
//!
//! Not a stable API: hidden from the docs, for the fuzzers and their corpus replay only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use crate::net::{SockId, VecTransmit};
use crate::rtc::rtp_parameters::{RtpCapabilities, RtpParameters};
use crate::rtc::{ConsumeOptions, PlainTransportOptions, ProduceOptions, WorkerCore};
use crate::wire::demux::{PacketKind, classify};
use crate::wire::rtcp::{self, RtcpPacket, RtcpPacketMut};
use crate::wire::rtp::{self, RtpHeader, RtpPacket, RtpPacketMut, write_rtp};

/// FNV-1a of the input: the "random" values that rewrites write, derived from the input so that
/// a run reproduces exactly.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// RTP: parse, read every accessor, rewrite a copy in place and re-parse it, and round-trip the
/// header and extensions through the writer. Returns whether `data` parsed as RTP.
pub fn rtp(data: &[u8]) -> bool {
    let Ok(p) = RtpPacket::parse(data) else {
        return false;
    };
    assert_eq!(p.version(), 2);
    assert_eq!(
        p.header_len() + p.payload().len() + p.padding_len(),
        data.len(),
        "header, payload and padding make up the packet"
    );
    assert_eq!(p.payload_offset(), p.header_len());
    assert_eq!(p.csrcs().count(), usize::from(p.csrc_count()));
    assert_eq!(p.has_extension(), p.extension_profile().is_some());
    let mut extensions: Vec<(u8, &[u8])> = Vec::new();
    for (id, d) in p.extensions() {
        assert_ne!(id, 0, "id 0 is padding, never an element");
        assert!(d.len() <= data.len());
        extensions.push((id, d));
    }
    for &(id, _) in &extensions {
        // The first element of an id is the one `extension` finds.
        let first = extensions.iter().find(|(i, _)| *i == id).map(|(_, d)| *d);
        assert_eq!(p.extension(id), first);
    }

    // In-place rewrites keep the packet valid, at the same length, with the values written.
    let h = fnv(data);
    let mut buf = data.to_vec();
    let mut map = [0u8; 256];
    for (i, v) in map.iter_mut().enumerate() {
        *v = (h.rotate_left(i as u32 % 64) as u8) ^ (i as u8);
    }
    let (pt, seq, ts, ssrc) = (
        (h >> 8) as u8 & 0x7f,
        (h >> 16) as u16,
        (h >> 24) as u32,
        h as u32,
    );
    {
        let Ok(mut m) = RtpPacketMut::parse(&mut buf) else {
            panic!("a packet that parses also parses mutably");
        };
        m.remap_extension_ids(&map);
        m.set_payload_type(pt);
        m.set_marker(h & 1 == 1);
        m.set_sequence(seq);
        m.set_timestamp(ts);
        m.set_ssrc(ssrc);
        if let Some(d) = m.extension_mut((h >> 40) as u8) {
            d.fill(0xee);
        }
    }
    let after = RtpPacket::parse(&buf).expect("rewrites keep a valid RTP packet valid");
    assert_eq!(buf.len(), data.len());
    assert_eq!(after.header_len(), p.header_len());
    assert_eq!(
        (after.payload_type(), after.marker(), after.sequence()),
        (pt, h & 1 == 1, seq)
    );
    assert_eq!((after.timestamp(), after.ssrc()), (ts, ssrc));
    assert_eq!(
        after.payload(),
        p.payload(),
        "rewrites never touch the payload"
    );
    for (id, _) in after.extensions() {
        assert_ne!(id, 0);
    }

    // The consumer path's fixed-header rewrite.
    let mut buf = data.to_vec();
    rtp::rewrite_fixed_header(&mut buf, pt ^ 1, seq ^ 1, ts ^ 1, ssrc ^ 1);
    let after = RtpPacket::parse(&buf).expect("fixed-header rewrite keeps the packet valid");
    assert_eq!(after.payload_type(), (pt ^ 1) & 0x7f);
    assert_eq!(after.marker(), p.marker(), "the marker bit is kept");
    assert_eq!(
        (after.sequence(), after.timestamp(), after.ssrc()),
        (seq ^ 1, ts ^ 1, ssrc ^ 1)
    );
    assert_eq!(after.payload(), p.payload());

    // Writer round trip: what the view read, written again, reads back the same.
    let header = RtpHeader {
        marker: p.marker(),
        payload_type: p.payload_type(),
        sequence: p.sequence(),
        timestamp: p.timestamp(),
        ssrc: p.ssrc(),
    };
    let mut out = vec![0u8; data.len() + 4 * extensions.len() + 64];
    if let Ok(n) = write_rtp(&mut out, &header, &extensions, p.payload()) {
        let q = RtpPacket::parse(&out[..n]).expect("the writer writes valid RTP");
        assert_eq!(
            (q.marker(), q.payload_type(), q.sequence()),
            (p.marker(), p.payload_type(), p.sequence())
        );
        assert_eq!((q.timestamp(), q.ssrc()), (p.timestamp(), p.ssrc()));
        assert_eq!(q.payload(), p.payload());
        let written: Vec<(u8, &[u8])> = q.extensions().collect();
        // Empty elements exist only in the two-byte form; the writer may pick either form.
        let nonempty = |v: &[(u8, &[u8])]| -> Vec<(u8, Vec<u8>)> {
            v.iter().map(|(i, d)| (*i, d.to_vec())).collect()
        };
        assert_eq!(nonempty(&written), nonempty(&extensions));
    }
    true
}

/// Calls every accessor of `p` and checks the bounds its parser promises (also used by the
/// in-tree robustness tests, `wire::fuzz_tests`).
pub(crate) fn rtcp_packet(p: &RtcpPacket<'_>) {
    let _ = p.packet_type();
    match p {
        RtcpPacket::SenderReport(sr) => {
            let _ = (sr.sender_info(), sr.ssrc(), sr.ntp_sec(), sr.ntp_frac());
            let _ = (sr.rtp_timestamp(), sr.packet_count(), sr.octet_count());
            assert!(sr.report_blocks().count() <= 31);
        }
        RtcpPacket::ReceiverReport(rr) => {
            let _ = rr.ssrc();
            assert!(rr.report_blocks().count() <= 31);
        }
        RtcpPacket::Sdes(s) => {
            for c in s.chunks() {
                let _ = (c.ssrc(), c.cname(), c.items().count());
            }
        }
        RtcpPacket::Bye(b) => {
            let _ = (b.ssrcs().count(), b.reason());
        }
        RtcpPacket::App(a) => {
            let _ = (a.subtype(), a.ssrc(), a.name(), a.data());
        }
        RtcpPacket::Nack(n) => {
            let _ = (n.sender_ssrc(), n.media_ssrc());
            assert!(n.lost().count() <= 17 * n.items().count());
        }
        RtcpPacket::TransportCc(g) => {
            // A body that parses yields exactly its status count, however its chunks lie.
            if let Ok(cc) = rtcp::TransportCc::parse(g) {
                let _ = (cc.base_seq(), cc.reference_time(), cc.feedback_count());
                assert_eq!(cc.packets().count(), usize::from(cc.status_count()));
            }
        }
        RtcpPacket::AppLayerFeedback(g) => {
            let _ = (
                g.fmt(),
                g.sender_ssrc(),
                g.media_ssrc(),
                g.fci(),
                g.is_remb(),
            );
        }
        RtcpPacket::Pli(p) => {
            let _ = (p.sender_ssrc, p.media_ssrc);
        }
        RtcpPacket::Fir(f) => {
            let _ = (f.sender_ssrc(), f.media_ssrc(), f.entries().count());
        }
        RtcpPacket::Other { pt, count, body } => {
            let _ = (pt, count, body.len());
        }
    }
}

/// Compound RTCP: validate, iterate every packet's view, rewrite SSRCs and report fields in
/// place and check the rewrite changed neither the framing nor the validity. Returns whether
/// `data` is a valid compound packet.
pub fn rtcp(data: &[u8]) -> bool {
    let valid = rtcp::validate_compound(data);
    let _ = RtcpPacket::parse(data);
    let mut errors = 0;
    let mut packets = 0;
    for p in rtcp::compound(data) {
        match p {
            Ok(p) => {
                packets += 1;
                rtcp_packet(&p);
            }
            Err(_) => errors += 1,
        }
    }
    assert!(errors <= 1, "iteration stops after the first error");
    if valid.is_ok() {
        assert_eq!(errors, 0, "a valid compound packet iterates without error");
        assert!(packets >= 1);
    }

    let h = fnv(data);
    let v = h as u32;
    let mut buf = data.to_vec();
    let before = rtcp::compound(&buf).count();
    let _ = RtcpPacketMut::parse(&mut buf).map(|p| p.packet_type());
    for p in rtcp::compound_mut(&mut buf) {
        let Ok(mut p) = p else {
            break;
        };
        let _ = p.count();
        p.set_sender_ssrc(v);
        p.set_media_ssrc(v.rotate_left(7));
        p.set_sr_rtp_timestamp(v);
        p.set_sr_packet_count(v);
        p.set_sr_octet_count(v);
        p.set_sr_ntp(v, !v);
        p.map_fir_entries(|s, n| (s ^ v, n.wrapping_add(1)));
        p.map_report_block_ssrcs(|s| s ^ v);
    }
    assert_eq!(buf.len(), data.len());
    assert_eq!(
        rtcp::compound(&buf).count(),
        before,
        "rewrites keep the framing"
    );
    assert_eq!(
        rtcp::validate_compound(&buf),
        valid,
        "rewrites keep validity"
    );
    valid.is_ok()
}

/// RFC 7983 §7 demultiplexing, checked against the RFC's first-byte table (and RFC 5761 §4 for
/// RTP versus RTCP). Returns the class.
pub fn demux(data: &[u8]) -> PacketKind {
    let kind = classify(data);
    let expected = match (data.first(), data.get(1)) {
        (None, _) => PacketKind::Unknown,
        (Some(0..=3), _) => PacketKind::Stun,
        (Some(20..=63), _) => PacketKind::Dtls,
        (Some(128..=191), None) => PacketKind::Unknown,
        (Some(128..=191), Some(192..=223)) => PacketKind::Rtcp,
        (Some(128..=191), Some(_)) => PacketKind::Rtp,
        (Some(_), _) => PacketKind::Unknown,
    };
    assert_eq!(
        kind,
        expected,
        "first bytes {:?}",
        &data[..data.len().min(2)]
    );
    // What the demux calls RTP or RTCP either parses as such or is rejected cleanly.
    match kind {
        PacketKind::Rtp => {
            rtp(data);
        }
        PacketKind::Rtcp => {
            rtcp(data);
        }
        _ => {}
    }
    kind
}

// ------------------------------------------------------------------ the whole receive path

const SENDER_A: &str = "10.0.0.1:5000";
const SENDER_B: &str = "10.0.0.2:5002";
const OTHER: &str = "10.9.9.9:999";
const OTHER_V6: &str = "[2001:db8::1]:5000";

struct Leg {
    id: Uuid,
    sock: SockId,
    rtcp: Option<SockId>,
    remote: Option<SocketAddr>,
}

struct ConsumerInfo {
    id: Uuid,
    ssrc: u32,
    /// Where its transport sends, and from which socket.
    to: SocketAddr,
    sock: SockId,
}

/// A worker core with one router and a fixed cast:
///
/// - transport A, connected to `SENDER_A`, rtcpMux: an Opus producer (SSRC 1111, PT 100, audio
///   level id 1) and a VP8 producer (SSRC 2222, PT 96, RTX 2223 on PT 97, mid/abs-send-time ids);
/// - transport B, comedia, rtcpMux off: an Opus producer (SSRC 3333, PT 111);
/// - transports C1 and C2, connected: C1 consumes all three with the router's capabilities, C2
///   consumes Opus 1111 asking for PT 120 and audio level id 8, and VP8 with mid and
///   abs-send-time ids swapped.
struct Room {
    core: WorkerCore,
    legs: Vec<Leg>,
    consumers: Vec<ConsumerInfo>,
    producers: Vec<Uuid>,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal address")
}

impl Room {
    /// Every RTCP datagram Sluice sent is a valid compound packet from one of a transport's
    /// sockets to that transport's remote (any remote for comedia B, which learns it).
    fn check_rtcp_sent(&self, tx: &VecTransmit) {
        for (sock, to, bytes) in tx
            .sent
            .iter()
            .filter(|(_, _, b)| classify(b) == PacketKind::Rtcp)
        {
            rtcp::validate_compound(bytes).expect("Sluice's RTCP is valid");
            let leg = self
                .legs
                .iter()
                .find(|l| l.sock == *sock || l.rtcp == Some(*sock))
                .expect("RTCP leaves from a transport's socket");
            assert!(
                leg.remote.is_none_or(|r| r == *to),
                "to the transport's remote"
            );
        }
    }

    fn new() -> Self {
        let mut core = WorkerCore::new();
        let (router, caps) = crate::rtc::test_support::opus_vp8_router(&mut core);
        let mut legs = Vec::new();
        let specs: [(Option<&str>, bool, bool); 4] = [
            (Some(SENDER_A), false, true),
            (None, true, false),
            (Some("10.0.1.1:6000"), false, true),
            (Some("10.0.1.2:6000"), false, true),
        ];
        for (i, (remote, comedia, mux)) in specs.into_iter().enumerate() {
            let id = Uuid::new_v4();
            let sock = SockId(10 + 2 * i as u32);
            let rtcp = (!mux).then_some(SockId(11 + 2 * i as u32));
            let local = SocketAddr::from(([127, 0, 0, 1], 40_000 + 2 * i as u16));
            let rtcp_local =
                rtcp.map(|s| (s, SocketAddr::from(([127, 0, 0, 1], 40_001 + 2 * i as u16))));
            let options = PlainTransportOptions {
                comedia,
                rtcp_mux: mux,
                app_data: json!(null),
            };
            core.create_plain_transport(router, id, (sock, local), rtcp_local, options)
                .expect("transport");
            let remote = remote.map(addr);
            if let Some(r) = remote {
                core.connect_plain_transport(id, r.ip(), r.port(), None)
                    .expect("connect");
            }
            legs.push(Leg {
                id,
                sock,
                rtcp,
                remote,
            });
        }
        let mut producers = Vec::new();
        let params: [(usize, &str, serde_json::Value); 3] = [
            (
                0,
                "audio",
                json!({
                    "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
                    "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 1}],
                    "encodings": [{"ssrc": 1111}]
                }),
            ),
            (
                0,
                "video",
                json!({
                    "codecs": [
                        {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000},
                        {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000, "parameters": {"apt": 96}}
                    ],
                    "headerExtensions": [
                        {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 2},
                        {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "id": 3}
                    ],
                    "encodings": [{"ssrc": 2222, "rtx": {"ssrc": 2223}}]
                }),
            ),
            (
                1,
                "audio",
                json!({
                    "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}],
                    "encodings": [{"ssrc": 3333}]
                }),
            ),
        ];
        for (leg, kind, p) in params {
            let rtp_parameters: RtpParameters =
                serde_json::from_value(p).expect("producer parameters");
            let id = Uuid::new_v4();
            let options = ProduceOptions {
                id,
                kind: serde_json::from_value(json!(kind)).expect("kind"),
                rtp_parameters,
                paused: false,
                app_data: json!(null),
            };
            core.produce(legs[leg].id, options).expect("producer");
            producers.push(id);
        }
        let mut other_caps: RtpCapabilities = caps.clone();
        for c in &mut other_caps.codecs {
            if c.mime_type == "audio/opus" {
                c.preferred_payload_type = Some(120);
            }
        }
        for e in &mut other_caps.header_extensions {
            e.preferred_id = match e.uri.as_str() {
                // Swapped with each other, and moved to a free id.
                "urn:ietf:params:rtp-hdrext:sdes:mid" => 4,
                "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time" => 1,
                "urn:ietf:params:rtp-hdrext:ssrc-audio-level" => 8,
                _ => e.preferred_id,
            };
        }
        let mut consumers = Vec::new();
        let plan: [(usize, usize, &RtpCapabilities); 5] = [
            (2, 0, &caps),
            (2, 1, &caps),
            (2, 2, &caps),
            (3, 0, &other_caps),
            (3, 1, &other_caps),
        ];
        for (leg, producer, caps) in plan {
            let id = Uuid::new_v4();
            let options = ConsumeOptions {
                id,
                producer_id: producers[producer],
                rtp_capabilities: caps.clone(),
                paused: false,
                app_data: json!(null),
            };
            let reply = core.consume(legs[leg].id, options).expect("consumer");
            consumers.push(ConsumerInfo {
                id,
                ssrc: reply.rtp_parameters.encodings[0]
                    .ssrc
                    .expect("consumer SSRC"),
                to: legs[leg].remote.expect("consumer transports are connected"),
                sock: legs[leg].sock,
            });
        }
        Self {
            core,
            legs,
            consumers,
            producers,
        }
    }
}

/// The whole receive path of [`WorkerCore::handle_datagram`], driven by a script in `data`:
///
/// - a byte `0b11aa_akkk` is a control step with argument `aaa`: `kkk` 0–4 pauses (`aaa` odd)
///   or resumes consumer `kkk`; 5 pauses (`aaa` < 4) or resumes producer `aaa % 3`; 6 closes
///   consumer `aaa % 5`; 7 advances the clock by the next byte × 10 ms and runs the timers
///   (`handle_timeout`: RTCP reports and key frame requests);
/// - any other byte starts a datagram: bits 0–2 pick the socket (A, B, B's RTCP, C1, C2, an
///   unknown one), bits 3–4 the source (the expected remote, another address, B's sender, an
///   IPv6 address), the next byte is the length (255: the next two bytes, big-endian, are), then
///   that many bytes (fewer at the end).
///
/// Checked: nothing panics; every datagram counts once; whatever RTP is sent goes from a
/// consumer transport's socket to its remote, parses as RTP with that consumer's SSRC, has the
/// length of what came in and the same payload; whatever RTCP is sent is valid and goes from a
/// transport's socket to its remote. Returns how many datagrams were forwarded.
pub fn handle_datagram(data: &[u8]) -> usize {
    let mut room = Room::new();
    let mut now = Instant::now();
    let mut rest = data;
    let mut tx = VecTransmit::default();
    let mut forwarded = 0;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        if op & 0xC0 == 0xC0 {
            let arg = usize::from(op >> 3 & 0x07);
            match op & 0x07 {
                0..=4 => {
                    let c = &room.consumers[usize::from(op & 0x07)];
                    // A consumer closed by an earlier step is simply not found.
                    let _ = room.core.set_consumer_paused(c.id, arg & 1 == 1);
                }
                5 => {
                    let p = room.producers[arg % room.producers.len()];
                    let _ = room.core.set_producer_paused(p, arg & 4 == 0);
                }
                6 => {
                    let c = room.consumers[arg % room.consumers.len()].id;
                    let _ = room.core.close_consumer(c);
                }
                _ => {
                    let Some((&ms, tail)) = rest.split_first() else {
                        break;
                    };
                    rest = tail;
                    now += Duration::from_millis(u64::from(ms) * 10);
                    tx.sent.clear();
                    room.core.handle_timeout(now, &mut tx);
                    room.check_rtcp_sent(&tx);
                }
            }
            let _ = room.core.take_events();
            continue;
        }
        let Some((&len, mut tail)) = rest.split_first() else {
            break;
        };
        let mut len = usize::from(len);
        if len == 255 && tail.len() >= 2 {
            len = usize::from(u16::from_be_bytes([tail[0], tail[1]]));
            tail = &tail[2..];
        }
        let len = len.min(tail.len());
        let (datagram, tail) = tail.split_at(len);
        rest = tail;
        let sock = match op & 0x07 {
            0 => room.legs[0].sock,
            1 => room.legs[1].sock,
            2 => room.legs[1].rtcp.expect("B has an RTCP socket"),
            3 => room.legs[2].sock,
            4 => room.legs[3].sock,
            _ => SockId(999),
        };
        let leg_remote = room
            .legs
            .iter()
            .find(|l| l.sock == sock)
            .and_then(|l| l.remote);
        let from = match op >> 3 & 0x03 {
            0 => leg_remote.unwrap_or_else(|| addr(SENDER_B)),
            1 => addr(OTHER),
            2 => addr(SENDER_B),
            _ => addr(OTHER_V6),
        };
        let mut buf = datagram.to_vec();
        let before = room.core.counters().packets_in;
        tx.sent.clear();
        room.core
            .handle_datagram(now, sock, from, &mut buf, &mut tx);
        assert_eq!(room.core.counters().packets_in, before + 1);
        assert_eq!(buf, datagram, "the receive buffer is left as it came");
        // Sluice's own RTCP (a consumer's key frame request relayed to its producer).
        room.check_rtcp_sent(&tx);
        tx.sent.retain(|(_, _, b)| classify(b) != PacketKind::Rtcp);
        if tx.sent.is_empty() {
            continue;
        }
        forwarded += tx.sent.len();
        let input = RtpPacket::parse(datagram).expect("only RTP is forwarded");
        for (sock, to, bytes) in &tx.sent {
            let c = room
                .consumers
                .iter()
                .find(|c| c.sock == *sock && c.to == *to)
                .expect("sent from a consumer transport's socket to its remote");
            let out = RtpPacket::parse(bytes).expect("a forwarded packet is valid RTP");
            assert!(
                room.consumers
                    .iter()
                    .any(|k| k.ssrc == out.ssrc() && k.sock == c.sock),
                "forwarded with a consumer's SSRC"
            );
            // The header extension block is the consumer's own (its mid, transport-wide number,
            // abs-send-time: `rtc::consumer`); everything after it is the producer's.
            assert_eq!(
                &bytes[out.header_len()..],
                &datagram[input.header_len()..],
                "payload and padding untouched"
            );
            assert!(out.csrcs().eq(input.csrcs()), "CSRCs kept");
            assert_eq!(out.payload(), input.payload(), "payload untouched");
            assert_eq!(out.marker(), input.marker());
        }
    }
    let _ = room.core.take_events();
    forwarded
}
