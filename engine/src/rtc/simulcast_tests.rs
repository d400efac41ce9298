//! Sans-IO scenario tests of simulcast (`rtp_listener.rs`, `simulcast_consumer.rs`,
//! `core_simulcast.rs`): a producer announces three encodings by RID only, as
//! mediasoup-client does for `encodings: [{rid: 'r0'}, {rid: 'r1'}, {rid: 'r2'}]`; its
//! endpoint sends each layer on an SSRC the router has never heard of, naming MID and RID in
//! header extensions. A simulated clock drives the timers. Checks that the SSRCs are learnt,
//! that the consumer forwards one layer with continuous sequence numbers and timestamps,
//! switches at key frames after a key frame request to the right SSRC, falls back when a
//! layer stops and goes back up when it returns, and that RTX streams are recognised by their
//! repaired RID.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::rtp_parameters::{MediaKind, RtpCapabilities, RtpCodecCapability, RtpParameters};
use super::supported_rtp_capabilities::{MID_URI, REPAIRED_RTP_STREAM_ID_URI, RTP_STREAM_ID_URI};
use super::*;
use crate::net::{SockId, VecTransmit};
use crate::wire::demux::{PacketKind, classify};
use crate::wire::rtcp::{self, RtcpPacket, SenderInfo, write_pli, write_sender_report};
use crate::wire::rtp::{RtpHeader, RtpPacket, write_rtp};

const PRODUCER: &str = "10.0.0.1:5000";
const VIEWER: &str = "10.0.0.2:6000";
/// Extension ids the producer's endpoint uses.
const MID_ID: u8 = 1;
const RID_ID: u8 = 2;
const RRID_ID: u8 = 3;
/// SSRC of layer `l` as the endpoint picks it (never announced).
const fn ssrc(l: usize) -> u32 {
    0x5100 + l as u32
}
/// Each layer's RTP timestamps start somewhere else (RFC 3550 §5.1: random per stream).
const TS_BASE: [u32; 3] = [1_000, 700_000, 4_000_000_000];
/// Frame interval (30 fps) in ms and in 90 kHz ticks.
const FRAME_MS: u64 = 33;
const FRAME_TICKS: u32 = 3000;
const UNIX0: Duration = Duration::from_secs(1_800_000_000);

struct Room {
    core: WorkerCore,
    router: Uuid,
    caps: RtpCapabilities,
    t0: Instant,
    send: Leg,
    recv: Leg,
    /// Next sequence number of each layer.
    seq: [u16; 3],
}

#[derive(Clone, Copy)]
struct Leg {
    transport: Uuid,
    sock: SockId,
    remote: SocketAddr,
}

/// One forwarded packet as the viewer sees it.
#[derive(Debug, Clone, Copy)]
struct Out {
    seq: u16,
    ts: u32,
    ssrc: u32,
    /// The layer it came from (first payload byte after the VP8 descriptor, see `frame`).
    layer: u8,
    frame: u32,
}

impl Room {
    fn new() -> Self {
        let mut core = WorkerCore::new();
        let router = Uuid::new_v4();
        let codecs: Vec<RtpCodecCapability> = serde_json::from_value(json!([
            {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
        ]))
        .unwrap();
        let caps = core
            .create_router(router, &codecs)
            .unwrap()
            .rtp_capabilities;
        let t0 = Instant::now();
        core.set_wall_clock(t0, UNIX0);
        let mut room = Self {
            core,
            router,
            caps,
            t0,
            send: Leg {
                transport: Uuid::nil(),
                sock: SockId(0),
                remote: PRODUCER.parse().unwrap(),
            },
            recv: Leg {
                transport: Uuid::nil(),
                sock: SockId(0),
                remote: VIEWER.parse().unwrap(),
            },
            seq: [100, 20_000, 65_500],
        };
        room.send = room.transport(PRODUCER, 1);
        room.recv = room.transport(VIEWER, 2);
        room
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn transport(&mut self, remote: &str, sock: u32) -> Leg {
        let id = Uuid::new_v4();
        let sock = SockId(sock);
        let local = SocketAddr::from(([127, 0, 0, 1], 40_000 + sock.0 as u16));
        let options = PlainTransportOptions {
            comedia: false,
            rtcp_mux: true,
            app_data: json!(null),
        };
        self.core
            .create_plain_transport(self.router, id, (sock, local), None, options)
            .unwrap();
        let remote: SocketAddr = remote.parse().unwrap();
        self.core
            .connect_plain_transport(id, remote.ip(), remote.port(), None)
            .unwrap();
        Leg {
            transport: id,
            sock,
            remote,
        }
    }

    /// A VP8 producer of three RID-only encodings (with RTX), `mid` if given.
    fn produce(&mut self, mid: Option<&str>) -> Result<Uuid, RtcError> {
        let id = Uuid::new_v4();
        let mut params = json!({
            "codecs": [
                {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                 "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"},
                                  {"type": "ccm", "parameter": "fir"}]},
                {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000,
                 "parameters": {"apt": 96}}
            ],
            "headerExtensions": [
                {"uri": MID_URI, "id": MID_ID},
                {"uri": RTP_STREAM_ID_URI, "id": RID_ID},
                {"uri": REPAIRED_RTP_STREAM_ID_URI, "id": RRID_ID}
            ],
            "encodings": [
                {"rid": "r0", "scalabilityMode": "L1T3"},
                {"rid": "r1", "scalabilityMode": "L1T3"},
                {"rid": "r2", "scalabilityMode": "L1T3"}
            ],
            "rtcp": {"cname": "sim"}
        });
        if let Some(m) = mid {
            params["mid"] = json!(m);
        }
        let rtp_parameters: RtpParameters = serde_json::from_value(params).unwrap();
        let options = ProduceOptions {
            id,
            kind: MediaKind::Video,
            rtp_parameters,
            paused: false,
            app_data: json!(null),
        };
        let reply = self.core.produce(self.send.transport, options)?;
        assert_eq!(reply.type_, "simulcast");
        Ok(id)
    }

    fn consume(&mut self, producer: Uuid) -> ConsumeReply {
        let options = ConsumeOptions {
            id: Uuid::new_v4(),
            producer_id: producer,
            rtp_capabilities: self.caps.clone(),
            paused: false,
            app_data: json!(null),
        };
        self.core.consume(self.recv.transport, options).unwrap()
    }

    fn feed(&mut self, from: Leg, ms: u64, bytes: &mut [u8]) -> VecTransmit {
        let mut tx = VecTransmit::default();
        let now = self.at(ms);
        self.core
            .handle_datagram(now, from.sock, from.remote, bytes, &mut tx);
        tx
    }

    /// Frame `frame` of layer `l` as one packet at its time, naming MID and RID when `named`.
    fn frame(&mut self, l: usize, frame: u32, key: bool, named: bool) -> VecTransmit {
        let seq = self.seq[l];
        self.seq[l] = seq.wrapping_add(1);
        let h = RtpHeader {
            marker: true,
            payload_type: 96,
            sequence: seq,
            timestamp: TS_BASE[l].wrapping_add(FRAME_TICKS * frame),
            ssrc: ssrc(l),
        };
        // VP8 payload descriptor (S=1, PID=0) and header (P=0 for a key frame), then the
        // layer and frame number for the test to read back.
        let mut payload = [
            0x10,
            if key { 0x00 } else { 0x01 },
            0x9d,
            0x01,
            0,
            0,
            0,
            0,
            0,
        ];
        payload[4] = l as u8;
        payload[5..9].copy_from_slice(&frame.to_be_bytes());
        let rid = [b'r', b'0' + l as u8];
        let ext: &[(u8, &[u8])] = if named {
            &[(MID_ID, b"0"), (RID_ID, &rid)]
        } else {
            &[]
        };
        let mut buf = [0u8; 200];
        let n = write_rtp(&mut buf, &h, ext, &payload).unwrap();
        let ms = u64::from(frame) * FRAME_MS;
        let send = self.send;
        self.feed(send, ms, &mut buf[..n])
    }

    /// One frame time: `layers` each send frame `frame`; what reached the viewer.
    fn tick(&mut self, frame: u32, layers: &[usize], key: &[usize], named: bool) -> Vec<Out> {
        let mut out = Vec::new();
        for &l in layers {
            let tx = self.frame(l, frame, key.contains(&l), named);
            out.extend(rtp_to(&tx, self.recv.remote));
        }
        out
    }

    /// The producer's sender report for layer `l` at `ms`: its NTP time and the RTP time of
    /// that moment on the layer's clock.
    fn sender_report(&mut self, l: usize, ms: u64) {
        let ntp = ((UNIX0.as_secs() + 2_208_988_800) << 32) + (ms << 32) / 1000;
        let info = SenderInfo {
            ssrc: ssrc(l),
            ntp_sec: (ntp >> 32) as u32,
            ntp_frac: ntp as u32,
            rtp_timestamp: TS_BASE[l].wrapping_add((ms * 90) as u32),
            packet_count: 1,
            octet_count: 1,
        };
        let mut b = [0u8; 28];
        write_sender_report(&mut b, &info, &[]).unwrap();
        let send = self.send;
        self.feed(send, ms, &mut b);
    }

    fn timeout(&mut self, ms: u64) -> VecTransmit {
        let mut tx = VecTransmit::default();
        let now = self.at(ms);
        self.core.handle_timeout(now, &mut tx);
        tx
    }

    /// Key frame requests (media SSRCs of PLIs) sent to the producer by the timers at `ms`.
    fn plis_at(&mut self, ms: u64) -> Vec<u32> {
        let tx = self.timeout(ms);
        plis_to(&tx, self.send.remote)
    }

    fn layers_events(&mut self) -> Vec<Option<u8>> {
        self.core
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::ConsumerLayersChange { layers, .. } => Some(layers.map(|l| l.spatial_layer)),
                _ => None,
            })
            .collect()
    }

    fn current_layer(&self, consumer: Uuid) -> serde_json::Value {
        self.core.dump_consumer(consumer).unwrap()["currentLayers"].clone()
    }
}

fn rtp_to(tx: &VecTransmit, to: SocketAddr) -> Vec<Out> {
    tx.sent
        .iter()
        .filter(|(_, t, b)| *t == to && classify(b) == PacketKind::Rtp)
        .map(|(_, _, b)| {
            let p = RtpPacket::parse(b).unwrap();
            let pl = p.payload();
            Out {
                seq: p.sequence(),
                ts: p.timestamp(),
                ssrc: p.ssrc(),
                layer: pl[4],
                frame: u32::from_be_bytes(pl[5..9].try_into().unwrap()),
            }
        })
        .collect()
}

fn plis_to(tx: &VecTransmit, to: SocketAddr) -> Vec<u32> {
    tx.sent
        .iter()
        .filter(|(_, t, b)| *t == to && classify(b) == PacketKind::Rtcp)
        .flat_map(|(_, _, b)| {
            rtcp::compound(b)
                .filter_map(|p| match p.unwrap() {
                    RtcpPacket::Pli(p) => Some(p.media_ssrc),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Sequence numbers step by one, timestamps never go backwards, one SSRC.
fn assert_continuous(out: &[Out], consumer_ssrc: u32) {
    for w in out.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "seq gap in {w:?}");
        assert!(
            (w[1].ts.wrapping_sub(w[0].ts) as i32) > 0,
            "timestamp did not advance in {w:?}"
        );
    }
    assert!(out.iter().all(|o| o.ssrc == consumer_ssrc));
}

/// A room with the producer's three layers flowing (key frames first, MID and RID on the
/// first packets only) and one consumer that settled on the top layer.
fn settled() -> (Room, ConsumeReply, Vec<Out>) {
    let mut room = Room::new();
    let producer = room.produce(Some("0")).unwrap();
    let consumer = room.consume(producer);
    assert_eq!(consumer.type_, "simulcast");
    let enc = &consumer.rtp_parameters.encodings;
    assert_eq!(enc.len(), 1, "a simulcast consumer sends one stream");
    assert_eq!(enc[0].scalability_mode.as_deref(), Some("L3T3"));
    let mut out = Vec::new();
    out.extend(room.tick(0, &[0, 1, 2], &[0, 1, 2], true));
    for f in 1..10 {
        out.extend(room.tick(f, &[0, 1, 2], &[], f < 3));
    }
    (room, consumer, out)
}

#[test]
fn rid_mapped_layers_are_learnt_and_only_the_top_layer_is_forwarded() {
    let (mut room, consumer, out) = settled();
    let ssrc_out = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    assert_eq!(
        room.core.counters().drops_of(DropReason::UnknownSsrc),
        0,
        "every SSRC was learnt from MID and RID"
    );
    // The key frames of frame 0 arrive layer by layer: each one is a better target.
    assert_eq!(room.layers_events(), vec![Some(0), Some(1), Some(2)]);
    // From then on only layer 2, without a gap, packets without MID/RID included.
    let top: Vec<&Out> = out.iter().skip_while(|o| o.layer != 2).collect();
    assert_eq!(top.len(), 10);
    assert!(top.iter().all(|o| o.layer == 2));
    assert_eq!(
        top.iter().map(|o| o.frame).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert_continuous(&out, ssrc_out);
    for w in top.windows(2) {
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts), FRAME_TICKS);
    }
    assert_eq!(
        room.current_layer(consumer.id),
        json!({"spatialLayer": 2, "temporalLayer": 2})
    );
    let dump = room.core.dump_consumer(consumer.id).unwrap();
    assert_eq!(dump["type"], "simulcast");
    assert_eq!(
        dump["preferredLayers"],
        json!({"spatialLayer": 2, "temporalLayer": 2})
    );
    let stats = room.core.consumer_stats(consumer.id).unwrap();
    assert_eq!(stats[0]["currentLayers"]["spatialLayer"], 2);
    // The producer's stats show the learnt SSRCs with their RIDs.
    let pstats = room.core.producer_stats(room.producer_id()).unwrap();
    let by_rid: Vec<(String, u64)> = pstats
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["rid"].as_str().unwrap().to_owned(),
                s["ssrc"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_rid,
        vec![
            ("r0".into(), u64::from(ssrc(0))),
            ("r1".into(), u64::from(ssrc(1))),
            ("r2".into(), u64::from(ssrc(2)))
        ]
    );
}

impl Room {
    fn producer_id(&self) -> Uuid {
        let dump = self.core.dump_transport(self.send.transport).unwrap();
        dump["producerIds"][0].as_str().unwrap().parse().unwrap()
    }
}

#[test]
fn preferred_layers_switch_at_the_next_key_frame_of_the_target_with_sr_mapped_timestamps() {
    let (mut room, consumer, mut out) = settled();
    let ssrc_out = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    room.layers_events();
    // Sender reports of layers 0 and 2, at different moments, on their own clocks.
    room.sender_report(0, 100);
    room.sender_report(2, 250);
    room.timeout(300);
    room.core
        .set_consumer_preferred_layers(consumer.id, 0, None)
        .unwrap();
    assert_eq!(
        room.plis_at(330),
        vec![ssrc(0)],
        "a key frame is asked of the target layer's SSRC"
    );
    // Delta frames: the consumer keeps getting layer 2 until layer 0 has a key frame.
    for f in 10..13 {
        let got = room.tick(f, &[0, 1, 2], &[], false);
        assert!(got.iter().all(|o| o.layer == 2) && got.len() == 1);
        out.extend(got);
    }
    let last_top = *out.last().unwrap();
    let got = room.tick(13, &[0, 1, 2], &[0], false);
    assert_eq!(
        got.iter().map(|o| (o.layer, o.frame)).collect::<Vec<_>>(),
        vec![(0, 13)],
        "switched at layer 0's key frame; layer 2 no longer flows"
    );
    assert_eq!(
        got[0].ts.wrapping_sub(last_top.ts),
        FRAME_TICKS,
        "the sender reports map layer 0's clock exactly onto the consumer's"
    );
    out.extend(got);
    for f in 14..20 {
        let got = room.tick(f, &[0, 1, 2], &[], false);
        assert!(got.iter().all(|o| o.layer == 0) && got.len() == 1);
        out.extend(got);
    }
    assert_continuous(&out, ssrc_out);
    assert_eq!(room.layers_events(), vec![Some(0)]);
    assert_eq!(
        room.current_layer(consumer.id),
        json!({"spatialLayer": 0, "temporalLayer": 2})
    );
    // The consumer's PLI goes to the layer it now forwards.
    let mut pli = [0u8; 12];
    write_pli(&mut pli, 0x99, ssrc_out).unwrap();
    let recv = room.recv;
    let tx = room.feed(recv, 2_000, &mut pli);
    assert_eq!(plis_to(&tx, room.send.remote), vec![ssrc(0)]);
    // Sender reports to the consumer now come from layer 0: its SR (NTP 100 ms ↔ RTP
    // TS_BASE[0] + 9000) moved to the report's time, through layer 0's offset.
    let last0 = out.iter().rev().find(|o| o.layer == 0).unwrap();
    let offset0 = last0
        .ts
        .wrapping_sub(TS_BASE[0].wrapping_add(FRAME_TICKS * last0.frame));
    let mut sr = None;
    for ms in (2_100..5_000).step_by(100) {
        let tx = room.timeout(ms);
        let found = tx.sent.iter().find_map(|(_, to, b)| {
            (*to == room.recv.remote && classify(b) == PacketKind::Rtcp)
                .then(|| {
                    rtcp::compound(b).find_map(|p| match p.unwrap() {
                        RtcpPacket::SenderReport(r) => Some(r.sender_info()),
                        _ => None,
                    })
                })
                .flatten()
        });
        if let Some(info) = found {
            sr = Some((ms, info));
            break;
        }
    }
    let (ms, info) = sr.expect("a sender report to the consumer");
    assert_eq!(info.ssrc, ssrc_out);
    let expected = TS_BASE[0]
        .wrapping_add(9000 + (ms as u32 - 100) * 90)
        .wrapping_add(offset0);
    assert_eq!(info.rtp_timestamp, expected);
}

#[test]
fn without_sender_reports_a_switch_continues_on_the_wall_clock() {
    let (mut room, consumer, mut out) = settled();
    let ssrc_out = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    room.core
        .set_consumer_preferred_layers(consumer.id, 1, Some(0))
        .unwrap();
    assert_eq!(room.plis_at(330), vec![ssrc(1)]);
    let last = *out.last().unwrap();
    let got = room.tick(10, &[0, 1, 2], &[1], false);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].layer, 1);
    assert_eq!(
        got[0].ts.wrapping_sub(last.ts),
        FRAME_MS as u32 * 90,
        "the time that passed since the last packet, in ticks"
    );
    out.extend(got);
    assert_continuous(&out, ssrc_out);
    assert_eq!(
        room.core.dump_consumer(consumer.id).unwrap()["preferredLayers"],
        json!({"spatialLayer": 1, "temporalLayer": 0})
    );
}

#[test]
fn a_layer_that_stops_is_replaced_by_a_lower_one_and_taken_back_when_it_returns() {
    let (mut room, consumer, mut out) = settled();
    let ssrc_out = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    room.layers_events();
    // Layer 2 stops (e.g. the sender's bandwidth dropped). Run the timers alongside.
    let mut plis = Vec::new();
    let mut f = 10;
    while plis.is_empty() {
        let got = room.tick(f, &[0, 1], &[], false);
        assert!(
            got.is_empty(),
            "layer 2 is still current: nothing else flows"
        );
        plis = room.plis_at(u64::from(f) * FRAME_MS + 1);
        f += 1;
        assert!(f < 200, "no fallback");
    }
    let silent_ms = u64::from(f) * FRAME_MS - 9 * FRAME_MS;
    assert!(
        silent_ms >= 1_500,
        "inactive only after 1.5 s, was {silent_ms}"
    );
    assert_eq!(
        plis,
        vec![ssrc(1)],
        "the best layer left is asked for a key frame"
    );
    let got = room.tick(f, &[0, 1], &[1], false);
    assert_eq!(got.iter().map(|o| o.layer).collect::<Vec<_>>(), vec![1]);
    out.extend(got);
    assert_eq!(room.layers_events(), vec![Some(1)]);
    // Layer 2 comes back (delta frames first): wanted again, a key frame is asked of it.
    let got = room.tick(f + 1, &[0, 1, 2], &[], false);
    assert_eq!(got.iter().map(|o| o.layer).collect::<Vec<_>>(), vec![1]);
    out.extend(got);
    assert_eq!(room.plis_at(u64::from(f + 1) * FRAME_MS + 1), vec![ssrc(2)]);
    let got = room.tick(f + 2, &[0, 1, 2], &[2], false);
    assert_eq!(
        got.iter().map(|o| o.layer).collect::<Vec<_>>(),
        vec![1, 2],
        "layer 1 until layer 2's key frame arrives"
    );
    out.extend(got);
    assert_eq!(room.layers_events(), vec![Some(2)]);
    assert_continuous(&out, ssrc_out);
    // Everything stops: no layer, told once.
    room.timeout(u64::from(f + 2) * FRAME_MS + 1_600);
    assert_eq!(room.layers_events(), vec![None]);
    assert_eq!(room.current_layer(consumer.id), json!(null));
}

#[test]
fn rtx_streams_are_bound_by_repaired_rid_and_never_forwarded() {
    let (mut room, _consumer, _) = settled();
    let rtx = |room: &mut Room, ssrc: u32, seq: u16, rrid: Option<&[u8]>| {
        let h = RtpHeader {
            payload_type: 97,
            sequence: seq,
            timestamp: 0,
            ssrc,
            marker: false,
        };
        let ext: Vec<(u8, &[u8])> = rrid
            .map(|r| vec![(MID_ID, &b"0"[..]), (RRID_ID, r)])
            .unwrap_or_default();
        let mut buf = [0u8; 100];
        let n = write_rtp(&mut buf, &h, &ext, &[0, 1, 0x10, 0]).unwrap();
        let send = room.send;
        room.feed(send, 500, &mut buf[..n])
    };
    let unknown = room.core.counters().drops_of(DropReason::UnknownSsrc);
    let tx = rtx(&mut room, 0x7701, 1, Some(b"r1"));
    assert!(rtp_to(&tx, room.recv.remote).is_empty());
    // Without the extension now: the SSRC is known as layer 1's RTX.
    rtx(&mut room, 0x7701, 2, None);
    assert_eq!(room.core.counters().drops_of(DropReason::Rtx), 2);
    assert_eq!(
        room.core.counters().drops_of(DropReason::UnknownSsrc),
        unknown
    );
    let pstats = room.core.producer_stats(room.producer_id()).unwrap();
    assert_eq!(pstats[1]["rtxSsrc"], 0x7701);
    assert_eq!(pstats[1]["rtxPacketCount"], 2);
    // A second RTX SSRC for the same encoding, an unknown RID, an unknown MID: dropped.
    rtx(&mut room, 0x7702, 1, Some(b"r1"));
    rtx(&mut room, 0x7703, 1, Some(b"r9"));
    let h = RtpHeader {
        payload_type: 96,
        sequence: 1,
        timestamp: 0,
        ssrc: 0x7704,
        marker: false,
    };
    for ext in [
        &[(MID_ID, &b"9"[..]), (RID_ID, &b"r0"[..])][..],
        &[(MID_ID, &b"0"[..]), (RID_ID, &b"r7"[..])][..],
        &[(MID_ID, &b"0"[..]), (RID_ID, &b"r0"[..])][..], // r0 is already bound
        &[],
    ] {
        let mut buf = [0u8; 100];
        let n = write_rtp(&mut buf, &h, ext, &[0x10, 0, 0, 0]).unwrap();
        let send = room.send;
        room.feed(send, 600, &mut buf[..n]);
    }
    assert_eq!(
        room.core.counters().drops_of(DropReason::UnknownSsrc),
        unknown + 6
    );
}

#[test]
fn rid_alone_names_the_producer_when_there_is_no_mid() {
    let mut room = Room::new();
    let producer = room.produce(None).unwrap();
    let consumer = room.consume(producer);
    // Packets carry only the RID (the MID id is negotiated, the value absent).
    let mut out = Vec::new();
    for f in 0..5 {
        for (l, base) in TS_BASE.iter().enumerate() {
            let seq = room.seq[l];
            room.seq[l] = seq.wrapping_add(1);
            let h = RtpHeader {
                marker: true,
                payload_type: 96,
                sequence: seq,
                timestamp: base.wrapping_add(FRAME_TICKS * f),
                ssrc: ssrc(l),
            };
            let key = f == 0;
            let payload = [
                0x10,
                if key { 0 } else { 1 },
                0x9d,
                0x01,
                l as u8,
                0,
                0,
                0,
                f as u8,
            ];
            let rid = [b'r', b'0' + l as u8];
            let mut buf = [0u8; 100];
            let n = write_rtp(&mut buf, &h, &[(RID_ID, &rid)], &payload).unwrap();
            let send = room.send;
            let tx = room.feed(send, u64::from(f) * FRAME_MS, &mut buf[..n]);
            out.extend(rtp_to(&tx, room.recv.remote));
        }
    }
    assert_eq!(room.core.counters().drops_of(DropReason::UnknownSsrc), 0);
    assert_eq!(out.last().unwrap().layer, 2);
    assert_continuous(&out, consumer.rtp_parameters.encodings[0].ssrc.unwrap());
    // A second producer with the same RIDs and no MID could not be told apart.
    assert!(matches!(room.produce(None), Err(RtcError::Conflict(_))));
    // With MIDs of their own, both can exist.
    let mut room = Room::new();
    room.produce(Some("0")).unwrap();
    room.produce(Some("1")).unwrap();
    assert!(matches!(
        room.produce(Some("1")),
        Err(RtcError::Conflict(_))
    ));
}

#[test]
fn a_paused_simulcast_consumer_forwards_nothing_and_resumes_at_a_key_frame() {
    let (mut room, consumer, mut out) = settled();
    let ssrc_out = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    room.layers_events();
    room.core.set_consumer_paused(consumer.id, true).unwrap();
    assert_eq!(room.layers_events(), vec![None]);
    assert!(room.tick(10, &[0, 1, 2], &[2], false).is_empty());
    room.core.set_consumer_paused(consumer.id, false).unwrap();
    assert_eq!(room.plis_at(400), vec![ssrc(2)]);
    assert!(
        room.tick(11, &[0, 1, 2], &[], false).is_empty(),
        "waits for a key frame"
    );
    let got = room.tick(12, &[0, 1, 2], &[2], false);
    assert_eq!(got.iter().map(|o| o.layer).collect::<Vec<_>>(), vec![2]);
    out.extend(got);
    assert_continuous(&out, ssrc_out);
    assert_eq!(room.layers_events(), vec![Some(2)]);
    // Preferred layers of a simple consumer: accepted, no effect (as mediasoup).
    let leg = room.transport("10.0.0.3:7000", 3);
    let simple_producer = {
        let id = Uuid::new_v4();
        let rtp_parameters: RtpParameters = serde_json::from_value(json!({
            "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}],
            "encodings": [{"ssrc": 4242}]
        }))
        .unwrap();
        let options = ProduceOptions {
            id,
            kind: MediaKind::Video,
            rtp_parameters,
            paused: false,
            app_data: json!(null),
        };
        room.core.produce(leg.transport, options).unwrap();
        id
    };
    let simple = room.consume(simple_producer);
    assert_eq!(simple.type_, "simple");
    room.core
        .set_consumer_preferred_layers(simple.id, 0, Some(0))
        .unwrap();
    assert!(
        room.core
            .dump_consumer(simple.id)
            .unwrap()
            .get("currentLayers")
            .is_none()
    );
}

#[test]
fn an_empty_cname_is_filled_in_and_consumers_carry_it() {
    let mut room = Room::new();
    let rtp_parameters: RtpParameters = serde_json::from_value(json!({
        "mid": "0",
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}],
        "headerExtensions": [{"uri": MID_URI, "id": MID_ID}, {"uri": RTP_STREAM_ID_URI, "id": RID_ID}],
        "encodings": [{"rid": "r0"}, {"rid": "r1"}],
        "rtcp": {"cname": ""}
    }))
    .unwrap();
    let id = Uuid::new_v4();
    let options = ProduceOptions {
        id,
        kind: MediaKind::Video,
        rtp_parameters,
        paused: false,
        app_data: json!(null),
    };
    room.core.produce(room.send.transport, options).unwrap();
    let cname = room.core.dump_producer(id).unwrap()["rtpParameters"]["rtcp"]["cname"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!cname.is_empty());
    let consumer = room.consume(id);
    assert_eq!(consumer.rtp_parameters.rtcp.cname.as_deref(), Some(&*cname));
}

/// Random MIDs, RIDs, SSRCs and payload types at a simulcast producer's transport, including
/// truncated extension blocks: nothing panics, nothing unknown is learnt, and what reaches the
/// viewer is the consumer's own stream.
#[test]
fn random_names_never_panic_and_learn_nothing_unknown() {
    let (mut room, consumer, _) = settled();
    let ssrc_out = consumer.rtp_parameters.encodings[0].ssrc.unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..5_000u32 {
        let r = next();
        let mid = [b'0' + (r % 3) as u8];
        let rid = [b'r', b'0' + ((r >> 8) % 5) as u8];
        let ssrc = 0x9000 + ((r >> 16) % 64) as u32;
        let pt = if r & (1 << 40) != 0 { 96 } else { 97 };
        let h = RtpHeader {
            marker: true,
            payload_type: pt,
            sequence: i as u16,
            timestamp: i * 3000,
            ssrc,
        };
        let ext: &[(u8, &[u8])] = match (r >> 32) % 4 {
            0 => &[(MID_ID, &mid), (RID_ID, &rid)],
            1 => &[(RID_ID, &rid)],
            2 => &[(MID_ID, &mid), (RRID_ID, &rid)],
            _ => &[],
        };
        let mut buf = [0u8; 200];
        let mut n = write_rtp(&mut buf, &h, ext, &[0x10, 0, 0x9d, 0x01, 0, 0, 0, 0, 0]).unwrap();
        if r & (1 << 50) != 0 {
            // Cut into the extension block or the header.
            n = (r >> 52) as usize % n;
        }
        let send = room.send;
        let tx = room.feed(send, 400 + u64::from(i), &mut buf[..n]);
        assert!(
            rtp_to_any(&tx, room.recv.remote)
                .iter()
                .all(|&s| s == ssrc_out)
        );
    }
    // The layers stay bound to the SSRCs the endpoint used first; no random SSRC joined them.
    let pstats = room.core.producer_stats(room.producer_id()).unwrap();
    let ssrcs: Vec<u64> = pstats
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ssrc"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ssrcs,
        (0..3).map(|l| u64::from(ssrc(l))).collect::<Vec<_>>()
    );
}

/// SSRCs of the RTP datagrams sent to `to` (without reading their payloads).
fn rtp_to_any(tx: &VecTransmit, to: SocketAddr) -> Vec<u32> {
    tx.sent
        .iter()
        .filter(|(_, t, b)| *t == to && classify(b) == PacketKind::Rtp)
        .map(|(_, _, b)| RtpPacket::parse(b).unwrap().ssrc())
        .collect()
}
