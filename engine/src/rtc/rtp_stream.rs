//! Receive-side statistics of one RTP stream (mediasoup's `RtpStreamRecv`): packets, bytes,
//! the extended highest sequence number, expected and lost packets (RFC 3550 §6.4.1, A.3) and
//! interarrival jitter (RFC 3550 §6.4.1, A.8).

use std::time::Instant;

use crate::wire::rtp::SeqUnwrapper;

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
}

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
        }
    }

    #[inline]
    pub(crate) fn receive(&mut self, now: Instant, seq: u16, ts: u32, len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
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
