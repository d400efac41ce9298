//! Set-up shared by the core's scenario tests (`tests.rs`, `rtcp_tests.rs`, `nack_tests.rs`,
//! `simulcast_tests.rs`, `webrtc_tests.rs`)
//! and the fuzz entry points (`crate::fuzz_entry`), which is why it is not `cfg(test)`.

#[cfg(test)]
use std::net::SocketAddr;

use serde_json::json;
use uuid::Uuid;

#[cfg(test)]
use super::PlainTransportOptions;
use super::WorkerCore;
use super::rtp_parameters::{RtpCapabilities, RtpCodecCapability};
#[cfg(test)]
use crate::net::SockId;

/// A new router on `core` with Opus (48 kHz stereo) and VP8, as a browser room has them;
/// returns its id and its RTP capabilities.
pub(crate) fn opus_vp8_router(core: &mut WorkerCore) -> (Uuid, RtpCapabilities) {
    let router = Uuid::new_v4();
    let codecs: Vec<RtpCodecCapability> = serde_json::from_value(json!([
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
        {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
    ]))
    .expect("codec list");
    let caps = core
        .create_router(router, &codecs)
        .expect("router")
        .rtp_capabilities;
    (router, caps)
}

/// A plain transport of a scenario test and the endpoint it is connected to.
#[cfg(test)]
#[derive(Clone, Copy)]
pub(crate) struct Leg {
    pub(crate) transport: Uuid,
    pub(crate) sock: SockId,
    pub(crate) remote: SocketAddr,
}

/// A plain transport on `router` bound to socket `sock` (local port 40 000 + its number),
/// RTCP muxed, connected to `remote`.
#[cfg(test)]
pub(crate) fn plain_leg(core: &mut WorkerCore, router: Uuid, sock: SockId, remote: &str) -> Leg {
    let id = Uuid::new_v4();
    let local = SocketAddr::from(([127, 0, 0, 1], 40_000 + sock.0 as u16 + 1));
    let options = PlainTransportOptions {
        comedia: false,
        rtcp_mux: true,
        app_data: json!(null),
    };
    core.create_plain_transport(router, id, (sock, local), None, options)
        .expect("plain transport");
    let remote: SocketAddr = remote.parse().expect("remote address");
    core.connect_plain_transport(id, remote.ip(), remote.port(), None)
        .expect("connect");
    Leg {
        transport: id,
        sock,
        remote,
    }
}
