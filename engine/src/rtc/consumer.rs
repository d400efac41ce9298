//! A Consumer: one producer's media sent out over a transport, with the consumer's own SSRC,
//! payload types and header extension ids (mediasoup's `SimpleConsumer`).

use uuid::Uuid;

use super::rtp_parameters::{MediaKind, RtpParameters};
use super::rtp_stream_send::RtpStreamSend;
use super::seq_manager::SeqManager;

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
    /// The producer SSRC this consumer forwards (its first encoding).
    pub(crate) source_ssrc: u32,
    /// Consumer payload type for each producer payload type (`PT_NONE`: not forwarded).
    pub(crate) pt_map: [u8; 128],
    /// Consumer header extension id for each producer id (0: stripped); `None` when identical.
    pub(crate) ext_map: Option<Box<[u8; 256]>>,
    /// The MID extension's id in the consumer's numbering and the consumer's mid, written into
    /// every packet (WebRTC transports, where the browser demultiplexes by it).
    pub(crate) mid_rewrite: Option<(u8, Box<[u8]>)>,
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
