//! Sequence number and timestamp rewriting for one consumer (mediasoup's `RtpSeqManager` plus
//! the timestamp offset of its consumers).
//!
//! A consumer sends its own continuous RTP stream: its own random initial sequence number and
//! timestamp, then the producer's numbers shifted by fixed offsets. When the stream resumes
//! after a pause (of the consumer or of the producer) the offsets are recomputed so that the
//! next sequence number is exactly one more than the last one sent — no gap that a receiver's
//! jitter buffer would count as loss — and the timestamp advances by the wall-clock time that
//! passed, so the receiver's playout clock stays right. Packets older than the resync point are
//! dropped: sending them would make the stream go backwards.

use std::time::Instant;

use crate::wire::rtp::seq_is_newer;

#[derive(Debug)]
pub(crate) struct SeqManager {
    clock_rate: u32,
    seq_offset: u16,
    ts_offset: u32,
    /// The next packet starts a new segment: recompute the offsets.
    resync: bool,
    /// Whether anything was sent yet (else the initial bases apply).
    started: bool,
    /// Input sequence number at the last resync; older input is stale.
    sync_in_seq: u16,
    last_out_seq: u16,
    last_out_ts: u32,
    last_out_at: Option<Instant>,
}

impl SeqManager {
    /// `initial_seq`/`initial_ts` are the consumer's first output values (random in production).
    pub(crate) fn new(clock_rate: u32, initial_seq: u16, initial_ts: u32) -> Self {
        Self {
            clock_rate,
            seq_offset: 0,
            ts_offset: 0,
            resync: true,
            started: false,
            sync_in_seq: 0,
            last_out_seq: initial_seq.wrapping_sub(1),
            last_out_ts: initial_ts,
            last_out_at: None,
        }
    }

    /// The next packet starts a new segment (after a pause or a source change).
    pub(crate) fn request_resync(&mut self) {
        self.resync = true;
    }

    /// Whether the next packet starts a new segment (its offsets are not known yet).
    pub(crate) fn resync_pending(&self) -> bool {
        self.resync
    }

    /// What is added to an input timestamp to make the output one, once anything was sent:
    /// how a producer's RTP clock maps onto this consumer's (sender reports, RFC 3550 §6.4.1).
    pub(crate) fn ts_offset(&self) -> Option<u32> {
        self.started.then_some(self.ts_offset)
    }

    /// The newest output timestamp and when it was sent.
    pub(crate) fn last_sent(&self) -> Option<(u32, Instant)> {
        self.last_out_at.map(|at| (self.last_out_ts, at))
    }

    /// Output `(sequence, timestamp)` for an input packet, or `None` if it is stale.
    #[inline]
    pub(crate) fn rewrite(&mut self, now: Instant, in_seq: u16, in_ts: u32) -> Option<(u16, u32)> {
        if self.resync {
            let base_seq = self.last_out_seq.wrapping_add(1);
            let base_ts = if self.started {
                let elapsed = self
                    .last_out_at
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or_default();
                let ticks =
                    (elapsed.as_micros() as u64 * self.clock_rate as u64 / 1_000_000).max(1);
                self.last_out_ts.wrapping_add(ticks as u32)
            } else {
                self.last_out_ts
            };
            self.seq_offset = base_seq.wrapping_sub(in_seq);
            self.ts_offset = base_ts.wrapping_sub(in_ts);
            self.sync_in_seq = in_seq;
            self.resync = false;
            self.started = true;
        } else if in_seq != self.sync_in_seq && !seq_is_newer(in_seq, self.sync_in_seq) {
            return None;
        }
        let out_seq = in_seq.wrapping_add(self.seq_offset);
        let out_ts = in_ts.wrapping_add(self.ts_offset);
        if out_seq == self.last_out_seq.wrapping_add(1) || seq_is_newer(out_seq, self.last_out_seq)
        {
            self.last_out_seq = out_seq;
            self.last_out_ts = out_ts;
            self.last_out_at = Some(now);
        }
        Some((out_seq, out_ts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn starts_at_initial_values_and_follows_input() {
        let t0 = Instant::now();
        let mut m = SeqManager::new(48_000, 1000, 5000);
        assert_eq!(m.rewrite(t0, 40_000, 123), Some((1000, 5000)));
        assert_eq!(m.rewrite(t0, 40_001, 1083), Some((1001, 5960)));
        // reordered but newer than the sync point: forwarded with the same offset
        assert_eq!(m.rewrite(t0, 40_003, 2043), Some((1003, 6920)));
        assert_eq!(m.rewrite(t0, 40_002, 1563), Some((1002, 6440)));
        assert_eq!(m.last_out_seq, 1003);
    }

    #[test]
    fn resume_continues_sequence_without_gap_and_advances_time() {
        let t0 = Instant::now();
        let mut m = SeqManager::new(48_000, 65_534, 0);
        for i in 0..3u16 {
            m.rewrite(
                t0 + Duration::from_millis(20 * i as u64),
                100 + i,
                960 * i as u32,
            )
            .unwrap();
        }
        // last out: seq 0 (wrapped), ts 1920 at t0+40ms. Pause; input continues to 500.
        m.request_resync();
        let t1 = t0 + Duration::from_millis(1040);
        let (s, ts) = m.rewrite(t1, 500, 999_999).unwrap();
        assert_eq!(s, 1, "sequence continues right after the last one sent");
        assert_eq!(
            ts,
            1920 + 48_000,
            "timestamp advances by the 1 s that passed"
        );
        // packets from before the resync point are stale
        assert_eq!(m.rewrite(t1, 499, 0), None);
        assert_eq!(
            m.rewrite(t1, 501, 999_999 + 960),
            Some((2, 1920 + 48_000 + 960))
        );
    }

    #[test]
    fn sequence_wraps() {
        let t0 = Instant::now();
        let mut m = SeqManager::new(90_000, 0, 0);
        m.rewrite(t0, 65_535, 0).unwrap();
        assert_eq!(m.rewrite(t0, 0, 3000), Some((1, 3000)));
    }
}
