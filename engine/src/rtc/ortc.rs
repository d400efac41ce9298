//! ORTC logic: how a router's capabilities, a producer's parameters and a consumer's parameters
//! are derived from one another. Mirrors mediasoup's `node/src/ortc.ts`.
//!
//! The flow, for one producer and one consumer:
//!
//! ```text
//!  mediaCodecs ──generate_router_rtp_capabilities──▶ router RtpCapabilities (router PTs)
//!  producer RtpParameters ──get_producer_rtp_parameters_mapping──▶ RtpMapping (PT → router PT,
//!                                                                  encoding → mapped SSRC)
//!  producer RtpParameters + mapping ──get_consumable_rtp_parameters──▶ consumable RtpParameters
//!  consumable + consumer RtpCapabilities ──get_consumer_rtp_parameters──▶ consumer RtpParameters
//! ```
//!
//! Codec matching follows RFC 8829 (JSEP) offer/answer rules as mediasoup applies them: same mime
//! type (case-insensitive), clock rate and channel count; for multiopus the same stream layout;
//! in strict mode, for H264 the same `packetization-mode` and profile (RFC 6184 §8.1, levels may
//! differ, see the `h264` submodule), and for VP9 the same `profile-id`.
//!
//! One deliberate deviation from mediasoup: [`get_consumer_rtp_parameters`] gives the consumer
//! the payload types and header extension ids that the consumer's `rtpCapabilities` ask for,
//! where mediasoup keeps the router's (the two coincide when the capabilities come from
//! `mediasoup-client`, which echoes the router's). Also, validation here checks and reports but
//! does not fill defaults in place as mediasoup's does: serde fills the defaults, and matching
//! treats an absent audio `channels` as 1.
//!
//! Not done here: SCTP stream parameters and pipe-transport consumer parameters.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rtp_parameters::{
    MediaKind, Parameters, RtcpFeedback, RtcpParameters, RtpCapabilities, RtpCodecCapability,
    RtpCodecParameters, RtpEncodingParameters, RtpEncodingParametersRtx, RtpHeaderExtension,
    RtpHeaderExtensionDirection, RtpHeaderExtensionParameters, RtpParameters, ScalabilityMode,
};
use super::supported_rtp_capabilities::{
    ABS_SEND_TIME_URI, TRANSPORT_WIDE_CC_URI, supported_rtp_capabilities,
};

/// Why RTP capabilities or parameters were refused. Every message names the offending field as
/// a JSON path (`mediaCodecs[1].clockRate`, `rtpParameters.codecs[0].payloadType`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrtcError {
    /// A value is malformed or inconsistent (HTTP 400/422).
    #[error("invalid {field}: {message}")]
    InvalidField {
        /// JSON path of the field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A well-formed value Sluice or the router does not support (HTTP 422).
    #[error("unsupported {field}: {message}")]
    Unsupported {
        /// JSON path of the field.
        field: String,
        /// What is not supported.
        message: String,
    },
    /// The consumer's `rtpCapabilities` cannot receive the producer's media (HTTP 422).
    #[error("cannot consume: {0}")]
    CannotConsume(String),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> OrtcError {
    OrtcError::InvalidField {
        field: field.into(),
        message: message.into(),
    }
}

fn unsupported(field: impl Into<String>, message: impl Into<String>) -> OrtcError {
    OrtcError::Unsupported {
        field: field.into(),
        message: message.into(),
    }
}

/// How a producer's payload types and encodings map to the router's: the router rewrites every
/// packet from the producer's numbers to the mapped ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpMapping {
    /// One entry per producer codec (media codecs first, then RTX).
    pub codecs: Vec<RtpMappingCodec>,
    /// One entry per producer encoding, in order.
    pub encodings: Vec<RtpMappingEncoding>,
}

/// A producer payload type and the router payload type it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpMappingCodec {
    /// The producer's payload type.
    pub payload_type: u8,
    /// The router's payload type for the same codec.
    pub mapped_payload_type: u8,
}

/// A producer encoding and the SSRC its packets carry inside the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpMappingEncoding {
    /// The producer's SSRC, when signalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssrc: Option<u32>,
    /// The producer's RID, when signalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// The encoding's scalability mode, when signalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalability_mode: Option<String>,
    /// The SSRC inside the router (and of the consumable parameters).
    pub mapped_ssrc: u32,
}

/// mediasoup's order of dynamic payload types (RFC 3551 §6): 100–127, then 96–99.
fn dynamic_payload_types() -> Vec<u8> {
    (100..=127).chain(96..=99).collect()
}

/// A random SSRC in mediasoup's range (100000000–999999999), which leaves room for `+ n`.
fn random_ssrc() -> u32 {
    rand::random_range(100_000_000..=999_999_999)
}

/// The kind named by a mime type's `audio/` or `video/` prefix (case-insensitive), if it has a
/// non-empty subtype.
fn mime_kind(mime_type: &str) -> Option<MediaKind> {
    let (kind, subtype) = mime_type.split_once('/')?;
    if subtype.is_empty() {
        return None;
    }
    if kind.eq_ignore_ascii_case("audio") {
        Some(MediaKind::Audio)
    } else if kind.eq_ignore_ascii_case("video") {
        Some(MediaKind::Video)
    } else {
        None
    }
}

/// RTX (RFC 4588): `<anything>/rtx`, case-insensitive.
fn is_rtx(mime_type: &str) -> bool {
    mime_type.len() > 4 && mime_type.to_ascii_lowercase().ends_with("/rtx")
}

/// A parameter as text: JSON strings as they are, numbers in their JSON spelling. Used to compare
/// `1` and `"1"` alike (mediasoup compares the JS values; browsers send numbers).
fn param_text(params: &Parameters, key: &str) -> Option<String> {
    match params.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `apt` (associated payload type) of an RTX codec.
fn apt(params: &Parameters) -> Option<u8> {
    params
        .get("apt")?
        .as_u64()
        .and_then(|v| u8::try_from(v).ok())
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn validate_parameters(field: &str, params: &Parameters) -> Result<(), OrtcError> {
    for (key, value) in params {
        if !(value.is_string() || value.is_number()) {
            return Err(invalid(
                format!("{field}.parameters.{key}"),
                "must be a string or a number",
            ));
        }
        if key == "apt" && apt(params).is_none_or(|pt| pt > 127) {
            return Err(invalid(
                format!("{field}.parameters.apt"),
                "must be a payload type 0-127",
            ));
        }
    }
    Ok(())
}

fn validate_feedback(field: &str, feedback: &[RtcpFeedback]) -> Result<(), OrtcError> {
    match feedback.iter().position(|fb| fb.r#type.is_empty()) {
        Some(i) => Err(invalid(
            format!("{field}.rtcpFeedback[{i}].type"),
            "must not be empty",
        )),
        None => Ok(()),
    }
}

/// Checks shared by codec capabilities and codec parameters; returns the kind.
fn validate_codec_common(
    field: &str,
    mime_type: &str,
    clock_rate: u32,
    channels: Option<u8>,
    parameters: &Parameters,
) -> Result<MediaKind, OrtcError> {
    let kind = mime_kind(mime_type).ok_or_else(|| {
        invalid(
            format!("{field}.mimeType"),
            format!("{mime_type:?} is not \"audio/<codec>\" or \"video/<codec>\""),
        )
    })?;
    if clock_rate == 0 {
        return Err(invalid(format!("{field}.clockRate"), "must be positive"));
    }
    match (kind, channels) {
        (MediaKind::Audio, Some(0)) => {
            return Err(invalid(format!("{field}.channels"), "must be positive"));
        }
        (MediaKind::Video, Some(_)) => {
            return Err(invalid(
                format!("{field}.channels"),
                "only audio codecs have channels",
            ));
        }
        _ => {}
    }
    validate_parameters(field, parameters)?;
    if is_rtx(mime_type) && apt(parameters).is_none() {
        return Err(invalid(
            format!("{field}.parameters.apt"),
            "missing for an RTX codec",
        ));
    }
    Ok(kind)
}

fn validate_codec_capability(field: &str, codec: &RtpCodecCapability) -> Result<(), OrtcError> {
    let kind = validate_codec_common(
        field,
        &codec.mime_type,
        codec.clock_rate,
        codec.channels,
        &codec.parameters,
    )?;
    if kind != codec.kind {
        return Err(invalid(
            format!("{field}.kind"),
            format!(
                "{:?} does not match mimeType {:?}",
                codec.kind.as_str(),
                codec.mime_type
            ),
        ));
    }
    if codec.preferred_payload_type.is_some_and(|pt| pt > 127) {
        return Err(invalid(
            format!("{field}.preferredPayloadType"),
            "must be 0-127",
        ));
    }
    validate_feedback(field, &codec.rtcp_feedback)
}

fn validate_header_extension(field: &str, ext: &RtpHeaderExtension) -> Result<(), OrtcError> {
    if ext.uri.is_empty() {
        return Err(invalid(format!("{field}.uri"), "must not be empty"));
    }
    if ext.preferred_id == 0 {
        return Err(invalid(format!("{field}.preferredId"), "must be 1-255"));
    }
    Ok(())
}

/// Checks RTP capabilities (a consumer's, typically), naming the first bad field as
/// `rtpCapabilities.…`.
pub fn validate_rtp_capabilities(caps: &RtpCapabilities) -> Result<(), OrtcError> {
    for (i, codec) in caps.codecs.iter().enumerate() {
        validate_codec_capability(&format!("rtpCapabilities.codecs[{i}]"), codec)?;
    }
    for (i, ext) in caps.header_extensions.iter().enumerate() {
        validate_header_extension(&format!("rtpCapabilities.headerExtensions[{i}]"), ext)?;
    }
    Ok(())
}

/// Checks RTP parameters (a producer's, typically), naming the first bad field as
/// `rtpParameters.…`. Stricter than mediasoup in three ways: at least one codec, payload types
/// 0–127 and distinct, and every RTX codec has an `apt`.
pub fn validate_rtp_parameters(params: &RtpParameters) -> Result<(), OrtcError> {
    if params.codecs.is_empty() {
        return Err(invalid("rtpParameters.codecs", "must not be empty"));
    }
    for (i, codec) in params.codecs.iter().enumerate() {
        let field = format!("rtpParameters.codecs[{i}]");
        validate_codec_common(
            &field,
            &codec.mime_type,
            codec.clock_rate,
            codec.channels,
            &codec.parameters,
        )?;
        if codec.payload_type > 127 {
            return Err(invalid(format!("{field}.payloadType"), "must be 0-127"));
        }
        if params.codecs[..i]
            .iter()
            .any(|c| c.payload_type == codec.payload_type)
        {
            return Err(invalid(
                format!("{field}.payloadType"),
                format!("payload type {} is used twice", codec.payload_type),
            ));
        }
        validate_feedback(&field, &codec.rtcp_feedback)?;
    }
    for (i, ext) in params.header_extensions.iter().enumerate() {
        let field = format!("rtpParameters.headerExtensions[{i}]");
        if ext.uri.is_empty() {
            return Err(invalid(format!("{field}.uri"), "must not be empty"));
        }
        if ext.id == 0 {
            return Err(invalid(format!("{field}.id"), "must be 1-255"));
        }
        validate_parameters(&field, &ext.parameters)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Codec matching
// ---------------------------------------------------------------------------------------------

/// The fields codec matching looks at, shared by capabilities and parameters.
#[derive(Clone, Copy)]
struct CodecRef<'a> {
    mime_type: &'a str,
    clock_rate: u32,
    channels: Option<u8>,
    parameters: &'a Parameters,
}

impl<'a> From<&'a RtpCodecCapability> for CodecRef<'a> {
    fn from(c: &'a RtpCodecCapability) -> Self {
        CodecRef {
            mime_type: &c.mime_type,
            clock_rate: c.clock_rate,
            channels: c.channels,
            parameters: &c.parameters,
        }
    }
}

impl<'a> From<&'a RtpCodecParameters> for CodecRef<'a> {
    fn from(c: &'a RtpCodecParameters) -> Self {
        CodecRef {
            mime_type: &c.mime_type,
            clock_rate: c.clock_rate,
            channels: c.channels,
            parameters: &c.parameters,
        }
    }
}

impl CodecRef<'_> {
    /// Channel count as mediasoup normalises it: 1 when absent for audio, none for video.
    fn effective_channels(&self) -> Option<u8> {
        match mime_kind(self.mime_type) {
            Some(MediaKind::Audio) => Some(self.channels.unwrap_or(1)),
            _ => None,
        }
    }
}

/// A successful match; for H264 in strict mode, the `profile-level-id` an answer to `a` would
/// carry (`None`: leave it out).
struct CodecMatch {
    h264_profile_level_id: Option<String>,
}

/// mediasoup's `matchCodecs(a, b, {strict})`.
fn match_codecs(a: CodecRef<'_>, b: CodecRef<'_>, strict: bool) -> Option<CodecMatch> {
    let mime = a.mime_type.to_ascii_lowercase();
    if mime != b.mime_type.to_ascii_lowercase()
        || a.clock_rate != b.clock_rate
        || a.effective_channels() != b.effective_channels()
    {
        return None;
    }
    let mut matched = CodecMatch {
        h264_profile_level_id: None,
    };
    let same = |key: &str, default: Option<&str>| {
        let or_default = |p| param_text(p, key).or(default.map(str::to_owned));
        or_default(a.parameters) == or_default(b.parameters)
    };
    let compatible = match mime.as_str() {
        "audio/multiopus" => same("num_streams", None) && same("coupled_streams", None),
        "video/h264" | "video/h264-svc" if strict => {
            if !same("packetization-mode", Some("0"))
                || !h264::is_same_profile(a.parameters, b.parameters)
            {
                return None;
            }
            matched.h264_profile_level_id =
                h264::profile_level_id_for_answer(a.parameters, b.parameters).ok()?;
            true
        }
        "video/vp9" if strict => same("profile-id", Some("0")),
        _ => true,
    };
    compatible.then_some(matched)
}

// ---------------------------------------------------------------------------------------------
// Router capabilities
// ---------------------------------------------------------------------------------------------

/// Builds a router's RTP capabilities from its configured `mediaCodecs` (mediasoup's
/// `generateRouterRtpCapabilities`).
///
/// Each codec must match a supported codec (see [`supported_rtp_capabilities`]); it takes that
/// entry's feedback and parameters, overlaid with its own parameters. Payload types: the codec's
/// `preferredPayloadType` if given, else the supported codec's static one, else the next free
/// dynamic one (100–127, then 96–99). Every video codec is followed by a `video/rtx` codec with
/// `apt` set to it. Header extensions are the supported ones of the kinds present (mediasoup
/// copies them all, whatever the kinds).
pub fn generate_router_rtp_capabilities(
    media_codecs: &[RtpCodecCapability],
) -> Result<RtpCapabilities, OrtcError> {
    let supported = supported_rtp_capabilities();
    let mut dynamic = dynamic_payload_types().into_iter();
    let mut reserved: Vec<u8> = Vec::new();
    let mut next_dynamic = |field: &str, reserved: &[u8]| {
        dynamic
            .by_ref()
            .find(|pt| !reserved.contains(pt))
            .ok_or_else(|| invalid(field, "no dynamic payload type left"))
    };
    let mut caps = RtpCapabilities::default();

    for (i, media_codec) in media_codecs.iter().enumerate() {
        let field = format!("mediaCodecs[{i}]");
        validate_codec_capability(&field, media_codec)?;
        if is_rtx(&media_codec.mime_type) {
            return Err(unsupported(
                format!("{field}.mimeType"),
                "RTX codecs are added by the router, not configured",
            ));
        }
        let supported_codec = supported
            .codecs
            .iter()
            .find(|s| match_codecs(media_codec.into(), (*s).into(), false).is_some())
            .ok_or_else(|| {
                unsupported(
                    field.as_str(),
                    format!(
                        "media codec not supported [mimeType:{}]",
                        media_codec.mime_type
                    ),
                )
            })?;

        let pt = match (
            media_codec.preferred_payload_type,
            supported_codec.preferred_payload_type,
        ) {
            (Some(pt), _) => {
                reserved.push(pt);
                pt
            }
            (None, Some(pt)) => pt,
            (None, None) => next_dynamic(&field, &reserved)?,
        };
        if caps
            .codecs
            .iter()
            .any(|c| c.preferred_payload_type == Some(pt))
        {
            return Err(invalid(
                format!("{field}.preferredPayloadType"),
                format!("payload type {pt} is already taken by another codec"),
            ));
        }

        let mut codec = supported_codec.clone();
        codec.preferred_payload_type = Some(pt);
        for (key, value) in &media_codec.parameters {
            codec.parameters.insert(key.clone(), value.clone());
        }
        let kind = codec.kind;
        let clock_rate = codec.clock_rate;
        caps.codecs.push(codec);

        if kind == MediaKind::Video {
            let rtx_pt = next_dynamic(&field, &reserved)?;
            let mut parameters = Parameters::new();
            parameters.insert("apt".to_owned(), Value::from(pt));
            caps.codecs.push(RtpCodecCapability {
                kind,
                mime_type: "video/rtx".to_owned(),
                preferred_payload_type: Some(rtx_pt),
                clock_rate,
                channels: None,
                parameters,
                rtcp_feedback: Vec::new(),
            });
        }
    }

    caps.header_extensions = supported
        .header_extensions
        .into_iter()
        .filter(|ext| caps.codecs.iter().any(|c| c.kind == ext.kind))
        .collect();
    Ok(caps)
}

// ---------------------------------------------------------------------------------------------
// Producer side
// ---------------------------------------------------------------------------------------------

/// Maps a producer's codecs to the router's (strict matching; RTX through `apt`) and gives each
/// encoding a mapped SSRC (random base, then consecutive, as mediasoup). The parameters are
/// expected to have passed [`validate_rtp_parameters`].
pub fn get_producer_rtp_parameters_mapping(
    params: &RtpParameters,
    router_caps: &RtpCapabilities,
) -> Result<RtpMapping, OrtcError> {
    let mut mapping = RtpMapping::default();

    for (i, codec) in params.codecs.iter().enumerate() {
        if is_rtx(&codec.mime_type) {
            continue;
        }
        let mapped_payload_type = router_caps
            .codecs
            .iter()
            .filter(|cap| !is_rtx(&cap.mime_type))
            .find(|cap| match_codecs(codec.into(), (*cap).into(), true).is_some())
            .and_then(|cap| cap.preferred_payload_type)
            .ok_or_else(|| {
                unsupported(
                    format!("rtpParameters.codecs[{i}]"),
                    format!(
                        "codec not supported by the router [mimeType:{}, payloadType:{}]",
                        codec.mime_type, codec.payload_type
                    ),
                )
            })?;
        mapping.codecs.push(RtpMappingCodec {
            payload_type: codec.payload_type,
            mapped_payload_type,
        });
    }

    for (i, codec) in params.codecs.iter().enumerate() {
        if !is_rtx(&codec.mime_type) {
            continue;
        }
        let field = format!("rtpParameters.codecs[{i}]");
        let media_pt = apt(&codec.parameters)
            .ok_or_else(|| invalid(format!("{field}.parameters.apt"), "missing"))?;
        let media_mapped = mapping
            .codecs
            .iter()
            .find(|m| m.payload_type == media_pt)
            .map(|m| m.mapped_payload_type)
            .ok_or_else(|| {
                invalid(
                    format!("{field}.parameters.apt"),
                    format!("no media codec has payload type {media_pt}"),
                )
            })?;
        let mapped_payload_type = router_caps
            .codecs
            .iter()
            .find(|cap| is_rtx(&cap.mime_type) && apt(&cap.parameters) == Some(media_mapped))
            .and_then(|cap| cap.preferred_payload_type)
            .ok_or_else(|| {
                unsupported(
                    field.as_str(),
                    format!("the router has no RTX codec for payload type {media_mapped}"),
                )
            })?;
        mapping.codecs.push(RtpMappingCodec {
            payload_type: codec.payload_type,
            mapped_payload_type,
        });
    }

    let base = random_ssrc();
    mapping.encodings = params
        .encodings
        .iter()
        .zip(0u32..)
        .map(|(encoding, i)| RtpMappingEncoding {
            ssrc: encoding.ssrc,
            rid: encoding.rid.clone(),
            scalability_mode: encoding.scalability_mode.clone(),
            mapped_ssrc: base.wrapping_add(i),
        })
        .collect();
    Ok(mapping)
}

/// The producer's stream as it exists inside the router: router payload types, codec details
/// and feedback from the router's capabilities (codec parameters stay the producer's), the
/// router's header extensions that it sends for this kind, mapped SSRCs, and RTCP with the
/// producer's CNAME, reduced size and mux. `mapping` must come from
/// [`get_producer_rtp_parameters_mapping`] for the same parameters and capabilities; codecs or
/// encodings it does not cover are left out.
pub fn get_consumable_rtp_parameters(
    kind: MediaKind,
    params: &RtpParameters,
    router_caps: &RtpCapabilities,
    mapping: &RtpMapping,
) -> RtpParameters {
    let mut consumable = RtpParameters::default();

    for codec in params.codecs.iter().filter(|c| !is_rtx(&c.mime_type)) {
        let Some(cap) = mapping
            .codecs
            .iter()
            .find(|m| m.payload_type == codec.payload_type)
            .and_then(|m| {
                router_caps
                    .codecs
                    .iter()
                    .find(|cap| cap.preferred_payload_type == Some(m.mapped_payload_type))
            })
        else {
            continue;
        };
        let Some(pt) = cap.preferred_payload_type else {
            continue;
        };

        // Keep the producer's codec parameters; for H264, with the profile-level-id an answer
        // to the router would carry (mediasoup's `matchCodecs(…, {modify: true})`).
        let mut parameters = codec.parameters.clone();
        let h264_match = match_codecs(codec.into(), cap.into(), true)
            .filter(|_| h264::is_h264(&codec.mime_type));
        if let Some(matched) = h264_match {
            match matched.h264_profile_level_id {
                Some(id) => {
                    parameters.insert(h264::PROFILE_LEVEL_ID.to_owned(), Value::from(id));
                }
                None => {
                    parameters.remove(h264::PROFILE_LEVEL_ID);
                }
            }
        }
        consumable.codecs.push(RtpCodecParameters {
            mime_type: cap.mime_type.clone(),
            payload_type: pt,
            clock_rate: cap.clock_rate,
            channels: cap.channels,
            parameters,
            rtcp_feedback: cap.rtcp_feedback.clone(),
        });

        let rtx = router_caps
            .codecs
            .iter()
            .find(|c| is_rtx(&c.mime_type) && apt(&c.parameters) == Some(pt));
        if let Some((rtx, rtx_pt)) = rtx.and_then(|r| Some((r, r.preferred_payload_type?))) {
            consumable.codecs.push(RtpCodecParameters {
                mime_type: rtx.mime_type.clone(),
                payload_type: rtx_pt,
                clock_rate: rtx.clock_rate,
                channels: None,
                parameters: rtx.parameters.clone(),
                rtcp_feedback: rtx.rtcp_feedback.clone(),
            });
        }
    }

    consumable.header_extensions = router_caps
        .header_extensions
        .iter()
        .filter(|ext| {
            ext.kind == kind
                && matches!(
                    ext.direction,
                    RtpHeaderExtensionDirection::Sendrecv | RtpHeaderExtensionDirection::Sendonly
                )
        })
        .map(|ext| RtpHeaderExtensionParameters {
            uri: ext.uri.clone(),
            id: ext.preferred_id,
            encrypt: ext.preferred_encrypt,
            parameters: Parameters::new(),
        })
        .collect();

    consumable.encodings = params
        .encodings
        .iter()
        .zip(&mapping.encodings)
        .map(|(encoding, mapped)| RtpEncodingParameters {
            ssrc: Some(mapped.mapped_ssrc),
            rid: None,
            rtx: None,
            codec_payload_type: None,
            ..encoding.clone()
        })
        .collect();

    consumable.rtcp = RtcpParameters {
        cname: params.rtcp.cname.clone(),
        reduced_size: true,
        mux: Some(true),
    };
    consumable
}

// ---------------------------------------------------------------------------------------------
// Consumer side
// ---------------------------------------------------------------------------------------------

/// Whether a consumer with these capabilities can receive the consumable stream: the first of
/// its codecs the capabilities support is a media codec. Invalid capabilities cannot consume
/// (mediasoup throws).
pub fn can_consume(consumable: &RtpParameters, caps: &RtpCapabilities) -> bool {
    if validate_rtp_capabilities(caps).is_err() {
        return false;
    }
    consumable
        .codecs
        .iter()
        .find(|codec| {
            caps.codecs
                .iter()
                .any(|cap| match_codecs(cap.into(), (*codec).into(), true).is_some())
        })
        .is_some_and(|codec| !is_rtx(&codec.mime_type))
}

/// The consumer's RTP parameters for the consumable stream and the consumer's capabilities
/// (mediasoup's `getConsumerRtpParameters` with its default `enableRtx`: on for video, off for
/// audio, which also drops plain `nack` feedback from audio codecs).
///
/// Codecs: the consumable ones the capabilities support, in order, with the capabilities'
/// feedback and — unlike mediasoup — the capabilities' payload types; RTX kept when the
/// capabilities have an RTX codec whose `apt` is the media codec's new payload type. Header
/// extensions: the consumable ones the capabilities list for the kind, with the capabilities'
/// ids. With transport-cc, `goog-remb` feedback is dropped; with only abs-send-time,
/// `transport-cc` is dropped; with neither, both.
///
/// Encodings: one, with a fresh SSRC (and RTX SSRC + 1), `scalabilityMode` `L<n>T<t>` for `n`
/// simulcast encodings (else the producer's), `maxBitrate` the largest of the producer's. With
/// `pipe`, every consumable encoding instead, with consecutive fresh SSRCs.
pub fn get_consumer_rtp_parameters(
    consumable: &RtpParameters,
    caps: &RtpCapabilities,
    pipe: bool,
) -> Result<RtpParameters, OrtcError> {
    validate_rtp_capabilities(caps)?;
    let kind = consumable
        .codecs
        .first()
        .and_then(|c| mime_kind(&c.mime_type))
        .ok_or_else(|| OrtcError::CannotConsume("the producer has no codec".to_owned()))?;
    let enable_rtx = kind == MediaKind::Video;

    let mut codecs: Vec<RtpCodecParameters> = Vec::new();
    // Router payload type → consumer payload type, for media codecs kept.
    let mut media_pts: Vec<(u8, u8)> = Vec::new();
    let mut rtx_supported = false;

    for codec in &consumable.codecs {
        let taken =
            |pt: u8, codecs: &[RtpCodecParameters]| codecs.iter().any(|c| c.payload_type == pt);
        if is_rtx(&codec.mime_type) {
            if !enable_rtx {
                continue;
            }
            let Some(consumer_apt) = apt(&codec.parameters)
                .and_then(|router_apt| media_pts.iter().find(|(r, _)| *r == router_apt))
                .map(|&(_, c)| c)
            else {
                continue;
            };
            let cap_rtx = caps.codecs.iter().find(|cap| {
                is_rtx(&cap.mime_type)
                    && cap.clock_rate == codec.clock_rate
                    && apt(&cap.parameters) == Some(consumer_apt)
            });
            let Some((cap_rtx, pt)) = cap_rtx.and_then(|c| Some((c, c.preferred_payload_type?)))
            else {
                continue;
            };
            if taken(pt, &codecs) {
                continue;
            }
            let mut parameters = codec.parameters.clone();
            parameters.insert("apt".to_owned(), Value::from(consumer_apt));
            codecs.push(RtpCodecParameters {
                payload_type: pt,
                parameters,
                rtcp_feedback: cap_rtx.rtcp_feedback.clone(),
                ..codec.clone()
            });
            rtx_supported = true;
            continue;
        }

        let Some(cap) = caps
            .codecs
            .iter()
            .find(|cap| match_codecs((*cap).into(), codec.into(), true).is_some())
        else {
            continue;
        };
        let pt = cap.preferred_payload_type.unwrap_or(codec.payload_type);
        if taken(pt, &codecs) {
            continue;
        }
        media_pts.push((codec.payload_type, pt));
        codecs.push(RtpCodecParameters {
            payload_type: pt,
            rtcp_feedback: cap
                .rtcp_feedback
                .iter()
                .filter(|fb| enable_rtx || fb.r#type != "nack" || !fb.parameter.is_empty())
                .cloned()
                .collect(),
            ..codec.clone()
        });
    }

    if codecs.first().is_none_or(|c| is_rtx(&c.mime_type)) {
        let offered: Vec<&str> = consumable
            .codecs
            .iter()
            .map(|c| c.mime_type.as_str())
            .collect();
        return Err(OrtcError::CannotConsume(format!(
            "rtpCapabilities.codecs has none of the producer's codecs {offered:?}"
        )));
    }

    let mut header_extensions: Vec<RtpHeaderExtensionParameters> = Vec::new();
    for ext in &consumable.header_extensions {
        let Some(cap) = caps
            .header_extensions
            .iter()
            .find(|cap| cap.kind == kind && cap.uri == ext.uri)
        else {
            continue;
        };
        if header_extensions.iter().any(|e| e.id == cap.preferred_id) {
            continue;
        }
        header_extensions.push(RtpHeaderExtensionParameters {
            id: cap.preferred_id,
            ..ext.clone()
        });
    }

    let has_ext = |uri: &str| header_extensions.iter().any(|e| e.uri == uri);
    let dropped: &[&str] = if has_ext(TRANSPORT_WIDE_CC_URI) {
        &["goog-remb"]
    } else if has_ext(ABS_SEND_TIME_URI) {
        &["transport-cc"]
    } else {
        &["transport-cc", "goog-remb"]
    };
    for codec in &mut codecs {
        codec
            .rtcp_feedback
            .retain(|fb| !dropped.contains(&fb.r#type.as_str()));
    }

    let encodings = if pipe {
        let base = random_ssrc();
        let base_rtx = random_ssrc();
        consumable
            .encodings
            .iter()
            .zip(0u32..)
            .map(|(encoding, i)| RtpEncodingParameters {
                ssrc: Some(base.wrapping_add(i)),
                rtx: rtx_supported.then(|| RtpEncodingParametersRtx {
                    ssrc: base_rtx.wrapping_add(i),
                }),
                ..encoding.clone()
            })
            .collect()
    } else {
        let ssrc = random_ssrc();
        let mut scalability_mode = consumable
            .encodings
            .iter()
            .find_map(|e| e.scalability_mode.clone());
        if consumable.encodings.len() > 1 {
            let temporal = ScalabilityMode::parse(scalability_mode.as_deref()).temporal_layers;
            scalability_mode = Some(format!("L{}T{temporal}", consumable.encodings.len()));
        }
        let max_bitrate = consumable
            .encodings
            .iter()
            .filter_map(|e| e.max_bitrate)
            .max();
        vec![RtpEncodingParameters {
            ssrc: Some(ssrc),
            rtx: rtx_supported.then(|| RtpEncodingParametersRtx {
                ssrc: ssrc.wrapping_add(1),
            }),
            scalability_mode,
            max_bitrate: max_bitrate.filter(|&b| b > 0),
            ..RtpEncodingParameters::default()
        }]
    };

    Ok(RtpParameters {
        mid: None,
        codecs,
        header_extensions,
        encodings,
        rtcp: consumable.rtcp.clone(),
    })
}

// ---------------------------------------------------------------------------------------------
// H264 profile-level-id
// ---------------------------------------------------------------------------------------------

/// H264 `profile-level-id` (RFC 6184 §8.1) compatibility, as WebRTC's `h264_profile_level_id`
/// (and the `h264-profile-level-id` package mediasoup uses) decide it: two codecs are compatible
/// when their profiles are the same; levels may differ. An absent `profile-level-id` means
/// `42e01f` (Constrained Baseline, level 3.1).
mod h264 {
    use super::{Parameters, param_text};

    pub(super) const PROFILE_LEVEL_ID: &str = "profile-level-id";
    const DEFAULT_PROFILE_LEVEL_ID: &str = "42e01f";
    /// Level 1b, which these profiles code as level_idc 11 with constraint_set3_flag.
    const LEVEL_1B: u8 = 0;
    const LEVEL_1: u8 = 10;
    const VALID_LEVELS: [u8; 16] = [
        10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52,
    ];
    const CONSTRAINT_SET3_FLAG: u8 = 0x10;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Profile {
        ConstrainedBaseline,
        Baseline,
        Main,
        ConstrainedHigh,
        High,
        PredictiveHigh444,
    }

    /// (profile_idc, profile_iop mask, profile_iop value under the mask, profile), in WebRTC's
    /// order: the first match wins.
    const PROFILE_PATTERNS: [(u8, u8, u8, Profile); 9] = [
        (0x42, 0b0100_1111, 0b0100_0000, Profile::ConstrainedBaseline), // x1xx0000
        (0x4d, 0b1000_1111, 0b1000_0000, Profile::ConstrainedBaseline), // 1xxx0000
        (0x58, 0b1100_1111, 0b1100_0000, Profile::ConstrainedBaseline), // 11xx0000
        (0x42, 0b0100_1111, 0b0000_0000, Profile::Baseline),            // x0xx0000
        (0x58, 0b1100_1111, 0b1000_0000, Profile::Baseline),            // 10xx0000
        (0x4d, 0b1010_1111, 0b0000_0000, Profile::Main),                // 0x0x0000
        (0x64, 0b1111_1111, 0b0000_0000, Profile::High),                // 00000000
        (0x64, 0b1111_1111, 0b0000_1100, Profile::ConstrainedHigh),     // 00001100
        (0xf4, 0b1111_1111, 0b0000_0000, Profile::PredictiveHigh444),   // 00000000
    ];

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct ProfileLevelId {
        profile: Profile,
        /// level_idc, with [`LEVEL_1B`] for level 1b.
        level: u8,
    }

    fn parse(text: &str) -> Option<ProfileLevelId> {
        if text.len() != 6 {
            return None;
        }
        let value = u32::from_str_radix(text, 16).ok()?;
        let [_, profile_idc, profile_iop, level_idc] = value.to_be_bytes();
        let level = match level_idc {
            11 if profile_iop & CONSTRAINT_SET3_FLAG != 0 => LEVEL_1B,
            l if VALID_LEVELS.contains(&l) => l,
            _ => return None,
        };
        let profile = PROFILE_PATTERNS
            .iter()
            .find(|(idc, mask, bits, _)| *idc == profile_idc && profile_iop & mask == *bits)
            .map(|&(_, _, _, profile)| profile)?;
        Some(ProfileLevelId { profile, level })
    }

    fn from_params(params: &Parameters) -> Option<ProfileLevelId> {
        parse(
            &param_text(params, PROFILE_LEVEL_ID)
                .unwrap_or_else(|| DEFAULT_PROFILE_LEVEL_ID.to_owned()),
        )
    }

    fn to_text(id: ProfileLevelId) -> Option<String> {
        if id.level == LEVEL_1B {
            return match id.profile {
                Profile::ConstrainedBaseline => Some("42f00b".to_owned()),
                Profile::Baseline => Some("42100b".to_owned()),
                Profile::Main => Some("4d100b".to_owned()),
                _ => None,
            };
        }
        let prefix = match id.profile {
            Profile::ConstrainedBaseline => "42e0",
            Profile::Baseline => "4200",
            Profile::Main => "4d00",
            Profile::ConstrainedHigh => "640c",
            Profile::High => "6400",
            Profile::PredictiveHigh444 => "f400",
        };
        Some(format!("{prefix}{:02x}", id.level))
    }

    /// Level 1b sits between 1 and 1.1.
    fn is_less_level(a: u8, b: u8) -> bool {
        match (a, b) {
            (LEVEL_1B, b) => b != LEVEL_1 && b != LEVEL_1B,
            (a, LEVEL_1B) => a != LEVEL_1,
            (a, b) => a < b,
        }
    }

    fn level_asymmetry_allowed(params: &Parameters) -> bool {
        param_text(params, "level-asymmetry-allowed").as_deref() == Some("1")
    }

    pub(super) fn is_h264(mime_type: &str) -> bool {
        mime_type.eq_ignore_ascii_case("video/h264")
            || mime_type.eq_ignore_ascii_case("video/h264-svc")
    }

    /// Both parse and have the same profile.
    pub(super) fn is_same_profile(a: &Parameters, b: &Parameters) -> bool {
        matches!((from_params(a), from_params(b)), (Some(a), Some(b)) if a.profile == b.profile)
    }

    /// The `profile-level-id` an answer from `local` to `remote` carries: `Ok(None)` when neither
    /// has one, `Err` when they are incompatible. The level is `local`'s when both allow level
    /// asymmetry, else the lower of the two.
    pub(super) fn profile_level_id_for_answer(
        local: &Parameters,
        remote: &Parameters,
    ) -> Result<Option<String>, ()> {
        if !local.contains_key(PROFILE_LEVEL_ID) && !remote.contains_key(PROFILE_LEVEL_ID) {
            return Ok(None);
        }
        let (local_id, remote_id) = match (from_params(local), from_params(remote)) {
            (Some(l), Some(r)) if l.profile == r.profile => (l, r),
            _ => return Err(()),
        };
        let asymmetry_allowed = level_asymmetry_allowed(local) && level_asymmetry_allowed(remote);
        let level = if asymmetry_allowed || is_less_level(local_id.level, remote_id.level) {
            local_id.level
        } else {
            remote_id.level
        };
        Ok(to_text(ProfileLevelId {
            profile: local_id.profile,
            level,
        }))
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        fn p(v: serde_json::Value) -> Parameters {
            v.as_object().cloned().unwrap_or_default()
        }

        #[test]
        fn parses_profiles_and_levels() {
            let id = |s| parse(s).map(|i| (i.profile, i.level));
            assert_eq!(id("42e01f"), Some((Profile::ConstrainedBaseline, 31)));
            assert_eq!(id("42001f"), Some((Profile::Baseline, 31)));
            assert_eq!(id("4d0032"), Some((Profile::Main, 50)));
            assert_eq!(id("640c1f"), Some((Profile::ConstrainedHigh, 31)));
            assert_eq!(id("64001f"), Some((Profile::High, 31)));
            assert_eq!(id("42f00b"), Some((Profile::ConstrainedBaseline, LEVEL_1B)));
            assert_eq!(id("42e0ff"), None);
            assert_eq!(id("xyz"), None);
            assert_eq!(
                to_text(ProfileLevelId {
                    profile: Profile::Main,
                    level: 50
                })
                .as_deref(),
                Some("4d0032")
            );
        }

        #[test]
        fn answers() {
            let cb31 = p(json!({"profile-level-id": "42e01f", "level-asymmetry-allowed": 1}));
            let cb52 = p(json!({"profile-level-id": "42e034", "level-asymmetry-allowed": 1}));
            let cb52_sym = p(json!({"profile-level-id": "42e034"}));
            let main = p(json!({"profile-level-id": "4d0032"}));
            assert!(is_same_profile(&cb31, &cb52));
            assert!(!is_same_profile(&cb31, &main));
            assert!(is_same_profile(&p(json!({})), &cb31), "absent means 42e01f");
            assert_eq!(
                profile_level_id_for_answer(&cb52, &cb31),
                Ok(Some("42e034".to_owned()))
            );
            assert_eq!(
                profile_level_id_for_answer(&cb52_sym, &cb31),
                Ok(Some("42e01f".to_owned()))
            );
            assert_eq!(profile_level_id_for_answer(&cb31, &main), Err(()));
            assert_eq!(
                profile_level_id_for_answer(&p(json!({})), &p(json!({}))),
                Ok(None)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codecs(v: serde_json::Value) -> Vec<RtpCodecCapability> {
        serde_json::from_value(v).expect("valid media codecs")
    }

    /// mediasoup's demo configuration.
    fn typical_media_codecs() -> Vec<RtpCodecCapability> {
        codecs(json!([
            {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
            {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000,
             "parameters": {"x-google-start-bitrate": 1000}},
            {"kind": "video", "mimeType": "video/VP9", "clockRate": 90000,
             "parameters": {"profile-id": 2, "x-google-start-bitrate": 1000}},
            {"kind": "video", "mimeType": "video/h264", "clockRate": 90000,
             "parameters": {"packetization-mode": 1, "profile-level-id": "4d0032",
                            "level-asymmetry-allowed": 1, "x-google-start-bitrate": 1000}}
        ]))
    }

    fn video_fb() -> serde_json::Value {
        json!([
            {"type": "nack", "parameter": ""},
            {"type": "nack", "parameter": "pli"},
            {"type": "ccm", "parameter": "fir"},
            {"type": "goog-remb", "parameter": ""},
            {"type": "transport-cc", "parameter": ""}
        ])
    }

    fn ext(kind: &str, uri: &str, id: u8, direction: &str) -> serde_json::Value {
        json!({"kind": kind, "uri": uri, "preferredId": id, "preferredEncrypt": false,
               "direction": direction})
    }

    #[test]
    fn router_capabilities_match_mediasoup() {
        let caps = generate_router_rtp_capabilities(&typical_media_codecs()).expect("supported");
        // What mediasoup's generateRouterRtpCapabilities returns for the same input.
        let expected = json!({
            "codecs": [
                {"kind": "audio", "mimeType": "audio/opus", "preferredPayloadType": 100,
                 "clockRate": 48000, "channels": 2, "parameters": {},
                 "rtcpFeedback": [{"type": "nack", "parameter": ""},
                                  {"type": "transport-cc", "parameter": ""}]},
                {"kind": "video", "mimeType": "video/VP8", "preferredPayloadType": 101,
                 "clockRate": 90000, "parameters": {"x-google-start-bitrate": 1000},
                 "rtcpFeedback": video_fb()},
                {"kind": "video", "mimeType": "video/rtx", "preferredPayloadType": 102,
                 "clockRate": 90000, "parameters": {"apt": 101}, "rtcpFeedback": []},
                {"kind": "video", "mimeType": "video/VP9", "preferredPayloadType": 103,
                 "clockRate": 90000,
                 "parameters": {"profile-id": 2, "x-google-start-bitrate": 1000},
                 "rtcpFeedback": video_fb()},
                {"kind": "video", "mimeType": "video/rtx", "preferredPayloadType": 104,
                 "clockRate": 90000, "parameters": {"apt": 103}, "rtcpFeedback": []},
                {"kind": "video", "mimeType": "video/H264", "preferredPayloadType": 105,
                 "clockRate": 90000,
                 "parameters": {"level-asymmetry-allowed": 1, "packetization-mode": 1,
                                "profile-level-id": "4d0032", "x-google-start-bitrate": 1000},
                 "rtcpFeedback": video_fb()},
                {"kind": "video", "mimeType": "video/rtx", "preferredPayloadType": 106,
                 "clockRate": 90000, "parameters": {"apt": 105}, "rtcpFeedback": []}
            ],
            "headerExtensions": [
                ext("audio", "urn:ietf:params:rtp-hdrext:sdes:mid", 1, "sendrecv"),
                ext("video", "urn:ietf:params:rtp-hdrext:sdes:mid", 1, "sendrecv"),
                ext("video", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", 2, "recvonly"),
                ext("video", "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id", 3, "recvonly"),
                ext("audio", ABS_SEND_TIME_URI, 4, "sendrecv"),
                ext("video", ABS_SEND_TIME_URI, 4, "sendrecv"),
                ext("audio", TRANSPORT_WIDE_CC_URI, 5, "recvonly"),
                ext("video", TRANSPORT_WIDE_CC_URI, 5, "sendrecv"),
                ext("video", "http://tools.ietf.org/html/draft-ietf-avtext-framemarking-07", 6, "sendrecv"),
                ext("video", "urn:ietf:params:rtp-hdrext:framemarking", 7, "sendrecv"),
                ext("audio", "urn:ietf:params:rtp-hdrext:ssrc-audio-level", 10, "sendrecv"),
                ext("video", "urn:3gpp:video-orientation", 11, "sendrecv"),
                ext("video", "urn:ietf:params:rtp-hdrext:toffset", 12, "sendrecv"),
                ext("audio", "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time", 13, "sendrecv"),
                ext("video", "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time", 13, "sendrecv"),
                ext("audio", "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay", 14, "sendrecv"),
                ext("video", "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay", 14, "sendrecv")
            ]
        });
        assert_eq!(serde_json::to_value(&caps).expect("serialisable"), expected);
        validate_rtp_capabilities(&caps).expect("router capabilities are valid");
    }

    #[test]
    fn router_payload_types_honour_preferences_and_static_ones() {
        let caps = generate_router_rtp_capabilities(&codecs(json!([
            {"kind": "audio", "mimeType": "audio/PCMU", "clockRate": 8000},
            {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000,
             "preferredPayloadType": 101},
            {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
        ])))
        .expect("supported");
        let pts: Vec<(&str, Option<u8>)> = caps
            .codecs
            .iter()
            .map(|c| (c.mime_type.as_str(), c.preferred_payload_type))
            .collect();
        assert_eq!(
            pts,
            [
                ("audio/PCMU", Some(0)),
                ("video/VP8", Some(101)),
                ("video/rtx", Some(100)),
                ("audio/opus", Some(102))
            ]
        );
        assert_eq!(caps.codecs[0].channels, Some(1));

        let audio_only = generate_router_rtp_capabilities(&codecs(json!([
            {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
        ])))
        .expect("supported");
        assert!(
            audio_only
                .header_extensions
                .iter()
                .all(|e| e.kind == MediaKind::Audio)
        );
    }

    fn field_of(err: OrtcError) -> String {
        match err {
            OrtcError::InvalidField { field, .. } | OrtcError::Unsupported { field, .. } => field,
            other => panic!("expected a field error, got {other}"),
        }
    }

    #[test]
    fn router_capability_errors_name_the_field() {
        let fail = |v| generate_router_rtp_capabilities(&codecs(v)).expect_err("must fail");
        let opus =
            json!({"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2});

        let err =
            fail(json!([opus, {"kind": "video", "mimeType": "video/foo", "clockRate": 90000}]));
        assert!(matches!(err, OrtcError::Unsupported { .. }));
        assert!(err.to_string().contains("mediaCodecs[1]"), "{err}");

        assert_eq!(
            field_of(fail(
                json!([{"kind": "audio", "mimeType": "audio/opus", "clockRate": 0}])
            )),
            "mediaCodecs[0].clockRate"
        );
        assert_eq!(
            field_of(fail(
                json!([{"kind": "audio", "mimeType": "opus", "clockRate": 48000}])
            )),
            "mediaCodecs[0].mimeType"
        );
        assert_eq!(
            field_of(fail(
                json!([{"kind": "video", "mimeType": "audio/opus", "clockRate": 48000}])
            )),
            "mediaCodecs[0].kind"
        );
        assert_eq!(
            field_of(fail(
                json!([{"kind": "video", "mimeType": "video/rtx", "clockRate": 90000,
                                 "parameters": {"apt": 96}}])
            )),
            "mediaCodecs[0].mimeType"
        );
        // Opus is supported in stereo only, as in mediasoup.
        assert_eq!(
            field_of(fail(
                json!([{"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000}])
            )),
            "mediaCodecs[0]"
        );
        assert_eq!(
            field_of(fail(
                json!([opus, {"kind": "audio", "mimeType": "audio/PCMA", "clockRate": 8000,
                                       "preferredPayloadType": 100}])
            )),
            "mediaCodecs[1].preferredPayloadType"
        );

        let missing = serde_json::from_value::<Vec<RtpCodecCapability>>(
            json!([{"kind": "audio", "mimeType": "audio/opus"}]),
        )
        .expect_err("clockRate is required");
        assert!(missing.to_string().contains("clockRate"), "{missing}");
    }

    fn producer_params(v: serde_json::Value) -> RtpParameters {
        let params: RtpParameters = serde_json::from_value(v).expect("valid rtp parameters");
        validate_rtp_parameters(&params).expect("valid rtp parameters");
        params
    }

    /// Capabilities of a receiver that wants other payload types and extension ids than the
    /// router's.
    fn consumer_caps() -> RtpCapabilities {
        serde_json::from_value(json!({
            "codecs": [
                {"kind": "audio", "mimeType": "audio/opus", "preferredPayloadType": 111,
                 "clockRate": 48000, "channels": 2, "parameters": {"minptime": 10, "useinbandfec": 1},
                 "rtcpFeedback": [{"type": "transport-cc"}, {"type": "nack"}]},
                {"kind": "video", "mimeType": "video/VP8", "preferredPayloadType": 96,
                 "clockRate": 90000,
                 "rtcpFeedback": [{"type": "goog-remb"}, {"type": "transport-cc"},
                                  {"type": "ccm", "parameter": "fir"}, {"type": "nack"},
                                  {"type": "nack", "parameter": "pli"}]},
                {"kind": "video", "mimeType": "video/rtx", "preferredPayloadType": 97,
                 "clockRate": 90000, "parameters": {"apt": 96}}
            ],
            "headerExtensions": [
                {"kind": "audio", "uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "preferredId": 9},
                {"kind": "video", "uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "preferredId": 9},
                {"kind": "video", "uri": TRANSPORT_WIDE_CC_URI, "preferredId": 3},
                {"kind": "audio", "uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
                 "preferredId": 1}
            ]
        }))
        .expect("valid capabilities")
    }

    #[test]
    fn opus_producer_to_consumer_with_other_payload_types() {
        let router = generate_router_rtp_capabilities(&typical_media_codecs()).expect("supported");
        let params = producer_params(json!({
            "mid": "0",
            "codecs": [{"mimeType": "audio/opus", "payloadType": 109, "clockRate": 48000,
                        "channels": 2, "parameters": {"useinbandfec": 1, "usedtx": 1},
                        "rtcpFeedback": [{"type": "transport-cc"}]}],
            "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 4}],
            "encodings": [{"ssrc": 1111, "dtx": true}],
            "rtcp": {"cname": "abc", "reducedSize": true}
        }));

        let mapping = get_producer_rtp_parameters_mapping(&params, &router).expect("mappable");
        assert_eq!(
            mapping.codecs,
            [RtpMappingCodec {
                payload_type: 109,
                mapped_payload_type: 100
            }]
        );
        assert_eq!(mapping.encodings.len(), 1);
        assert_eq!(mapping.encodings[0].ssrc, Some(1111));
        let mapped_ssrc = mapping.encodings[0].mapped_ssrc;
        assert_ne!(mapped_ssrc, 1111);

        let consumable =
            get_consumable_rtp_parameters(MediaKind::Audio, &params, &router, &mapping);
        assert_eq!(consumable.codecs.len(), 1);
        assert_eq!(consumable.codecs[0].payload_type, 100);
        assert_eq!(consumable.codecs[0].parameters, params.codecs[0].parameters);
        assert_eq!(
            consumable.encodings,
            [RtpEncodingParameters {
                ssrc: Some(mapped_ssrc),
                dtx: Some(true),
                ..Default::default()
            }]
        );
        assert_eq!(
            consumable.rtcp,
            RtcpParameters {
                cname: Some("abc".to_owned()),
                reduced_size: true,
                mux: Some(true)
            }
        );
        let uris: Vec<&str> = consumable
            .header_extensions
            .iter()
            .map(|e| e.uri.as_str())
            .collect();
        assert_eq!(
            uris,
            [
                "urn:ietf:params:rtp-hdrext:sdes:mid",
                ABS_SEND_TIME_URI,
                "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
                "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
                "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
            ]
        );

        let caps = consumer_caps();
        assert!(can_consume(&consumable, &caps));
        let consumer = get_consumer_rtp_parameters(&consumable, &caps, false).expect("consumable");
        assert_eq!(consumer.codecs.len(), 1);
        assert_eq!(
            consumer.codecs[0].payload_type, 111,
            "the consumer's payload type"
        );
        // Audio: no RTX, so no plain NACK; no transport-cc extension → no transport-cc feedback.
        assert!(consumer.codecs[0].rtcp_feedback.is_empty());
        let exts: Vec<(&str, u8)> = consumer
            .header_extensions
            .iter()
            .map(|e| (e.uri.as_str(), e.id))
            .collect();
        assert_eq!(
            exts,
            [
                ("urn:ietf:params:rtp-hdrext:sdes:mid", 9),
                ("urn:ietf:params:rtp-hdrext:ssrc-audio-level", 1)
            ]
        );
        assert_eq!(consumer.encodings.len(), 1);
        let ssrc = consumer.encodings[0].ssrc.expect("consumer ssrc");
        assert!(ssrc != 1111 && ssrc != mapped_ssrc);
        assert_eq!(consumer.encodings[0].rtx, None);
        assert_eq!(consumer.rtcp.cname.as_deref(), Some("abc"));
    }

    #[test]
    fn vp8_simulcast_producer_with_rtx_to_consumer_with_other_payload_types() {
        let router = generate_router_rtp_capabilities(&typical_media_codecs()).expect("supported");
        let params = producer_params(json!({
            "mid": "1",
            "codecs": [
                {"mimeType": "video/VP8", "payloadType": 120, "clockRate": 90000,
                 "rtcpFeedback": [{"type": "nack"}, {"type": "nack", "parameter": "pli"}]},
                {"mimeType": "video/rtx", "payloadType": 121, "clockRate": 90000,
                 "parameters": {"apt": 120}}
            ],
            "headerExtensions": [
                {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 4},
                {"uri": TRANSPORT_WIDE_CC_URI, "id": 5}
            ],
            "encodings": [
                {"ssrc": 2222, "rtx": {"ssrc": 2223}, "scalabilityMode": "L1T3", "maxBitrate": 100000},
                {"ssrc": 3333, "rtx": {"ssrc": 3334}, "scalabilityMode": "L1T3", "maxBitrate": 500000}
            ],
            "rtcp": {"cname": "xyz"}
        }));

        let mapping = get_producer_rtp_parameters_mapping(&params, &router).expect("mappable");
        assert_eq!(
            mapping.codecs,
            [
                RtpMappingCodec {
                    payload_type: 120,
                    mapped_payload_type: 101
                },
                RtpMappingCodec {
                    payload_type: 121,
                    mapped_payload_type: 102
                }
            ]
        );
        let mapped: Vec<u32> = mapping.encodings.iter().map(|e| e.mapped_ssrc).collect();
        assert_eq!(mapped[1], mapped[0].wrapping_add(1));
        assert_eq!(
            mapping.encodings[1].scalability_mode.as_deref(),
            Some("L1T3")
        );

        let consumable =
            get_consumable_rtp_parameters(MediaKind::Video, &params, &router, &mapping);
        let pts: Vec<(&str, u8)> = consumable
            .codecs
            .iter()
            .map(|c| (c.mime_type.as_str(), c.payload_type))
            .collect();
        assert_eq!(pts, [("video/VP8", 101), ("video/rtx", 102)]);
        assert_eq!(
            consumable.codecs[1].parameters,
            json!({"apt": 101}).as_object().cloned().unwrap_or_default()
        );
        assert_eq!(consumable.encodings[0].ssrc, Some(mapped[0]));
        assert_eq!(consumable.encodings[0].rtx, None);
        assert_eq!(consumable.encodings[1].max_bitrate, Some(500000));
        // Video extensions the router sends: not the recvonly RID ones.
        assert!(
            consumable
                .header_extensions
                .iter()
                .all(|e| !e.uri.contains("stream-id"))
        );

        let caps = consumer_caps();
        let consumer = get_consumer_rtp_parameters(&consumable, &caps, false).expect("consumable");
        let pts: Vec<(&str, u8)> = consumer
            .codecs
            .iter()
            .map(|c| (c.mime_type.as_str(), c.payload_type))
            .collect();
        assert_eq!(
            pts,
            [("video/VP8", 96), ("video/rtx", 97)],
            "the consumer's payload types"
        );
        assert_eq!(consumer.codecs[1].parameters["apt"], json!(96));
        // The capabilities' feedback, minus goog-remb since transport-cc is in use.
        let fb: Vec<(&str, &str)> = consumer.codecs[0]
            .rtcp_feedback
            .iter()
            .map(|f| (f.r#type.as_str(), f.parameter.as_str()))
            .collect();
        assert_eq!(
            fb,
            [
                ("transport-cc", ""),
                ("ccm", "fir"),
                ("nack", ""),
                ("nack", "pli")
            ]
        );
        let exts: Vec<(&str, u8)> = consumer
            .header_extensions
            .iter()
            .map(|e| (e.uri.as_str(), e.id))
            .collect();
        assert_eq!(
            exts,
            [
                ("urn:ietf:params:rtp-hdrext:sdes:mid", 9),
                (TRANSPORT_WIDE_CC_URI, 3)
            ]
        );

        assert_eq!(consumer.encodings.len(), 1);
        let encoding = &consumer.encodings[0];
        let ssrc = encoding.ssrc.expect("consumer ssrc");
        assert!(![2222, 2223, 3333, 3334].contains(&ssrc));
        assert_eq!(
            encoding.rtx,
            Some(RtpEncodingParametersRtx {
                ssrc: ssrc.wrapping_add(1)
            })
        );
        assert_eq!(encoding.scalability_mode.as_deref(), Some("L2T3"));
        assert_eq!(encoding.max_bitrate, Some(500000));

        let piped = get_consumer_rtp_parameters(&consumable, &caps, true).expect("consumable");
        assert_eq!(piped.encodings.len(), 2);
        assert!(
            piped
                .encodings
                .iter()
                .all(|e| e.rtx.is_some() && e.ssrc.is_some())
        );
    }

    #[test]
    fn consumer_with_the_routers_own_capabilities_keeps_router_numbers() {
        // mediasoup-client's device capabilities echo the router's numbers: then the deviation
        // from mediasoup makes no difference.
        let router = generate_router_rtp_capabilities(&typical_media_codecs()).expect("supported");
        let params = producer_params(json!({
            "codecs": [
                {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000},
                {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000,
                 "parameters": {"apt": 96}}
            ],
            "headerExtensions": [{"uri": ABS_SEND_TIME_URI, "id": 3}],
            "encodings": [{"ssrc": 1}]
        }));
        let mapping = get_producer_rtp_parameters_mapping(&params, &router).expect("mappable");
        let consumable =
            get_consumable_rtp_parameters(MediaKind::Video, &params, &router, &mapping);
        let consumer =
            get_consumer_rtp_parameters(&consumable, &router, false).expect("consumable");
        assert_eq!(
            consumer.codecs,
            consumable
                .codecs
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    // transport-cc is in use: mediasoup drops goog-remb.
                    c.rtcp_feedback.retain(|fb| fb.r#type != "goog-remb");
                    c
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(consumer.header_extensions, consumable.header_extensions);
    }

    #[test]
    fn h264_producer_matches_by_profile() {
        let router = generate_router_rtp_capabilities(&typical_media_codecs()).expect("supported");
        let h264 = |plid: &str, mode: u8| {
            producer_params(json!({
                "codecs": [{"mimeType": "video/H264", "payloadType": 125, "clockRate": 90000,
                            "parameters": {"packetization-mode": mode, "profile-level-id": plid,
                                           "level-asymmetry-allowed": 1}}],
                "encodings": [{"ssrc": 5}]
            }))
        };
        // Main profile, other level: compatible.
        let mapping =
            get_producer_rtp_parameters_mapping(&h264("4d001f", 1), &router).expect("same profile");
        assert_eq!(mapping.codecs[0].mapped_payload_type, 105);
        // Constrained Baseline: not the router's profile.
        let err = get_producer_rtp_parameters_mapping(&h264("42e01f", 1), &router)
            .expect_err("other profile");
        assert_eq!(field_of(err), "rtpParameters.codecs[0]");
        // Other packetization mode.
        assert!(get_producer_rtp_parameters_mapping(&h264("4d0032", 0), &router).is_err());
    }

    #[test]
    fn producer_errors_name_the_field() {
        let router = generate_router_rtp_capabilities(&typical_media_codecs()).expect("supported");
        let params = producer_params(json!({
            "codecs": [
                {"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2},
                {"mimeType": "audio/PCMU", "payloadType": 0, "clockRate": 8000}
            ]
        }));
        let err =
            get_producer_rtp_parameters_mapping(&params, &router).expect_err("PCMU not in router");
        assert!(matches!(err, OrtcError::Unsupported { .. }));
        assert_eq!(field_of(err.clone()), "rtpParameters.codecs[1]");
        assert!(err.to_string().contains("rtpParameters.codecs[1]"), "{err}");

        let rtx_without_media = producer_params(json!({
            "codecs": [
                {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000},
                {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000, "parameters": {"apt": 98}}
            ]
        }));
        let err =
            get_producer_rtp_parameters_mapping(&rtx_without_media, &router).expect_err("bad apt");
        assert_eq!(field_of(err), "rtpParameters.codecs[1].parameters.apt");

        let check = |v| {
            field_of(
                validate_rtp_parameters(&serde_json::from_value(v).expect("shape"))
                    .expect_err("invalid"),
            )
        };
        assert_eq!(
            check(
                json!({"codecs": [{"mimeType": "video/VP8", "payloadType": 200, "clockRate": 90000}]})
            ),
            "rtpParameters.codecs[0].payloadType"
        );
        assert_eq!(
            check(json!({"codecs": [{"mimeType": "VP8", "payloadType": 96, "clockRate": 90000}]})),
            "rtpParameters.codecs[0].mimeType"
        );
        assert_eq!(
            check(
                json!({"codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                                     "parameters": {"foo": [1]}}]})
            ),
            "rtpParameters.codecs[0].parameters.foo"
        );
        assert_eq!(
            check(
                json!({"codecs": [{"mimeType": "video/rtx", "payloadType": 96, "clockRate": 90000,
                                     "parameters": {"apt": "97"}}]})
            ),
            "rtpParameters.codecs[0].parameters.apt"
        );
        assert_eq!(check(json!({"codecs": []})), "rtpParameters.codecs");
        assert_eq!(
            check(
                json!({"codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}],
                         "headerExtensions": [{"uri": "urn:x", "id": 0}]})
            ),
            "rtpParameters.headerExtensions[0].id"
        );

        let bad_caps: RtpCapabilities = serde_json::from_value(json!({"codecs": [
            {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000, "rtcpFeedback": [{"type": ""}]}
        ]}))
        .expect("shape");
        assert_eq!(
            field_of(validate_rtp_capabilities(&bad_caps).expect_err("invalid")),
            "rtpCapabilities.codecs[0].rtcpFeedback[0].type"
        );
    }

    #[test]
    fn consume_without_the_codec_is_refused() {
        let router = generate_router_rtp_capabilities(&typical_media_codecs()).expect("supported");
        let params = producer_params(json!({
            "codecs": [
                {"mimeType": "video/VP9", "payloadType": 98, "clockRate": 90000,
                 "parameters": {"profile-id": 2}},
                {"mimeType": "video/rtx", "payloadType": 99, "clockRate": 90000, "parameters": {"apt": 98}}
            ],
            "encodings": [{"ssrc": 7, "rtx": {"ssrc": 8}, "scalabilityMode": "L3T3"}]
        }));
        let mapping = get_producer_rtp_parameters_mapping(&params, &router).expect("mappable");
        let consumable =
            get_consumable_rtp_parameters(MediaKind::Video, &params, &router, &mapping);

        // VP8 + RTX only: the RTX codec matches (mime type and clock rate) but no media codec.
        let caps = consumer_caps();
        assert!(!can_consume(&consumable, &caps));
        let err = get_consumer_rtp_parameters(&consumable, &caps, false).expect_err("no VP9");
        assert!(matches!(err, OrtcError::CannotConsume(_)));
        assert!(err.to_string().contains("rtpCapabilities.codecs"), "{err}");

        // VP9 profile 0 is not profile 2.
        let mut vp9_p0 = caps.clone();
        vp9_p0.codecs[1].mime_type = "video/VP9".to_owned();
        assert!(!can_consume(&consumable, &vp9_p0));

        let mut vp9_p2 = vp9_p0.clone();
        vp9_p2.codecs[1]
            .parameters
            .insert("profile-id".to_owned(), json!(2));
        assert!(can_consume(&consumable, &vp9_p2));
        let consumer =
            get_consumer_rtp_parameters(&consumable, &vp9_p2, false).expect("consumable");
        assert_eq!(consumer.codecs[0].payload_type, 96);
        assert_eq!(
            consumer.encodings[0].scalability_mode.as_deref(),
            Some("L3T3")
        );
    }
}
