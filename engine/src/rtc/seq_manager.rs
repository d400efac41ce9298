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
//!
//! A simulcast consumer switching to another layer resyncs too, with a timestamp offset
//! computed from the two layers' sender reports ([`SeqManager::resync_with`]): the new
//! layer's timestamps then land where the old layer's clock said they should. The offset is
//! taken only when it keeps the stream going forward, by no more than a second beyond the
//! time that passed since the last packet; otherwise (no reports, or reports that disagree)
//! the wall-clock rule above applies.
//!
//! "Older" is judged in RFC 1982 serial arithmetic, which only orders numbers less than half
//! the space (32 768) apart. So the stale point follows the stream: it stays at the resync
//! point until the newest input is [`STALE_WINDOW`] past it, then trails the newest input by
//! that much. A packet further behind than that is dropped as stale (at 1 000 packets/s that is
//! 16 s late); one arriving later than the resync point but within the window is forwarded.
//!
//! A NACK names output sequence numbers; [`SeqManager::input_seq`] maps one back to the
//! producer's while it lies in the current segment (from the resync point to the newest
//! output). Packets of an earlier segment are not found: their offsets are gone (and while a
//! resync is pending none are).

use std::time::Instant;

use crate::wire::rtp::seq_is_newer;

/// How far behind the newest input a packet may arrive and still be forwarded (a quarter of
/// the sequence space, well inside RFC 1982's half).
pub(crate) const STALE_WINDOW: u16 = 0x4000;

#[derive(Debug)]
pub(crate) struct SeqManager {
    clock_rate: u32,
    seq_offset: u16,
    ts_offset: u32,
    /// The next packet starts a new segment: recompute the offsets.
    resync: bool,
    /// A timestamp offset to use for that segment, if it keeps the stream monotonic.
    ts_hint: Option<u32>,
    /// Whether anything was sent yet (else the initial bases apply).
    started: bool,
    /// Input at or before which packets are stale: the resync point, then trailing `max_in_seq`
    /// by [`STALE_WINDOW`].
    sync_in_seq: u16,
    /// Newest input sequence number since the last resync.
    max_in_seq: u16,
    /// First output sequence number of the current segment.
    segment_out_seq: u16,
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
            ts_hint: None,
            started: false,
            sync_in_seq: 0,
            max_in_seq: 0,
            segment_out_seq: initial_seq,
            last_out_seq: initial_seq.wrapping_sub(1),
            last_out_ts: initial_ts,
            last_out_at: None,
        }
    }

    /// The next packet starts a new segment (after a pause or a source change).
    pub(crate) fn request_resync(&mut self) {
        self.resync = true;
        self.ts_hint = None;
    }

    /// The next packet starts a new segment whose timestamps should map with `ts_offset`
    /// when that is plausible (module docs), e.g. after a simulcast layer switch.
    pub(crate) fn resync_with(&mut self, ts_offset: Option<u32>) {
        self.resync = true;
        self.ts_hint = ts_offset;
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

    /// The input sequence number that became output `out_seq`, if that lies between the start
    /// of the current segment and the newest output (inclusive). `None` while a resync is
    /// pending: a simulcast consumer may already forward another layer, whose numbers the
    /// old offsets do not map.
    pub(crate) fn input_seq(&self, out_seq: u16) -> Option<u16> {
        let span = self.last_out_seq.wrapping_sub(self.segment_out_seq);
        (self.started && !self.resync && out_seq.wrapping_sub(self.segment_out_seq) <= span)
            .then(|| out_seq.wrapping_sub(self.seq_offset))
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
                let by_clock = self.last_out_ts.wrapping_add(ticks as u32);
                match self.ts_hint.take() {
                    Some(off) => {
                        let hinted = in_ts.wrapping_add(off);
                        let ahead = u64::from(hinted.wrapping_sub(self.last_out_ts));
                        if ahead > 0 && ahead <= ticks + u64::from(self.clock_rate) {
                            hinted
                        } else {
                            by_clock
                        }
                    }
                    None => by_clock,
                }
            } else {
                self.ts_hint = None;
                self.last_out_ts
            };
            self.seq_offset = base_seq.wrapping_sub(in_seq);
            self.segment_out_seq = base_seq;
            self.ts_offset = base_ts.wrapping_sub(in_ts);
            self.sync_in_seq = in_seq;
            self.max_in_seq = in_seq;
            self.resync = false;
            self.started = true;
        } else if in_seq != self.sync_in_seq && !seq_is_newer(in_seq, self.sync_in_seq) {
            return None;
        } else if seq_is_newer(in_seq, self.max_in_seq) {
            self.max_in_seq = in_seq;
            if in_seq.wrapping_sub(self.sync_in_seq) > STALE_WINDOW {
                self.sync_in_seq = in_seq.wrapping_sub(STALE_WINDOW);
            }
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

    /// A long stream: the stale point must follow it, or after 32 768 packets every packet would
    /// look older than the resync point (found by the bench harness at 20 000 packets/s).
    #[test]
    fn long_streams_keep_flowing_and_late_packets_within_the_window_pass() {
        let t0 = Instant::now();
        let mut m = SeqManager::new(90_000, 7, 0);
        let start: u16 = 60_000;
        for i in 0..200_000u32 {
            let in_seq = start.wrapping_add(i as u16);
            let out = m.rewrite(t0, in_seq, i * 3000);
            assert_eq!(
                out.map(|o| o.0),
                Some(7u16.wrapping_add(i as u16)),
                "packet {i} dropped"
            );
        }
        let newest = start.wrapping_add(199_999u32 as u16);
        // Reordered a little: forwarded with its own number.
        let late = newest.wrapping_sub(100);
        assert_eq!(
            m.rewrite(t0, late, 0).map(|o| o.0),
            Some(late.wrapping_add(7u16.wrapping_sub(start)))
        );
        // Further behind than the window: stale.
        assert_eq!(
            m.rewrite(t0, newest.wrapping_sub(STALE_WINDOW + 1), 0),
            None
        );
        // A resync still makes everything before it stale.
        m.request_resync();
        m.rewrite(t0, newest.wrapping_add(10), 0).unwrap();
        assert_eq!(m.rewrite(t0, newest.wrapping_add(9), 0), None);
    }

    #[test]
    fn input_seq_maps_the_current_segment_back() {
        let t0 = Instant::now();
        let mut m = SeqManager::new(90_000, 65_534, 0);
        assert_eq!(m.input_seq(65_534), None, "nothing sent yet");
        for i in 0..4u16 {
            m.rewrite(t0, 100 + i, 0).unwrap();
        }
        // Out 65534, 65535, 0, 1 for in 100..=103.
        assert_eq!(m.input_seq(65_534), Some(100));
        assert_eq!(m.input_seq(1), Some(103));
        assert_eq!(m.input_seq(2), None, "not sent yet");
        assert_eq!(m.input_seq(65_533), None, "before the segment");
        m.request_resync();
        assert_eq!(
            m.input_seq(0),
            None,
            "no mapping until the next segment starts"
        );
        m.rewrite(t0, 500, 0).unwrap();
        assert_eq!(m.input_seq(2), Some(500));
        assert_eq!(m.input_seq(1), None, "previous segment");
    }

    #[test]
    fn sequence_wraps() {
        let t0 = Instant::now();
        let mut m = SeqManager::new(90_000, 0, 0);
        m.rewrite(t0, 65_535, 0).unwrap();
        assert_eq!(m.rewrite(t0, 0, 3000), Some((1, 3000)));
    }
}
