//! Simulcast through the real binary on plain transports: a producer announces three encodings
//! by RID only (no SSRCs, as mediasoup-client does), its endpoint sends each layer on an SSRC of
//! its choosing with MID and RID header extensions and answers PLIs with a key frame on the
//! layer asked for. The consumer's receiver gets one stream: the top layer first, then, after
//! `PUT /v1/consumers/{id}/preferred-layers {"spatialLayer": 0}`, layer 0 from a key frame on,
//! with continuous sequence numbers; the event stream says `consumer.layerschange`.
//!
//! RTCP is read with a few lines of its own (RFC 4585 §6.1 PLI layout). Waits are bounded;
//! nothing asserts how long anything took.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sluice_tests::*;

const MID_ID: u8 = 1;
const RID_ID: u8 = 2;

fn layer_ssrc(l: usize) -> u32 {
    0xAB00 + l as u32
}

/// A plain transport connected to `peer`; returns its id and local address.
fn plain_transport(h: &Http, router: &str, peer: &Peer) -> (String, SocketAddr) {
    let t = h.create_plain_transport(router, &json!({"comedia": false, "rtcpMux": true}));
    let id = str_of(&t, "id").to_owned();
    h.connect(&id, peer.addr()).ok();
    (id, local_addr_of(&t))
}

/// The media SSRCs of the PLIs in an RTCP compound datagram.
fn plis(b: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= b.len() {
        let len = (usize::from(u16::from_be_bytes([b[at + 2], b[at + 3]])) + 1) * 4;
        if at + len > b.len() {
            break;
        }
        if b[at + 1] == 206 && b[at] & 0x1f == 1 && len >= 12 {
            out.push(u32::from_be_bytes([
                b[at + 8],
                b[at + 9],
                b[at + 10],
                b[at + 11],
            ]));
        }
        at += len;
    }
    out
}

/// The producer's endpoint: three layers, one packet per frame each, key frames when asked.
struct Sender {
    peer: Peer,
    to: SocketAddr,
    frame: u32,
    key: [bool; 3],
    plis: Vec<u32>,
}

impl Sender {
    fn send_frame(&mut self) {
        for l in 0..3 {
            // Answer key frame requests that arrived since the last frame.
            while let Some((b, _)) = self.peer.recv_any_within(Duration::from_millis(1)) {
                for ssrc in plis(&b) {
                    self.plis.push(ssrc);
                    if let Some(k) = (0..3).find(|&k| layer_ssrc(k) == ssrc) {
                        self.key[k] = true;
                    }
                }
            }
            let key = std::mem::take(&mut self.key[l]);
            let rid = [b'r', b'0' + l as u8];
            let payload = [0x10, if key { 0x00 } else { 0x01 }, 0x9d, 0x01, l as u8];
            let seq = (self.frame as u16).wrapping_add(10_000 * l as u16);
            let ts = 3000 * self.frame + 77_000 * l as u32;
            let p = rtp_packet(
                96,
                seq,
                ts,
                layer_ssrc(l),
                true,
                &[(MID_ID, b"0"), (RID_ID, &rid)],
                &payload,
            );
            self.peer.send_to(&p, self.to);
        }
        self.frame += 1;
    }
}

#[test]
fn rid_only_simulcast_switches_layers_on_preferred_layers() {
    let server = Server::start();
    let h = server.http();
    let router = h.create_router(Some(0));
    let router_id = str_of(&router, "id");
    let (prod, cons) = (Peer::new(), Peer::new());
    let (send_id, send_local) = plain_transport(&h, router_id, &prod);
    let (recv_id, _) = plain_transport(&h, router_id, &cons);
    let params = json!({
        "mid": "0",
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                    "rtcpFeedback": [{"type": "nack", "parameter": "pli"}]}],
        "headerExtensions": [
            {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": MID_ID},
            {"uri": "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "id": RID_ID}
        ],
        "encodings": [{"rid": "r0"}, {"rid": "r1"}, {"rid": "r2"}],
        "rtcp": {"cname": "sim"}
    });
    let producer = h
        .post(
            &format!("/v1/transports/{send_id}/producers"),
            &json!({"kind": "video", "rtpParameters": params}),
        )
        .ok();
    assert_eq!(producer["type"], "simulcast");
    let producer_id = str_of(&producer, "id");
    let events = EventStream::open(&h);
    let consumer = h
        .post(
            &format!("/v1/transports/{recv_id}/consumers"),
            &json!({"producerId": producer_id, "rtpCapabilities": router["rtpCapabilities"]}),
        )
        .ok();
    assert_eq!(consumer["type"], "simulcast");
    let consumer_id = str_of(&consumer, "id").to_owned();
    let consumer_ssrc = consumer["rtpParameters"]["encodings"][0]["ssrc"]
        .as_u64()
        .unwrap() as u32;

    let mut sender = Sender {
        peer: prod,
        to: send_local,
        frame: 0,
        key: [true; 3],
        plis: Vec::new(),
    };
    let mut got: Vec<RtpView> = Vec::new();
    // Frames until the receiver has seen `want` packets of layer `layer` in a row.
    let run_until = |sender: &mut Sender, got: &mut Vec<RtpView>, layer: u8, want: usize| {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            sender.send_frame();
            while let Some((b, _)) = cons.recv_within(Duration::from_millis(5)) {
                if let Some(p) = RtpView::parse(&b) {
                    got.push(p);
                }
            }
            let tail = got
                .iter()
                .rev()
                .take_while(|p| p.payload[4] == layer)
                .count();
            if tail >= want {
                return;
            }
            assert!(
                Instant::now() < end,
                "layer {layer} never settled: {:?}",
                got.iter().map(|p| p.payload[4]).collect::<Vec<_>>()
            );
        }
    };
    run_until(&mut sender, &mut got, 2, 20);
    let d = h.get(&format!("/v1/consumers/{consumer_id}")).ok();
    assert_eq!(
        d["currentLayers"],
        json!({"spatialLayer": 2, "temporalLayer": 0})
    );
    assert!(
        events
            .wait_for(|e| e.name == "consumer.layerschange"
                && e.data["consumerId"] == consumer_id.as_str()
                && e.data["spatialLayer"] == 2)
            .is_some(),
        "consumer.layerschange to layer 2"
    );

    // Bad bodies name the field; an unknown consumer is 404.
    let path = format!("/v1/consumers/{consumer_id}/preferred-layers");
    h.request("PUT", &path, Some("{}"))
        .assert_error(400, "invalid_field", "spatialLayer");
    h.request("PUT", &path, Some(r#"{"spatialLayer": -1}"#))
        .assert_error(400, "invalid_field", "spatialLayer");
    h.request(
        "PUT",
        &format!("/v1/consumers/{}/preferred-layers", uuid_like()),
        Some(r#"{"spatialLayer": 0}"#),
    )
    .assert_error(404, "not_found", "consumer");

    let r = h.request("PUT", &path, Some(r#"{"spatialLayer": 0}"#)).ok();
    assert_eq!(r, json!({}));
    let before = got.len();
    run_until(&mut sender, &mut got, 0, 20);
    assert!(
        sender.plis.contains(&layer_ssrc(0)),
        "a key frame was asked of layer 0's SSRC: {:?}",
        sender.plis
    );
    assert!(
        events
            .wait_for(|e| e.name == "consumer.layerschange"
                && e.data["consumerId"] == consumer_id.as_str()
                && e.data["spatialLayer"] == 0)
            .is_some(),
        "consumer.layerschange to layer 0"
    );
    let d = h.get(&format!("/v1/consumers/{consumer_id}")).ok();
    assert_eq!(d["currentLayers"]["spatialLayer"], 0);
    assert_eq!(d["preferredLayers"]["spatialLayer"], 0);
    // One stream throughout: the consumer's SSRC, sequence numbers without a gap, layer 2 up
    // to layer 0's first (key) frame.
    assert!(got.iter().all(|p| p.ssrc == consumer_ssrc));
    for w in got.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "gap at {:?}",
            (w[0].seq, w[1].seq)
        );
    }
    let switch = got[before..]
        .iter()
        .position(|p| p.payload[4] == 0)
        .map(|i| i + before)
        .unwrap();
    assert_eq!(
        got[switch].payload[1] & 0x01,
        0,
        "the switch happens at a key frame"
    );
    assert!(
        got[..switch]
            .iter()
            .skip_while(|p| p.payload[4] != 2)
            .all(|p| p.payload[4] == 2)
    );
    let stats = h.get(&format!("/v1/producers/{producer_id}/stats")).ok();
    let rids: Vec<&str> = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rid"].as_str().unwrap())
        .collect();
    assert_eq!(rids, ["r0", "r1", "r2"]);
}

/// A well-formed id that names nothing.
fn uuid_like() -> &'static str {
    "00000000-0000-4000-8000-000000000000"
}
