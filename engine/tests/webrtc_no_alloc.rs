//! Proves the WebRTC forwarding path allocates nothing: a counting global allocator, a real
//! worker (both I/O backends) with four WebRTC transports on the shared media port, keyed by
//! real DTLS handshakes (clients: `WebRtcPeer`; server side: the `DtlsDriver` on a thread of
//! its own, as the control plane runs it), then 5 000 SRTP packets from one publisher
//! unprotected, rewritten (mid included) and protected again for three subscribers, with zero
//! allocations in the process after warm-up.
//!
//! `harness = false`: libtest's own threads would allocate while we count.

mod alloc_counter;

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_engine::crypto::dtls::{DtlsCertificate, DtlsConfig, DtlsRole, DtlsSide};
use sluice_engine::io::IoKind;
use sluice_engine::rtc::webrtc_dtls::{DtlsDriver, DtlsOutput};
use sluice_engine::rtc::webrtc_peer::{PeerInput, WebRtcPeer};
use sluice_engine::rtc::webrtc_transport::{WebRtcTransportOptions, WebRtcTransportReply};
use sluice_engine::rtc::{ConsumeOptions, ProduceOptions, RtcError};
use sluice_engine::worker::{DtlsRecord, Request, Response, WorkerConfig, Workers};
use uuid::Uuid;

const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

enum Msg {
    Record(DtlsRecord),
    Add(Uuid),
    Connect(Uuid, sluice_engine::crypto::dtls::DtlsParameters),
    Stop,
}

fn call(w: &Workers, req: Request) -> Result<Response, RtcError> {
    let (tx, rx) = mpsc::channel();
    w.get(0)
        .expect("worker 0")
        .send(
            req,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .expect("queued");
    rx.recv_timeout(Duration::from_secs(10))
        .expect("worker answers")
}

/// The control plane's DTLS thread, reduced to what this test needs.
fn dtls_thread(rx: mpsc::Receiver<Msg>, workers: Arc<Workers>, cert: DtlsCertificate) {
    let mut driver = DtlsDriver::new(cert, DtlsConfig::default());
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Msg::Record(r)) => driver.handle_record(Instant::now(), r.transport_id, &r.data),
            Ok(Msg::Add(id)) => driver.add(id, 0),
            Ok(Msg::Connect(id, p)) => {
                driver.connect(Instant::now(), id, &p).expect("connect");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        driver.handle_timeout(Instant::now());
        while let Some(o) = driver.poll_output() {
            let req = match o {
                DtlsOutput::Send {
                    transport_id, data, ..
                } => Request::SendDtls {
                    id: transport_id,
                    data,
                },
                DtlsOutput::State {
                    transport_id,
                    state,
                    srtp,
                    ..
                } => Request::SetDtlsState {
                    id: transport_id,
                    state,
                    srtp,
                },
            };
            let _ = workers
                .get(0)
                .expect("worker 0")
                .send(req, Box::new(|_| {}));
        }
    }
}

struct Client {
    sock: UdpSocket,
    peer: WebRtcPeer,
    t: WebRtcTransportReply,
}

fn recv(c: &mut Client) -> Option<PeerInput> {
    let mut buf = [0u8; 2048];
    let (n, _) = c.sock.recv_from(&mut buf).ok()?;
    Some(c.peer.handle_datagram(Instant::now(), &buf[..n]))
}

fn join(
    w: &Workers,
    router: Uuid,
    media: SocketAddr,
    msgs: &mpsc::Sender<Msg>,
    cert: &DtlsCertificate,
) -> Client {
    let id = Uuid::new_v4();
    msgs.send(Msg::Add(id)).expect("dtls thread");
    let Ok(Response::WebRtcTransport(t)) = call(
        w,
        Request::CreateWebRtcTransport {
            router_id: router,
            id,
            options: WebRtcTransportOptions {
                dtls_parameters: cert.local_parameters(),
                app_data: json!(null),
            },
        },
    ) else {
        panic!("webrtc transport")
    };
    let ice = &t.ice_parameters;
    let peer = WebRtcPeer::new(&ice.username_fragment, &ice.password).expect("peer");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut c = Client { sock, peer, t };
    loop {
        let check = c.peer.binding_request(true);
        c.sock.send_to(&check, media).expect("send");
        if matches!(recv(&mut c), Some(PeerInput::BindingSuccess(_))) {
            break;
        }
    }
    msgs.send(Msg::Connect(id, c.peer.dtls_parameters(DtlsRole::Client)))
        .expect("dtls thread");
    c
}

fn run(io: IoKind) {
    let (msg_tx, msg_rx) = mpsc::channel::<Msg>();
    let sink_tx = msg_tx.clone();
    let workers = Arc::new(
        Workers::spawn_with_dtls(
            &WorkerConfig {
                workers: 1,
                pin: false,
                io,
                media_addr: "127.0.0.1:0".parse().expect("literal"),
                rtc_ip: "127.0.0.1".parse().expect("literal"),
                announced_ip: None,
                rtc_ports: (20_000, 20_099),
            },
            Arc::new(|_, _| {}),
            Arc::new(move |r| {
                let _ = sink_tx.send(Msg::Record(r));
            }),
        )
        .expect("workers start"),
    );
    let media = workers.media_addr();
    let w2 = workers.clone();
    let cert = DtlsCertificate::generate().expect("certificate");
    let cert2 = cert.clone();
    let dtls = std::thread::spawn(move || dtls_thread(msg_rx, w2, cert2));

    let router = Uuid::new_v4();
    let codecs = serde_json::from_value(json!([
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
    ]))
    .expect("codecs");
    let Ok(Response::Router(r)) = call(
        &workers,
        Request::CreateRouter {
            id: router,
            media_codecs: codecs,
        },
    ) else {
        panic!("router")
    };
    let mut clients: Vec<Client> = (0..4)
        .map(|_| join(&workers, router, media, &msg_tx, &cert))
        .collect();
    // Handshakes: every client is the DTLS client and checks the announced fingerprint.
    for c in &mut clients {
        let server_fp = c.t.dtls_parameters.fingerprints.clone();
        c.peer
            .start_dtls(Instant::now(), DtlsSide::Client, &server_fp)
            .expect("start dtls");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !c.peer.is_keyed() {
            assert!(
                Instant::now() < deadline,
                "{io:?}: handshake did not finish"
            );
            while let Some(d) = c.peer.poll_transmit() {
                c.sock.send_to(&d, media).expect("send");
            }
            if recv(c).is_none() {
                c.peer.handle_timeout(Instant::now());
            }
        }
    }
    let producer_id = Uuid::new_v4();
    let rtp_parameters = serde_json::from_value(json!({
        "mid": "0",
        "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}],
        "headerExtensions": [{"uri": MID_URI, "id": 4}],
        "encodings": [{"ssrc": 1111}]
    }))
    .expect("rtp parameters");
    call(
        &workers,
        Request::Produce {
            transport_id: clients[0].t.id,
            options: ProduceOptions {
                id: producer_id,
                kind: sluice_engine::rtc::rtp_parameters::MediaKind::Audio,
                rtp_parameters,
                paused: false,
                app_data: json!(null),
            },
        },
    )
    .expect("produce");
    for c in &clients[1..] {
        call(
            &workers,
            Request::Consume {
                transport_id: c.t.id,
                options: ConsumeOptions {
                    id: Uuid::new_v4(),
                    producer_id,
                    rtp_capabilities: r.rtp_capabilities.clone(),
                    paused: false,
                    app_data: json!(null),
                },
            },
        )
        .expect("consume");
    }
    // Protect every packet before counting: the client allocates, the SFU must not.
    let packets: Vec<Vec<u8>> = (0..6_000u16)
        .map(|seq| {
            let mut buf = [0u8; 200];
            let h = sluice_engine::wire::rtp::RtpHeader {
                payload_type: 111,
                sequence: seq,
                timestamp: 960 * u32::from(seq),
                ssrc: 1111,
                ..Default::default()
            };
            let n = sluice_engine::wire::rtp::write_rtp(&mut buf, &h, &[(4, b"0")], &[0xAB; 160])
                .expect("rtp");
            clients[0].peer.protect_rtp(&buf[..n]).expect("protect")
        })
        .collect();
    let (warmup, measured) = packets.split_at(1_000);
    // Warm-up, with every forwarded packet decrypted by its subscriber.
    for burst in warmup.chunks(50) {
        for p in burst {
            clients[0].sock.send_to(p, media).expect("send");
        }
        for c in &mut clients[1..] {
            for _ in burst {
                match recv(c) {
                    Some(PeerInput::Rtp(_)) => {}
                    other => panic!("{io:?}: subscriber got {other:?}"),
                }
            }
        }
    }
    let before = alloc_counter::allocations();
    let mut buf = [0u8; 2048];
    let expected_len = warmup[0].len();
    for burst in measured.chunks(50) {
        for p in burst {
            clients[0].sock.send_to(p, media).expect("send");
        }
        for c in &clients[1..] {
            for _ in burst {
                let (n, _) = c.sock.recv_from(&mut buf).expect("every packet arrives");
                assert_eq!(n, expected_len);
            }
        }
    }
    let after = alloc_counter::allocations();
    let forwarded = workers.get(0).expect("worker").stats().rtc.rtp_forwarded;
    // The workers hold the sink (a sender) and the DTLS thread holds the workers: stop it.
    msg_tx.send(Msg::Stop).expect("dtls thread");
    let _ = dtls.join();
    assert!(forwarded >= 18_000, "{io:?}: forwarded {forwarded}");
    assert_eq!(
        after - before,
        0,
        "{io:?}: {} heap allocations while forwarding 5 000 SRTP packets",
        after - before
    );
    println!("webrtc_no_alloc {io:?}: 5000 SRTP packets x 3 consumers with 0 allocations");
}

fn main() {
    run(IoKind::Uring);
    run(IoKind::Mmsg);
    println!("webrtc_no_alloc: 2 passed, 0 failed");
}
