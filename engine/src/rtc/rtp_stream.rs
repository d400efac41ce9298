//! Receive-side statistics of one RTP stream (mediasoup's `RtpStreamRecv`): packets, bytes,
//! the extended highest sequence number, expected and lost packets (RFC 3550 §6.4.1, A.3) and
//! interarrival jitter (RFC 3550 §6.4.1, A.8).
//!
//! It also holds the stream's RTCP state: the producer's latest sender report (its NTP↔RTP
//! pair, which maps the producer's RTP clock onto Sluice's for the consumers' sender reports,
//! and its middle 32 NTP bits for LSR), the counts at the previous receiver report (for the
//! interval's fraction lost, RFC 3550 §6.4.1 and A.3), and the stream's key frame requests
//! ([`KeyFrameRequestManager`]). A video stream also keeps its recent packets for the
//! consumers' NACKs ([`RetransmissionBuffer`]) and finds its own losses for Sluice's NACKs
//! ([`NackGenerator`]).

use std::time::{Duration, Instant};

use super::codecs::KeyFrameCodec;
use super::key_frame_request_manager::{KeyFrameRequest, KeyFrameRequestManager};
use super::nack_generator::NackGenerator;
use super::retransmission_buffer::RetransmissionBuffer;
use crate::wire::rtcp::{ReportBlock, SenderInfo};
use crate::wire::rtp::SeqUnwrapper;

/// The producer's latest sender report, and when it arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LastSr {
    /// Its NTP timestamp (32.32 fixed point, the producer's clock).
    pub(crate) ntp: u64,
    /// Its RTP timestamp.
    pub(crate) rtp: u32,
    /// Local arrival time.
    pub(crate) at: Instant,
}

/// What the producer's codec parameters say about key frame requests.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyFrameFeedback {
    /// `nack pli` negotiated.
    pub(crate) pli: bool,
    /// `ccm fir` negotiated.
    pub(crate) fir: bool,
    /// The media payload type and its format, when key frames in it can be recognised.
    pub(crate) codec: Option<(u8, KeyFrameCodec)>,
}

impl KeyFrameFeedback {
    /// The message to send for a request of kind `wanted`: that one when the producer
    /// negotiated it (or negotiated neither: a plain RTP endpoint that did not say), else the
    /// one it negotiated.
    pub(crate) fn choose(&self, wanted: KeyFrameRequest) -> KeyFrameRequest {
        match (self.pli, self.fir) {
            (true, false) => KeyFrameRequest::Pli,
            (false, true) => KeyFrameRequest::Fir,
            _ => wanted,
        }
    }
}

#[derive(Debug)]
pub(crate) struct RtpStreamRecv {
    pub(crate) ssrc: u32,
    pub(crate) clock_rate: u32,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    unwrapper: SeqUnwrapper,
    base_seq: Option<u64>,
    max_seq: u64,
    /// RFC 3550 A.8 jitter, in timestamp units, scaled by 16.
    jitter_q4: u64,
    last_transit: Option<u32>,
    epoch: Option<Instant>,
    /// Expected and received packets at the previous receiver report (RFC 3550 A.3).
    expected_prior: u64,
    received_prior: u64,
    pub(crate) last_sr: Option<LastSr>,
    /// When the last receiver report about this stream was sent.
    pub(crate) last_rr_at: Option<Instant>,
    pub(crate) feedback: KeyFrameFeedback,
    pub(crate) key_frames: KeyFrameRequestManager,
    /// Whether `ssrc` is known: given in the encoding, or learnt from the first packet that
    /// named the encoding's RID ([`super::rtp_listener`]). An unbound stream matches no packet.
    pub(crate) bound: bool,
    /// The encoding's RID (RFC 8852), if it has one.
    pub(crate) rid: Option<Box<[u8]>>,
    /// The SSRC of its RTX stream (RFC 4588), given or learnt from the repaired RID.
    pub(crate) rtx_ssrc: Option<u32>,
    /// RTX packets received (those repairing a missing packet are forwarded as it).
    pub(crate) rtx_packets: u64,
    /// The recent packets, for consumers' NACKs (video streams only).
    pub(crate) retransmission: Option<RetransmissionBuffer>,
    /// Loss detection for Sluice's NACKs (video streams that negotiated `nack`).
    pub(crate) nack_generator: Option<NackGenerator>,
    /// The next packet is a retransmission (unwrapped RTX): counted, but its late arrival says
    /// nothing about the network's jitter (libwebrtc leaves retransmissions out too).
    pub(crate) retransmitted: bool,
    /// When the last packet arrived.
    pub(crate) last_packet_at: Option<Instant>,
    /// No packet for [`INACTIVITY`] (or none yet): a simulcast consumer does not pick it.
    pub(crate) inactive: bool,
}

/// How long a stream may go without packets before it counts as inactive (mediasoup's
/// `RtpStreamRecv` `InactivityCheckInterval`, 1.5 s): simulcast consumers then fall back to
/// another layer.
pub(crate) const INACTIVITY: Duration = Duration::from_millis(1500);

impl RtpStreamRecv {
    pub(crate) fn new(ssrc: u32, clock_rate: u32) -> Self {
        Self {
            ssrc,
            clock_rate,
            packets: 0,
            bytes: 0,
            unwrapper: SeqUnwrapper::default(),
            base_seq: None,
            max_seq: 0,
            jitter_q4: 0,
            last_transit: None,
            epoch: None,
            expected_prior: 0,
            received_prior: 0,
            last_sr: None,
            last_rr_at: None,
            feedback: KeyFrameFeedback::default(),
            key_frames: KeyFrameRequestManager::default(),
            bound: true,
            rid: None,
            rtx_ssrc: None,
            rtx_packets: 0,
            retransmission: None,
            nack_generator: None,
            retransmitted: false,
            last_packet_at: None,
            inactive: true,
        }
    }

    /// A stream for an encoding known by its RID only: its SSRC is learnt from the first
    /// packet carrying that RID.
    pub(crate) fn unbound(rid: Option<&str>, clock_rate: u32) -> Self {
        let mut s = Self::new(0, clock_rate);
        s.bound = false;
        s.rid = rid.map(|r| r.as_bytes().into());
        s
    }

    /// Marks the stream inactive when nothing arrived for [`INACTIVITY`]; returns whether it
    /// just became so.
    pub(crate) fn check_inactive(&mut self, now: Instant) -> bool {
        match self.last_packet_at {
            Some(at) if !self.inactive && now.saturating_duration_since(at) >= INACTIVITY => {
                self.inactive = true;
                true
            }
            _ => false,
        }
    }

    /// Looks for a key frame while a request waits for one (cheap otherwise).
    #[inline]
    pub(crate) fn detect_key_frame(&mut self, pt: u8, payload: &[u8]) {
        if self.key_frames.is_pending() && starts_key_frame(self.feedback.codec, pt, payload) {
            self.key_frames.key_frame_received();
        }
    }

    /// Records the producer's sender report (RFC 3550 §6.4.1).
    pub(crate) fn receive_sender_report(&mut self, now: Instant, info: &SenderInfo) {
        self.last_sr = Some(LastSr {
            ntp: (u64::from(info.ntp_sec) << 32) | u64::from(info.ntp_frac),
            rtp: info.rtp_timestamp,
            at: now,
        });
    }

    /// The producer's RTP timestamp at `now`, extrapolated from its latest sender report: the
    /// report's RTP timestamp plus the time since it arrived, in clock ticks. `None` before the
    /// first report.
    pub(crate) fn rtp_timestamp_at(&self, now: Instant) -> Option<u32> {
        let sr = self.last_sr?;
        Some(
            sr.rtp
                .wrapping_add(ticks(now.saturating_duration_since(sr.at), self.clock_rate)),
        )
    }

    /// The reception report block about this stream at `now` (RFC 3550 §6.4.1, computed as in
    /// A.3), and the start of a new reporting interval.
    pub(crate) fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let received = self.packets;
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            // LSR: the middle 32 bits of its NTP timestamp; DLSR in units of 1/65536 s.
            Some(sr) => (
                (sr.ntp >> 16) as u32,
                (now.saturating_duration_since(sr.at).as_micros() * 65_536 / 1_000_000) as u32,
            ),
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: (expected as i64 - received as i64).clamp(-0x80_0000, 0x7f_ffff)
                as i32,
            // Cycles in the upper 16 bits, as the unwrapper counts them from the first packet.
            highest_seq: self.max_seq as u32,
            jitter: self.jitter(),
            lsr,
            dlsr,
        }
    }

    /// Counts a packet; returns whether the stream was inactive until now (its first packet,
    /// or the first after [`INACTIVITY`]), so that simulcast consumers look at it again.
    #[inline]
    pub(crate) fn receive(&mut self, now: Instant, seq: u16, ts: u32, len: usize) -> bool {
        self.packets += 1;
        self.bytes += len as u64;
        self.last_packet_at = Some(now);
        let woke = std::mem::replace(&mut self.inactive, false);
        self.track(now, seq, ts);
        woke
    }

    #[inline]
    fn track(&mut self, now: Instant, seq: u16, ts: u32) {
        let retransmitted = std::mem::take(&mut self.retransmitted);
        let Some(ext) = self.unwrapper.extend(seq) else {
            return;
        };
        match self.base_seq {
            None => {
                self.base_seq = Some(ext);
                self.max_seq = ext;
            }
            Some(base) => {
                if ext < base {
                    self.base_seq = Some(ext);
                }
                if ext > self.max_seq {
                    self.max_seq = ext;
                }
            }
        }
        if retransmitted {
            return;
        }
        // Jitter: arrival time in timestamp units.
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = (now.saturating_duration_since(epoch).as_micros() as u64)
            .wrapping_mul(self.clock_rate as u64)
            / 1_000_000;
        // RFC 3550 A.8 computes transit and its difference modulo 2^32, so that a timestamp
        // wrapping past 2^32 is one small step, not a jump of 2^32.
        let transit = (arrival as u32).wrapping_sub(ts);
        if let Some(last) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Packets expected from the sequence numbers seen.
    pub(crate) fn expected(&self) -> u64 {
        self.base_seq.map(|b| self.max_seq - b + 1).unwrap_or(0)
    }

    /// Cumulative packets lost (never negative here; duplicates can make it so in RFC 3550).
    pub(crate) fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.packets)
    }

    /// Interarrival jitter in timestamp units.
    pub(crate) fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }
}

/// `d` in ticks of a `clock_rate` Hz clock, modulo 2^32.
pub(crate) fn ticks(d: Duration, clock_rate: u32) -> u32 {
    (d.as_micros() * u128::from(clock_rate) / 1_000_000) as u32
}

/// Whether a packet of payload type `pt` starts a key frame of `codec`, a stream's media
/// payload type and the codec whose payload tells key frames apart.
pub(crate) fn starts_key_frame(codec: Option<(u8, KeyFrameCodec)>, pt: u8, payload: &[u8]) -> bool {
    codec.is_some_and(|(media_pt, codec)| pt == media_pt && codec.is_key_frame(payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_loss_across_wrap() {
        let t0 = Instant::now();
        let mut s = RtpStreamRecv::new(1, 48_000);
        for (i, seq) in [65_533u16, 65_534, 0, 1, 3].into_iter().enumerate() {
            s.receive(
                t0 + Duration::from_millis(20 * i as u64),
                seq,
                960 * i as u32,
                100,
            );
        }
        assert_eq!(s.expected(), 7);
        assert_eq!(s.lost(), 2);
        assert_eq!(s.packets, 5);
        assert_eq!(s.bytes, 500);
    }

    #[test]
    fn jitter_zero_for_perfect_pacing_and_grows_with_variation() {
        let t0 = Instant::now();
        let mut s = RtpStreamRecv::new(1, 48_000);
        for i in 0..50u32 {
            s.receive(
                t0 + Duration::from_millis(20 * i as u64),
                i as u16,
                960 * i,
                100,
            );
        }
        assert_eq!(s.jitter(), 0);
        for i in 50..100u32 {
            let wobble = if i % 2 == 0 { 5 } else { 0 };
            s.receive(
                t0 + Duration::from_millis(20 * i as u64 + wobble),
                i as u16,
                960 * i,
                100,
            );
        }
        assert!(s.jitter() > 0);
    }

    #[test]
    fn retransmissions_count_but_leave_jitter_alone() {
        let t0 = Instant::now();
        let mut s = RtpStreamRecv::new(1, 90_000);
        for i in [0u32, 1, 2, 4, 5] {
            s.receive(
                t0 + Duration::from_millis(30 * u64::from(i)),
                i as u16,
                2700 * i,
                100,
            );
        }
        assert_eq!((s.lost(), s.jitter()), (1, 0));
        // Packet 3, retransmitted 300 ms late.
        s.retransmitted = true;
        s.receive(t0 + Duration::from_millis(400), 3, 8100, 100);
        assert_eq!((s.lost(), s.jitter()), (0, 0));
        s.receive(t0 + Duration::from_millis(30 * 6), 6, 16_200, 100);
        assert_eq!(
            s.jitter(),
            0,
            "the next packet is measured against packet 5"
        );
    }

    #[test]
    fn jitter_ignores_timestamp_wrap() {
        let t0 = Instant::now();
        let mut s = RtpStreamRecv::new(1, 48_000);
        let base = u32::MAX - 960 * 10;
        for i in 0..40u32 {
            s.receive(
                t0 + Duration::from_millis(20 * i as u64),
                i as u16,
                base.wrapping_add(960 * i),
                100,
            );
        }
        assert_eq!(
            s.jitter(),
            0,
            "perfect pacing across the wrap has no jitter"
        );
    }
}
