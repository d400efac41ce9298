//! Set-up shared by the core's scenario tests (`tests.rs`, `rtcp_tests.rs`, `webrtc_tests.rs`)
//! and the fuzz entry points (`crate::fuzz_entry`), which is why it is not `cfg(test)`.

use serde_json::json;
use uuid::Uuid;

use super::WorkerCore;
use super::rtp_parameters::{RtpCapabilities, RtpCodecCapability};

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
