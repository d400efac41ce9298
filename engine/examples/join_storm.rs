//! Forwarding latency of a running WebRTC flow before and during a join storm.
//!
//! One worker; the DTLS driver on a thread of its own, as the control plane runs it. A publisher
//! sends SRTP at 1 000 packets/s to one subscriber through the worker (each payload carries its
//! send time); the subscriber decrypts and records send→receive latency. Phase 1: 3 000 packets
//! with nothing else going on. Phase 2: 3 000 packets while `STORM` new WebRTC transports (each
//! its own client thread) do ICE and a full DTLS handshake at once. The worker never runs a
//! handshake (DESIGN §2), so phase 2 should look like phase 1 apart from CPU contention: on a
//! machine with few cores the clients' own handshakes and the DTLS thread compete with the
//! worker for the same cores, which is part of what this shows.
//!
//! `cargo run --release -p sluice-engine --example join_storm [uring|mmsg] [storm]`
//!
//! The storm's client threads run at nice 19 (they stand for browsers elsewhere) and the DTLS
//! thread at nice 10, as the control plane runs it. Latencies include the client's own send
//! and receive on loopback. Shared, noisy machines:
//! compare only the two phases of one run.

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
use sluice_engine::rtc::{ConsumeOptions, ProduceOptions, RtcError};
use sluice_engine::worker::{DtlsRecord, Request, Response, WorkerConfig, Workers};
use uuid::Uuid;

const PHASE: u32 = 3_000;
/// The DTLS thread's nice value, as `control/src/webrtc.rs` sets it.
const DTLS_NICE: i32 = 10;

enum Msg {
    Record(DtlsRecord),
    Add(Uuid),
    Connect(Uuid, DtlsParameters),
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
    rx.recv_timeout(Duration::from_secs(20))
        .expect("worker answers")
}

fn dtls_thread(rx: mpsc::Receiver<Msg>, workers: Arc<Workers>, cert: DtlsCertificate) {
    // As the control plane's DTLS thread does (`control/src/webrtc.rs`).
    let _ = sluice_engine::io::thread::set_current_thread_nice(DTLS_NICE);
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
                let _ = driver.connect(Instant::now(), id, &p);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
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
            let _ = workers.get(0).expect("worker").send(req, Box::new(|_| {}));
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

/// Creates a transport and runs ICE and DTLS (we are the DTLS client) to completion.
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
    sock.set_read_timeout(Some(Duration::from_millis(50)))
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
    let fps = c.t.dtls_parameters.fingerprints.clone();
    c.peer
        .start_dtls(Instant::now(), DtlsSide::Client, &fps)
        .expect("start dtls");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c.peer.is_keyed() && Instant::now() < deadline {
        while let Some(d) = c.peer.poll_transmit() {
            c.sock.send_to(&d, media).expect("send");
        }
        if recv(&mut c).is_none() {
            c.peer.handle_timeout(Instant::now());
        }
    }
    assert!(c.peer.is_keyed(), "handshake did not finish");
    c
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let io = match args.get(1).map(String::as_str) {
        Some("mmsg") => IoKind::Mmsg,
        _ => IoKind::Uring,
    };
    let storm: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let (msg_tx, msg_rx) = mpsc::channel::<Msg>();
    let sink = msg_tx.clone();
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
    {
        let (w, c) = (workers.clone(), cert.clone());
        std::thread::spawn(move || dtls_thread(msg_rx, w, c));
    }
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
    let mut publisher = join(&workers, router, media, &msg_tx, &cert);
    let mut subscriber = join(&workers, router, media, &msg_tx, &cert);
    let producer_id = Uuid::new_v4();
    call(
        &workers,
        Request::Produce {
            transport_id: publisher.t.id,
            options: ProduceOptions {
                id: producer_id,
                kind: sluice_engine::rtc::rtp_parameters::MediaKind::Audio,
                rtp_parameters: serde_json::from_value(json!({
                    "codecs": [{"mimeType": "audio/opus", "payloadType": 111,
                                "clockRate": 48000, "channels": 2}],
                    "encodings": [{"ssrc": 1111}]
                }))
                .expect("parameters"),
                paused: false,
                app_data: json!(null),
            },
        },
    )
    .expect("produce");
    call(
        &workers,
        Request::Consume {
            transport_id: subscriber.t.id,
            options: ConsumeOptions {
                id: Uuid::new_v4(),
                producer_id,
                rtp_capabilities: r.rtp_capabilities,
                paused: false,
                app_data: json!(null),
            },
        },
    )
    .expect("consume");

    let t0 = Instant::now();
    let (lat_tx, lat_rx) = mpsc::channel::<(u32, u64)>();
    std::thread::spawn(move || {
        loop {
            if let Some(PeerInput::Rtp(p)) = recv(&mut subscriber) {
                let Ok(pkt) = sluice_engine::wire::rtp::RtpPacket::parse(&p) else {
                    continue;
                };
                let b = pkt.payload();
                if b.len() < 12 {
                    continue;
                }
                let sent = u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
                let idx = u32::from_be_bytes(b[8..12].try_into().expect("4 bytes"));
                let now = t0.elapsed().as_nanos() as u64;
                if lat_tx.send((idx, now.saturating_sub(sent))).is_err() {
                    return;
                }
            }
        }
    });
    let mut send = |i: u32| {
        let mut payload = [0u8; 160];
        payload[..8].copy_from_slice(&(t0.elapsed().as_nanos() as u64).to_be_bytes());
        payload[8..12].copy_from_slice(&i.to_be_bytes());
        let mut buf = [0u8; 256];
        let h = sluice_engine::wire::rtp::RtpHeader {
            payload_type: 111,
            sequence: i as u16,
            timestamp: 48 * i,
            ssrc: 1111,
            ..Default::default()
        };
        let n = sluice_engine::wire::rtp::write_rtp(&mut buf, &h, &[], &payload).expect("rtp");
        let srtp = publisher.peer.protect_rtp(&buf[..n]).expect("protect");
        publisher.sock.send_to(&srtp, media).expect("send");
    };
    let paced = |i: u32, start: Instant| {
        let due = start + Duration::from_millis(u64::from(i));
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    };
    let start = Instant::now();
    for i in 0..PHASE {
        paced(i, start);
        send(i);
    }
    // The storm: every client thread joins at once.
    let storm_started = Instant::now();
    let joined = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..storm {
        let (w, m, c, j) = (
            workers.clone(),
            msg_tx.clone(),
            cert.clone(),
            joined.clone(),
        );
        std::thread::spawn(move || {
            // The joining clients stand for browsers on other machines: on this one they
            // should not take the cores from the SFU (`nice` as high as it goes).
            let _ = sluice_engine::io::thread::set_current_thread_nice(19);
            let _client = join(&w, router, media, &m, &c);
            j.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(30));
        });
    }
    let start = Instant::now();
    let mut storm_done = None;
    let mut storm_end = PHASE;
    for i in 0..PHASE {
        paced(i, start);
        send(PHASE + i);
        if storm_done.is_none() && joined.load(std::sync::atomic::Ordering::SeqCst) == storm {
            storm_done = Some(storm_started.elapsed());
            storm_end = i + 1;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut before = Vec::new();
    let mut during = Vec::new();
    let mut after = Vec::new();
    while let Ok((idx, ns)) = lat_rx.try_recv() {
        if idx < PHASE {
            before.push(ns / 1000);
        } else if idx < PHASE + storm_end {
            during.push(ns / 1000);
        } else {
            after.push(ns / 1000);
        }
    }
    before.sort_unstable();
    during.sort_unstable();
    after.sort_unstable();
    let row = |name: &str, v: &[u64]| {
        if v.is_empty() {
            println!("{name:>8}: no packets");
            return;
        }
        println!(
            "{name:>8}: {:>5} packets  p50 {:>6} µs  p99 {:>6} µs  p99.9 {:>6} µs  max {:>6} µs",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 0.999),
            v.last().copied().unwrap_or(0)
        );
    };
    println!(
        "join_storm {io:?}: {storm} transports joining (ICE + DTLS) while 1000 SRTP packets/s flow; \
         storm finished in {:?} ({} of {storm} within the phase)",
        storm_done.unwrap_or_default(),
        joined.load(std::sync::atomic::Ordering::SeqCst)
    );
    row("before", &before);
    row("during", &during);
    if !after.is_empty() {
        row("after", &after);
    }
}
