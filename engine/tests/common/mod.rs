//! Helpers shared by the engine's end-to-end tests: start workers and drive them with commands.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use sluice_engine::io::IoKind;
use sluice_engine::rtc::{ConsumeOptions, PlainTransportOptions, ProduceOptions, RtcError};
use sluice_engine::worker::{Request, Response, WorkerConfig, Workers};
use uuid::Uuid;

pub fn spawn(n: usize, io: IoKind) -> Workers {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let base = 20_000 + (std::process::id() % 200) as u16 * 100 + k * 20 % 100;
    Workers::spawn(
        &WorkerConfig {
            workers: n,
            pin: false,
            io,
            media_addr: "127.0.0.1:0".parse().unwrap(),
            rtc_ip: "127.0.0.1".parse().unwrap(),
            announced_ip: None,
            rtc_ports: (base, base + 99),
        },
        Arc::new(|_, _| {}),
    )
    .expect("workers start")
}

pub fn call(w: &Workers, worker: usize, req: Request) -> Result<Response, RtcError> {
    let (tx, rx) = mpsc::channel();
    w.get(worker)
        .unwrap()
        .send(
            req,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("worker answers")
}

/// A socket for a simulated endpoint, with a receive timeout.
pub fn endpoint() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Router with opus; one producer (SSRC 1111, PT 100) on a transport connected to `sender`;
/// one consumer per receiver. Returns the producer transport's address.
pub fn opus_fanout(w: &Workers, sender: &UdpSocket, receivers: &[UdpSocket]) -> SocketAddr {
    let router = Uuid::new_v4();
    let codecs = serde_json::from_value(json!([
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
    ]))
    .unwrap();
    let Ok(Response::Router(r)) = call(
        w,
        0,
        Request::CreateRouter {
            id: router,
            media_codecs: codecs,
        },
    ) else {
        panic!("router")
    };
    let transport = |remote: SocketAddr| {
        let id = Uuid::new_v4();
        let options = PlainTransportOptions {
            comedia: false,
            rtcp_mux: true,
            app_data: json!(null),
        };
        let Ok(Response::PlainTransport(t)) = call(
            w,
            0,
            Request::CreatePlainTransport {
                router_id: router,
                id,
                options,
            },
        ) else {
            panic!("transport")
        };
        call(
            w,
            0,
            Request::ConnectPlainTransport {
                id,
                ip: remote.ip(),
                port: remote.port(),
                rtcp_port: None,
            },
        )
        .unwrap();
        (
            id,
            SocketAddr::new(t.tuple.local_address.parse().unwrap(), t.tuple.local_port),
        )
    };
    let (send_t, send_addr) = transport(sender.local_addr().unwrap());
    let producer_id = Uuid::new_v4();
    let rtp_parameters = serde_json::from_value(json!({
        "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
        "encodings": [{"ssrc": 1111}]
    }))
    .unwrap();
    let options = ProduceOptions {
        id: producer_id,
        kind: sluice_engine::rtc::rtp_parameters::MediaKind::Audio,
        rtp_parameters,
        paused: false,
        app_data: json!(null),
    };
    call(
        w,
        0,
        Request::Produce {
            transport_id: send_t,
            options,
        },
    )
    .unwrap();
    for rx in receivers {
        let (t, _) = transport(rx.local_addr().unwrap());
        let options = ConsumeOptions {
            id: Uuid::new_v4(),
            producer_id,
            rtp_capabilities: r.rtp_capabilities.clone(),
            paused: false,
            app_data: json!(null),
        };
        call(
            w,
            0,
            Request::Consume {
                transport_id: t,
                options,
            },
        )
        .unwrap();
    }
    send_addr
}

/// A 200-byte RTP packet of the producer.
pub fn opus_packet(seq: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 200];
    let h = sluice_engine::wire::rtp::RtpHeader {
        payload_type: 100,
        sequence: seq,
        timestamp: 960 * seq as u32,
        ssrc: 1111,
        ..Default::default()
    };
    let n = sluice_engine::wire::rtp::write_rtp(&mut buf, &h, &[], &[0xAB; 188]).unwrap();
    buf.truncate(n);
    buf
}
