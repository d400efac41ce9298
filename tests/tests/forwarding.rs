//! Plain-RTP forwarding through the real binary (issue 2): one producer, three consumers on three
//! receiving sockets, on each I/O backend. Every receiver gets every packet with its own SSRC and
//! the payload type its `rtpCapabilities` asked for, payload intact; pausing a consumer stops its
//! packets and resuming continues its sequence without a gap; a paused producer reaches nobody
//! and its consumers continue without a gap; deleting the producer closes its consumers.

use std::collections::HashSet;
use std::net::SocketAddr;

use sluice_tests::*;

const PRODUCER_PT: u8 = 111;
const PRODUCER_SSRC: u32 = 0x1234_5678;
/// Opus at 20 ms: 960 ticks of the 48 kHz clock per packet.
const TS_STEP: u32 = 960;

fn payload(i: u32) -> Vec<u8> {
    let mut p = format!("packet-{i:05}|").into_bytes();
    // Bytes of every value, so that any rewriting of the payload shows.
    p.extend((0..150u32).map(|k| (k * 7 + i) as u8));
    p
}

fn index_of(p: &RtpView) -> u32 {
    let text = std::str::from_utf8(&p.payload[7..12]).expect("payload index is ASCII");
    text.parse().expect("payload index")
}

struct Consumer {
    id: String,
    pt: u8,
    ssrc: u32,
    peer: Peer,
}

struct Setup {
    server: Server,
    http: Http,
    events: EventStream,
    producer: String,
    sender: Peer,
    dest: SocketAddr,
    consumers: Vec<Consumer>,
}

fn setup(io: &str) -> Setup {
    let server = Server::start_with(ServerOptions::with_args(&["--io", io]));
    let http = server.http();
    let workers = http.get("/v1/workers").ok();
    for w in workers.as_array().expect("workers array") {
        assert_eq!(w["io"], io, "every worker runs the backend asked for: {w}");
    }
    let events = EventStream::open(&http);
    let router = http.create_router(None);
    let router = str_of(&router, "id");

    let sender = Peer::new();
    let pt = http.create_plain_transport(router, &json!({}));
    http.connect(str_of(&pt, "id"), sender.addr()).ok();
    let producer = http.produce_opus(str_of(&pt, "id"), PRODUCER_PT, PRODUCER_SSRC);
    assert_eq!(producer["kind"], "audio");
    assert_eq!(producer["type"], "simple");
    let producer = str_of(&producer, "id").to_string();

    let mut consumers = Vec::new();
    let mut ssrcs = HashSet::new();
    for want_pt in [100u8, 101, 111] {
        let peer = Peer::new();
        let t = http.create_plain_transport(router, &json!({ "comedia": false }));
        http.connect(str_of(&t, "id"), peer.addr()).ok();
        let c = http.consume_opus(str_of(&t, "id"), &producer, want_pt).ok();
        assert_eq!(c["producerId"], producer.as_str());
        assert_eq!(c["kind"], "audio");
        assert_eq!(c["producerPaused"], false);
        let codec = &c["rtpParameters"]["codecs"][0];
        assert_eq!(codec["mimeType"], "audio/opus");
        assert_eq!(
            codec["payloadType"], want_pt,
            "the consumer's payload type is the one its capabilities asked for: {c}"
        );
        let ssrc = c["rtpParameters"]["encodings"][0]["ssrc"]
            .as_u64()
            .expect("consumer encodings[0].ssrc") as u32;
        assert_ne!(ssrc, PRODUCER_SSRC, "a consumer has its own SSRC");
        assert!(ssrcs.insert(ssrc), "every consumer has its own SSRC");
        consumers.push(Consumer {
            id: str_of(&c, "id").to_string(),
            pt: want_pt,
            ssrc,
            peer,
        });
    }
    Setup {
        dest: local_addr_of(&pt),
        server,
        http,
        events,
        producer,
        sender,
        consumers,
    }
}

impl Setup {
    /// Sends packets `range` (sequence 65500 + i, so that it wraps; timestamp i * 960).
    fn send(&self, range: std::ops::Range<u32>) {
        for i in range {
            let pkt = rtp_packet(
                PRODUCER_PT,
                65_500u16.wrapping_add(i as u16),
                i.wrapping_mul(TS_STEP).wrapping_add(0xFFFF_0000),
                PRODUCER_SSRC,
                i.is_multiple_of(10),
                &[],
                &payload(i),
            );
            self.sender.send_to(&pkt, self.dest);
        }
    }

    /// Receives on consumer `c` up to and including the packet of index `last`.
    fn recv(&self, c: usize, last: u32) -> Vec<RtpView> {
        let got = self.consumers[c]
            .peer
            .recv_rtp_until(|p| index_of(p) == last);
        assert_eq!(
            got.last().map(index_of),
            Some(last),
            "consumer {c} got packet {last} ({} packets)",
            got.len()
        );
        got
    }
}

/// Checks what consumer `c` received: its SSRC and payload type, payload and marker intact,
/// and sequence numbers and timestamps that follow the sender's steps.
fn check_stream(s: &Setup, c: usize, got: &[RtpView], indices: std::ops::Range<u32>) {
    let want: Vec<u32> = indices.collect();
    let have: Vec<u32> = got.iter().map(index_of).collect();
    assert_eq!(have, want, "consumer {c} got every packet once, in order");
    for p in got {
        let i = index_of(p);
        assert_eq!(p.ssrc, s.consumers[c].ssrc, "consumer {c}'s SSRC");
        assert_eq!(p.pt, s.consumers[c].pt, "consumer {c}'s payload type");
        assert_eq!(p.payload, payload(i), "payload of packet {i} intact");
        assert_eq!(p.marker, i.is_multiple_of(10), "marker of packet {i}");
    }
    for w in got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "consecutive sequence");
        assert_eq!(
            w[1].ts.wrapping_sub(w[0].ts),
            TS_STEP,
            "timestamps keep the sender's spacing"
        );
    }
}

/// `b` is after `a` in RFC 3550 serial-number terms (less than half the space ahead).
fn ts_after(a: u32, b: u32) -> bool {
    let d = b.wrapping_sub(a);
    d != 0 && d < 1 << 31
}

fn forwarding(io: &str) {
    let s = setup(io);

    // Everyone gets everything.
    s.send(0..40);
    let mut last = Vec::new();
    for c in 0..3 {
        let got = s.recv(c, 39);
        check_stream(&s, c, &got, 0..40);
        last.push(got.last().cloned().expect("packets"));
    }

    // Consumer 1 paused: the others get 40..70, consumer 1 nothing of it.
    let c1 = s.consumers[1].id.clone();
    assert_eq!(
        s.http
            .post(&format!("/v1/consumers/{c1}/pause"), &json!({}))
            .ok(),
        json!({})
    );
    s.send(40..70);
    for c in [0, 2] {
        let got = s.recv(c, 69);
        check_stream(&s, c, &got, 40..70);
        assert_eq!(got[0].seq, last[c].seq.wrapping_add(1));
        last[c] = got.last().cloned().expect("packets");
    }
    assert_eq!(
        s.http
            .post(&format!("/v1/consumers/{c1}/resume"), &json!({}))
            .ok(),
        json!({})
    );
    s.send(70..90);
    for (c, last) in last.iter_mut().enumerate() {
        // Consumer 1's first packet after the pause is 70: nothing of 40..70 reached it.
        let got = s.recv(c, 89);
        check_stream(&s, c, &got, 70..90);
        assert_eq!(
            got[0].seq,
            last.seq.wrapping_add(1),
            "consumer {c}: no sequence gap across the consumer's pause"
        );
        assert!(
            ts_after(last.ts, got[0].ts),
            "consumer {c}: the timestamp moves forward across the pause"
        );
        *last = got.last().cloned().expect("packets");
    }

    // Producer paused: nobody gets 90..100; every consumer hears of it on the event stream.
    let p = s.producer.clone();
    s.http
        .post(&format!("/v1/producers/{p}/pause"), &json!({}))
        .ok();
    for c in &s.consumers {
        s.events
            .wait_for(|e| e.name == "consumer.producerpause" && e.data["consumerId"] == c.id)
            .unwrap_or_else(|| panic!("consumer.producerpause for {}", c.id));
    }
    let dump = s
        .http
        .get(&format!("/v1/consumers/{}", s.consumers[0].id))
        .ok();
    assert_eq!(dump["producerPaused"], true, "consumer dump: {dump}");
    s.send(90..100);
    s.http
        .post(&format!("/v1/producers/{p}/resume"), &json!({}))
        .ok();
    for c in &s.consumers {
        s.events
            .wait_for(|e| e.name == "consumer.producerresume" && e.data["consumerId"] == c.id)
            .unwrap_or_else(|| panic!("consumer.producerresume for {}", c.id));
    }
    s.send(100..110);
    for (c, last) in last.iter().enumerate() {
        let got = s.recv(c, 109);
        check_stream(&s, c, &got, 100..110);
        assert_eq!(
            got[0].seq,
            last.seq.wrapping_add(1),
            "consumer {c}: no sequence gap across the producer's pause"
        );
        assert!(ts_after(last.ts, got[0].ts));
    }

    // Stats count what was forwarded.
    let stats = s
        .http
        .get(&format!("/v1/consumers/{}/stats", s.consumers[0].id))
        .ok();
    assert_eq!(stats[0]["type"], "outbound-rtp", "{stats}");
    assert_eq!(stats[0]["packetCount"], 40 + 30 + 20 + 10, "{stats}");
    assert_eq!(stats[1]["type"], "inbound-rtp", "{stats}");
    assert_eq!(
        stats[1]["packetCount"], 110,
        "the producer counts paused packets too"
    );
    assert_eq!(stats[1]["packetsLost"], 0, "{stats}");
    // The sender's timestamps wrap past 2^32 at packet 69; RFC 3550 jitter is computed modulo
    // 2^32 and stays below the span of this whole test (a minute of the 48 kHz clock), where a
    // wrap taken as a jump of 2^32 would leave it in the millions.
    let jitter = stats[1]["jitter"].as_u64().expect("jitter");
    assert!(jitter < 48_000 * 60, "jitter {jitter}");

    // Deleting the producer closes its consumers.
    let r = s.http.delete(&format!("/v1/producers/{p}"));
    assert_eq!(r.status, 204, "{}", r.body);
    for c in &s.consumers {
        let e = s
            .events
            .wait_for(|e| e.name == "consumer.producerclose" && e.data["consumerId"] == c.id)
            .unwrap_or_else(|| panic!("consumer.producerclose for {}", c.id));
        assert_eq!(e.data["producerId"], p.as_str());
        assert_eq!(e.data["event"], "consumer.producerclose");
        let r = s.http.get(&format!("/v1/consumers/{}", c.id));
        r.assert_error(404, "not_found", &c.id);
        let r = s
            .http
            .post(&format!("/v1/consumers/{}/pause", c.id), &json!({}));
        r.assert_error(404, "not_found", &c.id);
    }
    s.http
        .get(&format!("/v1/producers/{p}"))
        .assert_error(404, "not_found", &p);
    // The server is still fine.
    assert_eq!(s.http.get("/v1/health").ok()["status"], "ok");
    drop(s.server);
}

#[test]
fn forwarding_uring() {
    forwarding("uring");
}

#[test]
fn forwarding_mmsg() {
    forwarding("mmsg");
}

/// VP8 with header extensions: each consumer gets the extension ids its capabilities asked for
/// (RFC 8285), the element data intact; an extension it did not ask for is gone; and the
/// payload type of its VP8 codec. The extensions a consumer writes itself (`rtc::consumer`):
/// abs-send-time is the time of sending, the transport-wide sequence number its transport's own
/// (1 for the first packet), and the mid its own: a plain consumer has none, so the
/// producer's is not forwarded.
#[test]
fn video_header_extension_ids_are_rewritten_per_consumer() {
    const MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
    const AST: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
    const CVO: &str = "urn:3gpp:video-orientation";
    const TWCC: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
    let server = Server::start();
    let h = server.http();
    let router = h.create_router(None);
    let router_caps = router["rtpCapabilities"].clone();
    let router = str_of(&router, "id");
    let sender = Peer::new();
    let pt = h.create_plain_transport(router, &json!({}));
    h.connect(str_of(&pt, "id"), sender.addr()).ok();
    let producer = h
        .post(
            &format!("/v1/transports/{}/producers", str_of(&pt, "id")),
            &json!({"kind": "video", "rtpParameters": {
                "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                            "parameters": {}, "rtcpFeedback": []}],
                "headerExtensions": [
                    {"uri": MID, "id": 2}, {"uri": AST, "id": 3}, {"uri": CVO, "id": 5}
                ],
                "encodings": [{"ssrc": 0xBEEF}],
                "rtcp": {"cname": "v", "reducedSize": true, "mux": true}
            }}),
        )
        .ok();
    let producer = str_of(&producer, "id");
    let only_ast_cvo = json!({
        "codecs": [{"kind": "video", "mimeType": "video/VP8", "preferredPayloadType": 110,
                    "clockRate": 90000, "parameters": {}, "rtcpFeedback": []}],
        "headerExtensions": [
            {"kind": "video", "uri": AST, "preferredId": 9, "preferredEncrypt": false, "direction": "sendrecv"},
            {"kind": "video", "uri": CVO, "preferredId": 3, "preferredEncrypt": false, "direction": "sendrecv"}
        ]
    });
    let mut receivers = Vec::new();
    for caps in [router_caps, only_ast_cvo] {
        let peer = Peer::new();
        let t = h.create_plain_transport(router, &json!({}));
        h.connect(str_of(&t, "id"), peer.addr()).ok();
        let c = h
            .post(
                &format!("/v1/transports/{}/consumers", str_of(&t, "id")),
                &json!({"producerId": producer, "rtpCapabilities": caps}),
            )
            .ok();
        assert_eq!(c["kind"], "video");
        receivers.push((peer, c["rtpParameters"].clone()));
    }
    let pkt = rtp_packet(
        96,
        7,
        90_000,
        0xBEEF,
        true,
        &[(2, b"v0"), (3, &[1, 2, 3]), (5, &[0x01])],
        b"\x90\x80\x12\x34vp8 frame",
    );
    sender.send_to(&pkt, local_addr_of(&pt));
    for (peer, params) in &receivers {
        let (b, _) = peer.recv().expect("a VP8 packet");
        let p = RtpView::parse(&b).expect("RTP");
        let ssrc = params["encodings"][0]["ssrc"].as_u64().expect("ssrc") as u32;
        assert_eq!(p.ssrc, ssrc);
        let vp8 = params["codecs"]
            .as_array()
            .expect("codecs")
            .iter()
            .find(|c| c["mimeType"] == "video/VP8")
            .expect("VP8 in the consumer's codecs");
        assert_eq!(u64::from(p.pt), vp8["payloadType"].as_u64().expect("pt"));
        assert_eq!(p.payload, b"\x90\x80\x12\x34vp8 frame");
        assert!(p.marker);
        let id_of = |uri: &str| {
            params["headerExtensions"]
                .as_array()
                .expect("headerExtensions")
                .iter()
                .find(|e| e["uri"] == uri)
                .map(|e| e["id"].as_u64().expect("id") as u8)
        };
        let mut want: Vec<(u8, Vec<u8>)> = [(CVO, vec![1]), (TWCC, vec![0, 1])]
            .into_iter()
            .filter_map(|(uri, d)| id_of(uri).map(|id| (id, d)))
            .collect();
        want.sort();
        let ast = id_of(AST).expect("both consumers negotiate abs-send-time");
        let mut got: Vec<(u8, Vec<u8>)> = p
            .extensions
            .iter()
            .filter(|(id, _)| *id != ast)
            .cloned()
            .collect();
        got.sort();
        assert_eq!(got, want, "extensions under the consumer's ids: {params}");
        let stamped = p.extensions.iter().find(|(id, _)| *id == ast);
        assert!(
            stamped.is_some_and(|(_, d)| d.len() == 3 && d[..] != [1, 2, 3]),
            "abs-send-time stamped at sending: {stamped:?}"
        );
    }
    // The second consumer asked for abs-send-time on 9 and video orientation on 3, no mid.
    let (_, second) = &receivers[1];
    assert_eq!(second["codecs"][0]["payloadType"], 110, "{second}");
    let ids: Vec<(String, u64)> = second["headerExtensions"]
        .as_array()
        .expect("headerExtensions")
        .iter()
        .map(|e| {
            (
                e["uri"].as_str().expect("uri").to_string(),
                e["id"].as_u64().expect("id"),
            )
        })
        .collect();
    assert!(
        ids.contains(&(AST.to_string(), 9)) && ids.contains(&(CVO.to_string(), 3)),
        "{ids:?}"
    );
    assert!(!ids.iter().any(|(u, _)| u == MID), "{ids:?}");
}

/// A burst of 200 packets fanned out to ten consumers: 2 000 sends, more than one `sendmmsg`
/// vector (1 024) holds, all delivered, none dropped for want of a send buffer. (200 because a
/// receiving socket with the default 208 KiB buffer holds about 256 such datagrams: more, and
/// the kernel drops at the test's receivers rather than anything Sluice does.)
fn burst_fan_out(io: &str) {
    const CONSUMERS: usize = 10;
    const BURST: u32 = 200;
    let server = Server::start_with(ServerOptions::with_args(&["--io", io]));
    let h = server.http();
    let router = h.create_router(None);
    let router = str_of(&router, "id");
    let sender = Peer::new();
    let pt = h.create_plain_transport(router, &json!({}));
    h.connect(str_of(&pt, "id"), sender.addr()).ok();
    let producer = h.produce_opus(str_of(&pt, "id"), PRODUCER_PT, PRODUCER_SSRC);
    let receivers: Vec<Peer> = (0..CONSUMERS)
        .map(|_| {
            let peer = Peer::new();
            let t = h.create_plain_transport(router, &json!({}));
            h.connect(str_of(&t, "id"), peer.addr()).ok();
            h.consume_opus(str_of(&t, "id"), str_of(&producer, "id"), 111)
                .ok();
            peer
        })
        .collect();
    let dest = local_addr_of(&pt);
    for i in 0..BURST {
        let pkt = rtp_packet(
            PRODUCER_PT,
            i as u16,
            i * TS_STEP,
            PRODUCER_SSRC,
            false,
            &[],
            &payload(i),
        );
        sender.send_to(&pkt, dest);
    }
    for (c, rx) in receivers.iter().enumerate() {
        let got = rx.recv_rtp_until(|p| index_of(p) == BURST - 1);
        let indices: Vec<u32> = got.iter().map(index_of).collect();
        let first_missing = (0..BURST).zip(&indices).find(|(want, got)| want != *got);
        assert!(
            indices.len() == BURST as usize && first_missing.is_none(),
            "consumer {c} got {} of {BURST}, first difference {first_missing:?}",
            indices.len()
        );
    }
    let workers = h.get("/v1/workers").ok();
    for w in workers.as_array().expect("workers") {
        assert_eq!(w["stats"]["drops"]["no_send_buffer"], 0, "{w}");
    }
}

#[test]
fn burst_fan_out_uring() {
    burst_fan_out("uring");
}

#[test]
fn burst_fan_out_mmsg() {
    burst_fan_out("mmsg");
}
