//! RTCP through the real binary on plain transports: a plain-RTP receiver's PLI reaches the
//! producer's socket as a PLI for the producer's SSRC, a key frame is requested when a video
//! consumer is created, receivers get sender reports with their consumer's SSRC and CNAME, and
//! the producer gets receiver reports about its stream.
//!
//! RTCP is read here with a few lines of its own (RFC 3550 §6.4, RFC 4585 §6.1 layouts) rather
//! than with the engine's parser, so that the test checks the engine instead of trusting it.
//! Waits are bounded by [`WAIT`]; nothing asserts how long anything took.
//!
//! The shared helpers of `tests/src/lib.rs` (branch h-integ) were not on main when this was
//! written, so this file carries a minimal server/HTTP harness of its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn sluice_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("sluice");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free TCP port")
        .port()
}

/// Ten consecutive UDP ports that were free a moment ago, for `--rtc-ports`.
fn rtc_ports() -> (u16, u16) {
    let base = 30_000 + (std::process::id() % 200) as u16 * 10;
    for lo in (base..60_000).step_by(10) {
        if (lo..lo + 10).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return (lo, lo + 9);
        }
    }
    panic!("no free port range");
}

struct Server {
    child: Child,
    http: SocketAddr,
}

impl Server {
    /// `sluice serve` with one worker on the given I/O backend.
    fn start(io: &str) -> Self {
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let (lo, hi) = rtc_ports();
        let child = Command::new(sluice_bin())
            .args(["serve", "--workers", "1", "--media-port", "0", "--io", io])
            .args([
                "--http",
                &http.to_string(),
                "--rtc-ports",
                &format!("{lo}-{hi}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sluice");
        let s = Server { child, http };
        let t0 = Instant::now();
        while s.try_request("GET", "/v1/health", None).map(|r| r.0) != Some(200) {
            assert!(t0.elapsed() < WAIT, "sluice did not become healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn try_request(&self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let mut c = TcpStream::connect(self.http).ok()?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            c,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut text = String::new();
        c.read_to_string(&mut text).ok()?;
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let (head, rest) = text.split_once("\r\n\r\n")?;
        // Chunked transfer coding: take the first chunk (bodies here are small).
        let rest = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            rest.split_once("\r\n")?.1
        } else {
            rest
        };
        let json = serde_json::Deserializer::from_str(rest)
            .into_iter::<Value>()
            .next()
            .and_then(|v| v.ok())
            .unwrap_or(Value::Null);
        Some((status, json))
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let (status, v) = self
            .try_request("POST", path, Some(body))
            .expect("HTTP answer");
        assert!((200..300).contains(&status), "POST {path}: {status} {v}");
        v
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = self.try_request("GET", path, None).expect("HTTP answer");
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// A plain transport connected to `peer`; returns its id and local address.
    fn plain_transport(&self, router: &str, peer: SocketAddr) -> (String, SocketAddr) {
        let t = self.post(
            &format!("/v1/routers/{router}/plain-transports"),
            &json!({"comedia": false, "rtcpMux": true}),
        );
        let id = t["id"].as_str().unwrap().to_owned();
        let local = SocketAddr::new(
            t["tuple"]["localAddress"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            t["tuple"]["localPort"].as_u64().unwrap() as u16,
        );
        self.post(
            &format!("/v1/transports/{id}/connect"),
            &json!({"ip": peer.ip().to_string(), "port": peer.port()}),
        );
        (id, local)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s
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

fn rtp(seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x80, 96];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&ssrc.to_be_bytes());
    b.extend_from_slice(payload);
    b
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

fn collect(producer: &UdpSocket, consumer: &UdpSocket, consumer_ssrc: u32, seen: &mut Seen) {
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = producer.recv_from(&mut buf) {
        for (pt, fmt, p) in rtcp_packets(&buf[..n]) {
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
    while let Ok((n, _)) = consumer.recv_from(&mut buf) {
        let d = &buf[..n];
        let packets = rtcp_packets(d);
        if packets.is_empty() {
            if n >= 14 && d[12..14] == VP8_KEY[..2] {
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
    let server = Server::start(io);
    let codecs = json!([{"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}]);
    let router = server.post("/v1/routers", &json!({"mediaCodecs": codecs}));
    let router_id = router["id"].as_str().unwrap();
    let caps = router["rtpCapabilities"].clone();

    let (prod_sock, cons_sock) = (peer(), peer());
    let (send_id, send_local) = server.plain_transport(router_id, prod_sock.local_addr().unwrap());
    let (recv_id, recv_local) = server.plain_transport(router_id, cons_sock.local_addr().unwrap());
    server.post(
        &format!("/v1/transports/{send_id}/producers"),
        &json!({"kind": "video", "rtpParameters": {
            "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                        "rtcpFeedback": [{"type": "nack", "parameter": "pli"}]}],
            "encodings": [{"ssrc": SSRC}],
            "rtcp": {"cname": "camera-1"}}}),
    );
    let producer_id = server.get(&format!("/v1/transports/{send_id}"))["producerIds"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let consumer = server.post(
        &format!("/v1/transports/{recv_id}/consumers"),
        &json!({"producerId": producer_id, "rtpCapabilities": caps}),
    );
    let consumer_ssrc = consumer["rtpParameters"]["encodings"][0]["ssrc"]
        .as_u64()
        .unwrap() as u32;
    assert_ne!(consumer_ssrc, SSRC);

    let mut seen = Seen::default();
    let mut seq = 0u16;
    let mut send_frame = |payload: &[u8]| {
        prod_sock
            .send_to(&rtp(seq, 3000 * u32::from(seq), SSRC, payload), send_local)
            .unwrap();
        seq = seq.wrapping_add(1);
    };
    let t0 = Instant::now();
    let wait = |what: &str,
                seen: &mut Seen,
                send_frame: &mut dyn FnMut(&[u8]),
                done: &dyn Fn(&Seen) -> bool| {
        while !done(seen) {
            assert!(t0.elapsed() < WAIT * 2, "timed out waiting for {what}");
            send_frame(&VP8_DELTA);
            std::thread::sleep(Duration::from_millis(20));
            collect(&prod_sock, &cons_sock, consumer_ssrc, seen);
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
    cons_sock
        .send_to(&pli(0x0bad_cafe, consumer_ssrc), recv_local)
        .unwrap();
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

    let stats = server.get(&format!(
        "/v1/consumers/{}/stats",
        consumer["id"].as_str().unwrap()
    ));
    assert_eq!(stats[0]["pliCount"], 1, "{stats}");
    let workers = server.get("/v1/workers");
    assert!(
        workers[0]["stats"]["keyFrameRequestsSent"]
            .as_u64()
            .unwrap()
            >= 2
    );
    assert!(workers[0]["stats"]["rtcpOut"].as_u64().unwrap() >= 3);
}

#[test]
fn request_key_frame_endpoint_sends_a_pli() {
    let server = Server::start("auto");
    let codecs = json!([{"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}]);
    let router = server.post("/v1/routers", &json!({"mediaCodecs": codecs}));
    let router_id = router["id"].as_str().unwrap();
    let (prod_sock, cons_sock) = (peer(), peer());
    let (send_id, _) = server.plain_transport(router_id, prod_sock.local_addr().unwrap());
    let (recv_id, _) = server.plain_transport(router_id, cons_sock.local_addr().unwrap());
    server.post(
        &format!("/v1/transports/{send_id}/producers"),
        &json!({"kind": "video", "rtpParameters": {
            "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}],
            "encodings": [{"ssrc": SSRC}]}}),
    );
    let producer_id = server.get(&format!("/v1/transports/{send_id}"))["producerIds"][0]
        .as_str()
        .unwrap()
        .to_owned();
    // Paused: no request at creation.
    let consumer = server.post(
        &format!("/v1/transports/{recv_id}/consumers"),
        &json!({"producerId": producer_id, "rtpCapabilities": router["rtpCapabilities"],
                "paused": true}),
    );
    let id = consumer["id"].as_str().unwrap();
    server.post(&format!("/v1/consumers/{id}/resume"), &json!({}));
    let mut buf = [0u8; 2048];
    let t0 = Instant::now();
    let mut plis = 0;
    while plis == 0 {
        assert!(t0.elapsed() < WAIT, "no PLI after resume");
        if let Ok((n, _)) = prod_sock.recv_from(&mut buf) {
            plis += rtcp_packets(&buf[..n])
                .iter()
                .filter(|(pt, fmt, p)| (*pt, *fmt) == (206, 1) && be32(p, 8) == SSRC)
                .count();
        }
    }
    // The API's request is handled by the worker's next timer run: merged into the resume's
    // when it comes within the 1 s window, sent otherwise; either way it is counted once.
    server.post(&format!("/v1/consumers/{id}/request-key-frame"), &json!({}));
    let counted = |st: &Value| {
        st["keyFrameRequestsSent"].as_u64().unwrap()
            + st["keyFrameRequestsSuppressed"].as_u64().unwrap()
    };
    let t0 = Instant::now();
    loop {
        let workers = server.get("/v1/workers");
        let n = counted(&workers[0]["stats"]);
        assert!(n <= 2, "{workers}");
        if n == 2 {
            break;
        }
        assert!(
            t0.elapsed() < WAIT,
            "the API request was not counted: {workers}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let unknown = server
        .try_request(
            "POST",
            "/v1/consumers/00000000-0000-4000-8000-000000000000/request-key-frame",
            Some(&json!({})),
        )
        .unwrap();
    assert_eq!(unknown.0, 404);
}
