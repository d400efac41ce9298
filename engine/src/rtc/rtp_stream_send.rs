//! Send-side RTCP state of one consumer's stream (mediasoup's `RtpStreamSend`): the payload
//! octets its sender reports count (RFC 3550 §6.4.1, "sender's octet count": payload only, no
//! header or padding), when it last sent one, and what the consumer's endpoint reported back in
//! its receiver reports: fraction and cumulative lost, and the round-trip time computed from
//! LSR and DLSR (RFC 3550 §6.4.1: `A - LSR - DLSR`, with A the arrival time in the same
//! compact NTP format).
//!
//! Those receiver reports end here: they describe the path from Sluice to the consumer, not the
//! producer's, so they are never forwarded (the producer gets Sluice's own receiver reports,
//! see [`super::rtp_stream`]).
//!
//! For NACKs (RFC 4585 §6.2.1) it keeps what a retransmission needs beyond the live rewrite:
//! the consumer's RTX stream (RFC 4588 §4: its own SSRC, payload types and sequence numbers)
//! when the consumer negotiated one, and when each recent packet was last resent, so that a
//! packet goes out again at most once per round trip (mediasoup's `RtpStreamSend` rule: the
//! RTT from receiver reports, [`DEFAULT_RTT`] before the first one; never less than
//! [`MIN_RESEND_HOLD`]). A NACK repeated sooner was
//! sent before the retransmission could have arrived.

use std::time::{Duration, Instant};

use super::retransmission_buffer::SLOTS;
use crate::wire::rtcp::ReportBlock;

/// Round-trip time assumed before a receiver report gave one (mediasoup's `DefaultRtt`).
pub(crate) const DEFAULT_RTT: Duration = Duration::from_millis(100);
/// The shortest hold between two resends of a packet, whatever the reported RTT: the RTT comes
/// from the consumer's own receiver reports (a DLSR inflated by the endpoint makes it about
/// zero), and without a floor its NACKs could have every buffered packet resent on every NACK.
pub(crate) const MIN_RESEND_HOLD: Duration = Duration::from_millis(20);

/// A consumer's RTX stream (RFC 4588 §4).
#[derive(Debug)]
pub(crate) struct RtxSend {
    pub(crate) ssrc: u32,
    /// RTX payload type for each media payload type of the consumer (`apt`), as pairs.
    pub(crate) payload_types: Box<[(u8, u8)]>,
    /// The RTX stream's last sequence number.
    pub(crate) seq: u16,
}

impl RtxSend {
    /// The RTX payload type of media payload type `pt`.
    #[inline]
    pub(crate) fn payload_type(&self, pt: u8) -> Option<u8> {
        self.payload_types
            .iter()
            .find(|&&(media, _)| media == pt)
            .map(|&(_, rtx)| rtx)
    }
}

/// Counters of the NACKs a consumer's endpoint sent.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NackCounters {
    /// NACK packets received.
    pub(crate) nacks: u64,
    /// Sequence numbers they named.
    pub(crate) nacked_packets: u64,
    /// Packets sent again.
    pub(crate) retransmitted: u64,
    /// Named packets not retransmitted: outside the current segment, no longer (or never) in
    /// the producer stream's buffer, or no send buffer.
    pub(crate) not_found: u64,
    /// Named packets resent less than a round trip ago, not sent again.
    pub(crate) held: u64,
}

#[derive(Debug, Default)]
pub(crate) struct RtpStreamSend {
    /// Payload octets sent (RFC 3550 §6.4.1 sender's octet count).
    pub(crate) payload_bytes: u64,
    /// When the last sender report went out.
    pub(crate) last_sr_at: Option<Instant>,
    /// Round-trip time from the latest receiver report that referenced a sender report.
    pub(crate) rtt: Option<Duration>,
    /// From the latest receiver report: fraction lost (1/256) and cumulative packets lost.
    pub(crate) fraction_lost: u8,
    pub(crate) packets_lost: i32,
    /// Receiver reports about this stream taken in.
    pub(crate) receiver_reports: u64,
    /// Key frame requests received from the consumer's endpoint.
    pub(crate) pli_received: u64,
    pub(crate) fir_received: u64,
    /// The last FIR command sequence number seen (RFC 5104 §4.3.1.2: a repeat is not a new
    /// request).
    pub(crate) last_fir_seq: Option<u8>,
    /// The consumer's RTX stream, if it negotiated one.
    pub(crate) rtx: Option<RtxSend>,
    /// When the packet with output sequence number `seq` was last resent, at `seq % SLOTS`
    /// (empty for consumers that do not retransmit: audio).
    resent: Box<[(u16, Option<Instant>)]>,
    pub(crate) nack: NackCounters,
}

impl RtpStreamSend {
    /// Takes in a reception report block about this stream; `now_ntp` is Sluice's NTP time
    /// (32.32) at its arrival, on the clock the sender reports used.
    pub(crate) fn receive_report(&mut self, now_ntp: u64, block: &ReportBlock) {
        self.receiver_reports += 1;
        self.fraction_lost = block.fraction_lost;
        self.packets_lost = block.cumulative_lost;
        // LSR 0: the endpoint has not received a sender report yet (RFC 3550 §6.4.1).
        if block.lsr != 0 {
            let a = (now_ntp >> 16) as u32;
            let rtt = a.wrapping_sub(block.lsr).wrapping_sub(block.dlsr);
            // A negative value is a clock step or a forged report: ignore it.
            if (rtt as i32) >= 0 {
                self.rtt = Some(Duration::from_micros(u64::from(rtt) * 1_000_000 / 65_536));
            }
        }
    }

    /// Makes the consumer able to retransmit (a video consumer, on the control path), with
    /// its RTX stream if it has one.
    pub(crate) fn enable_retransmission(&mut self, rtx: Option<RtxSend>) {
        self.resent = vec![(0, None); SLOTS].into_boxed_slice();
        self.rtx = rtx;
    }

    /// Whether output packet `seq` may be resent at `now` (not resent within the last round
    /// trip); if so, remembers `now` as its resend time. `false` when retransmission is off.
    #[inline]
    pub(crate) fn may_resend(&mut self, now: Instant, seq: u16) -> bool {
        let hold = self.rtt.unwrap_or(DEFAULT_RTT).max(MIN_RESEND_HOLD);
        let n = self.resent.len();
        let Some(entry) = self.resent.get_mut(usize::from(seq) % n.max(1)) else {
            return false;
        };
        if entry.0 == seq
            && entry
                .1
                .is_some_and(|at| now.saturating_duration_since(at) < hold)
        {
            return false;
        }
        *entry = (seq, Some(now));
        true
    }

    /// Whether this FIR entry is a new request; remembers its sequence number.
    pub(crate) fn new_fir(&mut self, seq: u8) -> bool {
        let new = self.last_fir_seq != Some(seq);
        self.last_fir_seq = Some(seq);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_from_lsr_and_dlsr() {
        let mut s = RtpStreamSend::default();
        // SR sent at NTP 1000.5 s (compact 0x03E8_8000); the RR arrives at 1001.0 s and says
        // 0.25 s passed between the SR's arrival and the RR: RTT 0.25 s.
        let now_ntp = 1001u64 << 32;
        s.receive_report(
            now_ntp,
            &ReportBlock {
                lsr: 0x03E8_8000,
                dlsr: 0x4000,
                fraction_lost: 12,
                cumulative_lost: 7,
                ..Default::default()
            },
        );
        assert_eq!(s.rtt, Some(Duration::from_millis(250)));
        assert_eq!((s.fraction_lost, s.packets_lost), (12, 7));
        // No SR received yet: no RTT.
        let mut s = RtpStreamSend::default();
        s.receive_report(now_ntp, &ReportBlock::default());
        assert_eq!(s.rtt, None);
    }

    #[test]
    fn a_packet_is_resent_at_most_once_per_round_trip() {
        let t0 = Instant::now();
        let mut s = RtpStreamSend::default();
        assert!(!s.may_resend(t0, 5), "off until enabled");
        s.enable_retransmission(None);
        assert!(s.may_resend(t0, 5));
        assert!(!s.may_resend(t0 + DEFAULT_RTT / 2, 5));
        assert!(s.may_resend(t0 + DEFAULT_RTT / 2, 6));
        assert!(s.may_resend(t0 + DEFAULT_RTT, 5));
        s.rtt = Some(Duration::from_millis(300));
        assert!(!s.may_resend(t0 + DEFAULT_RTT * 2, 5));
        assert!(s.may_resend(t0 + DEFAULT_RTT * 4, 5));
        // Another packet in the same slot does not inherit the hold.
        assert!(s.may_resend(t0 + DEFAULT_RTT * 4, 5 + SLOTS as u16));
        // A reported RTT of zero still holds for MIN_RESEND_HOLD.
        s.rtt = Some(Duration::ZERO);
        assert!(s.may_resend(t0, 9));
        assert!(!s.may_resend(t0 + MIN_RESEND_HOLD / 2, 9));
        assert!(s.may_resend(t0 + MIN_RESEND_HOLD, 9));
    }

    #[test]
    fn repeated_fir_sequence_numbers_are_not_new_requests() {
        let mut s = RtpStreamSend::default();
        assert!(s.new_fir(4));
        assert!(!s.new_fir(4));
        assert!(s.new_fir(5));
    }
}
