//! Sans-IO scenario tests of the core: a router fed datagrams from simulated endpoints with a
//! simulated clock; what it sends is collected in a `VecTransmit`. No sockets, no threads.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::rtp_parameters::{RtpCapabilities, RtpParameters};
use super::*;
use crate::net::{SockId, VecTransmit};
use crate::wire::rtcp::write_pli;
use crate::wire::rtp::{RtpHeader, RtpPacket, write_rtp};

const SENDER: &str = "10.0.0.1:5000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Room {
    core: WorkerCore,
    router: Uuid,
    caps: RtpCapabilities,
    next_sock: u32,
    t0: Instant,
}

struct Leg {
    transport: Uuid,
    sock: SockId,
    remote: SocketAddr,
}

impl Room {
    fn new() -> Self {
        let mut core = WorkerCore::new();
        let (router, caps) = super::test_support::opus_vp8_router(&mut core);
        Self {
            core,
            router,
            caps,
            next_sock: 1,
            t0: Instant::now(),
        }
    }

    fn transport(&mut self, remote: Option<&str>, comedia: bool) -> Leg {
        let id = Uuid::new_v4();
        let sock = SockId(self.next_sock);
        self.next_sock += 1;
        let local = SocketAddr::from(([127, 0, 0, 1], 40_000 + self.next_sock as u16));
        let options = PlainTransportOptions {
            comedia,
            rtcp_mux: true,
            app_data: json!(null),
        };
        self.core
            .create_plain_transport(self.router, id, (sock, local), None, options)
            .unwrap();
        let remote = remote.map(addr).unwrap_or_else(|| addr("0.0.0.0:0"));
        if !comedia {
            self.core
                .connect_plain_transport(id, remote.ip(), remote.port(), None)
                .unwrap();
        }
        Leg {
            transport: id,
            sock,
            remote,
        }
    }

    fn produce_opus(&mut self, leg: &Leg, ssrc: u32) -> Uuid {
        let id = Uuid::new_v4();
        let rtp_parameters: RtpParameters = serde_json::from_value(json!({
            "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
            "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 1}],
            "encodings": [{"ssrc": ssrc}]
        }))
        .unwrap();
        let options = ProduceOptions {
            id,
            kind: rtp_parameters::MediaKind::Audio,
            rtp_parameters,
            paused: false,
            app_data: json!(null),
        };
        self.core.produce(leg.transport, options).unwrap();
        id
    }

    /// Consumes with the router's capabilities, asking for `opus_pt` and audio-level id `ext_id`.
    fn consume(
        &mut self,
        leg: &Leg,
        producer: Uuid,
        opus_pt: u8,
        ext_id: u8,
    ) -> Result<ConsumeReply, RtcError> {
        let mut caps = self.caps.clone();
        for c in &mut caps.codecs {
            if c.mime_type == "audio/opus" {
                c.preferred_payload_type = Some(opus_pt);
            }
        }
        for e in &mut caps.header_extensions {
            if e.uri == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" {
                e.preferred_id = ext_id;
            }
        }
        let options = ConsumeOptions {
            id: Uuid::new_v4(),
            producer_id: producer,
            rtp_capabilities: caps,
            paused: false,
            app_data: json!(null),
        };
        self.core.consume(leg.transport, options)
    }

    /// Feeds one RTP packet from `from` to `leg` at `ms` after the start.
    fn rtp(&mut self, leg: &Leg, from: &str, ms: u64, seq: u16, ssrc: u32) -> VecTransmit {
        let mut buf = [0u8; 200];
        let h = RtpHeader {
            payload_type: 100,
            sequence: seq,
            timestamp: 960 * seq as u32,
            ssrc,
            ..Default::default()
        };
        let payload = [seq as u8; 40];
        let n = write_rtp(&mut buf, &h, &[(1, &[0x85])], &payload).unwrap();
        let mut tx = VecTransmit::default();
        let now = self.t0 + Duration::from_millis(ms);
        self.core
            .handle_datagram(now, leg.sock, addr(from), &mut buf[..n], &mut tx);
        tx
    }
}

#[test]
fn forwards_to_each_consumer_with_its_own_ssrc_pt_and_extension_ids() {
    let mut room = Room::new();
    let send = room.transport(Some(SENDER), false);
    let producer = room.produce_opus(&send, 1111);
    let legs: Vec<Leg> = (0..3)
        .map(|i| room.transport(Some(&format!("10.0.1.{i}:6000")), false))
        .collect();
    let pts = [100u8, 111, 120];
    let ext_ids = [10u8, 11, 12]; // audio-level ids that collide with no other audio extension
    let consumers: Vec<ConsumeReply> = legs
        .iter()
        .zip(pts.iter().zip(ext_ids))
        .map(|(l, (&pt, ext))| room.consume(l, producer, pt, ext).unwrap())
        .collect();
    let ssrcs: Vec<u32> = consumers
        .iter()
        .map(|c| c.rtp_parameters.encodings[0].ssrc.unwrap())
        .collect();
    assert!(ssrcs.iter().all(|&s| s != 1111));
    assert!(ssrcs[0] != ssrcs[1] && ssrcs[1] != ssrcs[2] && ssrcs[0] != ssrcs[2]);

    let mut first_seq = [None; 3];
    for seq in 0..20u16 {
        let tx = room.rtp(&send, SENDER, 20 * seq as u64, 5000 + seq, 1111);
        assert_eq!(tx.sent.len(), 3, "one copy per consumer");
        for (i, leg) in legs.iter().enumerate() {
            let (sock, to, bytes) = tx.sent.iter().find(|(_, to, _)| *to == leg.remote).unwrap();
            assert_eq!(
                *sock, leg.sock,
                "sent from the consumer transport's own socket"
            );
            assert_eq!(*to, leg.remote);
            let p = RtpPacket::parse(bytes).unwrap();
            assert_eq!(p.ssrc(), ssrcs[i]);
            assert_eq!(p.payload_type(), pts[i]);
            assert_eq!(
                p.payload(),
                &[(5000 + seq) as u8; 40][..],
                "payload untouched"
            );
            assert_eq!(
                p.extension(ext_ids[i]),
                Some(&[0x85][..]),
                "audio level under the consumer's id"
            );
            let base = *first_seq[i].get_or_insert(p.sequence());
            assert_eq!(
                p.sequence(),
                base.wrapping_add(seq),
                "consecutive sequence numbers"
            );
        }
    }
    assert_eq!(room.core.counters().rtp_forwarded, 60);
}

#[test]
fn consumer_pause_resume_and_producer_pause_keep_sequence_continuous() {
    let mut room = Room::new();
    let send = room.transport(Some(SENDER), false);
    let producer = room.produce_opus(&send, 1111);
    let leg = room.transport(Some("10.0.1.1:6000"), false);
    let other = room.transport(Some("10.0.1.2:6000"), false);
    let c = room.consume(&leg, producer, 100, 10).unwrap();
    room.consume(&other, producer, 100, 10).unwrap();
    let out = |tx: &VecTransmit, to: SocketAddr| {
        tx.sent.iter().find(|(_, t, _)| *t == to).map(|(_, _, b)| {
            let p = RtpPacket::parse(b).unwrap();
            (p.sequence(), p.timestamp())
        })
    };
    let mut ms = 0;
    let mut seq = 100u16;
    let mut last = None;
    for _ in 0..5 {
        last = out(&room.rtp(&send, SENDER, ms, seq, 1111), leg.remote);
        ms += 20;
        seq += 1;
    }
    let (last_seq, last_ts) = last.unwrap();

    room.core.set_consumer_paused(c.id, true).unwrap();
    for _ in 0..50 {
        let tx = room.rtp(&send, SENDER, ms, seq, 1111);
        assert!(
            out(&tx, leg.remote).is_none(),
            "paused consumer gets nothing"
        );
        assert!(
            out(&tx, other.remote).is_some(),
            "the other consumer keeps receiving"
        );
        ms += 20;
        seq += 1;
    }
    room.core.set_consumer_paused(c.id, false).unwrap();
    let (s, ts) = out(&room.rtp(&send, SENDER, ms, seq, 1111), leg.remote).unwrap();
    assert_eq!(s, last_seq.wrapping_add(1), "no sequence gap after resume");
    assert_eq!(
        ts,
        last_ts.wrapping_add(48 * 1020),
        "timestamp advanced by the 1.02 s that passed"
    );
    ms += 20;
    seq += 1;

    room.core.set_producer_paused(producer, true).unwrap();
    let events = room.core.take_events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::ConsumerProducerPause { .. }))
            .count(),
        2
    );
    for _ in 0..10 {
        assert!(room.rtp(&send, SENDER, ms, seq, 1111).sent.is_empty());
        ms += 20;
        seq += 1;
    }
    assert_eq!(
        room.core.counters().drops_of(DropReason::ProducerPaused),
        10
    );
    room.core.set_producer_paused(producer, false).unwrap();
    let (s2, _) = out(&room.rtp(&send, SENDER, ms, seq, 1111), leg.remote).unwrap();
    assert_eq!(
        s2,
        s.wrapping_add(1),
        "no sequence gap after the producer resumes"
    );
}

#[test]
fn closing_a_producer_closes_its_consumers_with_producerclose() {
    let mut room = Room::new();
    let send = room.transport(Some(SENDER), false);
    let producer = room.produce_opus(&send, 1111);
    let legs: Vec<Leg> = (0..2)
        .map(|i| room.transport(Some(&format!("10.0.1.{i}:6000")), false))
        .collect();
    let ids: Vec<Uuid> = legs
        .iter()
        .map(|l| room.consume(l, producer, 100, 10).unwrap().id)
        .collect();
    room.core.take_events();
    room.core.close_producer(producer).unwrap();
    let events = room.core.take_events();
    for id in &ids {
        assert!(events.contains(&Event::ConsumerProducerClose {
            consumer_id: *id,
            producer_id: producer
        }));
        assert!(matches!(
            room.core.dump_consumer(*id),
            Err(RtcError::NotFound { .. })
        ));
    }
    assert!(events.contains(&Event::ProducerClose {
        producer_id: producer
    }));
    assert!(room.rtp(&send, SENDER, 0, 1, 1111).sent.is_empty());
    assert_eq!(room.core.counters().drops_of(DropReason::UnknownSsrc), 1);
    // Consuming the closed producer fails as not found.
    assert!(matches!(
        room.consume(&legs[0], producer, 100, 10),
        Err(RtcError::NotFound {
            kind: "producer",
            ..
        })
    ));
}

#[test]
fn closing_a_transport_or_router_cascades_and_returns_sockets() {
    let mut room = Room::new();
    let send = room.transport(Some(SENDER), false);
    let producer = room.produce_opus(&send, 1111);
    let leg = room.transport(Some("10.0.1.1:6000"), false);
    let consumer = room.consume(&leg, producer, 100, 10).unwrap().id;
    assert_eq!(
        room.core.close_transport(send.transport).unwrap(),
        vec![send.sock]
    );
    assert!(room.core.dump_producer(producer).is_err());
    assert!(
        room.core.dump_consumer(consumer).is_err(),
        "the producer's consumers closed with it"
    );
    assert_eq!(room.core.close_router(room.router).unwrap(), vec![leg.sock]);
    assert!(room.core.dump_transport(leg.transport).is_err());
    assert_eq!(room.core.router_count(), 0);
    let mut tx = VecTransmit::default();
    room.core.handle_datagram(
        room.t0,
        leg.sock,
        addr("10.0.1.1:6000"),
        &mut [0x80, 0, 0, 0],
        &mut tx,
    );
    assert_eq!(room.core.counters().drops_of(DropReason::UnknownSocket), 1);
}

#[test]
fn closing_a_transport_tells_of_each_consumer_it_held() {
    let mut room = Room::new();
    let send = room.transport(Some(SENDER), false);
    let producer = room.produce_opus(&send, 1111);
    let leg = room.transport(Some("10.0.1.1:6000"), false);
    let consumer = room.consume(&leg, producer, 100, 10).unwrap().id;
    room.core.take_events();
    room.core.close_transport(leg.transport).unwrap();
    let events = room.core.take_events();
    assert!(
        events.contains(&Event::ConsumerClose {
            consumer_id: consumer
        }),
        "{events:?}"
    );
    assert!(events.contains(&Event::TransportClose {
        transport_id: leg.transport
    }));
    assert!(
        room.core.dump_producer(producer).is_ok(),
        "the producer stays"
    );
}

#[test]
fn comedia_learns_the_remote_and_rejects_others() {
    let mut room = Room::new();
    let send = room.transport(None, true);
    let producer = room.produce_opus(&send, 1111);
    let leg = room.transport(Some("10.0.1.1:6000"), false);
    room.consume(&leg, producer, 100, 10).unwrap();
    room.core.take_events();
    assert_eq!(room.rtp(&send, "10.9.9.9:7000", 0, 1, 1111).sent.len(), 1);
    let events = room.core.take_events();
    assert!(
        matches!(&events[..], [Event::TransportTuple { tuple, .. }] if tuple.remote_port == Some(7000))
    );
    // Another source is not the learned remote.
    assert!(
        room.rtp(&send, "10.9.9.9:7001", 20, 2, 1111)
            .sent
            .is_empty()
    );
    assert_eq!(room.core.counters().drops_of(DropReason::UnknownSource), 1);
    assert!(matches!(
        room.core
            .connect_plain_transport(send.transport, "1.2.3.4".parse().unwrap(), 9, None),
        Err(RtcError::Conflict(_))
    ));
}

#[test]
fn connect_twice_is_a_conflict_and_unconnected_transport_drops() {
    let mut room = Room::new();
    let leg = room.transport(Some("10.0.1.1:6000"), false);
    assert!(matches!(
        room.core
            .connect_plain_transport(leg.transport, "10.0.1.1".parse().unwrap(), 6000, None),
        Err(RtcError::Conflict(_))
    ));
    let id = Uuid::new_v4();
    let options = PlainTransportOptions {
        comedia: false,
        rtcp_mux: true,
        app_data: json!(null),
    };
    room.core
        .create_plain_transport(
            room.router,
            id,
            (SockId(99), addr("127.0.0.1:1")),
            None,
            options,
        )
        .unwrap();
    let mut tx = VecTransmit::default();
    room.core
        .handle_datagram(room.t0, SockId(99), addr(SENDER), &mut [0x80; 20], &mut tx);
    assert_eq!(room.core.counters().drops_of(DropReason::NotConnected), 1);
}

#[test]
fn consume_without_a_common_codec_is_unacceptable() {
    let mut room = Room::new();
    let send = room.transport(Some(SENDER), false);
    let producer = room.produce_opus(&send, 1111);
    let leg = room.transport(Some("10.0.1.1:6000"), false);
    room.caps.codecs.retain(|c| c.mime_type != "audio/opus");
    let err = room.consume(&leg, producer, 100, 10).unwrap_err();
    assert!(
        matches!(&err, RtcError::Unacceptable { field, .. } if field == "rtpCapabilities"),
        "{err}"
    );
}

#[test]
fn produce_rejects_duplicate_ssrc_and_unknown_codec() {
    let mut room = Room::new();
    let send = room.transport(Some(SENDER), false);
    room.produce_opus(&send, 1111);
    let dup = ProduceOptions {
        id: Uuid::new_v4(),
        kind: rtp_parameters::MediaKind::Audio,
        rtp_parameters: serde_json::from_value(json!({
            "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
            "encodings": [{"ssrc": 1111}]
        }))
        .unwrap(),
        paused: false,
        app_data: json!(null),
    };
    assert!(matches!(
        room.core.produce(send.transport, dup.clone()),
        Err(RtcError::Conflict(_))
    ));
    let mut bad = dup;
    bad.id = Uuid::new_v4();
    bad.rtp_parameters.codecs[0].mime_type = "audio/PCMU".into();
    bad.rtp_parameters.codecs[0].clock_rate = 8000;
    bad.rtp_parameters.encodings[0].ssrc = Some(2222);
    let err = room.core.produce(send.transport, bad).unwrap_err();
    assert!(
        matches!(&err, RtcError::Unacceptable { field, .. } if field.starts_with("rtpParameters.codecs")),
        "{err}"
    );
}

#[test]
fn malformed_and_unknown_datagrams_are_counted_not_forwarded() {
    let mut room = Room::new();
    let send = room.transport(Some(SENDER), false);
    let producer = room.produce_opus(&send, 1111);
    let leg = room.transport(Some("10.0.1.1:6000"), false);
    room.consume(&leg, producer, 100, 10).unwrap();
    let mut tx = VecTransmit::default();
    let mut feed = |bytes: &mut [u8], room: &mut Room| {
        room.core
            .handle_datagram(room.t0, send.sock, addr(SENDER), bytes, &mut tx)
    };
    feed(&mut [0x80, 100, 0], &mut room); // truncated RTP
    feed(&mut [0x40; 30], &mut room); // version 1
    feed(&mut [0x00, 0x01, 0x00, 0x00], &mut room); // STUN-like on a plain transport
    feed(&mut [0x81, 201, 0xFF, 0xFF, 0, 0, 0, 0], &mut room); // RTCP length past the end
    let mut pli = [0u8; 12];
    write_pli(&mut pli, 1, 1111).unwrap();
    feed(&mut pli, &mut room);
    assert!(tx.sent.is_empty());
    let c = room.core.counters();
    assert_eq!(c.drops_of(DropReason::Malformed), 3);
    assert_eq!(c.drops_of(DropReason::Unsupported), 1);
    assert_eq!(c.rtcp_in, 1);
    // The flow still works afterwards.
    assert_eq!(room.rtp(&send, SENDER, 0, 1, 1111).sent.len(), 1);
}

#[test]
fn fuzzed_datagrams_never_panic_and_never_forward() {
    let mut room = Room::new();
    let send = room.transport(Some(SENDER), false);
    let producer = room.produce_opus(&send, 1111);
    let leg = room.transport(Some("10.0.1.1:6000"), false);
    room.consume(&leg, producer, 100, 10).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut forwarded = 0;
    for _ in 0..20_000 {
        let len = (next() % 300) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len > 12 && next() % 2 == 0 {
            buf[0] = 0x80 | (buf[0] & 0x3F); // looks like RTP
            buf[8..12].copy_from_slice(&1111u32.to_be_bytes());
        }
        let mut tx = VecTransmit::default();
        room.core
            .handle_datagram(room.t0, send.sock, addr(SENDER), &mut buf, &mut tx);
        for (_, _, b) in &tx.sent {
            // Whatever was forwarded is valid RTP with the consumer's SSRC.
            let p = RtpPacket::parse(b).unwrap();
            assert_ne!(p.ssrc(), 1111);
            forwarded += 1;
        }
    }
    assert!(
        forwarded > 0,
        "some random packets were valid RTP of the producer"
    );
}
