//! RTP capabilities and parameters: the JSON shapes mediasoup and `mediasoup-client` exchange
//! (`RtpCapabilities`, `RtpParameters` and their parts), with mediasoup's camelCase field names.
//!
//! These are ORTC-style descriptions of what an endpoint can receive (capabilities) and what one
//! stream carries (parameters): codecs with their payload types (RFC 3551 §6, RFC 8866 `a=rtpmap`
//! and `a=fmtp`), RTCP feedback (RFC 4585 §4.2), header extensions (RFC 8285) and encodings
//! (simulcast RIDs, RFC 8851/8853; RTX SSRCs, RFC 4588).
//!
//! Deserialisation is lenient in the way mediasoup is: unknown fields are ignored and the fields
//! mediasoup defaults (`rtcpFeedback`, `parameters`, `headerExtensions`, `encodings`, `rtcp`,
//! `reducedSize`, `encrypt`, `direction`, …) may be absent. Semantic checks (mime type shape,
//! payload type range, parameter value types) are not done here but in
//! [`crate::rtc::ortc::validate_rtp_parameters`] and
//! [`crate::rtc::ortc::validate_rtp_capabilities`], which name the offending field.

use serde::{Deserialize, Serialize};

/// Codec or header-extension parameters (`a=fmtp` key/value pairs). Values are JSON strings or
/// numbers, kept as given so they round-trip (`"packetization-mode": 1`, `"profile-level-id":
/// "42e01f"`). Keys are kept sorted.
pub type Parameters = serde_json::Map<String, serde_json::Value>;

/// Media kind of a codec, header extension, producer or consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// `"audio"`.
    Audio,
    /// `"video"`.
    Video,
}

impl MediaKind {
    /// The JSON spelling: `"audio"` or `"video"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// One RTCP feedback mechanism a codec supports (RFC 4585 §4.2 `a=rtcp-fb`), e.g.
/// `{type: "nack", parameter: "pli"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RtcpFeedback {
    /// Feedback type: `"nack"`, `"ccm"`, `"goog-remb"`, `"transport-cc"`, …
    #[serde(rename = "type")]
    pub r#type: String,
    /// Feedback parameter (`"pli"`, `"fir"`), empty when none.
    #[serde(default)]
    pub parameter: String,
}

impl RtcpFeedback {
    /// A feedback entry; `parameter` may be empty.
    pub fn new(r#type: &str, parameter: &str) -> Self {
        Self {
            r#type: r#type.to_owned(),
            parameter: parameter.to_owned(),
        }
    }
}

/// A codec an endpoint (or the router) can handle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpCodecCapability {
    /// Media kind; must agree with the `mimeType` prefix.
    pub kind: MediaKind,
    /// `"audio/opus"`, `"video/VP8"`, `"video/rtx"`, … (case-insensitive when compared).
    pub mime_type: String,
    /// Payload type the owner of these capabilities wants for this codec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_payload_type: Option<u8>,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channel count; absent means 1 for audio. Not used for video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u8>,
    /// Codec-specific parameters (`a=fmtp`).
    #[serde(default)]
    pub parameters: Parameters,
    /// Supported RTCP feedback.
    #[serde(default)]
    pub rtcp_feedback: Vec<RtcpFeedback>,
}

/// Direction in which the router uses a header extension, as seen from the router: `"recvonly"`
/// means the router only reads it from producers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtpHeaderExtensionDirection {
    /// Sent and received.
    #[default]
    Sendrecv,
    /// Only sent.
    Sendonly,
    /// Only received.
    Recvonly,
    /// Neither.
    Inactive,
}

/// A header extension an endpoint (or the router) can handle (RFC 8285).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpHeaderExtension {
    /// Media kind this entry applies to.
    pub kind: MediaKind,
    /// Extension URI, e.g. `"urn:ietf:params:rtp-hdrext:sdes:mid"`.
    pub uri: String,
    /// The extension id the owner of these capabilities wants.
    pub preferred_id: u8,
    /// Whether to encrypt it (RFC 6904). Sluice never does.
    #[serde(default)]
    pub preferred_encrypt: bool,
    /// Direction; `"sendrecv"` when absent.
    #[serde(default)]
    pub direction: RtpHeaderExtensionDirection,
}

/// What an endpoint (or the router) can receive and send.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpCapabilities {
    /// Supported codecs, RTX included.
    #[serde(default)]
    pub codecs: Vec<RtpCodecCapability>,
    /// Supported header extensions.
    #[serde(default)]
    pub header_extensions: Vec<RtpHeaderExtension>,
}

/// One codec in use on a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpCodecParameters {
    /// `"audio/opus"`, `"video/VP8"`, `"video/rtx"`, …
    pub mime_type: String,
    /// Payload type on the wire.
    pub payload_type: u8,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channel count; absent means 1 for audio. Not used for video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u8>,
    /// Codec-specific parameters (`a=fmtp`); for RTX, `apt` is the associated payload type.
    #[serde(default)]
    pub parameters: Parameters,
    /// RTCP feedback in use.
    #[serde(default)]
    pub rtcp_feedback: Vec<RtcpFeedback>,
}

/// One header extension in use on a stream (RFC 8285).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpHeaderExtensionParameters {
    /// Extension URI.
    pub uri: String,
    /// Extension id on the wire (1–14 for one-byte headers, up to 255 for two-byte headers).
    pub id: u8,
    /// Whether it is encrypted (RFC 6904).
    #[serde(default)]
    pub encrypt: bool,
    /// Extension parameters.
    #[serde(default)]
    pub parameters: Parameters,
}

/// The RTX stream of an encoding (RFC 4588).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RtpEncodingParametersRtx {
    /// SSRC of the retransmission stream.
    pub ssrc: u32,
}

/// One encoding (simulcast layer, or the single stream) of a stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpEncodingParameters {
    /// SSRC of the media stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssrc: Option<u32>,
    /// RTP stream id (RFC 8852) when simulcast is signalled by RID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// Payload type of the codec this encoding uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec_payload_type: Option<u8>,
    /// The RTX stream, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtx: Option<RtpEncodingParametersRtx>,
    /// Discontinuous transmission (audio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtx: Option<bool>,
    /// Scalability mode (`"L1T3"`, `"S3T3"`, `"L3T3_KEY"`, …), see [`ScalabilityMode`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalability_mode: Option<String>,
    /// Resolution divisor of this simulcast layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_resolution_down_by: Option<f64>,
    /// Bitrate cap in bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bitrate: Option<u32>,
}

/// RTCP settings of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtcpParameters {
    /// Canonical name (RFC 3550 §6.5.1) of the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cname: Option<String>,
    /// Reduced-size RTCP (RFC 5506); `true` when absent.
    #[serde(default = "default_true")]
    pub reduced_size: bool,
    /// RTP/RTCP multiplexing on one port (RFC 5761).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mux: Option<bool>,
}

fn default_true() -> bool {
    true
}

impl Default for RtcpParameters {
    fn default() -> Self {
        Self {
            cname: None,
            reduced_size: true,
            mux: None,
        }
    }
}

/// Everything about one sent or received stream: codecs, header extensions, encodings, RTCP.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpParameters {
    /// MID (RFC 8843) of the m-section carrying the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    /// Codecs in use; the first non-RTX one is the one sent.
    pub codecs: Vec<RtpCodecParameters>,
    /// Header extensions in use.
    #[serde(default)]
    pub header_extensions: Vec<RtpHeaderExtensionParameters>,
    /// Encodings (one, or one per simulcast layer).
    #[serde(default)]
    pub encodings: Vec<RtpEncodingParameters>,
    /// RTCP settings.
    #[serde(default)]
    pub rtcp: RtcpParameters,
}

/// A parsed scalability mode (W3C webrtc-svc): `L<spatial>T<temporal>` or `S<spatial>T<temporal>`,
/// optionally `_KEY`. Anything unparseable counts as one spatial and one temporal layer, as in
/// mediasoup's `scalabilityModes.ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalabilityMode {
    /// Number of spatial layers (1–99).
    pub spatial_layers: u8,
    /// Number of temporal layers (1–99).
    pub temporal_layers: u8,
    /// Whether it is a `_KEY` (K-SVC) mode.
    pub ksvc: bool,
}

impl ScalabilityMode {
    /// One spatial and one temporal layer.
    pub const SINGLE: ScalabilityMode = ScalabilityMode {
        spatial_layers: 1,
        temporal_layers: 1,
        ksvc: false,
    };

    /// Parses a mode such as `"L1T3"`, `"S3T3"` or `"L2T2_KEY"`; a missing or unparseable mode is
    /// [`ScalabilityMode::SINGLE`]. Like mediasoup, only the prefix is examined.
    pub fn parse(mode: Option<&str>) -> ScalabilityMode {
        mode.and_then(Self::parse_prefix).unwrap_or(Self::SINGLE)
    }

    fn parse_prefix(mode: &str) -> Option<ScalabilityMode> {
        let rest = mode.strip_prefix('L').or_else(|| mode.strip_prefix('S'))?;
        let (spatial_layers, rest) = Self::layer_count(rest)?;
        let rest = rest.strip_prefix('T')?;
        let (temporal_layers, rest) = Self::layer_count(rest)?;
        Some(ScalabilityMode {
            spatial_layers,
            temporal_layers,
            ksvc: rest.starts_with("_KEY"),
        })
    }

    /// One or two decimal digits, the first non-zero (`[1-9]\d?`).
    fn layer_count(s: &str) -> Option<(u8, &str)> {
        let bytes = s.as_bytes();
        let first = *bytes.first()?;
        if !(b'1'..=b'9').contains(&first) {
            return None;
        }
        let mut value = first - b'0';
        let mut used = 1;
        if let Some(&second) = bytes.get(1).filter(|b| b.is_ascii_digit()) {
            value = value * 10 + (second - b'0');
            used = 2;
        }
        Some((value, &s[used..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn capabilities_round_trip_with_mediasoup_field_names() {
        let input = json!({
            "codecs": [{
                "kind": "video",
                "mimeType": "video/VP8",
                "preferredPayloadType": 101,
                "clockRate": 90000,
                "parameters": {"x-google-start-bitrate": 1000},
                "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"}],
                "someUnknownField": true
            }, {
                "kind": "audio",
                "mimeType": "audio/opus",
                "clockRate": 48000,
                "channels": 2
            }],
            "headerExtensions": [{
                "kind": "video",
                "uri": "urn:ietf:params:rtp-hdrext:sdes:mid",
                "preferredId": 1
            }]
        });
        let caps: RtpCapabilities = serde_json::from_value(input).expect("valid capabilities");
        assert_eq!(
            caps.codecs[0].rtcp_feedback[0],
            RtcpFeedback::new("nack", "")
        );
        assert!(caps.codecs[1].parameters.is_empty());
        assert_eq!(
            caps.header_extensions[0].direction,
            RtpHeaderExtensionDirection::Sendrecv
        );

        let out = serde_json::to_value(&caps).expect("serialisable");
        let vp8 = out["codecs"][0].as_object().expect("object");
        let mut keys: Vec<&str> = vp8.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "clockRate",
                "kind",
                "mimeType",
                "parameters",
                "preferredPayloadType",
                "rtcpFeedback"
            ]
        );
        assert_eq!(
            out["codecs"][0]["parameters"]["x-google-start-bitrate"],
            json!(1000)
        );
        assert_eq!(
            out["codecs"][0]["rtcpFeedback"][1],
            json!({"type": "nack", "parameter": "pli"})
        );
        assert_eq!(out["codecs"][1]["channels"], json!(2));
        assert!(out["codecs"][1].get("preferredPayloadType").is_none());
        assert_eq!(
            out["headerExtensions"][0],
            json!({
                "kind": "video",
                "uri": "urn:ietf:params:rtp-hdrext:sdes:mid",
                "preferredId": 1,
                "preferredEncrypt": false,
                "direction": "sendrecv"
            })
        );
        let again: RtpCapabilities = serde_json::from_value(out).expect("round trip");
        assert_eq!(again, caps);
    }

    #[test]
    fn rtp_parameters_defaults_and_round_trip() {
        let input = json!({
            "mid": "0",
            "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}],
            "encodings": [
                {"rid": "r0", "scalabilityMode": "L1T3", "maxBitrate": 100000,
                 "scaleResolutionDownBy": 4.0, "active": true},
                {"ssrc": 22, "rtx": {"ssrc": 23}, "dtx": false, "codecPayloadType": 96}
            ]
        });
        let params: RtpParameters = serde_json::from_value(input).expect("valid parameters");
        assert!(params.header_extensions.is_empty());
        assert_eq!(params.rtcp, RtcpParameters::default());
        assert!(params.rtcp.reduced_size);
        assert_eq!(
            params.encodings[1].rtx,
            Some(RtpEncodingParametersRtx { ssrc: 23 })
        );

        let out = serde_json::to_value(&params).expect("serialisable");
        assert_eq!(out["rtcp"], json!({"reducedSize": true}));
        assert_eq!(
            out["encodings"][0],
            json!({"rid": "r0", "scalabilityMode": "L1T3", "maxBitrate": 100000,
                   "scaleResolutionDownBy": 4.0})
        );
        assert_eq!(
            out["encodings"][1],
            json!({"ssrc": 22, "rtx": {"ssrc": 23}, "dtx": false, "codecPayloadType": 96})
        );
        assert_eq!(
            out["codecs"][0],
            json!({"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                   "parameters": {}, "rtcpFeedback": []})
        );
        let again: RtpParameters = serde_json::from_value(out).expect("round trip");
        assert_eq!(again, params);
    }

    #[test]
    fn missing_required_field_is_named_by_serde() {
        let err = serde_json::from_str::<RtpCodecCapability>(
            r#"{"kind":"audio","mimeType":"audio/opus","channels":2}"#,
        )
        .expect_err("clockRate is required");
        assert!(err.to_string().contains("clockRate"), "{err}");
    }

    #[test]
    fn scalability_modes() {
        let parse = |s| ScalabilityMode::parse(Some(s));
        assert_eq!(
            parse("L1T3"),
            ScalabilityMode {
                spatial_layers: 1,
                temporal_layers: 3,
                ksvc: false
            }
        );
        assert_eq!(
            parse("S3T3"),
            ScalabilityMode {
                spatial_layers: 3,
                temporal_layers: 3,
                ksvc: false
            }
        );
        assert_eq!(
            parse("L3T2_KEY"),
            ScalabilityMode {
                spatial_layers: 3,
                temporal_layers: 2,
                ksvc: true
            }
        );
        assert_eq!(
            parse("L12T10h"),
            ScalabilityMode {
                spatial_layers: 12,
                temporal_layers: 10,
                ksvc: false
            }
        );
        assert_eq!(parse("L0T1"), ScalabilityMode::SINGLE);
        assert_eq!(parse("foo"), ScalabilityMode::SINGLE);
        assert_eq!(ScalabilityMode::parse(None), ScalabilityMode::SINGLE);
    }
}
