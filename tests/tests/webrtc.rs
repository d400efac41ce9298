//! WebRTC transports end to end: the real `sluice` binary (two workers, so checks and media
//! may land on a worker that does not own their transport) and Rust clients built from Sluice's
//! own modules ([`WebRtcPeer`]: STUN checks, a DTLS client, SRTP) over loopback UDP. A publisher's
//! SRTP reaches a subscriber decryptable with the subscriber's keys; a wrong password gets no
//! answer; a wrong fingerprint fails the transport; junk on the media port is counted while
//! media keeps flowing; state changes appear on the event stream.
//!
//! The binary is `$SLUICE_BIN`, else `sluice` next to this test's `deps/` directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_engine::crypto::dtls::{DtlsFingerprint, DtlsParameters, DtlsRole, DtlsSide};
use sluice_engine::rtc::webrtc_peer::{PeerInput, WebRtcPeer};
use sluice_engine::wire::rtp::{RtpHeader, RtpPacket, write_rtp};

/// Bound on every wait for something that should happen.
const WAIT: Duration = Duration::from_secs(20);
const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

fn sluice_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps")
        .join("sluice");
    assert!(
        bin.exists(),
        "{} missing: build the workspace's bins first",
        bin.display()
    );
    bin
}

fn free_port_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("port")
        .port()
}

fn free_port_tcp() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("port")
        .port()
}

struct Server {
    child: Child,
    http: SocketAddr,
    media: SocketAddr,
}

impl Server {
    fn start() -> Self {
        let http: SocketAddr = ([127, 0, 0, 1], free_port_tcp()).into();
        let media: SocketAddr = ([127, 0, 0, 1], free_port_udp()).into();
        let lo = 30_000 + (std::process::id() % 500) as u16 * 20;
        let child = Command::new(sluice_bin())
            .args(["serve", "--workers", "2", "--http", &http.to_string()])
            .args(["--media-port", &media.port().to_string()])
            .args(["--rtc-ports", &format!("{lo}-{}", lo + 19)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sluice");
        let s = Server { child, http, media };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(http).is_err() {
            assert!(Instant::now() < deadline, "sluice did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut c = TcpStream::connect(self.http).expect("connect");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            c,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut out = String::new();
        c.read_to_string(&mut out).expect("read");
        let status = out[9..12].parse().expect("status");
        let json = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| serde_json::from_str(b).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        (status, json)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.request("POST", path, Some(&body));
        assert_eq!(status, 200, "POST {path}: {v}");
        v
    }

    fn metrics(&self) -> String {
        let mut c = TcpStream::connect(self.http).expect("connect");
        write!(
            c,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        c.read_to_string(&mut out).expect("read");
        out
    }

    /// The sum over workers of `sluice_worker_drops_total{reason}`.
    fn drops(&self, reason: &str) -> f64 {
        self.metrics()
            .lines()
            .filter(|l| {
                l.starts_with("sluice_worker_drops_total")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Lines of `GET /v1/events`, read on a thread.
    fn events(&self) -> mpsc::Receiver<String> {
        let mut c = TcpStream::connect(self.http).expect("connect");
        write!(c, "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(c).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        rx
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Rust WebRTC client on its own UDP socket.
struct Client {
    sock: UdpSocket,
    peer: WebRtcPeer,
    transport: Value,
    media: SocketAddr,
    rtp: Vec<Vec<u8>>,
}

impl Client {
    fn new(server: &Server, router: &str) -> Self {
        let transport = server.post(
            &format!("/v1/routers/{router}/webrtc-transports"),
            json!({}),
        );
        let ice = &transport["iceParameters"];
        let peer = WebRtcPeer::new(
            ice["usernameFragment"].as_str().expect("ufrag"),
            ice["password"].as_str().expect("password"),
        )
        .expect("peer");
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let cand = &transport["iceCandidates"][0];
        assert_eq!(cand["protocol"], "udp");
        assert_eq!(cand["type"], "host");
        let media: SocketAddr = format!("{}:{}", cand["ip"].as_str().expect("ip"), cand["port"])
            .parse()
            .expect("candidate address");
        assert_eq!(
            media, server.media,
            "the candidate is the shared media port"
        );
        Client {
            sock,
            peer,
            transport,
            media,
            rtp: Vec::new(),
        }
    }

    fn id(&self) -> String {
        self.transport["id"].as_str().expect("id").to_owned()
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("addr")
    }

    fn recv(&mut self) -> Option<PeerInput> {
        let mut buf = [0u8; 2048];
        let (n, _) = self.sock.recv_from(&mut buf).ok()?;
        let input = self.peer.handle_datagram(Instant::now(), &buf[..n]);
        if let PeerInput::Rtp(p) = &input {
            self.rtp.push(p.clone());
        }
        Some(input)
    }

    /// Checks until a verified answer maps our address (the first check may race the
    /// transport's creation on another worker; browsers retry too).
    fn ice(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no answer to a valid check");
            let check = self.peer.binding_request(true);
            self.sock.send_to(&check, self.media).expect("send");
            while let Some(input) = self.recv() {
                if let PeerInput::BindingSuccess(mapped) = input {
                    assert_eq!(mapped, Some(self.addr()));
                    return;
                }
            }
        }
    }

    fn fingerprints(&self) -> Vec<DtlsFingerprint> {
        serde_json::from_value(self.transport["dtlsParameters"]["fingerprints"].clone())
            .expect("fingerprints")
    }

    /// DTLS as mediasoup-client does it (we are the client: the server's role is `auto`).
    fn handshake(&mut self, server: &Server, fingerprints: Vec<DtlsFingerprint>) {
        let params = DtlsParameters {
            role: DtlsRole::Client,
            fingerprints,
        };
        server.post(
            &format!("/v1/transports/{}/connect", self.id()),
            json!({ "dtlsParameters": params }),
        );
        let fps = self.fingerprints();
        self.peer
            .start_dtls(Instant::now(), DtlsSide::Client, &fps)
            .expect("start dtls");
    }

    /// Moves DTLS until keyed, failed or `until`.
    fn pump_dtls(&mut self, until: Instant) {
        while Instant::now() < until && !self.peer.is_keyed() {
            while let Some(d) = self.peer.poll_transmit() {
                self.sock.send_to(&d, self.media).expect("send");
            }
            if self.recv().is_none() {
                self.peer.handle_timeout(Instant::now());
            }
            if self.peer.dtls_state() == Some(sluice_engine::crypto::dtls::DtlsState::Failed) {
                return;
            }
        }
    }
}

fn router(server: &Server) -> String {
    let r = server.post(
        "/v1/routers",
        json!({"mediaCodecs": [
            {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
            {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
        ]}),
    );
    r["id"].as_str().expect("router id").to_owned()
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut buf = [0u8; 200];
    let h = RtpHeader {
        payload_type: 111,
        sequence: seq,
        timestamp: 960 * u32::from(seq),
        ssrc,
        ..Default::default()
    };
    let n = write_rtp(&mut buf, &h, &[(4, b"0")], &[seq as u8; 60]).expect("rtp");
    buf[..n].to_vec()
}

fn wait_event(events: &mpsc::Receiver<String>, needle: &str) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(line) = events.recv_timeout(Duration::from_millis(200))
            && line.contains(needle)
        {
            return true;
        }
    }
    false
}

#[test]
fn srtp_from_a_publisher_reaches_a_subscriber_through_the_binary() {
    let server = Server::start();
    let events = server.events();
    let router = router(&server);
    let mut a = Client::new(&server, &router);
    let mut b = Client::new(&server, &router);

    // A wrong password: no answer, counted.
    let bad = a
        .peer
        .binding_request_with_password("notTheServerPassword0123");
    a.sock.send_to(&bad, a.media).expect("send");
    assert!(
        !matches!(a.recv(), Some(PeerInput::BindingSuccess(_))),
        "a check with the wrong password is answered"
    );
    let deadline = Instant::now() + WAIT;
    while server.drops("stun_rejected") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the rejected check is not counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    for c in [&mut a, &mut b] {
        c.ice();
        let fps = c.peer.dtls_parameters(DtlsRole::Client).fingerprints;
        c.handshake(&server, fps);
        c.pump_dtls(Instant::now() + WAIT);
        assert!(c.peer.is_keyed(), "DTLS handshake completed");
    }
    let (status, _) = server.request(
        "POST",
        &format!("/v1/transports/{}/connect", a.id()),
        Some(&json!({ "dtlsParameters": a.peer.dtls_parameters(DtlsRole::Client) })),
    );
    assert_eq!(status, 409, "connect twice");
    assert!(wait_event(&events, "transport.icestatechange"));
    assert!(wait_event(&events, "\"dtlsState\":\"connected\""));

    let producer = server.post(
        &format!("/v1/transports/{}/producers", a.id()),
        json!({"kind": "audio", "rtpParameters": {
            "mid": "0",
            "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}],
            "headerExtensions": [{"uri": MID_URI, "id": 4}],
            "encodings": [{"ssrc": 4242}],
            "rtcp": {"cname": "a", "reducedSize": true}
        }}),
    );
    let caps = server
        .request("GET", &format!("/v1/routers/{router}"), None)
        .1["rtpCapabilities"]
        .clone();
    let consumer = server.post(
        &format!("/v1/transports/{}/consumers", b.id()),
        json!({"producerId": producer["id"], "rtpCapabilities": caps}),
    );
    assert_eq!(consumer["rtpParameters"]["mid"], "0");
    let out_ssrc = consumer["rtpParameters"]["encodings"][0]["ssrc"]
        .as_u64()
        .expect("ssrc") as u32;

    // Junk from a stranger on the media port, between media packets.
    let stranger = UdpSocket::bind("127.0.0.1:0").expect("bind");
    const N: u16 = 30;
    for seq in 0..N {
        let srtp = a.peer.protect_rtp(&rtp(seq, 4242)).expect("protect");
        a.sock.send_to(&srtp, a.media).expect("send");
        stranger
            .send_to(&[0x80, 0x60, 0, 1, 9, 9, 9, 9, 1, 2, 3, 4, 5], a.media)
            .expect("send");
    }
    let deadline = Instant::now() + WAIT;
    while b.rtp.len() < usize::from(N) && Instant::now() < deadline {
        b.recv();
    }
    assert_eq!(
        b.rtp.len(),
        usize::from(N),
        "every SRTP packet decrypts at the subscriber"
    );
    for (i, p) in b.rtp.iter().enumerate() {
        let p = RtpPacket::parse(p).expect("rtp");
        assert_eq!(p.ssrc(), out_ssrc);
        assert_eq!(p.payload(), &[i as u8; 60][..]);
    }
    let deadline = Instant::now() + WAIT;
    while server.drops("unknown_flow") < f64::from(N) {
        assert!(Instant::now() < deadline, "junk not counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = server
        .request("GET", &format!("/v1/transports/{}/stats", b.id()), None)
        .1;
    assert_eq!(stats[0]["iceState"], "completed");
    assert_eq!(stats[0]["dtlsState"], "connected");
    assert_eq!(stats[0]["iceSelectedTuple"]["remotePort"], b.addr().port());

    // ICE restart: new credentials, old ones keep working until the new ones are used.
    let fresh = server.post(&format!("/v1/transports/{}/restart-ice", b.id()), json!({}));
    assert_ne!(
        fresh["iceParameters"]["usernameFragment"],
        b.transport["iceParameters"]["usernameFragment"]
    );
}

#[test]
fn a_wrong_fingerprint_fails_the_transport() {
    let server = Server::start();
    let events = server.events();
    let router = router(&server);
    let mut a = Client::new(&server, &router);
    a.ice();
    let impostor = WebRtcPeer::new("unused", "unusedPassword0123456789")
        .expect("peer")
        .dtls_parameters(DtlsRole::Client)
        .fingerprints;
    a.handshake(&server, impostor);
    let deadline = Instant::now() + WAIT;
    loop {
        a.pump_dtls(Instant::now() + Duration::from_millis(300));
        assert!(!a.peer.is_keyed(), "keys with a peer that was not expected");
        let dump = server
            .request("GET", &format!("/v1/transports/{}", a.id()), None)
            .1;
        if dump["dtlsState"] == "failed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dtlsState: {}",
            dump["dtlsState"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(wait_event(&events, "\"dtlsState\":\"failed\""));
    let (status, _) = server.request(
        "POST",
        &format!("/v1/routers/{router}/webrtc-transports"),
        Some(&json!({"enableSctp": true})),
    );
    assert_eq!(status, 422);
}

/// The sum over workers of a per-worker counter.
fn total(server: &Server, name: &str) -> f64 {
    server
        .metrics()
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn after_ice_each_flow_is_steered_to_its_owner() {
    let server = Server::start();
    // One router, so one worker owns every transport; the kernel spreads the 8 flows over both
    // workers' sockets by hash, so without steering about half of them would be handed over.
    let router = router(&server);
    let mut clients: Vec<Client> = (0..8).map(|_| Client::new(&server, &router)).collect();
    for c in &mut clients {
        c.ice();
        let fps = c.peer.dtls_parameters(DtlsRole::Client).fingerprints;
        c.handshake(&server, fps);
        c.pump_dtls(Instant::now() + WAIT);
        assert!(c.peer.is_keyed());
    }
    let before = total(&server, "sluice_worker_handoffs_out_total");
    let dropped_before = server.drops("unknown_ssrc");
    const PER_FLOW: u16 = 50;
    for seq in 0..PER_FLOW {
        for c in &mut clients {
            let srtp = c.peer.protect_rtp(&rtp(seq, 9999)).expect("protect");
            c.sock.send_to(&srtp, c.media).expect("send");
        }
        // Paced as media is (8 flows × 50 packets over ~100 ms), not one 400-packet burst that
        // a descheduled worker on a loaded 2-core machine meets all at once.
        std::thread::sleep(Duration::from_millis(2));
    }
    // Every packet reached the owner (and was dropped there: no producer has that SSRC).
    let sent = f64::from(PER_FLOW) * clients.len() as f64;
    let deadline = Instant::now() + WAIT;
    while server.drops("unknown_ssrc") - dropped_before < sent {
        assert!(
            Instant::now() < deadline,
            "packets lost: {} of {sent} arrived; drops:\n{}",
            server.drops("unknown_ssrc") - dropped_before,
            server
                .metrics()
                .lines()
                .filter(|l| l.starts_with("sluice_worker_drops_total") && !l.ends_with(" 0"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let handed = total(&server, "sluice_worker_handoffs_out_total") - before;
    println!("steering: {handed} hand-offs for {sent} packets after ICE");
    assert!(
        handed <= sent / 100.0,
        "{handed} of {sent} packets handed off"
    );
}

#[test]
fn a_plain_transport_with_sdes_srtp_takes_srtp_in_and_sends_it_out() {
    use base64::Engine as _;
    use sluice_engine::crypto::srtp::{SrtpContext, SrtpProfile};
    let b64 = base64::engine::general_purpose::STANDARD;
    let server = Server::start();
    let router = router(&server);
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let (status, _) = server.request(
        "POST",
        &format!("/v1/routers/{router}/plain-transports"),
        Some(&json!({"enableSrtp": true, "srtpCryptoSuite": "ROT13"})),
    );
    assert_eq!(status, 422);
    let mk = |suite: &str| {
        server.post(
            &format!("/v1/routers/{router}/plain-transports"),
            json!({"enableSrtp": true, "srtpCryptoSuite": suite}),
        )
    };
    let send_t = mk("AES_CM_128_HMAC_SHA1_80");
    let recv_t = mk("AEAD_AES_128_GCM");
    assert_eq!(recv_t["srtpParameters"]["cryptoSuite"], "AEAD_AES_128_GCM");
    let sender_key: Vec<u8> = (1..=30u8).collect();
    let port_of = |t: &Value| t["tuple"]["localPort"].as_u64().expect("port") as u16;
    let connect = |t: &Value, sock: &UdpSocket, suite: &str, key: &[u8]| {
        let local = sock.local_addr().expect("addr");
        server.post(
            &format!("/v1/transports/{}/connect", t["id"].as_str().expect("id")),
            json!({"ip": "127.0.0.1", "port": local.port(),
                   "srtpParameters": {"cryptoSuite": suite, "keyBase64": b64.encode(key)}}),
        );
    };
    connect(&send_t, &sender, "AES_CM_128_HMAC_SHA1_80", &sender_key);
    connect(&recv_t, &receiver, "AEAD_AES_128_GCM", &[5u8; 28]);
    let producer = server.post(
        &format!("/v1/transports/{}/producers", send_t["id"].as_str().expect("id")),
        json!({"kind": "audio", "rtpParameters": {
            "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}],
            "encodings": [{"ssrc": 777}]
        }}),
    );
    let caps = server
        .request("GET", &format!("/v1/routers/{router}"), None)
        .1["rtpCapabilities"]
        .clone();
    server.post(
        &format!(
            "/v1/transports/{}/consumers",
            recv_t["id"].as_str().expect("id")
        ),
        json!({"producerId": producer["id"], "rtpCapabilities": caps}),
    );
    let ours = b64
        .decode(recv_t["srtpParameters"]["keyBase64"].as_str().expect("key"))
        .expect("base64");
    let mut tx = SrtpContext::new(
        SrtpProfile::AesCm128HmacSha1_80,
        &sender_key[..16],
        &sender_key[16..],
        4,
    )
    .expect("ctx");
    let mut rx =
        SrtpContext::new(SrtpProfile::AeadAes128Gcm, &ours[..16], &ours[16..], 4).expect("ctx");
    let to: SocketAddr = ([127, 0, 0, 1], port_of(&send_t)).into();
    for seq in 0..5u16 {
        let mut buf = rtp(seq, 777);
        let n = buf.len();
        buf.resize(n + 16, 0);
        let n = tx.protect_rtp(&mut buf, n).expect("protect");
        sender.send_to(&buf[..n], to).expect("send");
        let mut got = [0u8; 2048];
        let (m, _) = receiver.recv_from(&mut got).expect("forwarded");
        let k = rx
            .unprotect_rtp(&mut got[..m])
            .expect("decrypts with the answered key");
        let p = RtpPacket::parse(&got[..k]).expect("rtp");
        assert_eq!(p.payload(), &[seq as u8; 60][..]);
    }
}
