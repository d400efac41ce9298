//! A Consumer: one producer's media sent out over a transport, with the consumer's own SSRC,
//! payload types and header extensions (mediasoup's `SimpleConsumer`; a consumer of several
//! encodings also carries the layer state of [`super::simulcast_consumer`]).
//!
//! **Header extensions** ([`HeaderExtensions`]). Each packet is copied into its send buffer with
//! a header extension block of the consumer's own ([`rtp::write_rewritten`]): the elements the
//! consumer negotiated, under its ids, and three it writes itself, as mediasoup does:
//! - the MID (RFC 8843 §15) with the consumer's mid, at its length, in every packet, including
//!   those where the producer sent none (libwebrtc and str0m stop sending theirs once an RTCP
//!   receiver report bound the SSRC; mediasoup's `Producer::MangleRtpPacket` always makes room
//!   for it). A consumer without a mid (plain transports) sends none: the producer's mid names
//!   a media section of the producer's session, not of the consumer's;
//! - the transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01
//!   §2): the sending transport's own counter, one per packet sent on it with the extension
//!   (mediasoup's `Transport::transportWideCcSeq`), so the producer's numbering never leaks
//!   and the receiver's transport-cc feedback describes this transport's packets;
//! - abs-send-time (webrtc.org's `abs-send-time`: 6.18 fixed-point seconds of the NTP clock):
//!   the time of sending, as mediasoup's `Transport::OnConsumerSendRtpPacket` stamps it.
//!
//! Video consumers get the last two in every packet (mediasoup adds them to video only, for
//! REMB and transport-cc); audio consumers only where the producer's packet had them, so that
//! audio packets do not grow.
//!
//! A list the block cannot carry (more than [`rtp::MAX_ELEMENTS`] elements) or a packet that
//! would no longer fit the send buffer falls back to the rewrite in place of the producer's
//! block ([`HeaderExtensions::rewrite_in_place`]): ids remapped, the mid written where it has
//! the same length, the transport-wide number and abs-send-time where present.

use uuid::Uuid;

use super::rtp_parameters::{MediaKind, RtpParameters};
use super::rtp_stream_send::RtpStreamSend;
use super::seq_manager::SeqManager;
use super::simulcast_consumer::SimulcastLayers;
use super::supported_rtp_capabilities::{ABS_SEND_TIME_URI, MID_URI, TRANSPORT_WIDE_CC_URI};
use crate::wire::rtp::{
    self, ExtensionElements, FixedFields, RewriteError, RtpPacket, RtpPacketMut,
};

/// Marks a payload type the consumer did not negotiate.
pub(crate) const PT_NONE: u8 = 0xFF;

#[derive(Debug)]
pub(crate) struct Consumer {
    pub(crate) id: Uuid,
    pub(crate) producer: usize,
    pub(crate) transport: usize,
    pub(crate) kind: MediaKind,
    pub(crate) paused: bool,
    pub(crate) producer_paused: bool,
    pub(crate) rtp_parameters: RtpParameters,
    /// The consumer's SSRC.
    pub(crate) ssrc: u32,
    /// The producer stream (encoding index) this consumer forwards: the first for a simple
    /// consumer; a simulcast consumer's current spatial layer, `None` before its first switch.
    pub(crate) source_stream: Option<usize>,
    /// Layer state of a simulcast consumer ([`super::simulcast_consumer`]).
    pub(crate) simulcast: Option<Box<SimulcastLayers>>,
    /// Consumer payload type for each producer payload type (`PT_NONE`: not forwarded).
    pub(crate) pt_map: [u8; 128],
    /// How its header extensions are written.
    pub(crate) extensions: HeaderExtensions,
    pub(crate) seq: SeqManager,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    /// Sender reports out, receiver reports and key frame requests in.
    pub(crate) rtp_stream: RtpStreamSend,
    pub(crate) app_data: serde_json::Value,
}

impl Consumer {
    /// Whether media flows to this consumer.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        !self.paused && !self.producer_paused
    }

    /// Pauses or resumes this consumer; returns whether the state changed.
    pub(crate) fn set_paused(&mut self, paused: bool) -> bool {
        if self.paused == paused {
            return false;
        }
        let was_active = self.active();
        self.paused = paused;
        if !was_active && self.active() {
            self.seq.request_resync();
        }
        true
    }

    pub(crate) fn set_producer_paused(&mut self, paused: bool) -> bool {
        if self.producer_paused == paused {
            return false;
        }
        let was_active = self.active();
        self.producer_paused = paused;
        if !was_active && self.active() {
            self.seq.request_resync();
        }
        true
    }
}

/// Values of the extensions a consumer writes itself, for one packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamps {
    /// The sending transport's next transport-wide sequence number.
    pub(crate) transport_cc: u16,
    /// abs-send-time at the moment of sending (24 bits).
    pub(crate) abs_send_time: u32,
}

/// A consumer's header extension plan, fixed when it is created (see the module docs).
#[derive(Debug)]
pub(crate) struct HeaderExtensions {
    /// Consumer id for each producer id (0: not negotiated by the consumer).
    map: Box<[u8; 256]>,
    /// Consumer id of the MID extension (0: not negotiated) and the consumer's mid.
    mid_id: u8,
    mid: Option<Box<[u8]>>,
    /// Consumer id of abs-send-time (0: not negotiated).
    abs_send_time_id: u8,
    /// Consumer id of the transport-wide sequence number (0: not negotiated).
    transport_cc_id: u8,
    /// Video: abs-send-time and the transport-wide number go into every packet; audio: only
    /// into those where the producer sent them (as mediasoup, which adds both to video only,
    /// for REMB and transport-cc).
    always_stamp: bool,
    /// The block is the producer's unchanged: same ids and nothing written by the consumer.
    identity: bool,
}

/// The id of the extension with `uri` in `p`, 0 if not negotiated.
fn extension_id(p: &RtpParameters, uri: &str) -> u8 {
    p.header_extensions
        .iter()
        .find(|e| e.uri == uri)
        .map_or(0, |e| e.id)
}

impl HeaderExtensions {
    /// The plan for a `kind` consumer with `consumer` parameters (its `mid` included) of a
    /// producer that sends with `producer` parameters.
    pub(crate) fn new(kind: MediaKind, producer: &RtpParameters, consumer: &RtpParameters) -> Self {
        let mut map = Box::new([0u8; 256]);
        let mut same_ids = true;
        for pe in &producer.header_extensions {
            let to = extension_id(consumer, &pe.uri);
            map[usize::from(pe.id)] = to;
            same_ids &= to == pe.id;
        }
        let mid_id = extension_id(consumer, MID_URI);
        let abs_send_time_id = extension_id(consumer, ABS_SEND_TIME_URI);
        let transport_cc_id = extension_id(consumer, TRANSPORT_WIDE_CC_URI);
        HeaderExtensions {
            map,
            mid_id,
            mid: consumer
                .mid
                .as_ref()
                .filter(|_| mid_id != 0)
                .map(|m| m.as_bytes().into()),
            abs_send_time_id,
            transport_cc_id,
            always_stamp: kind == MediaKind::Video,
            identity: same_ids && mid_id == 0 && abs_send_time_id == 0 && transport_cc_id == 0,
        }
    }

    /// Whether packets are copied with their block as it is.
    #[inline]
    pub(crate) fn is_identity(&self) -> bool {
        self.identity
    }

    /// Whether the consumer writes abs-send-time (so the caller computes it).
    #[inline]
    pub(crate) fn wants_abs_send_time(&self) -> bool {
        self.abs_send_time_id != 0
    }

    /// Writes `src` into `out` with `fixed` and the consumer's block (see the module docs);
    /// `src_ext` holds `src`'s elements, read once for all consumers. Returns the length and
    /// whether the packet carries `stamps.transport_cc` (the transport then counts it as used).
    #[inline]
    pub(crate) fn write(
        &self,
        out: &mut [u8],
        src: &RtpPacket<'_>,
        src_ext: &ExtensionElements<'_>,
        fixed: &FixedFields,
        stamps: Stamps,
    ) -> Result<(usize, bool), RewriteError> {
        let abs = stamps.abs_send_time.to_be_bytes();
        let seq = stamps.transport_cc.to_be_bytes();
        let mut seq_here = false;
        let n = rtp::write_rewritten_with(out, src, fixed, |w| {
            if let Some(mid) = &self.mid {
                w.push(self.mid_id, mid)?;
            }
            let (mut abs_here, mut seq_in) = (self.always_stamp, self.always_stamp);
            for (id, data) in src_ext.iter() {
                let to = self.map[usize::from(id)];
                if to == 0 || to == self.mid_id {
                    continue;
                }
                if to == self.abs_send_time_id {
                    abs_here = true;
                } else if to == self.transport_cc_id {
                    seq_in = true;
                } else {
                    w.push(to, data)?;
                }
            }
            if abs_here && self.abs_send_time_id != 0 {
                w.push(self.abs_send_time_id, &abs[1..])?;
            }
            seq_here = seq_in && self.transport_cc_id != 0;
            if seq_here {
                w.push(self.transport_cc_id, &seq)?;
            }
            Ok(())
        })?;
        Ok((n, seq_here))
    }

    /// The fallback of [`Self::write`]: `out` holds a copy of the producer's packet with the
    /// consumer's fixed fields; rewrites its block in place. Returns whether the packet
    /// carries `stamps.transport_cc`.
    pub(crate) fn rewrite_in_place(&self, out: &mut [u8], stamps: Stamps) -> bool {
        let Ok(mut m) = RtpPacketMut::parse(out) else {
            return false;
        };
        m.remap_extension_ids(&self.map);
        if let Some(mid) = &self.mid {
            m.set_or_clear_extension(self.mid_id, mid);
        }
        if self.abs_send_time_id != 0 {
            let abs = stamps.abs_send_time.to_be_bytes();
            m.set_or_clear_extension(self.abs_send_time_id, &abs[1..]);
        }
        self.transport_cc_id != 0
            && m.set_or_clear_extension(self.transport_cc_id, &stamps.transport_cc.to_be_bytes())
    }
}
