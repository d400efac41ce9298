//! A Producer: one media source sent into a router over a transport (mediasoup's `Producer`).
//! Keeps the receive statistics of each of its RTP streams and the list of its consumers.

use uuid::Uuid;

use super::codecs::KeyFrameCodec;
use super::ortc::RtpMapping;
use super::rtp_parameters::{MediaKind, RtpParameters};
use super::rtp_stream::{KeyFrameFeedback, RtpStreamRecv};

#[derive(Debug)]
pub(crate) struct Producer {
    pub(crate) id: Uuid,
    pub(crate) transport: usize,
    pub(crate) kind: MediaKind,
    pub(crate) paused: bool,
    pub(crate) rtp_parameters: RtpParameters,
    /// The producer's parameters in the router's numbering (what consumers are derived from).
    pub(crate) consumable: RtpParameters,
    pub(crate) mapping: RtpMapping,
    /// One receive stream per encoding SSRC, in encoding order.
    pub(crate) streams: Vec<RtpStreamRecv>,
    /// Consumer slab indices.
    pub(crate) consumers: Vec<usize>,
    pub(crate) app_data: serde_json::Value,
}

impl Producer {
    /// "simple" for one encoding, "simulcast" for several (mediasoup's producer types).
    pub(crate) fn type_name(&self) -> &'static str {
        if self.rtp_parameters.encodings.len() > 1 {
            "simulcast"
        } else {
            "simple"
        }
    }

    #[inline]
    pub(crate) fn stream_mut(&mut self, ssrc: u32) -> Option<&mut RtpStreamRecv> {
        self.streams.iter_mut().find(|s| s.bound && s.ssrc == ssrc)
    }

    /// The encoding (stream index) an SSRC belongs to, and whether it is that encoding's RTX
    /// stream. A linear scan: a producer has at most a handful of encodings.
    #[inline]
    pub(crate) fn stream_index(&self, ssrc: u32) -> Option<(usize, bool)> {
        self.streams.iter().enumerate().find_map(|(i, s)| {
            if s.bound && s.ssrc == ssrc {
                Some((i, false))
            } else if s.rtx_ssrc == Some(ssrc) {
                Some((i, true))
            } else {
                None
            }
        })
    }

    /// Whether `pt` is one of the producer's RTX payload types (RFC 4588 §8.6: `apt=`).
    pub(crate) fn is_rtx_payload_type(&self, pt: u8) -> bool {
        self.rtp_parameters
            .codecs
            .iter()
            .any(|c| c.payload_type == pt && c.mime_type.to_ascii_lowercase().ends_with("/rtx"))
    }

    /// Reads the key frame feedback its media codec negotiated (`nack pli`, `ccm fir`) and the
    /// payload type whose key frames end a pending request, into every stream.
    pub(crate) fn init_key_frame_feedback(&mut self) {
        let mut fb = KeyFrameFeedback::default();
        if let Some(codec) = self
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| !c.mime_type.to_ascii_lowercase().ends_with("/rtx"))
        {
            for f in &codec.rtcp_feedback {
                fb.pli |= f.r#type == "nack" && f.parameter == "pli";
                fb.fir |= f.r#type == "ccm" && f.parameter == "fir";
            }
            fb.codec = KeyFrameCodec::from_mime(&codec.mime_type).map(|k| (codec.payload_type, k));
        }
        for s in &mut self.streams {
            s.feedback = fb;
        }
    }
}
