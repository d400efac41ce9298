//! RTCP feedback between consumers and producers (mediasoup's `KeyFrameRequestManager`, reduced):
//! a PLI or FIR (RFC 4585 §6.3.1, RFC 5104 §4.3.1) that a consumer's endpoint sends about the
//! consumer's SSRC becomes a PLI to the producer's endpoint about the producer's SSRC, at most one
//! per [`KEY_FRAME_REQUEST_INTERVAL`] per producer, so that a room of subscribers asking at once
//! costs the publisher one key frame. A key frame is also requested when a video consumer is
//! created or resumed (its decoder has nothing to start from) and on
//! `POST /v1/consumers/{id}/request-key-frame`.
//!
//! The request is written straight into a send buffer (`write_pli`) and, on a WebRTC transport,
//! protected in place as SRTCP. FIR is answered with PLI: every browser honours PLI, and a FIR
//! relay would need per-producer FIR sequence numbers for no gain. Nothing here allocates.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::WorkerCore;
use crate::net::Transmit;
use crate::rtc::RtcError;
use crate::rtc::counters::DropReason;
use crate::rtc::rtp_parameters::MediaKind;
use crate::wire::rtcp::{self, RtcpPacket, write_pli};

/// Shortest time between two key-frame requests sent to one producer.
pub(crate) const KEY_FRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

impl WorkerCore {
    /// Relays the PLIs and FIRs of a (validated, decrypted) compound RTCP packet received on
    /// transport `t` to the producers of the consumers they name.
    pub(super) fn on_feedback<T: Transmit>(
        &mut self,
        now: Instant,
        t: usize,
        data: &[u8],
        tx: &mut T,
    ) {
        for packet in rtcp::compound(data) {
            let media_ssrc = match packet {
                Ok(RtcpPacket::Pli(pli)) => pli.media_ssrc,
                Ok(RtcpPacket::Fir(fir)) => match fir.entries().next() {
                    Some((ssrc, _)) => ssrc,
                    None => continue,
                },
                _ => continue,
            };
            let consumer = self.transports[t]
                .consumers
                .iter()
                .copied()
                .find(|&c| self.consumers[c].ssrc == media_ssrc);
            if let Some(c) = consumer {
                let p = self.consumers[c].producer;
                self.request_key_frame_of(now, p, tx);
            }
        }
    }

    /// Asks the producer of consumer `id` for a key frame (rate-limited). A no-op for audio.
    pub fn request_key_frame<T: Transmit>(
        &mut self,
        now: Instant,
        id: Uuid,
        tx: &mut T,
    ) -> Result<(), RtcError> {
        let c = self.consumer_idx(id)?;
        let p = self.consumers[c].producer;
        self.request_key_frame_of(now, p, tx);
        Ok(())
    }

    /// Sends a PLI for producer `p`'s first stream to its endpoint, unless one went less than
    /// [`KEY_FRAME_REQUEST_INTERVAL`] ago.
    pub(super) fn request_key_frame_of<T: Transmit>(&mut self, now: Instant, p: usize, tx: &mut T) {
        let producer = &mut self.producers[p];
        if producer.kind != MediaKind::Video {
            return;
        }
        if producer
            .last_key_frame_request
            .is_some_and(|at| now < at + KEY_FRAME_REQUEST_INTERVAL)
        {
            return;
        }
        let Some(media_ssrc) = producer.streams.first().map(|s| s.ssrc) else {
            return;
        };
        let transport = &mut self.transports[producer.transport];
        let Some((sock, dest)) = transport.rtp_destination() else {
            return;
        };
        producer.last_key_frame_request = Some(now);
        let srtp = transport.srtp_outbound();
        let sent = tx.send_with(sock, dest, |buf| {
            let Ok(n) = write_pli(buf, 0, media_ssrc) else {
                return 0;
            };
            match srtp {
                Some(ctx) => ctx.protect_rtcp(buf, n).unwrap_or(0),
                None => n,
            }
        });
        if sent {
            self.counters.packets_out += 1;
            self.counters.key_frame_requests += 1;
        } else {
            self.counters.drop(DropReason::NoSendBuffer);
        }
    }
}
