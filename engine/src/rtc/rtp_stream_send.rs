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

use std::time::{Duration, Instant};

use crate::wire::rtcp::ReportBlock;

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
    fn repeated_fir_sequence_numbers_are_not_new_requests() {
        let mut s = RtpStreamSend::default();
        assert!(s.new_fir(4));
        assert!(!s.new_fir(4));
        assert!(s.new_fir(5));
    }
}
