//! Tests of transport-cc feedback: the arrival record and the feedback it writes
//! ([`TransportCcServer`]: gaps, wrap-around, reordering, duplicates, late packets, the ring's
//! limit, splitting, random arrival patterns read back through our view and webrtc-rs's), then
//! whole scenarios through [`WorkerCore`]: RTP with transport-wide numbers from a simulated
//! producer on a simulated clock in, feedback to the producer's endpoint out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::net::{SockId, VecTransmit};
use crate::rtc::rtp_parameters::{MediaKind, RtpParameters};
use crate::rtc::{PlainTransportOptions, ProduceOptions, WorkerCore};
use crate::test_rng::XorShift;
use crate::wire::demux::{PacketKind, classify};
use crate::wire::rtcp::{self, RtcpPacket, TransportCc};
use crate::wire::rtp::{RtpHeader, write_rtp};

const SENDER: u32 = 0x5e5e_5e5e;

/// One feedback as read back: base, reference time, feedback count, `(seq, delta)`.
#[derive(Debug)]
struct Feedback {
    base: u16,
    reference: u32,
    count: u8,
    media: u32,
    packets: Vec<(u16, Option<i16>)>,
}

fn read(bytes: &[u8]) -> Feedback {
    let Some(Ok(RtcpPacket::TransportCc(g))) = rtcp::compound(bytes).next() else {
        panic!("not a transport-cc feedback: {bytes:02x?}")
    };
    let fb = TransportCc::parse(&g).expect("valid feedback");
    assert_eq!(fb.sender_ssrc(), SENDER);
    // webrtc-rs reads the same statuses.
    let theirs = ::rtcp::packet::unmarshal(&mut &bytes[..]).expect("webrtc-rs parses it");
    let theirs = theirs[0]
        .as_any()
        .downcast_ref::<::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc>()
        .expect("a TransportLayerCc")
        .clone();
    let received: Vec<i64> = fb
        .packets()
        .filter_map(|(_, d)| d.map(|d| i64::from(d) * 250))
        .collect();
    let theirs_deltas: Vec<i64> = theirs.recv_deltas.iter().map(|d| d.delta).collect();
    assert_eq!(received, theirs_deltas);
    assert_eq!(theirs.base_sequence_number, fb.base_seq());
    assert_eq!(theirs.packet_status_count, fb.status_count());
    Feedback {
        base: fb.base_seq(),
        reference: fb.reference_time(),
        count: fb.feedback_count(),
        media: fb.media_ssrc(),
        packets: fb.packets().collect(),
    }
}

/// Every feedback the server has now, each sent.
fn drain(server: &mut TransportCcServer, room: usize) -> Vec<Feedback> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; room];
    while server.pending() {
        let (n, end) = server.write_feedback(&mut buf, SENDER).expect("a feedback");
        out.push(read(&buf[..n]));
        server.sent(end);
        assert!(out.len() < 10_000, "feedback makes progress");
    }
    out
}

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

#[test]
fn gap_small_large_deltas_and_the_next_interval() {
    let t0 = Instant::now();
    let mut s = TransportCcServer::new(5);
    assert!(!s.pending());
    for (seq, at) in [(10, 0), (11, 1), (13, 5), (14, 75)] {
        assert!(!s.record(ms(t0, at), seq, 0xabc));
    }
    let fb = drain(&mut s, 1500);
    assert_eq!(fb.len(), 1);
    assert_eq!((fb[0].base, fb[0].reference, fb[0].count), (10, 0, 0));
    assert_eq!(fb[0].media, 0xabc);
    // 1 ms = 4 × 250 µs; 12 lost; 70 ms later is a large delta (280 > 255).
    assert_eq!(
        fb[0].packets,
        [
            (10, Some(0)),
            (11, Some(4)),
            (12, None),
            (13, Some(16)),
            (14, Some(280))
        ]
    );
    // Next interval: from 15 on, its reference time in 64 ms steps (130 ms → 2, +2 ms).
    s.record(ms(t0, 130), 15, 0xabc);
    s.record(ms(t0, 131), 16, 0xabd);
    let fb = drain(&mut s, 1500);
    assert_eq!((fb[0].base, fb[0].reference, fb[0].count), (15, 2, 1));
    assert_eq!(fb[0].packets, [(15, Some(8)), (16, Some(4))]);
    assert_eq!(fb[0].media, 0xabd, "the latest packet's SSRC");
    assert_eq!(s.feedback_sent, 2);
}

#[test]
fn wrap_reorder_duplicates_and_late_packets() {
    let t0 = Instant::now();
    let mut s = TransportCcServer::new(5);
    // Across the 16-bit wrap, 0 before 65535.
    s.record(ms(t0, 0), 65534, 1);
    s.record(ms(t0, 2), 0, 1);
    s.record(ms(t0, 3), 65535, 1);
    // A duplicate keeps the first arrival.
    s.record(ms(t0, 9), 0, 1);
    s.record(ms(t0, 4), 2, 1);
    assert_eq!(s.recorded, 4);
    let fb = drain(&mut s, 1500);
    assert_eq!(fb[0].base, 65534);
    // Deltas follow sequence order: 0 (at 2 ms) comes after 65535 (at 3 ms), −1 ms.
    assert_eq!(
        fb[0].packets,
        [
            (65534, Some(0)),
            (65535, Some(12)),
            (0, Some(-4)),
            (1, None),
            (2, Some(8))
        ]
    );
    // 1 arrives late, after it was reported lost: reported again from 1 on, received, with 2
    // at its own time.
    s.record(ms(t0, 20), 1, 1);
    let fb = drain(&mut s, 1500);
    assert_eq!(fb.len(), 1);
    assert_eq!(fb[0].base, 1);
    assert_eq!(fb[0].packets, [(1, Some(80)), (2, Some(-64))]);
    // Older than the first packet ever: nothing to report it against.
    assert!(!s.record(ms(t0, 21), 65000, 1));
    assert!(!s.pending());
}

#[test]
fn a_jump_past_the_ring_reports_only_what_it_holds() {
    let t0 = Instant::now();
    let mut s = TransportCcServer::new(5);
    s.record(ms(t0, 0), 100, 1);
    s.record(ms(t0, 1), 100 + RING as u16 + 10, 1);
    let fb = drain(&mut s, 1500);
    let all: Vec<_> = fb.iter().flat_map(|f| f.packets.iter().copied()).collect();
    assert_eq!(all.len(), RING);
    assert_eq!(all[0].0, 111);
    assert!(all[..RING - 1].iter().all(|p| p.1.is_none()));
    assert_eq!(all[RING - 1], (100 + RING as u16 + 10, Some(4)));
}

#[test]
fn many_packets_ask_for_early_feedback() {
    let t0 = Instant::now();
    let mut s = TransportCcServer::new(5);
    // The 512th number waiting asks once; the ones after it (say the send failed) do not.
    let early: Vec<bool> = (0..1500u16).map(|i| s.record(t0, i, 1)).collect();
    assert_eq!(early.iter().position(|&e| e), Some(RING / 2 - 1));
    assert_eq!(early.iter().filter(|&&e| e).count(), 1);
    drain(&mut s, 1500);
    assert!(!s.record(t0, 1500, 1));
    let again = (1501..1501 + RING as u16).position(|i| s.record(t0, i, 1));
    assert_eq!(again, Some(RING / 2 - 2), "after a feedback, once more");
}

#[test]
fn feedback_is_split_to_fit_the_buffer_and_the_delta_range() {
    let t0 = Instant::now();
    let mut s = TransportCcServer::new(5);
    // Alternating large deltas: two bytes each.
    for i in 0..300u16 {
        let at = u64::from(i) * 100 + if i % 2 == 0 { 0 } else { 70 };
        s.record(ms(t0, at), i, 1);
    }
    let fb = drain(&mut s, 120);
    assert!(fb.len() > 3, "{} packets", fb.len());
    let mut next = 0u16;
    for (k, f) in fb.iter().enumerate() {
        assert_eq!(f.base, next, "contiguous");
        assert_eq!(f.count, k as u8);
        next = f.base.wrapping_add(f.packets.len() as u16);
    }
    assert_eq!(next, 300);
    // Nine seconds between two packets do not fit one delta: two feedback packets.
    let mut s = TransportCcServer::new(5);
    s.record(ms(t0, 0), 7, 1);
    s.record(ms(t0, 9_000), 8, 1);
    let fb = drain(&mut s, 1500);
    assert_eq!(fb.len(), 2);
    assert_eq!((fb[0].base, fb[0].packets.len()), (7, 1));
    assert_eq!((fb[1].base, fb[1].reference), (8, 9_000 / 64));
    assert_eq!(fb[1].packets, [(8, Some(((9_000 % 64) * 4) as i16))]);
}

#[test]
fn random_arrivals_never_panic_and_always_read_back() {
    let mut rng = XorShift(0x7cc_5eed_0000_0042);
    let t0 = Instant::now();
    for round in 0..60 {
        let mut s = TransportCcServer::new(5);
        // The truth: first arrival (µs since the first packet) of every extended number the
        // server can hold. Numbers start at 0 (the first packet's), so wire numbers wrap
        // several times.
        let mut truth: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut now_us, mut ext, mut e) = (0u64, 0u64, 0u64);
        let mut checked = 0;
        let room = 40 + rng.below(1500);
        for step in 0..3000 {
            s.record(t0 + Duration::from_micros(now_us), e as u16, round);
            ext = ext.max(e);
            if ext - e < RING as u64 {
                truth.entry(e).or_insert(now_us);
            }
            if rng.below(30) == 0 || step == 2999 {
                let mut e_at = s.next;
                for f in drain(&mut s, room) {
                    assert_eq!(f.base, e_at as u16);
                    let mut t = u64::from(f.reference) * 64_000;
                    for &(_, d) in &f.packets {
                        match d {
                            Some(d) => {
                                t = t.checked_add_signed(i64::from(d) * 250).unwrap();
                                let real = truth.get(&e_at).map(|r| r / 250 * 250);
                                assert_eq!(real, Some(t), "{e_at}");
                                checked += 1;
                            }
                            None => assert!(!truth.contains_key(&e_at), "{e_at} was received"),
                        }
                        e_at += 1;
                    }
                }
            }
            // Bursts, pauses, and pauses longer than a delta can say.
            now_us += match rng.below(10) {
                0 => 0,
                1 => 100_000 + rng.below(9_000_000) as u64,
                _ => rng.below(5_000) as u64,
            };
            // Mostly the next number; jumps (loss), steps back (reordering), repeats.
            e = match rng.below(20) {
                0 => ext + rng.below(3000) as u64,
                1..=3 => ext.saturating_sub(rng.below(40) as u64),
                4 => e,
                _ => ext + 1,
            };
        }
        assert!(checked > 100, "round {round}: {checked} statuses checked");
    }
}

// ------------------------------------------------------------ through WorkerCore

const TWCC_ID: u8 = 5;
const PRODUCER: &str = "10.0.0.1:5000";

struct Room {
    core: WorkerCore,
    t0: Instant,
    sock: SockId,
    remote: SocketAddr,
    transport: Uuid,
}

impl Room {
    /// A router and a plain transport whose producer sends VP8 with `feedback`'s rtcpFeedback.
    fn new(feedback: &[&str]) -> Self {
        let mut core = WorkerCore::new();
        let (router, _) = crate::rtc::test_support::opus_vp8_router(&mut core);
        let t0 = Instant::now();
        core.set_wall_clock(t0, Duration::from_secs(1_800_000_000));
        let transport = Uuid::new_v4();
        let sock = SockId(1);
        let local: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let options = PlainTransportOptions {
            comedia: false,
            rtcp_mux: true,
            app_data: json!(null),
        };
        core.create_plain_transport(router, transport, (sock, local), None, options)
            .unwrap();
        let remote: SocketAddr = PRODUCER.parse().unwrap();
        core.connect_plain_transport(transport, remote.ip(), remote.port(), None)
            .unwrap();
        let fb: Vec<_> = feedback.iter().map(|t| json!({"type": t})).collect();
        let params: RtpParameters = serde_json::from_value(json!({
            "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                        "rtcpFeedback": fb}],
            "headerExtensions": [{"uri": super::TRANSPORT_WIDE_CC_URI, "id": TWCC_ID}],
            "encodings": [{"ssrc": 2222}],
            "rtcp": {"cname": "cam", "reducedSize": true},
        }))
        .unwrap();
        let options = ProduceOptions {
            id: Uuid::new_v4(),
            kind: MediaKind::Video,
            rtp_parameters: params,
            paused: false,
            app_data: json!(null),
        };
        core.produce(transport, options).unwrap();
        Self {
            core,
            t0,
            sock,
            remote,
            transport,
        }
    }

    fn at(&self, us: u64) -> Instant {
        self.t0 + Duration::from_micros(us)
    }

    /// An RTP packet of the producer with transport-wide number `twcc`, arriving at `us`.
    fn rtp(&mut self, us: u64, seq: u16, twcc: u16) -> VecTransmit {
        let h = RtpHeader {
            payload_type: 96,
            sequence: seq,
            timestamp: 3000 * u32::from(seq),
            ssrc: 2222,
            ..Default::default()
        };
        let mut buf = [0u8; 200];
        let ext = twcc.to_be_bytes();
        let n = write_rtp(&mut buf, &h, &[(TWCC_ID, &ext)], &[0x10, 0x01, 0, 0]).unwrap();
        let mut tx = VecTransmit::default();
        let now = self.at(us);
        self.core
            .handle_datagram(now, self.sock, self.remote, &mut buf[..n], &mut tx);
        tx
    }

    fn timeout(&mut self, us: u64) -> VecTransmit {
        let mut tx = VecTransmit::default();
        self.core.handle_timeout(self.at(us), &mut tx);
        tx
    }

    /// The transport-cc feedback in what was sent to the producer, and the sender SSRC of
    /// every RR (the transport's own).
    fn feedback(&self, tx: &VecTransmit) -> (Vec<(u32, Feedback)>, Vec<u32>) {
        let mut fbs = Vec::new();
        let mut rrs = Vec::new();
        for (sock, to, b) in &tx.sent {
            if *to != self.remote || classify(b) != PacketKind::Rtcp {
                continue;
            }
            assert_eq!(*sock, self.sock);
            let mut packets = rtcp::compound(b).peekable();
            while let Some(p) = packets.next() {
                match p.expect("valid RTCP") {
                    RtcpPacket::TransportCc(g) => {
                        assert!(packets.peek().is_none(), "sent alone");
                        let fb = TransportCc::parse(&g).unwrap();
                        let sender = fb.sender_ssrc();
                        let mut bytes = b.clone();
                        // `read` checks the sender against SENDER.
                        bytes[4..8].copy_from_slice(&SENDER.to_be_bytes());
                        fbs.push((sender, read(&bytes)));
                    }
                    RtcpPacket::ReceiverReport(rr) => rrs.push(rr.ssrc()),
                    _ => {}
                }
            }
        }
        (fbs, rrs)
    }
}

#[test]
fn the_producer_gets_feedback_every_100_ms_with_gaps_and_deltas() {
    let mut room = Room::new(&["nack", "transport-cc"]);
    room.timeout(0);
    // Transport-wide numbers 1000..1006 at 2 ms apart, 1003 lost, 1005 late by 7 ms.
    for (seq, twcc, us) in [
        (1, 1000, 10_000),
        (2, 1001, 12_000),
        (3, 1002, 14_000),
        (5, 1004, 18_000),
        (7, 1006, 22_000),
        (6, 1005, 29_000),
    ] {
        room.rtp(us, seq, twcc);
    }
    // Not before the timer's next run.
    let tx = room.timeout(50_000);
    let (fbs, _) = room.feedback(&tx);
    assert!(fbs.is_empty());
    let tx = room.timeout(100_000);
    let (fbs, _) = room.feedback(&tx);
    assert_eq!(fbs.len(), 1, "{tx:?}");
    let (sender, fb) = &fbs[0];
    assert_eq!(
        (fb.base, fb.reference, fb.count, fb.media),
        (1000, 0, 0, 2222)
    );
    assert_eq!(
        fb.packets,
        [
            (1000, Some(0)),
            (1001, Some(8)),
            (1002, Some(8)),
            (1003, None),
            (1004, Some(16)),
            (1005, Some(44)),
            (1006, Some(-28)),
        ]
    );
    assert_eq!(
        room.core.transport_cc_feedback_sent(room.transport),
        Some(1)
    );
    // Nothing new, nothing sent; then the next interval's packets, in feedback packet 1.
    let tx = room.timeout(200_000);
    let (fbs, _) = room.feedback(&tx);
    assert!(fbs.is_empty());
    room.rtp(250_000, 8, 1007);
    room.rtp(251_000, 9, 1009);
    let tx = room.run_timers(300_000, 700_000);
    let (fbs, _) = room.feedback(&tx);
    assert_eq!(fbs.len(), 1);
    let fb = &fbs[0].1;
    assert_eq!((fb.base, fb.reference, fb.count), (1007, 3, 1));
    assert_eq!(
        fb.packets,
        [(1007, Some(192)), (1008, None), (1009, Some(4))]
    );
    // The sender SSRC is the transport's own, the one its receiver reports come from. The
    // next report is due 1–1.5 s (random) after the one at 0.5 s: run the timers past 2 s.
    let tx = room.run_timers(700_000, 2_600_000);
    let (_, rrs) = room.feedback(&tx);
    assert!(!rrs.is_empty());
    assert!(rrs.iter().all(|r| r == sender));
}

#[test]
fn a_burst_gets_feedback_before_the_timer() {
    let mut room = Room::new(&["transport-cc"]);
    room.timeout(0);
    for i in 0..600u16 {
        room.rtp(1_000 + u64::from(i), i, 40_000 + i);
    }
    // Half the ring waits: the core wants its timers run now, not in 100 ms.
    let due = room.core.poll_timeout().unwrap();
    assert!(due <= room.at(1_600), "{:?}", due - room.t0);
    let tx = room.timeout(2_000);
    let (fbs, _) = room.feedback(&tx);
    let reported: usize = fbs.iter().map(|(_, f)| f.packets.len()).sum();
    assert_eq!(reported, 600);
    assert!(
        fbs.iter()
            .all(|(_, f)| f.packets.iter().all(|p| p.1.is_some()))
    );
}

#[test]
fn no_feedback_without_transport_cc_in_the_codecs_rtcp_feedback() {
    // mediasoup's condition: the extension alone (audio-style, or transport-cc refused) is not
    // a request for feedback.
    let mut room = Room::new(&["nack", "goog-remb"]);
    room.timeout(0);
    for i in 0..20u16 {
        room.rtp(1_000 * u64::from(i), i, i);
    }
    let tx = room.run_timers(100_000, 1_000_000);
    let (fbs, _) = room.feedback(&tx);
    assert!(fbs.is_empty());
    assert_eq!(room.core.transport_cc_feedback_sent(room.transport), None);
}

impl Room {
    fn run_timers(&mut self, from: u64, to: u64) -> VecTransmit {
        let mut all = VecTransmit::default();
        for us in (from..to).step_by(100_000) {
            all.sent.extend(self.timeout(us).sent);
        }
        all
    }
}
