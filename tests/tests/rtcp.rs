//! RTCP through the real binary on plain transports: a plain-RTP receiver's PLI reaches the
//! producer's socket as a PLI for the producer's SSRC, a key frame is requested when a video
//! consumer is created or resumed, receivers get sender reports with their consumer's SSRC and
//! CNAME, the producer gets receiver reports about its stream, a consumer's NACK is answered
//! from Sluice's buffer and a gap in the producer's stream is NACKed.
//!
//! RTCP is read here with a few lines of its own (RFC 3550 §6.4, RFC 4585 §6.1 layouts) rather
//! than with the engine's parser, so that the test checks the engine instead of trusting it.
//! Waits are bounded; nothing asserts how long anything took.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sluice_tests::*;

/// Sluice on the given I/O backend.
fn start(io: &str) -> (Server, Http) {
    let server = Server::start_with(ServerOptions::with_args(&["--io", io]));
    let http = server.http();
    (server, http)
}

/// A plain transport connected to `peer`; returns its id and local address.
fn plain_transport(h: &Http, router: &str, peer: &Peer) -> (String, SocketAddr) {
    let t = h.create_plain_transport(router, &json!({"comedia": false, "rtcpMux": true}));
    let id = str_of(&t, "id").to_owned();
    h.connect(&id, peer.addr()).ok();
    (id, local_addr_of(&t))
}

/// Creates a VP8 producer with `feedback`; returns its id.
fn produce_vp8(h: &Http, transport: &str, feedback: Value, cname: Option<&str>) -> String {
    let mut params = json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                    "rtcpFeedback": feedback}],
        "encodings": [{"ssrc": SSRC}]});
    if let Some(c) = cname {
        params["rtcp"] = json!({ "cname": c });
    }
    let p = h
        .post(
            &format!("/v1/transports/{transport}/producers"),
            &json!({"kind": "video", "rtpParameters": params}),
        )
        .ok();
    str_of(&p, "id").to_owned()
}

/// Whatever is queued on a peer's socket now, RTCP included, without waiting long.
fn take(peer: &Peer) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((b, _)) = peer.recv_any_within(Duration::from_millis(1)) {
        out.push(b);
    }
    out
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `(pt, count/fmt, bytes)` of each packet of a compound RTCP datagram; empty if not RTCP.
fn rtcp_packets(d: &[u8]) -> Vec<(u8, u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = d;
    while rest.len() >= 4 && rest[0] >> 6 == 2 && (200..=206).contains(&rest[1]) {
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if len > rest.len() {
            return Vec::new();
        }
        out.push((rest[1], rest[0] & 0x1f, &rest[..len]));
        rest = &rest[len..];
    }
    out
}

/// The CNAME of the SDES chunk for `ssrc` in an SDES packet.
fn sdes_cname(p: &[u8], ssrc: u32) -> Option<String> {
    let mut at = 4;
    for _ in 0..(p[0] & 0x1f) {
        let chunk_ssrc = be32(p, at);
        let mut i = at + 4;
        let mut cname = None;
        while i < p.len() && p[i] != 0 {
            let len = usize::from(p[i + 1]);
            if p[i] == 1 {
                cname = Some(String::from_utf8_lossy(&p[i + 2..i + 2 + len]).into_owned());
            }
            i += 2 + len;
        }
        if chunk_ssrc == ssrc {
            return cname;
        }
        at = (i + 1).div_ceil(4) * 4;
    }
    None
}

fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
    rtp_packet(96, seq, 3000 * u32::from(seq), SSRC, false, &[], payload)
}

fn pli(sender: u32, media: u32) -> Vec<u8> {
    let mut b = vec![0x81, 206, 0, 2];
    b.extend_from_slice(&sender.to_be_bytes());
    b.extend_from_slice(&media.to_be_bytes());
    b
}

const VP8_KEY: [u8; 4] = [0x10, 0x00, 0x9d, 0x01];
const VP8_DELTA: [u8; 4] = [0x10, 0x01, 0x00, 0x00];
const SSRC: u32 = 0x2222_2222;

/// What the producer's endpoint and the consumer's endpoint received while media flowed.
#[derive(Default)]
struct Seen {
    /// PLIs at the producer: (sender SSRC, media SSRC).
    plis: Vec<(u32, u32)>,
    /// RR blocks about the producer's stream at the producer.
    rr_blocks: usize,
    /// SRs at the consumer for its SSRC, with the SDES CNAME of the same datagram.
    srs: Vec<(u32, Option<String>)>,
    /// RTP at the consumer: whether each was the key frame.
    rtp_key_frames: usize,
}

fn collect(producer: &Peer, consumer: &Peer, consumer_ssrc: u32, seen: &mut Seen) {
    for d in take(producer) {
        for (pt, fmt, p) in rtcp_packets(&d) {
            match (pt, fmt) {
                (206, 1) => seen.plis.push((be32(p, 4), be32(p, 8))),
                (201, count) => {
                    seen.rr_blocks += (0..usize::from(count))
                        .filter(|i| be32(p, 8 + 24 * i) == SSRC)
                        .count()
                }
                _ => {}
            }
        }
    }
    for d in take(consumer) {
        let packets = rtcp_packets(&d);
        if packets.is_empty() {
            if RtpView::parse(&d).is_some_and(|p| p.payload[..2] == VP8_KEY[..2]) {
                seen.rtp_key_frames += 1;
            }
            continue;
        }
        for &(pt, _, p) in &packets {
            if pt == 200 && be32(p, 4) == consumer_ssrc {
                let cname = packets
                    .iter()
                    .find(|(pt, _, _)| *pt == 202)
                    .and_then(|(_, _, s)| sdes_cname(s, consumer_ssrc));
                seen.srs.push((be32(p, 20), cname));
            }
        }
    }
}

#[test]
fn plain_rtp_receiver_pli_reaches_the_producer_and_receivers_get_sender_reports() {
    for io in ["uring", "mmsg"] {
        pli_relay_and_reports(io);
    }
}

fn pli_relay_and_reports(io: &str) {
    let (_server, h) = start(io);
    let router = h.create_router(Some(0));
    let router_id = str_of(&router, "id");
    let (prod, cons) = (Peer::new(), Peer::new());
    let (send_id, send_local) = plain_transport(&h, router_id, &prod);
    let (recv_id, recv_local) = plain_transport(&h, router_id, &cons);
    let producer_id = produce_vp8(
        &h,
        &send_id,
        json!([{"type": "nack", "parameter": "pli"}]),
        Some("camera-1"),
    );
    let consumer = h
        .post(
            &format!("/v1/transports/{recv_id}/consumers"),
            &json!({"producerId": producer_id, "rtpCapabilities": router["rtpCapabilities"]}),
        )
        .ok();
    let consumer_ssrc = consumer["rtpParameters"]["encodings"][0]["ssrc"]
        .as_u64()
        .unwrap() as u32;
    assert_ne!(consumer_ssrc, SSRC);

    let mut seen = Seen::default();
    let mut seq = 0u16;
    let mut send_frame = |payload: &[u8]| {
        prod.send_to(&rtp(seq, payload), send_local);
        seq = seq.wrapping_add(1);
    };
    let t0 = Instant::now();
    let wait = |what: &str,
                seen: &mut Seen,
                send_frame: &mut dyn FnMut(&[u8]),
                done: &dyn Fn(&Seen) -> bool| {
        while !done(seen) {
            assert!(
                t0.elapsed() < WAIT * 2,
                "{io}: timed out waiting for {what}"
            );
            send_frame(&VP8_DELTA);
            std::thread::sleep(Duration::from_millis(20));
            collect(&prod, &cons, consumer_ssrc, seen);
        }
    };

    // Creating the consumer asked the producer for a key frame.
    wait("the creation's PLI", &mut seen, &mut send_frame, &|s| {
        !s.plis.is_empty()
    });
    let (sluice_ssrc, media) = seen.plis[0];
    assert_eq!(media, SSRC, "the PLI names the producer's SSRC");
    assert_ne!(sluice_ssrc, consumer_ssrc);

    // The producer answers with a key frame; once the receiver has it, the window is closed
    // and the receiver's own PLI is relayed.
    send_frame(&VP8_KEY);
    wait(
        "the key frame at the receiver",
        &mut seen,
        &mut send_frame,
        &|s| s.rtp_key_frames > 0,
    );
    let before = seen.plis.len();
    cons.send_to(&pli(0x0bad_cafe, consumer_ssrc), recv_local);
    wait("the relayed PLI", &mut seen, &mut send_frame, &|s| {
        s.plis.len() > before
    });
    assert_eq!(seen.plis[before], (sluice_ssrc, SSRC));

    // Reports: SRs to the receiver with its SSRC and CNAME, RRs to the producer.
    wait("SRs and RRs", &mut seen, &mut send_frame, &|s| {
        s.srs.len() >= 2 && s.rr_blocks >= 1
    });
    for (_, cname) in &seen.srs {
        assert_eq!(cname.as_deref(), Some("camera-1"));
    }
    assert!(
        seen.srs.windows(2).all(|w| w[0].0 <= w[1].0),
        "packet counts grow"
    );

    let stats = h
        .get(&format!("/v1/consumers/{}/stats", str_of(&consumer, "id")))
        .ok();
    assert_eq!(stats[0]["pliCount"], 1, "{stats}");
    let workers = h.get("/v1/workers").ok();
    let st = &workers[0]["stats"];
    assert!(st["keyFrameRequestsSent"].as_u64().unwrap() >= 2, "{st}");
    assert!(st["rtcpOut"].as_u64().unwrap() >= 3, "{st}");
}

#[test]
fn resume_and_request_key_frame_ask_the_producer() {
    let (_server, h) = start("auto");
    let router = h.create_router(Some(0));
    let router_id = str_of(&router, "id");
    let (prod, cons) = (Peer::new(), Peer::new());
    let (send_id, _) = plain_transport(&h, router_id, &prod);
    let (recv_id, _) = plain_transport(&h, router_id, &cons);
    // No feedback declared (a plain RTP sender that said nothing): PLI by default.
    let producer_id = produce_vp8(&h, &send_id, json!([]), None);
    // Paused: no request at creation.
    let consumer = h
        .post(
            &format!("/v1/transports/{recv_id}/consumers"),
            &json!({"producerId": producer_id, "rtpCapabilities": router["rtpCapabilities"],
                    "paused": true}),
        )
        .ok();
    let id = str_of(&consumer, "id");
    h.post(&format!("/v1/consumers/{id}/resume"), &json!({}))
        .ok();
    let pli = wait_until(|| {
        take(&prod).into_iter().find(|d| {
            rtcp_packets(d)
                .iter()
                .any(|(pt, fmt, p)| (*pt, *fmt) == (206, 1) && be32(p, 8) == SSRC)
        })
    });
    assert!(pli.is_some(), "a PLI for the producer's SSRC after resume");
    // The API's request is handled by the worker's next timer run: merged into the resume's
    // when it comes within the 1 s window, sent otherwise; either way it is counted once.
    h.post(&format!("/v1/consumers/{id}/request-key-frame"), &json!({}))
        .ok();
    let counted = wait_until(|| {
        let workers = h.get("/v1/workers").ok();
        let st = &workers[0]["stats"];
        let n = st["keyFrameRequestsSent"].as_u64().unwrap()
            + st["keyFrameRequestsSuppressed"].as_u64().unwrap();
        assert!(n <= 2, "{st}");
        (n == 2).then_some(())
    });
    assert!(counted.is_some(), "the API request was counted");
    h.post(
        "/v1/consumers/00000000-0000-4000-8000-000000000000/request-key-frame",
        &json!({}),
    )
    .assert_error(404, "not_found", "consumer");
}

/// A generic NACK (RFC 4585 §6.2.1) from `sender` about `media`: one FCI entry, PID `pid`, no BLP.
fn nack(sender: u32, media: u32, pid: u16) -> Vec<u8> {
    let mut b = vec![0x81, 205, 0, 3];
    b.extend_from_slice(&sender.to_be_bytes());
    b.extend_from_slice(&media.to_be_bytes());
    b.extend_from_slice(&pid.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b
}

/// The original packet a datagram at the consumer carries: the consumer's own stream as is, or
/// its RTX stream unwrapped (RFC 4588 §4: the original sequence number in the first two payload
/// bytes). `(sequence number, payload)`.
fn original(d: &[u8], ssrc: u32, rtx_ssrc: Option<u32>) -> Option<(u16, Vec<u8>)> {
    let p = RtpView::parse(d)?;
    if p.ssrc == ssrc {
        return Some((p.seq, p.payload));
    }
    if Some(p.ssrc) == rtx_ssrc && p.payload.len() >= 2 {
        let osn = u16::from_be_bytes([p.payload[0], p.payload[1]]);
        return Some((osn, p.payload[2..].to_vec()));
    }
    None
}

/// Both legs repair their own losses through the real binary: a consumer's NACK is answered
/// from Sluice's buffer (not relayed), and a gap in the producer's stream makes Sluice NACK the
/// producer, whose late packet then reaches the consumer. Both are counted.
#[test]
fn nacks_are_answered_from_the_buffer_and_sent_for_producer_gaps() {
    let (_server, h) = start("auto");
    let router = h.create_router(Some(0));
    let router_id = str_of(&router, "id");
    let (prod, cons) = (Peer::new(), Peer::new());
    let (send_id, send_local) = plain_transport(&h, router_id, &prod);
    let (recv_id, recv_local) = plain_transport(&h, router_id, &cons);
    let producer_id = produce_vp8(
        &h,
        &send_id,
        json!([{"type": "nack"}, {"type": "nack", "parameter": "pli"}]),
        Some("camera-1"),
    );
    let consumer = h
        .post(
            &format!("/v1/transports/{recv_id}/consumers"),
            &json!({"producerId": producer_id, "rtpCapabilities": router["rtpCapabilities"]}),
        )
        .ok();
    let enc = &consumer["rtpParameters"]["encodings"][0];
    let ssrc = enc["ssrc"].as_u64().unwrap() as u32;
    let rtx_ssrc = enc["rtx"]["ssrc"].as_u64().map(|s| s as u32);
    let payload = |seq: u16| {
        let mut p = if seq == 0 { VP8_KEY } else { VP8_DELTA }.to_vec();
        p.extend_from_slice(&[0xA0, seq as u8, 0x55, 0xAA]);
        p
    };

    // Ten packets, a key frame first; the consumer gets them all.
    for seq in 0..10u16 {
        prod.send_to(&rtp(seq, &payload(seq)), send_local);
    }
    let mut got: Vec<(u16, Vec<u8>)> = Vec::new();
    let all = wait_until(|| {
        got.extend(take(&cons).iter().filter_map(|d| original(d, ssrc, None)));
        (got.len() >= 10).then_some(())
    });
    assert!(
        all.is_some(),
        "10 packets at the consumer, got {}",
        got.len()
    );
    let (lost_seq, lost_payload) = got[4].clone();
    assert_eq!(lost_payload, payload(4));

    // The consumer NACKs its 5th packet: the same packet comes again (as RTX if negotiated).
    cons.send_to(&nack(0x0bad_cafe, ssrc, lost_seq), recv_local);
    let resent = wait_until(|| {
        take(&cons)
            .iter()
            .filter_map(|d| original(d, ssrc, rtx_ssrc))
            .find(|(seq, _)| *seq == lost_seq)
    });
    assert_eq!(
        resent,
        Some((lost_seq, lost_payload)),
        "the NACKed packet resent to the consumer"
    );
    // Never relayed: the producer's endpoint gets no NACK naming its stream for it.
    let relayed = take(&prod).iter().any(|d| {
        rtcp_packets(d)
            .iter()
            .any(|(pt, fmt, p)| (*pt, *fmt) == (205, 1) && be32(p, 8) == SSRC)
    });
    assert!(!relayed, "a consumer's NACK is answered, not relayed");

    // A gap on the producer's stream: 10 and 12 arrive, 11 does not; Sluice NACKs 11.
    prod.send_to(&rtp(10, &payload(10)), send_local);
    prod.send_to(&rtp(12, &payload(12)), send_local);
    let asked = wait_until(|| {
        take(&prod).into_iter().find(|d| {
            rtcp_packets(d).iter().any(|(pt, fmt, p)| {
                (*pt, *fmt) == (205, 1)
                    && be32(p, 8) == SSRC
                    && u16::from_be_bytes([p[12], p[13]]) == 11
            })
        })
    });
    assert!(asked.is_some(), "Sluice NACKs the producer for seq 11");
    // The producer answers with the packet itself; the consumer gets it.
    prod.send_to(&rtp(11, &payload(11)), send_local);
    let repaired = wait_until(|| {
        take(&cons)
            .iter()
            .filter_map(|d| original(d, ssrc, rtx_ssrc))
            .find(|(_, p)| *p == payload(11))
    });
    assert!(
        repaired.is_some(),
        "the repaired packet reaches the consumer"
    );

    let counted = wait_until(|| {
        let workers = h.get("/v1/workers").ok();
        let st = &workers[0]["stats"];
        (st["nacksReceived"] == 1 && st["rtpRetransmitted"] == 1 && st["nacksSent"].as_u64()? >= 1)
            .then_some(())
    });
    assert!(counted.is_some(), "{}", h.get("/v1/workers").ok());
    let metrics = h.get("/metrics").body;
    assert!(
        metrics.contains("sluice_worker_nacks_total{worker=\"0\",direction=\"in\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_worker_rtp_retransmitted_total{worker=\"0\"} 1"),
        "{metrics}"
    );
}
