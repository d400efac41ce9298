//! The sans-IO room the no-allocation test binaries start from: a `WorkerCore` with a wall
//! clock, one VP8 router, and `n` connected plain transports (`127.0.0.1:40000+i` locally,
//! `10.0.0.1:5000+i` remotely), whose RTP or RTCP each binary then drives.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_engine::net::SockId;
use sluice_engine::rtc::rtp_parameters::{RtpCapabilities, RtpCodecCapability};
use sluice_engine::rtc::{PlainTransportOptions, WorkerCore};
use uuid::Uuid;

pub struct PlainRoom {
    pub core: WorkerCore,
    /// The simulated clock's start (the wall clock reads 1.8e9 s there).
    pub t0: Instant,
    pub caps: RtpCapabilities,
    /// Per transport: its id, its socket and its remote address.
    pub legs: Vec<(Uuid, SockId, SocketAddr)>,
}

pub fn vp8_room(n: u32) -> PlainRoom {
    let mut core = WorkerCore::new();
    let t0 = Instant::now();
    core.set_wall_clock(t0, Duration::from_secs(1_800_000_000));
    let router = Uuid::new_v4();
    let codecs: Vec<RtpCodecCapability> = serde_json::from_value(json!([
        {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
    ]))
    .unwrap();
    let caps = core
        .create_router(router, &codecs)
        .unwrap()
        .rtp_capabilities;
    let mut legs = Vec::new();
    for i in 0..n {
        let id = Uuid::new_v4();
        let local: SocketAddr = ([127, 0, 0, 1], 40_000 + i as u16).into();
        let options = PlainTransportOptions {
            comedia: false,
            rtcp_mux: true,
            app_data: json!(null),
        };
        core.create_plain_transport(router, id, (SockId(i), local), None, options)
            .unwrap();
        let remote: SocketAddr = ([10, 0, 0, 1], 5000 + i as u16).into();
        core.connect_plain_transport(id, remote.ip(), remote.port(), None)
            .unwrap();
        legs.push((id, SockId(i), remote));
    }
    PlainRoom {
        core,
        t0,
        caps,
        legs,
    }
}
