//! RTCP between consumers and producers (mediasoup's `KeyFrameRequestManager`, reduced):
//! a PLI or FIR (RFC 4585 §6.3.1, RFC 5104 §4.3.1) that a consumer's endpoint sends about the
//! consumer's SSRC becomes a PLI to the producer's endpoint about the producer's SSRC, at most one
//! per [`KEY_FRAME_REQUEST_INTERVAL`] per producer, so that a room of subscribers asking at once
//! costs the publisher one key frame. A key frame is also requested when a video consumer is
//! created or resumed (its decoder has nothing to start from) and on
//! `POST /v1/consumers/{id}/request-key-frame`.
//!
//! Reports: a producer endpoint's sender reports are forwarded to each consumer rewritten to
//! the consumer's SSRC, timeline and counts (receivers need them to synchronise audio and
//! video), and every producer endpoint gets a receiver report about once a second.
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
use crate::wire::rtcp::{
    self, ReportBlock, RtcpPacket, SenderInfo, write_pli, write_receiver_report,
    write_sender_report,
};

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

/// Sender SSRC of the receiver reports Sluice sends to producers' endpoints.
pub(crate) const RTCP_SSRC: u32 = 0x534C_5543;

/// How often each producer's endpoint gets a receiver report (RFC 3550 §6.2 leaves it to the
/// session; browsers send theirs about once a second too).
pub(crate) const RECEIVER_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Report blocks per receiver report: a producer's encodings (simulcast has at most 3-4).
const MAX_BLOCKS: usize = 8;

impl WorkerCore {
    /// Sender reports from a producer's endpoint (RFC 3550 §6.4.1): remembered for the LSR and
    /// DLSR of our receiver reports, and forwarded to every active consumer of that stream with
    /// the consumer's SSRC, the RTP timestamp in the consumer's timeline, and the consumer's own
    /// packet and octet counts (the NTP time is the producer's: it is what lets a receiver line
    /// audio up with video).
    pub(super) fn on_sender_reports<T: Transmit>(
        &mut self,
        now: Instant,
        t: usize,
        data: &[u8],
        tx: &mut T,
    ) {
        for packet in rtcp::compound(data) {
            let Ok(RtcpPacket::SenderReport(sr)) = packet else {
                continue;
            };
            let info = sr.sender_info();
            let Some(&p) = self.transports[t].ssrc_table.get(&info.ssrc) else {
                continue;
            };
            let Self {
                transports,
                producers,
                consumers,
                counters,
                ..
            } = self;
            let producer = &mut producers[p];
            if let Some(stream) = producer.stream_mut(info.ssrc) {
                stream.on_sender_report(now, info.ntp_sec, info.ntp_frac);
            }
            for &c in &producer.consumers {
                let consumer = &mut consumers[c];
                if !consumer.active() || consumer.source_ssrc != info.ssrc {
                    continue;
                }
                let Some(rtp_timestamp) = consumer.seq.map_timestamp(info.rtp_timestamp) else {
                    continue;
                };
                let ct = &mut transports[consumer.transport];
                let Some((sock, dest)) = ct.rtp_destination() else {
                    continue;
                };
                let out = SenderInfo {
                    ssrc: consumer.ssrc,
                    ntp_sec: info.ntp_sec,
                    ntp_frac: info.ntp_frac,
                    rtp_timestamp,
                    packet_count: consumer.packets as u32,
                    octet_count: consumer.bytes as u32,
                };
                let srtp = ct.srtp_outbound();
                let sent = tx.send_with(sock, dest, |buf| {
                    let Ok(n) = write_sender_report(buf, &out, &[]) else {
                        return 0;
                    };
                    match srtp {
                        Some(ctx) => ctx.protect_rtcp(buf, n).unwrap_or(0),
                        None => n,
                    }
                });
                if sent {
                    counters.packets_out += 1;
                } else {
                    counters.drop(DropReason::NoSendBuffer);
                }
            }
        }
    }

    /// Sends a receiver report (one block per stream) to every producer's endpoint whose last
    /// one is [`RECEIVER_REPORT_INTERVAL`] old: loss, jitter, LSR/DLSR (RFC 3550 §6.4.2), what
    /// a browser's congestion control and its stats (`remote-inbound-rtp`) read. Call from the
    /// worker's timer; allocates nothing.
    pub fn send_receiver_reports<T: Transmit>(&mut self, now: Instant, tx: &mut T) {
        for p in 0..self.producers.bound() {
            let Some(producer) = self.producers.get_mut(p) else {
                continue;
            };
            if producer
                .last_receiver_report
                .is_some_and(|at| now < at + RECEIVER_REPORT_INTERVAL)
                || !producer.streams.iter().any(|s| s.started())
            {
                continue;
            }
            producer.last_receiver_report = Some(now);
            let mut blocks = [ReportBlock::default(); MAX_BLOCKS];
            let mut n = 0;
            for s in producer.streams.iter_mut().filter(|s| s.started()) {
                if n == MAX_BLOCKS {
                    break;
                }
                blocks[n] = s.report_block(now);
                n += 1;
            }
            let transport = &mut self.transports[producer.transport];
            let Some((sock, dest)) = transport.rtp_destination() else {
                continue;
            };
            let srtp = transport.srtp_outbound();
            let sent = tx.send_with(sock, dest, |buf| {
                let Ok(len) = write_receiver_report(buf, RTCP_SSRC, &blocks[..n]) else {
                    return 0;
                };
                match srtp {
                    Some(ctx) => ctx.protect_rtcp(buf, len).unwrap_or(0),
                    None => len,
                }
            });
            if sent {
                self.counters.packets_out += 1;
            } else {
                self.counters.drop(DropReason::NoSendBuffer);
            }
        }
    }
}
