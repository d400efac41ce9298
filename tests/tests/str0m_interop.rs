//! Interop with an independent WebRTC stack (issue 3): `str0m` clients publish Opus and VP8
//! through the real `sluice` binary and another `str0m` client receives both.
//!
//! Nothing of Sluice's own STUN, DTLS or SRTP code is on the client side: str0m does ICE as the
//! controlling agent against Sluice's ICE-lite (RFC 8445 §2.5), the DTLS handshake (RFC 5763,
//! 8842; as client, and as server where a test says so), derives SRTP keys (RFC 5764 §4.2) and
//! protects and unprotects every packet.
//!
//! Three tests here began as gaps these clients found (a mid of another length than the
//! producer's, a mid missing once the publisher stops sending it, transport-wide sequence
//! numbers forwarded unchanged); Sluice now writes each consumer's own header extension block
//! (`rtc::consumer`), and they run with the rest.
//! The clients are configured from Sluice's mediasoup JSON only (no SDP); see
//! `sluice_tests::str0m_client`. The publisher uses str0m's own payload types and header
//! extension ids, the subscriber the router's, so Sluice maps both on the way through.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_tests::str0m_client::{
    ClientError, DtlsSide, Str0mClient, consumer_capabilities, publisher_config, pump_until,
    subscriber_config,
};
use sluice_tests::{
    EventStream, Http, Server, ServerOptions, SseEvent, Value, json, str_of, wait_until,
};
use str0m::config::DtlsVersion;
use str0m::crypto::dtls::ProtocolVersion;
use str0m::format::Codec;
use str0m::media::MediaKind;

/// Packets of each kind the publisher sends.
const N: u16 = 100;
const AUDIO_SSRC: u32 = 0x0A0D_1000;
const VIDEO_SSRC: u32 = 0x0B1D_2000;
/// The publisher's mids: the other way round from the mids Sluice gives the subscriber's
/// consumers ("0" for the first, audio), so the subscriber sees whether the mid extension was
/// rewritten.
const AUDIO_MID: &str = "1";
const VIDEO_MID: &str = "0";

fn webrtc_transport(http: &Http, router: &str) -> Value {
    http.post(
        &format!("/v1/routers/{router}/webrtc-transports"),
        &json!({}),
    )
    .ok()
}

/// A client for a new transport on `router`, connected over the API with its own fingerprint.
fn client(http: &Http, router: &str, config: str0m::RtcConfig) -> (Str0mClient, String) {
    client_as(http, router, config, DtlsSide::Client)
}

/// [`client`] with the DTLS end chosen.
fn client_as(
    http: &Http,
    router: &str,
    config: str0m::RtcConfig,
    side: DtlsSide,
) -> (Str0mClient, String) {
    let t = webrtc_transport(http, router);
    let id = str_of(&t, "id").to_owned();
    let mut c = Str0mClient::with_dtls_side(&t, config, side)
        .expect("a str0m client from the transport JSON");
    http.post(
        &format!("/v1/transports/{id}/connect"),
        &json!({ "dtlsParameters": c.dtls_parameters() }),
    )
    .ok();
    (c, id)
}

/// An Opus payload that says which packet it is: `opus`, the index, then filler.
fn opus_payload(i: u16) -> Vec<u8> {
    let mut p = b"opus".to_vec();
    p.extend_from_slice(&i.to_be_bytes());
    p.extend((0..60u8).map(|k| k ^ (i as u8)));
    p
}

/// A VP8 packet, one frame per packet (RFC 7741 §4.2): payload descriptor with X, S and a
/// 15-bit picture id, then a VP8 frame header (key frame for the first, inter frames after),
/// then `vp8` and the index.
fn vp8_payload(i: u16) -> Vec<u8> {
    let mut p = vec![0x90, 0x80, 0x80 | (i >> 8) as u8, i as u8];
    if i == 0 {
        // P = 0 (key frame), show_frame, start code 9d 01 2a, 320x240.
        p.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
    } else {
        p.extend_from_slice(&[0x11, 0x02, 0x00]);
    }
    p.extend_from_slice(b"vp8");
    p.extend_from_slice(&i.to_be_bytes());
    p.extend((0..200u8).map(|k| k.wrapping_mul(3) ^ (i as u8)));
    p
}

/// Opus packet `i` ([`opus_payload`], 20 ms after packet `i - 1`) on `c`'s stream
/// `AUDIO_SSRC`, with str0m's sequence number `seq`.
fn write_opus(c: &mut Str0mClient, seq: u64, i: u16) -> Result<(), ClientError> {
    let (pt, _) = c.payload_type(Codec::Opus).expect("str0m configures Opus");
    c.write_rtp(
        AUDIO_SSRC,
        pt,
        seq,
        960 * u32::from(i),
        false,
        &opus_payload(i),
    )
}

/// VP8 frame `i` ([`vp8_payload`], one packet with the marker set, 30 frames/s) on `c`'s
/// stream `VIDEO_SSRC`, with str0m's sequence number `seq`.
fn write_vp8(c: &mut Str0mClient, seq: u64, i: u16) -> Result<(), ClientError> {
    let (pt, _) = c.payload_type(Codec::Vp8).expect("str0m configures VP8");
    c.write_rtp(
        VIDEO_SSRC,
        pt,
        seq,
        3_000 * u32::from(i),
        true,
        &vp8_payload(i),
    )
}

/// Waits (bounded) until an event satisfying `pred` has arrived, keeping every event in `seen`.
fn saw(events: &EventStream, seen: &mut Vec<SseEvent>, pred: impl Fn(&SseEvent) -> bool) -> bool {
    wait_until(|| {
        seen.extend(events.drain());
        seen.iter().any(&pred).then_some(())
    })
    .is_some()
}

/// `consumer["rtpParameters"]`: (mid, ssrc, rtx ssrc, payload type).
fn consumer_stream(consumer: &Value) -> (String, u32, Option<u32>, u8) {
    let rp = &consumer["rtpParameters"];
    let mid = rp["mid"]
        .as_str()
        .expect("consumer rtpParameters.mid")
        .to_owned();
    let enc = &rp["encodings"][0];
    let ssrc = enc["ssrc"].as_u64().expect("encodings[0].ssrc") as u32;
    let rtx = enc["rtx"]["ssrc"].as_u64().map(|s| s as u32);
    let pt = rp["codecs"][0]["payloadType"]
        .as_u64()
        .expect("codecs[0].payloadType") as u8;
    (mid, ssrc, rtx, pt)
}

/// The common set-up: a router with Opus and VP8, a publisher and a subscriber
/// whose str0m completed ICE and DTLS with Sluice.
struct Pair {
    http: Http,
    caps: Value,
    a: Str0mClient,
    a_id: String,
    b: Str0mClient,
    b_id: String,
}

fn connected_pair(server: &Server) -> Pair {
    connected_pair_as(server, DtlsSide::Client, DtlsSide::Client)
}

/// [`connected_pair`] with each client's DTLS end chosen.
fn connected_pair_as(server: &Server, a_side: DtlsSide, b_side: DtlsSide) -> Pair {
    connected_pair_with(server, a_side, b_side, DtlsVersion::Dtls12)
}

/// [`connected_pair_as`] with the DTLS versions str0m offers.
fn connected_pair_with(
    server: &Server,
    a_side: DtlsSide,
    b_side: DtlsSide,
    version: DtlsVersion,
) -> Pair {
    let http = server.http();
    let router = http.create_router(None);
    let router_id = str_of(&router, "id").to_owned();
    let caps = router["rtpCapabilities"].clone();
    let (mut a, a_id) = client_as(
        &http,
        &router_id,
        publisher_config().set_dtls_version(version),
        a_side,
    );
    let (mut b, b_id) = client_as(
        &http,
        &router_id,
        subscriber_config(&caps)
            .expect("subscriber config from the router's capabilities")
            .set_dtls_version(version),
        b_side,
    );
    let connected = pump_until(&mut [&mut a, &mut b], |c| {
        c.iter().all(|c| c.is_connected())
    })
    .expect("pump");
    assert!(
        connected,
        "str0m did not complete ICE + DTLS with Sluice (publisher {:?} connected={}, \
         subscriber {:?} connected={})",
        a.ice_state(),
        a.is_connected(),
        b.ice_state(),
        b.is_connected()
    );
    for c in [&mut a, &mut b] {
        assert_eq!(
            c.dtls_version(),
            Some(ProtocolVersion::DTLS1_2),
            "Sluice speaks DTLS 1.2"
        );
    }
    Pair {
        http,
        caps,
        a,
        a_id,
        b,
        b_id,
    }
}

impl Pair {
    /// Declares a send stream on the publisher and the producer for it.
    fn produce(&mut self, mid: &str, kind: MediaKind, codec: Codec, ssrc: u32) -> Value {
        self.a.declare_send(mid, kind, ssrc);
        let params = self
            .a
            .producer_parameters(mid, kind, codec, ssrc)
            .expect("producer rtpParameters");
        let kind = if matches!(kind, MediaKind::Audio) {
            "audio"
        } else {
            "video"
        };
        self.http
            .post(
                &format!("/v1/transports/{}/producers", self.a_id),
                &json!({ "kind": kind, "rtpParameters": params }),
            )
            .ok()
    }

    /// A consumer of `producer` on the subscriber (capabilities from the router's), and the
    /// receive stream for it in the subscriber's str0m. Returns the consumer's JSON.
    fn consume(&mut self, producer: &Value, kind: MediaKind, paused: bool) -> Value {
        let caps = consumer_capabilities(&self.caps).expect("consumer rtpCapabilities");
        let consumer = self
            .http
            .post(
                &format!("/v1/transports/{}/consumers", self.b_id),
                &json!({ "producerId": producer["id"], "rtpCapabilities": caps, "paused": paused }),
            )
            .ok();
        let (mid, ssrc, rtx, _) = consumer_stream(&consumer);
        self.b.expect_receive(&mid, kind, ssrc, rtx);
        consumer
    }

    /// A producer of `kind` on the publisher (mid, codec and SSRC from this file's constants)
    /// and a consumer of it on the subscriber. Returns the consumer's JSON, mid and SSRC.
    fn forward(&mut self, kind: MediaKind, paused: bool) -> (Value, String, u32) {
        let producer = if matches!(kind, MediaKind::Audio) {
            self.produce(AUDIO_MID, kind, Codec::Opus, AUDIO_SSRC)
        } else {
            self.produce(VIDEO_MID, kind, Codec::Vp8, VIDEO_SSRC)
        };
        let consumer = self.consume(&producer, kind, paused);
        let (mid, ssrc, _, _) = consumer_stream(&consumer);
        (consumer, mid, ssrc)
    }

    fn pump_until(&mut self, done: impl FnMut(&[&mut Str0mClient]) -> bool) -> bool {
        pump_until(&mut [&mut self.a, &mut self.b], done).expect("pump")
    }
}

/// How many packets `c` received on `ssrc`.
fn count(c: &Str0mClient, ssrc: u32) -> usize {
    c.received()
        .iter()
        .filter(|p| *p.header.ssrc == ssrc)
        .count()
}

#[test]
fn str0m_publishes_opus_and_vp8_through_sluice_to_a_str0m_subscriber_uring() {
    publish_and_receive("uring");
}

#[test]
fn str0m_publishes_opus_and_vp8_through_sluice_to_a_str0m_subscriber_mmsg() {
    publish_and_receive("mmsg");
}

fn publish_and_receive(io: &str) {
    let server = Server::start_with(ServerOptions::with_args(&["--io", io]));
    let events = EventStream::open(&server.http());
    let mut s = connected_pair(&server);
    let mut seen = Vec::new();
    for id in [&s.a_id, &s.b_id] {
        assert!(
            saw(&events, &mut seen, |e| e.name
                == "transport.dtlsstatechange"
                && e.data["transportId"] == id.as_str()
                && e.data["dtlsState"] == "connected"),
            "no dtlsstatechange connected event for {id}"
        );
        let dump = s.http.get(&format!("/v1/transports/{id}")).ok();
        assert_eq!(dump["dtlsState"], "connected", "transport dump {dump}");
    }

    // Publisher: str0m's payload types and header-extension ids.
    let audio_producer = s.produce(AUDIO_MID, MediaKind::Audio, Codec::Opus, AUDIO_SSRC);
    let video_producer = s.produce(VIDEO_MID, MediaKind::Video, Codec::Vp8, VIDEO_SSRC);

    // Subscriber: paused consumers first, as mediasoup-client's flow has it, then resume.
    let audio_consumer = s.consume(&audio_producer, MediaKind::Audio, true);
    let video_consumer = s.consume(&video_producer, MediaKind::Video, true);
    let (a_mid, a_ssrc, _, a_pt) = consumer_stream(&audio_consumer);
    let (v_mid, v_ssrc, _, v_pt) = consumer_stream(&video_consumer);
    assert_ne!(a_mid, v_mid, "each consumer has its own mid");
    let router_pt = |mime: &str| {
        s.caps["codecs"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["mimeType"] == mime))
            .and_then(|c| c["preferredPayloadType"].as_u64())
            .expect("router payload type") as u8
    };
    assert_eq!(
        a_pt,
        router_pt("audio/opus"),
        "consumer speaks the router's Opus PT"
    );
    assert_eq!(
        v_pt,
        router_pt("video/VP8"),
        "consumer speaks the router's VP8 PT"
    );
    for c in [&audio_consumer, &video_consumer] {
        s.http
            .post(
                &format!("/v1/consumers/{}/resume", str_of(c, "id")),
                &json!({}),
            )
            .ok();
    }

    // Send N of each, pumping both clients as we go (str0m encrypts as it transmits).
    for i in 0..N {
        write_opus(&mut s.a, 5_000 + u64::from(i), i).expect("write Opus");
        write_vp8(&mut s.a, 9_000 + u64::from(i), i).expect("write VP8");
        s.a.pump(Duration::from_millis(1)).expect("pump publisher");
        s.b.pump(Duration::from_millis(1)).expect("pump subscriber");
    }
    let all = s.pump_until(|c| {
        count(c[1], a_ssrc) >= usize::from(N) && count(c[1], v_ssrc) >= usize::from(N)
    });
    let stats = s.http.get(&format!("/v1/transports/{}/stats", s.b_id)).ok();
    assert!(
        all,
        "the subscriber's str0m decrypted {} of {N} Opus and {} of {N} VP8 packets \
         (subscriber transport stats {stats})",
        count(&s.b, a_ssrc),
        count(&s.b, v_ssrc)
    );

    // Every payload arrived byte for byte, once, with the consumer's SSRC, payload type and mid
    // (RFC 8843 §15, at the id the subscriber's capabilities gave it), in sequence order.
    // Sequence numbers are str0m's extended ones (`seq_no`), so the order survives a wrap.
    for (ssrc, pt, mid, make) in [
        (a_ssrc, a_pt, &a_mid, opus_payload as fn(u16) -> Vec<u8>),
        (v_ssrc, v_pt, &v_mid, vp8_payload as fn(u16) -> Vec<u8>),
    ] {
        let got: Vec<_> =
            s.b.received()
                .iter()
                .filter(|p| *p.header.ssrc == ssrc)
                .collect();
        assert_eq!(got.len(), usize::from(N), "duplicates on SSRC {ssrc}");
        let mut by_seq = BTreeMap::new();
        for p in &got {
            assert_eq!(*p.header.payload_type, pt, "payload type on SSRC {ssrc}");
            assert_eq!(
                p.header.ext_vals.mid.map(|m| m.to_string()).as_deref(),
                Some(mid.as_str()),
                "mid extension on SSRC {ssrc}, packet {}",
                *p.seq_no
            );
            by_seq.insert(*p.seq_no, p.payload.to_vec());
        }
        // str0m, like libwebrtc, stops sending the mid once a receiver report shows the SSRC is
        // bound (RFC 8843 §9.2); Sluice writes the consumer's into every packet all the same
        // (`every_packet_to_a_consumer_carries_its_mid` waits for that report on purpose).
        assert_eq!(
            by_seq.len(),
            usize::from(N),
            "sequence numbers are distinct"
        );
        let first = *by_seq.keys().next().expect("one packet");
        for (i, (seq, payload)) in by_seq.iter().enumerate() {
            assert_eq!(*seq, first + i as u64, "consecutive sequence numbers");
            assert_eq!(
                payload,
                &make(i as u16),
                "payload {i} on SSRC {ssrc} differs from what was sent"
            );
        }
    }
}

#[test]
fn a_str0m_client_behind_a_wrong_fingerprint_gets_no_media() {
    let server = Server::start();
    let http = server.http();
    let events = EventStream::open(&http);
    let router = http.create_router(None);
    let router_id = str_of(&router, "id").to_owned();
    let caps = router["rtpCapabilities"].clone();

    // A publisher that connects properly and produces Opus.
    let (mut a, a_id) = client(&http, &router_id, publisher_config());
    assert!(
        pump_until(&mut [&mut a], |c| c[0].is_connected()).expect("pump"),
        "the honest publisher connects"
    );
    a.declare_send(AUDIO_MID, MediaKind::Audio, AUDIO_SSRC);
    let producer = http
        .post(
            &format!("/v1/transports/{a_id}/producers"),
            &json!({"kind": "audio", "rtpParameters":
                a.producer_parameters(AUDIO_MID, MediaKind::Audio, Codec::Opus, AUDIO_SSRC)
                    .expect("rtpParameters")}),
        )
        .ok();

    // A subscriber whose `connect` names another certificate's fingerprint than the one its
    // str0m presents: Sluice must fail the handshake.
    let t = webrtc_transport(&http, &router_id);
    let b_id = str_of(&t, "id").to_owned();
    let mut b =
        Str0mClient::new(&t, subscriber_config(&caps).expect("config")).expect("str0m client");
    let mut impostor = b.dtls_parameters();
    let value = impostor["fingerprints"][0]["value"]
        .as_str()
        .expect("value")
        .to_owned();
    // Flip the first hex digit: same shape, another certificate.
    let flipped = if value.starts_with('0') { "1" } else { "0" };
    impostor["fingerprints"][0]["value"] = json!(format!("{flipped}{}", &value[1..]));
    http.post(
        &format!("/v1/transports/{b_id}/connect"),
        &json!({ "dtlsParameters": impostor }),
    )
    .ok();
    let consumer = http
        .post(
            &format!("/v1/transports/{b_id}/consumers"),
            &json!({"producerId": producer["id"],
                    "rtpCapabilities": consumer_capabilities(&caps).expect("caps")}),
        )
        .ok();
    let (mid, ssrc, rtx, _) = consumer_stream(&consumer);
    b.expect_receive(&mid, MediaKind::Audio, ssrc, rtx);

    // Keep both clients moving (the publisher sending) until the dump says failed.
    let mut n = 0u16;
    let failed = wait_until(|| {
        write_opus(&mut a, u64::from(n), n).ok()?;
        n += 1;
        a.pump(Duration::from_millis(5)).ok()?;
        b.pump(Duration::from_millis(5)).ok()?;
        let dump = http.get(&format!("/v1/transports/{b_id}")).ok();
        (dump["dtlsState"] == "failed").then_some(())
    });
    assert!(
        failed.is_some(),
        "the transport with the wrong fingerprint never reported dtlsState failed in its dump"
    );
    let mut seen = Vec::new();
    assert!(
        saw(&events, &mut seen, |e| e.name
            == "transport.dtlsstatechange"
            && e.data["transportId"] == b_id.as_str()
            && e.data["dtlsState"] == "failed"),
        "no dtlsstatechange failed event for {b_id}: {:?}",
        seen.iter().map(|e| (&e.name, &e.data)).collect::<Vec<_>>()
    );
    // Media keeps flowing from the publisher for a while; none of it reaches the impostor.
    for i in n..n + 50 {
        write_opus(&mut a, u64::from(i), i).expect("write");
        a.pump(Duration::from_millis(2)).expect("pump");
        b.pump(Duration::from_millis(2)).expect("pump");
    }
    assert!(!b.is_connected(), "str0m keyed a transport Sluice failed");
    assert!(
        b.received().is_empty(),
        "{} packets reached a client whose fingerprint was wrong",
        b.received().len()
    );
}

#[test]
fn the_mid_is_rewritten_when_the_producers_mid_has_another_length() {
    let server = Server::start();
    let mut s = connected_pair(&server);
    let producer = s.produce("pub-audio", MediaKind::Audio, Codec::Opus, AUDIO_SSRC);
    let consumer = s.consume(&producer, MediaKind::Audio, false);
    let (mid, ssrc, _, _) = consumer_stream(&consumer);
    assert_ne!(
        mid.len(),
        "pub-audio".len(),
        "the consumer's mid is Sluice's own"
    );
    for i in 0..10u16 {
        write_opus(&mut s.a, u64::from(i), i).expect("write Opus");
    }
    assert!(s.pump_until(|c| count(c[1], ssrc) >= 10), "Opus arrives");
    for p in s.b.received() {
        assert_eq!(
            p.header.ext_vals.mid.map(|m| m.to_string()).as_deref(),
            Some(mid.as_str()),
            "mid extension of packet {}",
            *p.seq_no
        );
    }
}

#[test]
fn every_packet_to_a_consumer_carries_its_mid() {
    let server = Server::start();
    let mut s = connected_pair(&server);
    let (_, mid, ssrc) = s.forward(MediaKind::Audio, false);
    // Send until Sluice's receiver report about the publisher's stream has arrived (str0m then
    // drops the mid from what it sends), then ten more.
    let mut i = 0u16;
    let reported = wait_until(|| {
        write_opus(&mut s.a, u64::from(i), i).ok()?;
        i += 1;
        s.a.pump(Duration::from_millis(20)).ok()?;
        s.b.pump(Duration::from_millis(1)).ok()?;
        (s.a.reports_about(AUDIO_SSRC) > 0).then_some(())
    });
    assert!(
        reported.is_some(),
        "no receiver report from Sluice reached the publisher"
    );
    for _ in 0..10 {
        write_opus(&mut s.a, u64::from(i), i).expect("write Opus");
        i += 1;
        s.a.pump(Duration::from_millis(1)).expect("pump");
    }
    let sent = usize::from(i);
    assert!(s.pump_until(|c| count(c[1], ssrc) >= sent), "Opus arrives");
    let without: Vec<u64> =
        s.b.received()
            .iter()
            .filter(|p| p.header.ext_vals.mid.map(|m| m.to_string()) != Some(mid.clone()))
            .map(|p| *p.seq_no)
            .collect();
    assert!(
        without.is_empty(),
        "{} of {sent} packets reached the consumer without its mid {mid:?}: {without:?}",
        without.len()
    );
}

#[test]
fn a_str0m_subscribers_pli_reaches_the_str0m_publisher() {
    let server = Server::start();
    let mut s = connected_pair(&server);
    let (_, _, ssrc) = s.forward(MediaKind::Video, false);
    // Creating a video consumer asks the publisher for a key frame; answer it (packet 0 is one)
    // and let video flow (str0m sends feedback only for a stream it has seen).
    assert!(
        s.pump_until(|c| !c[0].keyframe_requests().is_empty()),
        "creating a video consumer did not ask the publisher for a key frame"
    );
    for i in 0..10u16 {
        write_vp8(&mut s.a, u64::from(i), i).expect("write VP8");
    }
    assert!(
        s.pump_until(|c| count(c[1], ssrc) >= 10),
        "video reaches the subscriber"
    );
    // Sluice relays at most one request per producer per interval, so a subscriber asks again
    // until it is heard, as a decoder waiting for a key frame does. Nothing else asks now.
    let before = s.a.keyframe_requests().len();
    let relayed = wait_until(|| {
        s.b.request_keyframe(ssrc).ok()?;
        s.a.pump(Duration::from_millis(5)).ok()?;
        s.b.pump(Duration::from_millis(5)).ok()?;
        (s.a.keyframe_requests().len() > before).then_some(())
    });
    assert!(
        relayed.is_some(),
        "the subscriber's PLI never reached the publisher"
    );
    let k = &s.a.keyframe_requests()[before];
    assert_eq!(
        k.mid.to_string(),
        VIDEO_MID,
        "the request is for the publisher's video"
    );
}

/// Sends `n` Opus packets from the publisher (sequence numbers from 0).
fn send_opus(s: &mut Pair, n: u16) {
    for i in 0..n {
        write_opus(&mut s.a, u64::from(i), i).expect("write Opus");
        s.a.pump(Duration::from_millis(1)).expect("pump publisher");
    }
}

#[test]
fn str0m_as_dtls_server_both_ways() {
    // Sluice takes the client end for both transports (our `connect` says role "server").
    let server = Server::start();
    let mut s = connected_pair_as(&server, DtlsSide::Server, DtlsSide::Server);
    let (_, _, ssrc) = s.forward(MediaKind::Audio, false);
    send_opus(&mut s, 20);
    assert!(
        s.pump_until(|c| count(c[1], ssrc) >= 20),
        "{} of 20 Opus packets decrypted with Sluice as DTLS client",
        count(&s.b, ssrc)
    );
    for (i, p) in s.b.received().iter().enumerate() {
        assert_eq!(&p.payload[..], &opus_payload(i as u16)[..], "payload {i}");
    }
}

#[test]
fn str0m_offering_dtls_1_3_settles_on_1_2() {
    // str0m's `Auto` sends a DTLS 1.3 ClientHello that an older server can answer as 1.2
    // (RFC 8446 Appendix D.1, carried over by RFC 9147), and as server accepts either. Sluice
    // speaks 1.2 (issue 3): both handshakes settle on 1.2 and media flows.
    let server = Server::start();
    let mut s = connected_pair_with(
        &server,
        DtlsSide::Client,
        DtlsSide::Server,
        DtlsVersion::Auto,
    );
    let (_, _, ssrc) = s.forward(MediaKind::Audio, false);
    send_opus(&mut s, 10);
    assert!(s.pump_until(|c| count(c[1], ssrc) >= 10), "Opus arrives");
}

#[test]
fn the_subscriber_gets_sender_reports_for_its_consumer() {
    let server = Server::start();
    let mut s = connected_pair(&server);
    let (_, mid, ssrc) = s.forward(MediaKind::Audio, false);
    // str0m sends a sender report about every second of media (its audio RTCP interval); keep
    // the publisher going while we wait for Sluice's to the subscriber.
    let mut i = 0u16;
    let got = wait_until(|| {
        write_opus(&mut s.a, u64::from(i), i).ok()?;
        i += 1;
        s.a.pump(Duration::from_millis(10)).ok()?;
        s.b.pump(Duration::from_millis(10)).ok()?;
        (!s.b.sender_reports().is_empty()).then_some(())
    });
    assert!(
        got.is_some(),
        "no sender report reached the subscriber ({} packets)",
        count(&s.b, ssrc)
    );
    assert_eq!(s.b.sender_reports()[0].mid.to_string(), mid);
}

#[test]
fn resuming_a_video_consumer_asks_the_publisher_for_a_key_frame() {
    let server = Server::start();
    let mut s = connected_pair(&server);
    let (consumer, _, ssrc) = s.forward(MediaKind::Video, true);
    // Whatever Sluice sent while creating the consumer (a request, or nothing as mediasoup)
    // left before the API answered; take it in, then answer it with a key frame, which the
    // paused consumer does not forward.
    s.a.pump(Duration::from_millis(50)).expect("pump");
    write_vp8(&mut s.a, 0, 0).expect("write VP8");
    s.a.pump(Duration::from_millis(5)).expect("pump");
    let before = s.a.keyframe_requests().len();
    s.http
        .post(
            &format!("/v1/consumers/{}/resume", str_of(&consumer, "id")),
            &json!({}),
        )
        .ok();
    assert!(
        s.pump_until(|c| c[0].keyframe_requests().len() > before),
        "resuming the consumer did not ask the publisher for a key frame \
         ({before} request(s) before the resume)"
    );
    assert_eq!(s.a.keyframe_requests()[before].mid.to_string(), VIDEO_MID);
    assert_eq!(count(&s.b, ssrc), 0, "the paused consumer forwarded video");
}

#[test]
fn transport_wide_sequence_numbers_are_the_subscriber_transports_own() {
    let server = Server::start();
    let mut s = connected_pair(&server);
    let _audio = s.produce(AUDIO_MID, MediaKind::Audio, Codec::Opus, AUDIO_SSRC);
    let video = s.produce(VIDEO_MID, MediaKind::Video, Codec::Vp8, VIDEO_SSRC);
    // Only the video consumer: the publisher numbers audio and video packets in one sequence,
    // so forwarding its numbers leaves a gap at every audio packet.
    let consumer = s.consume(&video, MediaKind::Video, false);
    let (_, ssrc, _, _) = consumer_stream(&consumer);
    for i in 0..20u16 {
        write_opus(&mut s.a, u64::from(i), i).expect("write");
        write_vp8(&mut s.a, u64::from(i), i).expect("write");
        s.a.pump(Duration::from_millis(1)).expect("pump");
    }
    assert!(s.pump_until(|c| count(c[1], ssrc) >= 20), "video arrives");
    let twcc: Vec<u16> =
        s.b.received()
            .iter()
            .filter_map(|p| p.header.ext_vals.transport_cc)
            .collect();
    assert_eq!(
        twcc.len(),
        20,
        "every video packet carries a transport-wide number"
    );
    for w in twcc.windows(2) {
        assert_eq!(
            w[1],
            w[0].wrapping_add(1),
            "consecutive on the subscriber's transport: {twcc:?}"
        );
    }
}
