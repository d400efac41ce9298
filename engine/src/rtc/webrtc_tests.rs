//! Sans-IO scenarios of WebRTC transports: simulated browsers ([`WebRtcPeer`]: our STUN writer
//! for checks, a client-side `DtlsTransport` in memory, SRTP contexts from its keys) against a
//! [`WorkerCore`] and the control plane's [`DtlsDriver`], wired together as the worker and the
//! control plane wire them, on a simulated clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::rtp_parameters::{MediaKind, RtpCapabilities, RtpParameters};
use super::webrtc_dtls::{DtlsDriver, DtlsOutput};
use super::webrtc_peer::{PeerInput, WebRtcPeer};
use super::webrtc_transport::{DtlsStateName, WebRtcTransportOptions, WebRtcTransportReply};
use super::*;
use crate::crypto::dtls::{DtlsCertificate, DtlsConfig, DtlsRole, DtlsSide, DtlsState};
use crate::net::{SockId, VecTransmit};
use crate::wire::rtp::{RtpHeader, RtpPacket, write_rtp};

#[path = "webrtc_extension_tests.rs"]
mod extensions;

const SHARED: SockId = SockId(1);
const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

/// One simulated browser and its transport.
struct Browser {
    addr: SocketAddr,
    peer: WebRtcPeer,
    transport: WebRtcTransportReply,
    /// Decrypted RTP it received.
    rtp: Vec<Vec<u8>>,
}

struct Sfu {
    core: WorkerCore,
    driver: DtlsDriver,
    router: Uuid,
    caps: RtpCapabilities,
    now: Instant,
}

impl Sfu {
    fn new() -> Self {
        let mut core = WorkerCore::new();
        let (router, caps) = super::test_support::opus_vp8_router(&mut core);
        let cert = DtlsCertificate::generate().expect("certificate");
        Sfu {
            core,
            driver: DtlsDriver::new(cert, DtlsConfig::default()),
            router,
            caps,
            now: Instant::now(),
        }
    }

    fn browser(&mut self, at: &str) -> Browser {
        let id = Uuid::new_v4();
        let options = WebRtcTransportOptions {
            dtls_parameters: self.driver.local_parameters(),
            app_data: json!(null),
        };
        let transport = self
            .core
            .create_webrtc_transport(self.router, id, SHARED, addr("127.0.0.1:40000"), options)
            .expect("transport");
        self.driver.add(id, 0);
        let p = &transport.ice_parameters;
        let peer = WebRtcPeer::new(&p.username_fragment, &p.password).expect("peer");
        Browser {
            addr: addr(at),
            peer,
            transport,
            rtp: Vec::new(),
        }
    }

    /// Feeds one datagram from `from` to the core as the worker does, and runs the DTLS driver's
    /// outputs as the control plane does. Returns what the core sent.
    fn input(&mut self, from: SocketAddr, data: &[u8]) -> VecTransmit {
        let mut tx = VecTransmit::default();
        let mut buf = data.to_vec();
        if let SharedOutcome::Dtls(id) = self.core.handle_shared(self.now, from, &mut buf, &mut tx)
        {
            self.driver.handle_record(self.now, id, &buf);
        }
        self.run_driver(&mut tx);
        tx
    }

    fn run_driver(&mut self, tx: &mut VecTransmit) {
        while let Some(o) = self.driver.poll_output() {
            match o {
                DtlsOutput::Send {
                    transport_id, data, ..
                } => self
                    .core
                    .send_dtls(transport_id, &data, tx)
                    .expect("transport exists"),
                DtlsOutput::State {
                    transport_id,
                    state,
                    srtp,
                    ..
                } => self
                    .core
                    .set_dtls_state(transport_id, state, srtp)
                    .expect("transport exists"),
            }
        }
    }

    /// ICE: one nominating check; asserts the answer verifies and maps the browser's address.
    fn ice(&mut self, b: &mut Browser) {
        let check = b.peer.binding_request(true);
        let tx = self.input(b.addr, &check);
        assert_eq!(tx.sent.len(), 1, "one answer to a valid check");
        let (sock, to, answer) = &tx.sent[0];
        assert_eq!((*sock, *to), (SHARED, b.addr));
        assert_eq!(
            b.peer.handle_datagram(self.now, answer),
            PeerInput::BindingSuccess(Some(b.addr))
        );
    }

    /// Connects `b` (announcing `role`, checking the server against `fingerprints`) and runs
    /// the handshake until nothing moves.
    fn connect(&mut self, b: &mut Browser, role: DtlsRole, server_fp_ok: bool) {
        let remote = b.peer.dtls_parameters(role);
        let side = self
            .driver
            .connect(self.now, b.transport.id, &remote)
            .expect("connect");
        let peer_side = match side {
            DtlsRole::Server => DtlsSide::Client,
            _ => DtlsSide::Server,
        };
        let mut fps = b.transport.dtls_parameters.fingerprints.clone();
        if !server_fp_ok {
            fps = DtlsCertificate::generate()
                .expect("certificate")
                .local_parameters()
                .fingerprints;
        }
        b.peer
            .start_dtls(self.now, peer_side, &fps)
            .expect("peer dtls");
        let mut tx = VecTransmit::default();
        self.run_driver(&mut tx);
        self.pump(b, tx);
    }

    /// Shuttles datagrams between the core and `b` until both are quiet.
    fn pump(&mut self, b: &mut Browser, mut pending: VecTransmit) {
        for _ in 0..64 {
            let mut moved = false;
            for (_, to, data) in std::mem::take(&mut pending.sent) {
                if to == b.addr {
                    moved = true;
                    if let PeerInput::Rtp(p) = b.peer.handle_datagram(self.now, &data) {
                        b.rtp.push(p);
                    }
                }
            }
            while let Some(d) = b.peer.poll_transmit() {
                moved = true;
                let tx = self.input(b.addr, &d);
                pending.sent.extend(tx.sent);
            }
            if !moved {
                return;
            }
        }
        panic!("the handshake did not settle");
    }

    fn produce_opus(&mut self, b: &Browser, ssrc: u32) -> Uuid {
        let id = Uuid::new_v4();
        // As mediasoup-client sends them: a mid, and the MID extension.
        let rtp_parameters: RtpParameters = serde_json::from_value(json!({
            "mid": "0",
            "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}],
            "headerExtensions": [{"uri": MID_URI, "id": 4}],
            "encodings": [{"ssrc": ssrc}],
            "rtcp": {"cname": "browser", "reducedSize": true}
        }))
        .expect("rtp parameters");
        self.core
            .produce(
                b.transport.id,
                ProduceOptions {
                    id,
                    kind: MediaKind::Audio,
                    rtp_parameters,
                    paused: false,
                    app_data: json!(null),
                },
            )
            .expect("produce");
        id
    }

    fn consume(&mut self, b: &Browser, producer: Uuid) -> ConsumeReply {
        self.core
            .consume(
                b.transport.id,
                ConsumeOptions {
                    id: Uuid::new_v4(),
                    producer_id: producer,
                    rtp_capabilities: self.caps.clone(),
                    paused: false,
                    app_data: json!(null),
                },
            )
            .expect("consume")
    }

    fn send_rtp(&mut self, from: &mut Browser, to: &mut Browser, ssrc: u32, seq: u16) {
        let mut buf = [0u8; 200];
        let h = RtpHeader {
            payload_type: 111,
            sequence: seq,
            timestamp: 960 * u32::from(seq),
            ssrc,
            ..Default::default()
        };
        let n = write_rtp(&mut buf, &h, &[(4, b"0")], &[seq as u8; 40]).expect("rtp");
        let srtp = from.peer.protect_rtp(&buf[..n]).expect("keyed");
        self.now += Duration::from_millis(20);
        let tx = self.input(from.addr, &srtp);
        self.pump(to, tx);
    }
}

fn dtls_state(sfu: &Sfu, b: &Browser) -> String {
    let dump = sfu.core.dump_transport(b.transport.id).expect("dump");
    dump["dtlsState"].as_str().expect("dtlsState").to_owned()
}

#[test]
fn a_publisher_reaches_a_subscriber_through_ice_dtls_and_srtp() {
    let mut sfu = Sfu::new();
    let mut a = sfu.browser("192.0.2.1:5000");
    let mut b = sfu.browser("192.0.2.2:6000");
    assert!(b.transport.ice_parameters.ice_lite);
    assert_eq!(b.transport.ice_candidates[0].port, 40000);
    for br in [&mut a, &mut b] {
        sfu.ice(br);
        // mediasoup-client answers a server with role `auto` as DTLS client.
        sfu.connect(br, DtlsRole::Client, true);
        assert_eq!(br.peer.dtls_state(), Some(DtlsState::Connected));
        assert!(br.peer.is_keyed());
    }
    assert_eq!(dtls_state(&sfu, &a), "connected");
    let events = sfu.core.take_events();
    for name in [
        "transport.icestatechange",
        "transport.iceselectedtuplechange",
        "transport.dtlsstatechange",
    ] {
        assert!(events.iter().any(|e| e.name() == name), "{name} emitted");
    }
    let dump = sfu.core.dump_transport(a.transport.id).expect("dump");
    assert_eq!(dump["iceState"], "completed");
    assert_eq!(dump["iceSelectedTuple"]["remotePort"], 5000);

    let producer = sfu.produce_opus(&a, 0x1111);
    let consumer = sfu.consume(&b, producer);
    assert_eq!(consumer.rtp_parameters.mid.as_deref(), Some("0"));
    let mid_id = consumer
        .rtp_parameters
        .header_extensions
        .iter()
        .find(|e| e.uri == MID_URI)
        .map(|e| e.id)
        .expect("the consumer negotiates MID");
    let out_ssrc = consumer.rtp_parameters.encodings[0].ssrc.expect("ssrc");
    for seq in 100..110 {
        sfu.send_rtp(&mut a, &mut b, 0x1111, seq);
    }
    assert_eq!(
        b.rtp.len(),
        10,
        "every packet decrypts with the subscriber's keys"
    );
    for (i, p) in b.rtp.iter().enumerate() {
        let p = RtpPacket::parse(p).expect("rtp");
        assert_eq!(p.ssrc(), out_ssrc);
        assert_eq!(p.payload(), &[(100 + i) as u8; 40][..]);
        assert_eq!(p.extension(mid_id), Some(&b"0"[..]), "the consumer's mid");
    }
    // A second consumer on the same transport gets mid "1", written into its packets.
    let second = sfu.consume(&b, producer);
    assert_eq!(second.rtp_parameters.mid.as_deref(), Some("1"));
    b.rtp.clear();
    sfu.send_rtp(&mut a, &mut b, 0x1111, 110);
    let mids: Vec<Vec<u8>> = b
        .rtp
        .iter()
        .map(|p| {
            RtpPacket::parse(p)
                .expect("rtp")
                .extension(mid_id)
                .expect("mid")
                .to_vec()
        })
        .collect();
    assert!(mids.contains(&b"0".to_vec()) && mids.contains(&b"1".to_vec()));
    assert_eq!(sfu.core.counters().drops_of(DropReason::SrtpUnprotect), 0);
}

#[test]
fn we_act_as_dtls_client_when_the_peer_is_server() {
    let mut sfu = Sfu::new();
    let mut a = sfu.browser("192.0.2.1:5000");
    sfu.ice(&mut a);
    sfu.connect(&mut a, DtlsRole::Server, true);
    assert_eq!(a.peer.dtls_state(), Some(DtlsState::Connected));
    assert_eq!(dtls_state(&sfu, &a), "connected");
}

#[test]
fn a_client_hello_before_connect_is_kept_and_answered() {
    let mut sfu = Sfu::new();
    let mut a = sfu.browser("192.0.2.1:5000");
    sfu.ice(&mut a);
    let fps = a.transport.dtls_parameters.fingerprints.clone();
    a.peer
        .start_dtls(sfu.now, DtlsSide::Client, &fps)
        .expect("peer dtls");
    while let Some(d) = a.peer.poll_transmit() {
        assert!(
            sfu.input(a.addr, &d).sent.is_empty(),
            "nothing to answer yet"
        );
    }
    let remote = a.peer.dtls_parameters(DtlsRole::Client);
    sfu.driver
        .connect(sfu.now, a.transport.id, &remote)
        .expect("connect");
    let mut tx = VecTransmit::default();
    sfu.run_driver(&mut tx);
    assert!(
        !tx.sent.is_empty(),
        "the kept ClientHello is answered at connect"
    );
    sfu.pump(&mut a, tx);
    assert_eq!(a.peer.dtls_state(), Some(DtlsState::Connected));
    let again = sfu.driver.connect(sfu.now, a.transport.id, &remote);
    assert!(again.is_err(), "connect twice is refused");
}

#[test]
fn a_check_with_the_wrong_password_gets_no_answer_and_is_counted() {
    let mut sfu = Sfu::new();
    let mut a = sfu.browser("192.0.2.1:5000");
    let bad = a
        .peer
        .binding_request_with_password("notTheServerPassword0123");
    let tx = sfu.input(a.addr, &bad);
    assert!(tx.sent.is_empty());
    assert_eq!(sfu.core.counters().drops_of(DropReason::StunRejected), 1);
    let dump = sfu.core.dump_transport(a.transport.id).expect("dump");
    assert_eq!(dump["iceState"], "new");
    // A check for a ufrag nobody handed out.
    let mut stranger =
        WebRtcPeer::new("00nobodyHasThis", "somePassword0123456789xx").expect("peer");
    assert!(
        sfu.input(a.addr, &stranger.binding_request(true))
            .sent
            .is_empty()
    );
    assert_eq!(sfu.core.counters().drops_of(DropReason::UnknownUfrag), 1);
}

#[test]
fn a_wrong_fingerprint_fails_the_transport_and_no_media_flows() {
    let mut sfu = Sfu::new();
    let mut a = sfu.browser("192.0.2.1:5000");
    let mut b = sfu.browser("192.0.2.2:6000");
    sfu.ice(&mut b);
    sfu.connect(&mut b, DtlsRole::Client, true);
    sfu.ice(&mut a);
    // The server is told a fingerprint that is not the browser's certificate.
    let impostor = DtlsCertificate::generate()
        .expect("certificate")
        .local_parameters();
    let remote = crate::crypto::dtls::DtlsParameters {
        role: DtlsRole::Client,
        fingerprints: impostor.fingerprints,
    };
    sfu.driver
        .connect(sfu.now, a.transport.id, &remote)
        .expect("connect");
    let fps = a.transport.dtls_parameters.fingerprints.clone();
    a.peer
        .start_dtls(sfu.now, DtlsSide::Client, &fps)
        .expect("peer dtls");
    let mut tx = VecTransmit::default();
    sfu.run_driver(&mut tx);
    sfu.pump(&mut a, tx);
    assert_eq!(dtls_state(&sfu, &a), "failed");
    assert!(!a.peer.is_keyed());
    assert!(sfu.core.take_events().iter().any(|e| matches!(
        e,
        Event::TransportDtlsState {
            dtls_state: "failed",
            ..
        }
    )));
    // A producer on the failed transport: its RTP (even plain) is never forwarded.
    let producer = sfu.produce_opus(&a, 0x2222);
    sfu.consume(&b, producer);
    let mut buf = [0u8; 100];
    let h = RtpHeader {
        payload_type: 111,
        sequence: 1,
        ssrc: 0x2222,
        ..Default::default()
    };
    let n = write_rtp(&mut buf, &h, &[], &[7; 20]).expect("rtp");
    let tx = sfu.input(a.addr, &buf[..n]);
    assert!(tx.sent.is_empty());
    assert_eq!(sfu.core.counters().drops_of(DropReason::NoSrtp), 1);
    assert_eq!(sfu.core.counters().rtp_forwarded, 0);
}

#[test]
fn random_datagrams_are_dropped_and_counted_while_media_flows() {
    let mut sfu = Sfu::new();
    let mut a = sfu.browser("192.0.2.1:5000");
    let mut b = sfu.browser("192.0.2.2:6000");
    for br in [&mut a, &mut b] {
        sfu.ice(br);
        sfu.connect(br, DtlsRole::Client, true);
    }
    let producer = sfu.produce_opus(&a, 0x1111);
    sfu.consume(&b, producer);
    let stranger = addr("198.51.100.7:9999");
    let mut seed = 0x9e37_79b9_u32;
    let mut junk = 0;
    for seq in 0..50u16 {
        sfu.send_rtp(&mut a, &mut b, 0x1111, seq);
        for _ in 0..4 {
            let mut d = vec![0u8; 1 + (seed % 300) as usize];
            for byte in &mut d {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *byte = seed as u8;
            }
            junk += 1;
            // From a stranger and from the publisher's own validated tuple.
            let from = if junk % 2 == 0 { stranger } else { a.addr };
            assert!(
                sfu.input(from, &d).sent.is_empty(),
                "junk is never answered"
            );
        }
    }
    assert_eq!(b.rtp.len(), 50, "media kept flowing");
    let c = sfu.core.counters();
    let dropped: u64 = DropReason::ALL.iter().map(|&r| c.drops_of(r)).sum();
    assert_eq!(dropped, junk, "every junk datagram is counted once");
}

#[test]
fn consent_expiry_disconnects_and_stops_media() {
    let mut sfu = Sfu::new();
    let mut a = sfu.browser("192.0.2.1:5000");
    let mut b = sfu.browser("192.0.2.2:6000");
    for br in [&mut a, &mut b] {
        sfu.ice(br);
        sfu.connect(br, DtlsRole::Client, true);
    }
    let producer = sfu.produce_opus(&a, 0x1111);
    sfu.consume(&b, producer);
    sfu.core.take_events();
    // a keeps consent alive; b goes silent for 31 s.
    for _ in 0..4 {
        sfu.now += Duration::from_secs(8);
        let check = a.peer.binding_request(false);
        assert_eq!(sfu.input(a.addr, &check).sent.len(), 1);
        sfu.core.handle_ice_timeouts(sfu.now);
    }
    let dump = sfu.core.dump_transport(b.transport.id).expect("dump");
    assert_eq!(dump["iceState"], "disconnected");
    assert!(sfu.core.take_events().iter().any(|e| matches!(
        e,
        Event::TransportIceState { ice_state: "disconnected", transport_id } if *transport_id == b.transport.id
    )));
    assert_eq!(sfu.core.take_flow_changes().last(), Some(&(b.addr, false)));
    b.rtp.clear();
    sfu.send_rtp(&mut a, &mut b, 0x1111, 1);
    assert!(b.rtp.is_empty(), "no media to a peer without consent");
    // A fresh check restores it.
    sfu.ice(&mut b);
    sfu.send_rtp(&mut a, &mut b, 0x1111, 2);
    assert_eq!(b.rtp.len(), 1);
}

#[test]
fn a_check_for_another_workers_ufrag_is_handed_over_and_restart_keeps_the_prefix() {
    let mut sfu = Sfu::new();
    sfu.core.set_worker_index(3);
    let mut a = sfu.browser("192.0.2.1:5000");
    assert!(
        a.transport
            .ice_parameters
            .username_fragment
            .starts_with("03")
    );
    let mut other = WebRtcPeer::new("01someoneElses", "somePassword0123456789xx").expect("peer");
    let mut tx = VecTransmit::default();
    let mut check = other.binding_request(true);
    assert_eq!(
        sfu.core.handle_shared(sfu.now, a.addr, &mut check, &mut tx),
        SharedOutcome::Handoff(1)
    );
    let fresh = sfu
        .core
        .restart_ice(sfu.now, a.transport.id)
        .expect("restart");
    assert!(fresh.username_fragment.starts_with("03"));
    assert_ne!(
        fresh.username_fragment,
        a.transport.ice_parameters.username_fragment
    );
    // The old credentials still work until the new ones are used.
    sfu.ice(&mut a);
    assert_eq!(sfu.driver.state(a.transport.id), Some(DtlsStateName::New));
}

/// Decrypts what the core sent to `to` and returns the RTCP packets of type `pt` in it.
fn rtcp_at(peer: &mut Browser, now: Instant, tx: &VecTransmit) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (_, to, d) in &tx.sent {
        if *to != peer.addr {
            continue;
        }
        match peer.peer.handle_datagram(now, d) {
            PeerInput::Rtcp(p) => out.push(p),
            PeerInput::Rtp(_) => {}
            other => panic!("not SRTCP the peer can decrypt: {other:?}"),
        }
    }
    out
}

fn plis(compounds: &[Vec<u8>]) -> Vec<u32> {
    let mut v = Vec::new();
    for c in compounds {
        for p in crate::wire::rtcp::compound(c).flatten() {
            if let crate::wire::rtcp::RtcpPacket::Pli(pli) = p {
                v.push(pli.media_ssrc);
            }
        }
    }
    v
}

#[test]
fn rtcp_on_webrtc_transports_is_srtcp_both_ways() {
    let mut sfu = Sfu::new();
    let mut a = sfu.browser("192.0.2.1:5000");
    let mut b = sfu.browser("192.0.2.2:6000");
    for br in [&mut a, &mut b] {
        sfu.ice(br);
        sfu.connect(br, DtlsRole::Client, true);
    }
    let id = Uuid::new_v4();
    let rtp_parameters: RtpParameters = serde_json::from_value(json!({
        "mid": "1",
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                    "rtcpFeedback": [{"type": "nack", "parameter": "pli"}]}],
        "encodings": [{"ssrc": 0x5555}]
    }))
    .expect("rtp parameters");
    sfu.core
        .produce(
            a.transport.id,
            ProduceOptions {
                id,
                kind: MediaKind::Video,
                rtp_parameters,
                paused: false,
                app_data: json!(null),
            },
        )
        .expect("produce");
    let consumer = sfu.consume(&b, id);
    let consumer_ssrc = consumer.rtp_parameters.encodings[0].ssrc.expect("ssrc");
    // The new video consumer asks the publisher for a key frame, as SRTCP.
    let mut tx = VecTransmit::default();
    sfu.core.handle_timeout(sfu.now, &mut tx);
    assert_eq!(plis(&rtcp_at(&mut a, sfu.now, &tx)), vec![0x5555]);
    // The subscriber's own PLI (SRTCP) about the consumer's SSRC reaches the publisher.
    sfu.now += Duration::from_secs(2);
    let mut buf = [0u8; 64];
    let n = crate::wire::rtcp::write_pli(&mut buf, 0x77, consumer_ssrc).expect("pli");
    let srtcp = b.peer.protect_rtcp(&buf[..n]).expect("keyed");
    let mut tx = sfu.input(b.addr, &srtcp);
    sfu.core.handle_timeout(sfu.now, &mut tx);
    assert_eq!(plis(&rtcp_at(&mut a, sfu.now, &tx)), vec![0x5555]);
    assert_eq!(sfu.core.counters().drops_of(DropReason::SrtpUnprotect), 0);
    // Media, then time: the subscriber gets a sender report under its consumer's SSRC, and the
    // publisher a receiver report about its stream, both decryptable.
    for seq in 0..5u16 {
        let mut pkt = [0u8; 100];
        let h = RtpHeader {
            payload_type: 96,
            sequence: seq,
            timestamp: 3000 * u32::from(seq),
            ssrc: 0x5555,
            ..Default::default()
        };
        let n = write_rtp(&mut pkt, &h, &[], &[0x10, 0, 0x9d, 1, 0x2a]).expect("rtp");
        let srtp = a.peer.protect_rtp(&pkt[..n]).expect("keyed");
        sfu.now += Duration::from_millis(33);
        let tx = sfu.input(a.addr, &srtp);
        sfu.pump(&mut b, tx);
    }
    assert_eq!(b.rtp.len(), 5);
    sfu.now += Duration::from_secs(6);
    let mut tx = VecTransmit::default();
    sfu.core.handle_timeout(sfu.now, &mut tx);
    let to_b = rtcp_at(&mut b, sfu.now, &tx);
    let srs: Vec<u32> = to_b
        .iter()
        .flat_map(|c| crate::wire::rtcp::compound(c).flatten().collect::<Vec<_>>())
        .filter_map(|p| match p {
            crate::wire::rtcp::RtcpPacket::SenderReport(sr) => Some(sr.ssrc()),
            _ => None,
        })
        .collect();
    assert_eq!(srs, vec![consumer_ssrc]);
    let to_a = rtcp_at(&mut a, sfu.now, &tx);
    let blocks: Vec<u32> = to_a
        .iter()
        .flat_map(|c| crate::wire::rtcp::compound(c).flatten().collect::<Vec<_>>())
        .filter_map(|p| match p {
            crate::wire::rtcp::RtcpPacket::ReceiverReport(rr) => {
                rr.report_blocks().next().map(|b| b.ssrc)
            }
            _ => None,
        })
        .collect();
    assert_eq!(blocks, vec![0x5555]);
}
