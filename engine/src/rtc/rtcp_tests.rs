//! Sans-IO scenario tests of RTCP (`core_rtcp.rs`): a router fed RTP and RTCP from simulated
//! endpoints on a simulated clock, its timers driven through `handle_timeout`. Checks what
//! reaches each endpoint: key frame requests relayed with the producer's SSRC and rate-limited,
//! requests on consumer creation and resume, sender reports to consumers whose timestamps map
//! from the producer's, receiver reports to producers with the loss and jitter injected, and
//! consumers' receiver reports kept out of the producer's way.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::rtp_parameters::{MediaKind, RtpCapabilities, RtpParameters};
use super::*;
use crate::net::{SockId, VecTransmit};
use crate::wire::demux::{PacketKind, classify};
use crate::wire::rtcp::{
    self, ReportBlock, RtcpPacket, SenderInfo, write_fir, write_pli, write_receiver_report,
    write_sender_report,
};
use crate::wire::rtp::{RtpHeader, RtpPacket, write_rtp};

const VP8_KEY: [u8; 4] = [0x10, 0x00, 0x9d, 0x01];
const VP8_DELTA: [u8; 4] = [0x10, 0x01, 0x00, 0x00];
/// Unix time the simulated wall clock starts at.
const UNIX0: Duration = Duration::from_secs(1_800_000_000);

struct Room {
    core: WorkerCore,
    router: Uuid,
    caps: RtpCapabilities,
    next_sock: u32,
    t0: Instant,
}

use super::test_support::Leg;

/// An RTCP packet as sent, copied out of its datagram.
#[derive(Debug, Clone, PartialEq)]
enum Sent {
    Sr(SenderInfo, usize),
    Rr(u32, Vec<ReportBlock>),
    Sdes(Vec<(u32, Vec<u8>)>),
    Pli(u32, u32),
    Fir(u32, Vec<(u32, u8)>),
    Other(u8),
}

impl Room {
    fn new() -> Self {
        let mut core = WorkerCore::new();
        let (router, caps) = super::test_support::opus_vp8_router(&mut core);
        let t0 = Instant::now();
        core.set_wall_clock(t0, UNIX0);
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

    fn produce(&mut self, leg: &Leg, kind: MediaKind, ssrc: u32, cname: Option<&str>) -> Uuid {
        let id = Uuid::new_v4();
        let codec = match kind {
            MediaKind::Video => {
                json!({"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"},
                                 {"type": "ccm", "parameter": "fir"}]})
            }
            MediaKind::Audio => json!({"mimeType": "audio/opus", "payloadType": 100,
                "clockRate": 48000, "channels": 2}),
        };
        let mut params = json!({"codecs": [codec], "encodings": [{"ssrc": ssrc}]});
        if let Some(c) = cname {
            params["rtcp"] = json!({"cname": c});
        }
        let rtp_parameters: RtpParameters = serde_json::from_value(params).unwrap();
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

    fn consume(&mut self, leg: &Leg, producer: Uuid, paused: bool) -> ConsumeReply {
        let options = ConsumeOptions {
            id: Uuid::new_v4(),
            producer_id: producer,
            rtp_capabilities: self.caps.clone(),
            paused,
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

    /// One RTP packet of `ssrc` from the producer's endpoint.
    fn rtp(&mut self, leg: &Leg, ms: u64, h: RtpHeader, payload: &[u8]) -> VecTransmit {
        let mut buf = [0u8; 300];
        let n = write_rtp(&mut buf, &h, &[], payload).unwrap();
        self.feed(leg, ms, &mut buf[..n])
    }

    fn timeout(&mut self, ms: u64) -> VecTransmit {
        let mut tx = VecTransmit::default();
        let now = self.at(ms);
        self.core.handle_timeout(now, &mut tx);
        tx
    }

    /// Runs the timers every 100 ms in `[from, to)`; everything they sent.
    fn run_timers(&mut self, from: u64, to: u64) -> VecTransmit {
        let mut all = VecTransmit::default();
        for ms in (from..to).step_by(100) {
            all.sent.extend(self.timeout(ms).sent);
        }
        all
    }

    fn consumer_stats(&self, id: Uuid) -> serde_json::Value {
        self.core.consumer_stats(id).unwrap()[0].clone()
    }
}

fn vp8(seq: u16, ssrc: u32) -> RtpHeader {
    RtpHeader {
        payload_type: 96,
        sequence: seq,
        timestamp: 3000 * u32::from(seq),
        ssrc,
        ..Default::default()
    }
}

/// The RTCP packets of every datagram sent to `to`, with the socket they left from.
fn rtcp_to(tx: &VecTransmit, to: SocketAddr) -> Vec<(SockId, Vec<Sent>)> {
    tx.sent
        .iter()
        .filter(|(_, t, b)| *t == to && classify(b) == PacketKind::Rtcp)
        .map(|(sock, _, b)| {
            let packets = rtcp::compound(b)
                .map(|p| match p.expect("Sluice sends valid RTCP") {
                    RtcpPacket::SenderReport(sr) => {
                        Sent::Sr(sr.sender_info(), sr.report_blocks().len())
                    }
                    RtcpPacket::ReceiverReport(rr) => {
                        Sent::Rr(rr.ssrc(), rr.report_blocks().collect())
                    }
                    RtcpPacket::Sdes(s) => Sent::Sdes(
                        s.chunks()
                            .map(|c| (c.ssrc(), c.cname().unwrap_or_default().to_vec()))
                            .collect(),
                    ),
                    RtcpPacket::Pli(p) => Sent::Pli(p.sender_ssrc, p.media_ssrc),
                    RtcpPacket::Fir(f) => Sent::Fir(f.sender_ssrc(), f.entries().collect()),
                    other => Sent::Other(other.packet_type()),
                })
                .collect();
            (*sock, packets)
        })
        .collect()
}

/// The key frame requests (PLI or FIR media SSRCs) in what was sent to `to`.
fn requests_to(tx: &VecTransmit, to: SocketAddr) -> Vec<Sent> {
    rtcp_to(tx, to)
        .into_iter()
        .flat_map(|(_, p)| p)
        .filter(|p| matches!(p, Sent::Pli(..) | Sent::Fir(..)))
        .collect()
}

fn pli(sender: u32, media: u32) -> Vec<u8> {
    let mut b = vec![0u8; 12];
    write_pli(&mut b, sender, media).unwrap();
    b
}

fn fir(sender: u32, target: u32, seq: u8) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    write_fir(&mut b, sender, &[(target, seq)]).unwrap();
    b
}

fn ssrc_of(c: &ConsumeReply) -> u32 {
    c.rtp_parameters.encodings[0].ssrc.unwrap()
}

const PRODUCER: &str = "10.0.0.1:5000";

#[test]
fn consumer_pli_reaches_the_producer_with_its_ssrc_and_is_rate_limited() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let producer = room.produce(&send, MediaKind::Video, 2222, Some("cam"));
    let legs = [
        room.transport("10.0.1.1:6000"),
        room.transport("10.0.1.2:6000"),
    ];
    let consumers: Vec<ConsumeReply> = legs
        .iter()
        .map(|l| room.consume(l, producer, false))
        .collect();

    // Both consumers' creation asked for a key frame: one PLI answers both.
    let tx = room.timeout(0);
    let reqs = rtcp_to(&tx, send.remote);
    assert_eq!(reqs.len(), 1, "one datagram to the producer: {reqs:?}");
    let (sock, packets) = &reqs[0];
    assert_eq!(
        *sock, send.sock,
        "sent from the producer transport's socket"
    );
    let [Sent::Pli(sender, 2222)] = packets[..] else {
        panic!("a lone PLI for the producer's SSRC (reduced size): {packets:?}")
    };
    assert!(consumers.iter().all(|c| ssrc_of(c) != sender));

    // The key frame closes the window: the next consumer PLI goes straight through.
    room.rtp(&send, 100, vp8(1, 2222), &VP8_KEY);
    let tx = room.feed(&legs[0], 200, &mut pli(0xAAAA, ssrc_of(&consumers[0])));
    assert_eq!(requests_to(&tx, send.remote), vec![Sent::Pli(sender, 2222)]);
    // Within 1 s and without a key frame, the other consumer's PLI is merged into it.
    room.rtp(&send, 250, vp8(2, 2222), &VP8_DELTA);
    let tx = room.feed(&legs[1], 300, &mut pli(0xBBBB, ssrc_of(&consumers[1])));
    assert!(tx.sent.is_empty(), "suppressed: {:?}", tx.sent);
    assert_eq!(room.core.counters().key_frame_requests_suppressed, 1);
    // A PLI naming an SSRC that is no consumer of that transport asks nothing.
    let tx = room.feed(&legs[1], 350, &mut pli(0xBBBB, ssrc_of(&consumers[0])));
    assert!(tx.sent.is_empty());
    // No key frame came within the window: the request is repeated once, then nothing more.
    assert!(requests_to(&room.timeout(1100), send.remote).is_empty());
    assert_eq!(
        requests_to(&room.timeout(1200), send.remote),
        vec![Sent::Pli(sender, 2222)]
    );
    assert!(requests_to(&room.run_timers(1300, 3000), send.remote).is_empty());
    assert_eq!(room.core.counters().key_frame_requests_sent, 3);
    assert_eq!(room.consumer_stats(consumers[1].id)["pliCount"], 1);
    let pstats = room.core.producer_stats(producer).unwrap();
    assert_eq!(pstats[0]["pliCount"], 3);
}

#[test]
fn fir_is_relayed_with_the_producers_own_sequence_numbers() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let producer = room.produce(&send, MediaKind::Video, 2222, Some("cam"));
    let leg = room.transport("10.0.1.1:6000");
    let c = room.consume(&leg, producer, false);
    room.timeout(0); // the creation's PLI
    room.rtp(&send, 10, vp8(1, 2222), &VP8_KEY);

    let tx = room.feed(&leg, 20, &mut fir(0xAAAA, ssrc_of(&c), 7));
    let [Sent::Fir(sender, ref entries)] = requests_to(&tx, send.remote)[..] else {
        panic!("a FIR to the producer")
    };
    assert_eq!(entries, &vec![(2222, 0)]);
    room.rtp(&send, 30, vp8(2, 2222), &VP8_KEY);
    // A repeated command sequence number is the same request (RFC 5104 §4.3.1.2).
    assert!(
        room.feed(&leg, 40, &mut fir(0xAAAA, ssrc_of(&c), 7))
            .sent
            .is_empty()
    );
    let tx = room.feed(&leg, 50, &mut fir(0xAAAA, ssrc_of(&c), 8));
    assert_eq!(
        requests_to(&tx, send.remote),
        vec![Sent::Fir(sender, vec![(2222, 1)])],
        "a new request: the producer's sequence number moves on"
    );
}

#[test]
fn key_frames_are_requested_on_create_resume_and_api_for_video_only() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let video = room.produce(&send, MediaKind::Video, 2222, Some("cam"));
    let audio = room.produce(&send, MediaKind::Audio, 1111, Some("cam"));
    let leg = room.transport("10.0.1.1:6000");
    let mut ms = 0;
    let next_request = |room: &mut Room, ms: &mut u64| {
        // Close any window first with a key frame, then run the timers.
        *ms += 100;
        room.rtp(&send, *ms, vp8(*ms as u16, 2222), &VP8_KEY);
        *ms += 100;
        requests_to(&room.timeout(*ms), send.remote)
    };

    let paused = room.consume(&leg, video, true);
    room.consume(&leg, audio, false);
    assert!(
        next_request(&mut room, &mut ms).is_empty(),
        "paused and audio consumers ask nothing"
    );
    room.core.set_consumer_paused(paused.id, false).unwrap();
    assert_eq!(next_request(&mut room, &mut ms).len(), 1, "resume asks");
    room.core.set_consumer_paused(paused.id, false).unwrap();
    assert!(
        next_request(&mut room, &mut ms).is_empty(),
        "resuming twice asks once"
    );
    room.core.request_key_frame(paused.id).unwrap();
    assert_eq!(next_request(&mut room, &mut ms).len(), 1, "the API asks");
    room.core.set_producer_paused(video, true).unwrap();
    room.core.request_key_frame(paused.id).unwrap();
    assert!(
        next_request(&mut room, &mut ms).is_empty(),
        "inactive: producer paused"
    );
    room.core.set_producer_paused(video, false).unwrap();
    assert_eq!(
        next_request(&mut room, &mut ms).len(),
        1,
        "producer resume asks"
    );
    let fresh = room.consume(&leg, video, false);
    let due = room.core.poll_timeout();
    assert!(
        due.is_some_and(|t| t <= room.at(ms)),
        "due at once: {due:?}"
    );
    assert_eq!(
        next_request(&mut room, &mut ms).len(),
        1,
        "an unpaused consumer asks"
    );
    assert!(room.core.request_key_frame(Uuid::new_v4()).is_err());
    room.core.close_consumer(fresh.id).unwrap();
}

#[test]
fn sender_reports_carry_the_consumer_ssrc_counts_and_mapped_timestamps() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let video = room.produce(&send, MediaKind::Video, 2222, Some("alice"));
    let audio = room.produce(&send, MediaKind::Audio, 1111, None);
    let leg = room.transport("10.0.1.1:6000");
    let cv = room.consume(&leg, video, false);
    let ca = room.consume(&leg, audio, false);
    assert_eq!(
        ca.rtp_parameters.rtcp.cname.as_deref(),
        Some("alice"),
        "a producer without CNAME takes its transport's"
    );

    // 30 fps video (3000 ticks a frame), 50 pps audio (960 ticks), 200 ms of each.
    let mut offsets = (None, None);
    let mut payload_v = 0;
    for i in 0..6u16 {
        let tx = room.rtp(&send, 33 * u64::from(i), vp8(i, 2222), &VP8_DELTA);
        let p = RtpPacket::parse(&tx.sent[0].2).unwrap();
        offsets.0 = Some(p.timestamp().wrapping_sub(3000 * u32::from(i)));
        payload_v += VP8_DELTA.len();
    }
    for i in 0..10u16 {
        let h = RtpHeader {
            payload_type: 100,
            sequence: i,
            timestamp: 960 * u32::from(i),
            ssrc: 1111,
            ..Default::default()
        };
        let tx = room.rtp(&send, 20 * u64::from(i), h, &[0xAB; 50]);
        let p = RtpPacket::parse(&tx.sent[0].2).unwrap();
        offsets.1 = Some(p.timestamp().wrapping_sub(960 * u32::from(i)));
    }
    let (off_v, off_a) = (offsets.0.unwrap(), offsets.1.unwrap());

    // The sender's SRs: its own NTP clock (10 s behind Sluice's), both at 250 ms.
    let sender_ntp = |ms: u64| -> (u32, u32) {
        let t = UNIX0 - Duration::from_secs(10) + Duration::from_millis(ms);
        let frac = ((u64::from(t.subsec_nanos()) << 32) / 1_000_000_000) as u32;
        ((t.as_secs() + 2_208_988_800) as u32, frac)
    };
    let (sec, frac) = sender_ntp(250);
    let mut buf = [0u8; 64];
    for (ssrc, rtp) in [(2222, 22_500u32), (1111, 12_000u32)] {
        let info = SenderInfo {
            ssrc,
            ntp_sec: sec,
            ntp_frac: frac,
            rtp_timestamp: rtp,
            packet_count: 1,
            octet_count: 1,
        };
        let n = write_sender_report(&mut buf, &info, &[]).unwrap();
        let tx = room.feed(&send, 250, &mut buf[..n]);
        assert!(tx.sent.is_empty(), "a producer's SR is not forwarded");
    }

    let tx = room.run_timers(300, 6000);
    let mut srs = Vec::new();
    for (sock, packets) in rtcp_to(&tx, leg.remote) {
        assert_eq!(sock, leg.sock);
        assert!(
            matches!(packets[0], Sent::Sr(..)),
            "compound starts with SR"
        );
        let Some(Sent::Sdes(chunks)) = packets.last() else {
            panic!("SDES closes the compound: {packets:?}")
        };
        for p in &packets {
            if let Sent::Sr(info, 0) = p {
                assert!(chunks.contains(&(info.ssrc, b"alice".to_vec())));
                srs.push(*info);
            }
        }
    }
    let video_srs: Vec<_> = srs.iter().filter(|s| s.ssrc == ssrc_of(&cv)).collect();
    let audio_srs: Vec<_> = srs.iter().filter(|s| s.ssrc == ssrc_of(&ca)).collect();
    assert!(
        video_srs.len() >= 3,
        "video every 1–1.5 s: {}",
        video_srs.len()
    );
    assert!(
        !audio_srs.is_empty() && audio_srs.len() < video_srs.len(),
        "audio at most every ~5 s"
    );
    assert!(!srs.iter().any(|s| s.ssrc == 2222 || s.ssrc == 1111));
    let ntp_ms = |s: &SenderInfo| -> f64 {
        let secs = f64::from(s.ntp_sec) - 2_208_988_800.0 - UNIX0.as_secs() as f64;
        (secs + f64::from(s.ntp_frac) / 4_294_967_296.0) * 1000.0
    };
    for s in &video_srs {
        assert_eq!((s.packet_count, s.octet_count), (6, payload_v as u32));
    }
    for s in &audio_srs {
        assert_eq!((s.packet_count, s.octet_count), (10, 500));
    }
    // Each SR's RTP timestamp, less the consumer's offset, is the producer's SR timestamp
    // moved forward by the time since that SR arrived (Sluice's NTP is ms after start).
    for (list, rate, sr_rtp, off) in [
        (&video_srs, 90.0, 22_500u32, off_v),
        (&audio_srs, 48.0, 12_000u32, off_a),
    ] {
        for s in list.iter() {
            let elapsed = ntp_ms(s) - 250.0;
            let expected = f64::from(sr_rtp) + elapsed * rate;
            let got = f64::from(s.rtp_timestamp.wrapping_sub(off));
            assert!((got - expected).abs() <= 1.0, "{got} vs {expected}");
        }
    }
    // Lip sync: the two streams' SRs put the same sender time on the same Sluice time.
    let sender_time = |s: &SenderInfo, rate: f64, sr_rtp: u32, off: u32| -> f64 {
        250.0 + f64::from(s.rtp_timestamp.wrapping_sub(off).wrapping_sub(sr_rtp)) / rate
    };
    let dv = ntp_ms(video_srs[0]) - sender_time(video_srs[0], 90.0, 22_500, off_v);
    let da = ntp_ms(audio_srs[0]) - sender_time(audio_srs[0], 48.0, 12_000, off_a);
    assert!((dv - da).abs() < 0.1, "audio/video offset {dv} vs {da} ms");
}

#[test]
fn sender_reports_before_the_producers_first_sr_extrapolate_the_last_packet() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let video = room.produce(&send, MediaKind::Video, 2222, Some("cam"));
    let leg = room.transport("10.0.1.1:6000");
    let idle = room.transport("10.0.1.2:6000");
    let c = room.consume(&leg, video, false);
    room.consume(&idle, video, true);
    let tx = room.rtp(&send, 100, vp8(0, 2222), &VP8_DELTA);
    let out_ts = RtpPacket::parse(&tx.sent[0].2).unwrap().timestamp();
    let tx = room.run_timers(0, 3000);
    assert!(
        rtcp_to(&tx, idle.remote).is_empty(),
        "a paused consumer sends no SR"
    );
    let first = rtcp_to(&tx, leg.remote)
        .into_iter()
        .flat_map(|(_, p)| p)
        .find_map(|p| match p {
            Sent::Sr(info, _) => Some(info),
            _ => None,
        })
        .expect("an SR");
    assert_eq!(first.ssrc, ssrc_of(&c));
    let ms = (f64::from(first.ntp_sec) - 2_208_988_800.0 - UNIX0.as_secs() as f64) * 1000.0
        + f64::from(first.ntp_frac) / 4_294_967.296;
    let expected = f64::from(out_ts) + (ms - 100.0) * 90.0;
    assert!((f64::from(first.rtp_timestamp) - expected).abs() <= 1.0);

    // Paused, then resumed: no SR until a packet fixes the new timestamp offset.
    room.core.set_consumer_paused(c.id, true).unwrap();
    assert!(rtcp_to(&room.run_timers(3000, 5000), leg.remote).is_empty());
    room.core.set_consumer_paused(c.id, false).unwrap();
    assert!(rtcp_to(&room.run_timers(5000, 7000), leg.remote).is_empty());
    room.rtp(&send, 7000, vp8(1, 2222), &VP8_DELTA);
    assert!(!rtcp_to(&room.run_timers(7000, 9000), leg.remote).is_empty());
}

/// Collects the report blocks about `ssrc` in RRs sent to `to`, with the RR's sender.
fn rr_blocks(tx: &VecTransmit, to: SocketAddr, ssrc: u32) -> Vec<(u32, ReportBlock)> {
    rtcp_to(tx, to)
        .into_iter()
        .flat_map(|(_, p)| p)
        .filter_map(|p| match p {
            Sent::Rr(sender, blocks) => blocks
                .into_iter()
                .find(|b| b.ssrc == ssrc)
                .map(|b| (sender, b)),
            _ => None,
        })
        .collect()
}

#[test]
fn receiver_reports_to_the_producer_count_loss_jitter_and_echo_its_sr() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    room.produce(&send, MediaKind::Video, 2222, Some("cam"));
    room.timeout(0);
    // 100 packets over the first second, 10 of them lost (every tenth), perfectly paced.
    // 100 fps at 90 kHz: 900 ticks and 10 ms apart; after a pause from 1 s to 2.6 s the
    // timestamps jump with the clock, so only the wobble below makes jitter.
    let pkt = |i: u16| RtpHeader {
        timestamp: 900 * u32::from(i) + if i >= 100 { 90 * 1600 } else { 0 },
        ..vp8(65_500u16.wrapping_add(i), 2222)
    };
    for i in 0..100u16 {
        if i % 10 != 5 {
            room.rtp(&send, 10 * u64::from(i), pkt(i), &[0; 4]);
        }
    }
    // 65_500 + 99 wraps: the extended highest sequence number is in cycle 1.
    let highest = 65_500u32 + 99;
    let mut buf = [0u8; 64];
    let info = SenderInfo {
        ssrc: 2222,
        ntp_sec: 0x1234_5678,
        ntp_frac: 0x9abc_def0,
        ..Default::default()
    };
    let n = write_sender_report(&mut buf, &info, &[]).unwrap();
    room.feed(&send, 990, &mut buf[..n]);
    let tx = room.run_timers(1000, 2600);
    let blocks = rr_blocks(&tx, send.remote, 2222);
    let (sender, b) = blocks.first().expect("an RR about the producer's stream");
    assert_eq!(b.fraction_lost, (10 * 256 / 100) as u8);
    assert_eq!(b.cumulative_lost, 10);
    assert_eq!(b.highest_seq, highest);
    assert_eq!(b.jitter, 0, "perfect pacing");
    assert_eq!(
        b.lsr, 0x5678_9abc,
        "middle 32 bits of the SR's NTP timestamp"
    );
    assert!(
        b.dlsr > 0 && b.dlsr < 3 * 65_536,
        "delay since that SR in 1/65536 s"
    );
    // The SDES names the RR's sender.
    let datagram = rtcp_to(&tx, send.remote);
    assert!(datagram.iter().all(|(s, _)| *s == send.sock));
    assert!(datagram.iter().any(|(_, p)| {
        p.iter()
            .any(|x| matches!(x, Sent::Sdes(c) if c.iter().any(|(s, _)| s == sender)))
    }));

    // Next second: nothing lost, arrivals wobbling by 0/7 ms → no new loss, jitter > 0.
    for i in 100..200u16 {
        let wobble = if i % 2 == 0 { 7 } else { 0 };
        room.rtp(&send, 10 * u64::from(i) + 1600 + wobble, pkt(i), &[0; 4]);
    }
    let tx = room.run_timers(3700, 5300);
    let (_, b) = rr_blocks(&tx, send.remote, 2222)[0];
    assert_eq!(b.fraction_lost, 0, "nothing lost in this interval");
    assert_eq!(b.cumulative_lost, 10);
    assert_eq!(b.highest_seq, highest + 100);
    assert!(b.jitter > 0);
}

#[test]
fn consumer_receiver_reports_update_its_stats_and_are_not_forwarded() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let video = room.produce(&send, MediaKind::Video, 2222, Some("cam"));
    let leg = room.transport("10.0.1.1:6000");
    let c = room.consume(&leg, video, false);
    room.timeout(0);
    room.rtp(&send, 10, vp8(1, 2222), &VP8_KEY);
    let tx = room.run_timers(100, 1700);
    let sr = rtcp_to(&tx, leg.remote)
        .into_iter()
        .flat_map(|(_, p)| p)
        .find_map(|p| match p {
            Sent::Sr(info, _) => Some(info),
            _ => None,
        })
        .expect("an SR to the consumer");
    let sr_ms = {
        let secs = f64::from(sr.ntp_sec) - 2_208_988_800.0 - UNIX0.as_secs() as f64;
        ((secs + f64::from(sr.ntp_frac) / 4_294_967_296.0) * 1000.0).round() as u64
    };
    // The consumer answers 40 ms after the SR, having held it 10 ms: RTT 30 ms.
    let block = ReportBlock {
        ssrc: ssrc_of(&c),
        fraction_lost: 3,
        cumulative_lost: 4,
        lsr: ((u64::from(sr.ntp_sec) << 16) | (u64::from(sr.ntp_frac) >> 16)) as u32,
        dlsr: 655,
        ..Default::default()
    };
    let mut buf = [0u8; 64];
    let n = write_receiver_report(&mut buf, 0xCCCC, &[block]).unwrap();
    let tx = room.feed(&leg, sr_ms + 40, &mut buf[..n]);
    assert!(
        tx.sent.is_empty(),
        "nothing forwarded to the producer: {:?}",
        tx.sent
    );
    let stats = room.consumer_stats(c.id);
    assert_eq!(stats["fractionLost"], 3);
    assert_eq!(stats["packetsLost"], 4);
    let rtt = stats["roundTripTime"].as_f64().unwrap();
    assert!((rtt - 30.0).abs() < 1.0, "rtt {rtt} ms");
    // And whatever the router sends the producer later holds only its own RR about 2222.
    let tx = room.run_timers(sr_ms + 100, sr_ms + 3000);
    for (_, packets) in rtcp_to(&tx, send.remote) {
        for p in packets {
            if let Sent::Rr(sender, blocks) = p {
                assert_ne!(sender, 0xCCCC);
                assert!(blocks.iter().all(|b| b.ssrc == 2222));
            }
        }
    }
}

#[test]
fn reports_wait_for_a_remote_and_for_media() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let video = room.produce(&send, MediaKind::Video, 2222, Some("cam"));
    let leg = room.transport("10.0.1.1:6000");
    room.consume(&leg, video, true);
    // No packets yet on either side: no SR, no RR.
    let tx = room.run_timers(0, 3000);
    assert!(tx.sent.is_empty(), "{:?}", tx.sent);
    assert!(room.core.poll_timeout().is_some());
}

#[test]
fn random_rtcp_from_every_side_never_panics_and_only_valid_rtcp_goes_out() {
    let mut room = Room::new();
    let send = room.transport(PRODUCER);
    let video = room.produce(&send, MediaKind::Video, 2222, Some("cam"));
    let audio = room.produce(&send, MediaKind::Audio, 1111, None);
    let legs = [
        room.transport("10.0.1.1:6000"),
        room.transport("10.0.1.2:6000"),
    ];
    let mut ssrcs = vec![1111u32, 2222, 0, 7];
    let mut ids = Vec::new();
    for leg in &legs {
        for (p, paused) in [(video, false), (audio, false), (video, true)] {
            let c = room.consume(leg, p, paused);
            ssrcs.push(ssrc_of(&c));
            ids.push(c.id);
        }
    }
    let all = [send, legs[0], legs[1]];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ms = 0;
    let mut buf = [0u8; 512];
    for step in 0..20_000u32 {
        ms += next() % 40;
        let leg = all[(next() % 3) as usize];
        let pick = |r: u64| ssrcs[(r % ssrcs.len() as u64) as usize];
        let (a, b) = (pick(next()), pick(next()));
        let n = match next() % 8 {
            0 => write_pli(&mut buf, a, b).unwrap(),
            1 => write_fir(&mut buf, a, &[(b, next() as u8), (a, next() as u8)]).unwrap(),
            2 => {
                let block = ReportBlock {
                    ssrc: b,
                    lsr: next() as u32,
                    dlsr: next() as u32,
                    fraction_lost: next() as u8,
                    cumulative_lost: next() as i32 >> 8,
                    ..Default::default()
                };
                write_receiver_report(&mut buf, a, &[block, block]).unwrap()
            }
            3 => {
                let info = SenderInfo {
                    ssrc: a,
                    ntp_sec: next() as u32,
                    ntp_frac: next() as u32,
                    rtp_timestamp: next() as u32,
                    ..Default::default()
                };
                write_sender_report(&mut buf, &info, &[]).unwrap()
            }
            4 => {
                let payload = if next() % 4 == 0 { VP8_KEY } else { VP8_DELTA };
                let h = RtpHeader {
                    payload_type: if next() % 2 == 0 { 96 } else { 100 },
                    ..vp8(next() as u16, if next() % 2 == 0 { 2222 } else { 1111 })
                };
                write_rtp(&mut buf, &h, &[], &payload).unwrap()
            }
            5 => {
                let id = ids[(next() % ids.len() as u64) as usize];
                match next() % 3 {
                    0 => room.core.set_consumer_paused(id, next() % 2 == 0).unwrap(),
                    1 => room.core.request_key_frame(id).unwrap(),
                    _ => room
                        .core
                        .set_producer_paused(video, next() % 2 == 0)
                        .unwrap(),
                }
                continue;
            }
            _ => {
                let tx = room.timeout(ms);
                for (_, _, b) in &tx.sent {
                    rtcp::validate_compound(b).expect("timers send valid RTCP only");
                }
                continue;
            }
        };
        // Random corruption of one byte now and then.
        if step % 7 == 0 {
            let i = (next() % n as u64) as usize;
            buf[i] ^= next() as u8;
        }
        let tx = room.feed(&leg, ms, &mut buf[..n]);
        for (sock, to, b) in &tx.sent {
            if classify(b) == PacketKind::Rtcp {
                rtcp::validate_compound(b).expect("valid RTCP");
                assert_eq!(
                    (*sock, *to),
                    (send.sock, send.remote),
                    "only to the producer"
                );
            } else {
                assert!(RtpPacket::parse(b).is_ok());
            }
        }
    }
    assert!(room.core.counters().key_frame_requests_sent > 0);
}
