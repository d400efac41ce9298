//! WebRTC set-up shared by `tests/webrtc_no_alloc.rs` and `examples/join_storm.rs` (the example
//! takes it with `#[path]`, so nothing of it enters the engine's public API).
//!
//! One worker started with a DTLS sink; the control plane's DTLS thread reduced to a loop over a
//! channel (`dtls_thread`, as `control/src/webrtc.rs` runs it); clients that are a `WebRtcPeer`
//! on a socket of their own, which create a transport, run ICE against the worker and then a
//! DTLS handshake as the DTLS client, checking the fingerprint the transport announced.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_engine::crypto::dtls::{
    DtlsCertificate, DtlsConfig, DtlsParameters, DtlsRole, DtlsSide,
};
use sluice_engine::io::IoKind;
use sluice_engine::rtc::webrtc_dtls::{DtlsDriver, DtlsOutput};
use sluice_engine::rtc::webrtc_peer::{PeerInput, WebRtcPeer};
use sluice_engine::rtc::webrtc_transport::{WebRtcTransportOptions, WebRtcTransportReply};
use sluice_engine::rtc::{ConsumeOptions, ProduceOptions, RouterReply, RtcError};
use sluice_engine::worker::{DtlsRecord, Request, Response, WorkerConfig, Workers};
use uuid::Uuid;

/// What the DTLS thread is told.
pub enum Msg {
    Record(DtlsRecord),
    Add(Uuid),
    Connect(Uuid, DtlsParameters),
    /// The workers hold the sink (a sender) and the DTLS thread holds the workers: the
    /// thread only ends when told to.
    Stop,
}

/// One worker whose DTLS records go to the DTLS thread, and what a client needs to join it.
/// Cheap to clone, for client threads.
#[derive(Clone)]
pub struct Sfu {
    pub workers: Arc<Workers>,
    pub media: SocketAddr,
    pub msgs: mpsc::Sender<Msg>,
    pub cert: DtlsCertificate,
}

/// Starts one worker on `io` and the DTLS thread (at `nice` when given) that answers with a
/// fresh certificate. Hand the thread back to [`Sfu::stop_dtls`] at the end.
pub fn start(io: IoKind, nice: Option<i32>) -> (Sfu, std::thread::JoinHandle<()>) {
    let (msgs, msg_rx) = mpsc::channel::<Msg>();
    let sink = msgs.clone();
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
                let _ = sink.send(Msg::Record(r));
            }),
        )
        .expect("workers start"),
    );
    let media = workers.media_addr();
    let cert = DtlsCertificate::generate().expect("certificate");
    let dtls = {
        let (w, c) = (workers.clone(), cert.clone());
        std::thread::spawn(move || dtls_thread(msg_rx, w, c, nice))
    };
    let sfu = Sfu {
        workers,
        media,
        msgs,
        cert,
    };
    (sfu, dtls)
}

impl Sfu {
    /// Stops the DTLS thread and waits for it (it holds the workers, which hold its sender).
    pub fn stop_dtls(&self, dtls: std::thread::JoinHandle<()>) {
        self.msgs.send(Msg::Stop).expect("dtls thread");
        let _ = dtls.join();
    }
}

pub fn call(w: &Workers, req: Request) -> Result<Response, RtcError> {
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
    rx.recv_timeout(Duration::from_secs(20))
        .expect("worker answers")
}

/// The control plane's DTLS thread (`control/src/webrtc.rs`), reduced to what the test and
/// the example need.
fn dtls_thread(
    rx: mpsc::Receiver<Msg>,
    workers: Arc<Workers>,
    cert: DtlsCertificate,
    nice: Option<i32>,
) {
    if let Some(nice) = nice {
        let _ = sluice_engine::io::thread::set_current_thread_nice(nice);
    }
    let mut driver = DtlsDriver::new(cert, DtlsConfig::default());
    loop {
        let wait = driver
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        match rx.recv_timeout(wait) {
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

/// A router with Opus as its only codec.
pub fn opus_router(w: &Workers) -> (Uuid, RouterReply) {
    let id = Uuid::new_v4();
    let codecs = serde_json::from_value(json!([
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
    ]))
    .expect("codecs");
    let Ok(Response::Router(r)) = call(
        w,
        Request::CreateRouter {
            id,
            media_codecs: codecs,
        },
    ) else {
        panic!("router")
    };
    (id, r)
}

/// An audio producer with `rtp_parameters` on `transport_id`; returns its id.
pub fn produce(w: &Workers, transport_id: Uuid, rtp_parameters: serde_json::Value) -> Uuid {
    let id = Uuid::new_v4();
    call(
        w,
        Request::Produce {
            transport_id,
            options: ProduceOptions {
                id,
                kind: sluice_engine::rtc::rtp_parameters::MediaKind::Audio,
                rtp_parameters: serde_json::from_value(rtp_parameters).expect("rtp parameters"),
                paused: false,
                app_data: json!(null),
            },
        },
    )
    .expect("produce");
    id
}

/// A consumer of `producer_id` on `transport_id`.
pub fn consume(w: &Workers, transport_id: Uuid, producer_id: Uuid, router: &RouterReply) {
    call(
        w,
        Request::Consume {
            transport_id,
            options: ConsumeOptions {
                id: Uuid::new_v4(),
                producer_id,
                rtp_capabilities: router.rtp_capabilities.clone(),
                paused: false,
                app_data: json!(null),
            },
        },
    )
    .expect("consume");
}

pub struct Client {
    pub sock: UdpSocket,
    pub peer: WebRtcPeer,
    pub t: WebRtcTransportReply,
}

/// One datagram from the worker, fed to the client's peer; `None` when the read timed out.
pub fn recv(c: &mut Client) -> Option<PeerInput> {
    let mut buf = [0u8; 2048];
    let (n, _) = c.sock.recv_from(&mut buf).ok()?;
    Some(c.peer.handle_datagram(Instant::now(), &buf[..n]))
}

/// Creates a transport, runs ICE to a binding success and tells the DTLS thread to `connect`
/// (the client will be the DTLS client). `read_timeout` is the client socket's.
pub fn join_ice(s: &Sfu, router: Uuid, read_timeout: Duration) -> Client {
    let id = Uuid::new_v4();
    s.msgs.send(Msg::Add(id)).expect("dtls thread");
    let Ok(Response::WebRtcTransport(t)) = call(
        &s.workers,
        Request::CreateWebRtcTransport {
            router_id: router,
            id,
            options: WebRtcTransportOptions {
                dtls_parameters: s.cert.local_parameters(),
                app_data: json!(null),
            },
        },
    ) else {
        panic!("webrtc transport")
    };
    let ice = &t.ice_parameters;
    let peer = WebRtcPeer::new(&ice.username_fragment, &ice.password).expect("peer");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(read_timeout)).expect("timeout");
    let mut c = Client { sock, peer, t };
    loop {
        let check = c.peer.binding_request(true);
        c.sock.send_to(&check, s.media).expect("send");
        if matches!(recv(&mut c), Some(PeerInput::BindingSuccess(_))) {
            break;
        }
    }
    s.msgs
        .send(Msg::Connect(id, c.peer.dtls_parameters(DtlsRole::Client)))
        .expect("dtls thread");
    c
}

/// Runs the client's DTLS handshake (it is the DTLS client) until it is keyed; panics when
/// that takes longer than `limit`.
pub fn handshake(c: &mut Client, media: SocketAddr, limit: Duration) {
    let fps = c.t.dtls_parameters.fingerprints.clone();
    c.peer
        .start_dtls(Instant::now(), DtlsSide::Client, &fps)
        .expect("start dtls");
    let deadline = Instant::now() + limit;
    while !c.peer.is_keyed() {
        assert!(Instant::now() < deadline, "handshake did not finish");
        while let Some(d) = c.peer.poll_transmit() {
            c.sock.send_to(&d, media).expect("send");
        }
        if recv(c).is_none() {
            c.peer.handle_timeout(Instant::now());
        }
    }
}
