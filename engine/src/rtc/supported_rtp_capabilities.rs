//! The codecs and header extensions Sluice can route: mediasoup's `supportedRtpCapabilities`.
//!
//! A router's capabilities ([`crate::rtc::ortc::generate_router_rtp_capabilities`]) are the subset
//! of this list named in its `mediaCodecs`, with payload types assigned. The list is mediasoup's,
//! entry for entry and in the same order (the first match wins), plus `video/AV1`, which newer
//! mediasoup versions also route. Audio codecs carry an explicit `channels` (mediasoup fills in 1
//! when validating its own list). Payload types are only given for codecs with a static one
//! (RFC 3551 §6); the others get dynamic ones per router.

use serde_json::json;

use super::rtp_parameters::{
    MediaKind, Parameters, RtcpFeedback, RtpCapabilities, RtpCodecCapability, RtpHeaderExtension,
    RtpHeaderExtensionDirection,
};

/// RTCP feedback sets used in the list.
#[derive(Clone, Copy)]
enum Feedback {
    None,
    TransportCc,
    NackTransportCc,
    /// Every video codec: NACK, PLI, FIR, REMB and transport-wide CC.
    Video,
}

impl Feedback {
    fn build(self) -> Vec<RtcpFeedback> {
        let entries: &[(&str, &str)] = match self {
            Feedback::None => &[],
            Feedback::TransportCc => &[("transport-cc", "")],
            Feedback::NackTransportCc => &[("nack", ""), ("transport-cc", "")],
            Feedback::Video => &[
                ("nack", ""),
                ("nack", "pli"),
                ("ccm", "fir"),
                ("goog-remb", ""),
                ("transport-cc", ""),
            ],
        };
        entries
            .iter()
            .map(|(t, p)| RtcpFeedback::new(t, p))
            .collect()
    }
}

fn params(value: serde_json::Value) -> Parameters {
    match value {
        serde_json::Value::Object(map) => map,
        _ => Parameters::new(),
    }
}

struct Codec {
    kind: MediaKind,
    mime_type: &'static str,
    preferred_payload_type: Option<u8>,
    clock_rate: u32,
    channels: Option<u8>,
    parameters: serde_json::Value,
    feedback: Feedback,
}

impl Codec {
    fn audio(mime_type: &'static str, clock_rate: u32, feedback: Feedback) -> Codec {
        Codec {
            kind: MediaKind::Audio,
            mime_type,
            preferred_payload_type: None,
            clock_rate,
            channels: Some(1),
            parameters: json!({}),
            feedback,
        }
    }

    fn video(mime_type: &'static str, parameters: serde_json::Value) -> Codec {
        Codec {
            kind: MediaKind::Video,
            mime_type,
            preferred_payload_type: None,
            clock_rate: 90000,
            channels: None,
            parameters,
            feedback: Feedback::Video,
        }
    }

    fn pt(mut self, pt: u8) -> Codec {
        self.preferred_payload_type = Some(pt);
        self
    }

    fn channels(mut self, channels: u8, parameters: serde_json::Value) -> Codec {
        self.channels = Some(channels);
        self.parameters = parameters;
        self
    }

    fn build(self) -> RtpCodecCapability {
        RtpCodecCapability {
            kind: self.kind,
            mime_type: self.mime_type.to_owned(),
            preferred_payload_type: self.preferred_payload_type,
            clock_rate: self.clock_rate,
            channels: self.channels,
            parameters: params(self.parameters),
            rtcp_feedback: self.feedback.build(),
        }
    }
}

const NACK_TCC: Feedback = Feedback::NackTransportCc;
const TCC: Feedback = Feedback::TransportCc;
const NONE: Feedback = Feedback::None;

/// `urn:ietf:params:rtp-hdrext:sdes:mid` (RFC 8843 §15).
pub const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// `urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id` (RFC 8852 §3.1).
pub const RTP_STREAM_ID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
/// `urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id` (RFC 8852 §3.2).
pub const REPAIRED_RTP_STREAM_ID_URI: &str =
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
/// Absolute send time, used with REMB.
pub const ABS_SEND_TIME_URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
/// Transport-wide sequence numbers, used with transport-cc feedback.
pub const TRANSPORT_WIDE_CC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// mediasoup's supported RTP capabilities (plus AV1), freshly built: callers may modify the copy.
pub fn supported_rtp_capabilities() -> RtpCapabilities {
    let codecs = vec![
        Codec::audio("audio/opus", 48000, NACK_TCC).channels(2, json!({})),
        // Quad channel.
        Codec::audio("audio/multiopus", 48000, NACK_TCC).channels(
            4,
            json!({"channel_mapping": "0,1,2,3", "num_streams": 2, "coupled_streams": 2}),
        ),
        // 5.1.
        Codec::audio("audio/multiopus", 48000, NACK_TCC).channels(
            6,
            json!({"channel_mapping": "0,4,1,2,3,5", "num_streams": 4, "coupled_streams": 2}),
        ),
        // 7.1.
        Codec::audio("audio/multiopus", 48000, NACK_TCC).channels(
            8,
            json!({"channel_mapping": "0,6,1,2,3,4,5,7", "num_streams": 5, "coupled_streams": 3}),
        ),
        Codec::audio("audio/PCMU", 8000, TCC).pt(0),
        Codec::audio("audio/PCMA", 8000, TCC).pt(8),
        Codec::audio("audio/ISAC", 32000, TCC),
        Codec::audio("audio/ISAC", 16000, TCC),
        Codec::audio("audio/G722", 8000, TCC).pt(9),
        Codec::audio("audio/iLBC", 8000, TCC),
        Codec::audio("audio/SILK", 24000, TCC),
        Codec::audio("audio/SILK", 16000, TCC),
        Codec::audio("audio/SILK", 12000, TCC),
        Codec::audio("audio/SILK", 8000, TCC),
        Codec::audio("audio/CN", 32000, NONE).pt(13),
        Codec::audio("audio/CN", 16000, NONE).pt(13),
        Codec::audio("audio/CN", 8000, NONE).pt(13),
        Codec::audio("audio/telephone-event", 48000, NONE),
        Codec::audio("audio/telephone-event", 32000, NONE),
        Codec::audio("audio/telephone-event", 16000, NONE),
        Codec::audio("audio/telephone-event", 8000, NONE),
        Codec::video("video/VP8", json!({})),
        Codec::video("video/VP9", json!({})),
        Codec::video("video/H264", json!({"level-asymmetry-allowed": 1})),
        Codec::video("video/H264-SVC", json!({"level-asymmetry-allowed": 1})),
        Codec::video("video/H265", json!({"level-asymmetry-allowed": 1})),
        Codec::video("video/AV1", json!({})),
    ];

    use MediaKind::{Audio, Video};
    use RtpHeaderExtensionDirection::{Recvonly, Sendrecv};
    let extensions: [(MediaKind, &str, u8, RtpHeaderExtensionDirection); 17] = [
        (Audio, MID_URI, 1, Sendrecv),
        (Video, MID_URI, 1, Sendrecv),
        (Video, RTP_STREAM_ID_URI, 2, Recvonly),
        (Video, REPAIRED_RTP_STREAM_ID_URI, 3, Recvonly),
        (Audio, ABS_SEND_TIME_URI, 4, Sendrecv),
        (Video, ABS_SEND_TIME_URI, 4, Sendrecv),
        // For audio, transport-wide CC only when receiving, as mediasoup.
        (Audio, TRANSPORT_WIDE_CC_URI, 5, Recvonly),
        (Video, TRANSPORT_WIDE_CC_URI, 5, Sendrecv),
        (
            Video,
            "http://tools.ietf.org/html/draft-ietf-avtext-framemarking-07",
            6,
            Sendrecv,
        ),
        (
            Video,
            "urn:ietf:params:rtp-hdrext:framemarking",
            7,
            Sendrecv,
        ),
        (
            Audio,
            "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            10,
            Sendrecv,
        ),
        (Video, "urn:3gpp:video-orientation", 11, Sendrecv),
        (Video, "urn:ietf:params:rtp-hdrext:toffset", 12, Sendrecv),
        (
            Audio,
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
            13,
            Sendrecv,
        ),
        (
            Video,
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
            13,
            Sendrecv,
        ),
        (
            Audio,
            "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
            14,
            Sendrecv,
        ),
        (
            Video,
            "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
            14,
            Sendrecv,
        ),
    ];

    RtpCapabilities {
        codecs: codecs.into_iter().map(Codec::build).collect(),
        header_extensions: extensions
            .into_iter()
            .map(|(kind, uri, preferred_id, direction)| RtpHeaderExtension {
                kind,
                uri: uri.to_owned(),
                preferred_id,
                preferred_encrypt: false,
                direction,
            })
            .collect(),
    }
}
