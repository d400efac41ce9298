//! Loss detection on a producer's video stream, for the NACKs Sluice sends to the producer's
//! endpoint (mediasoup's `NackGenerator`; RFC 4585 §6.2.1 generic NACK, RFC 4588 RTX for the
//! answers).
//!
//! Every media packet's sequence number goes through [`NackGenerator::received`]. A jump past
//! the newest one marks the numbers in between missing; a packet older than the newest either
//! fills one of them (recovered: reordered, or a retransmission) or is a duplicate. The timer
//! ([`NackGenerator::due`]) then asks for each missing packet:
//! - first [`NACK_DELAY`] after it was found missing (a packet reordered by less than that
//!   costs no NACK),
//! - again every round trip ([`crate::rtc::rtp_stream_send::DEFAULT_RTT`]: Sluice has no RTT
//!   for a producer's leg, which sends it no sender reports to measure one) while unanswered,
//! - until [`MAX_RETRIES`] requests or [`MAX_AGE`] passed: later than that the consumers'
//!   jitter buffers gave up on it. A key frame ([`NackGenerator::key_frame`]) ends the wait for
//!   everything before it: the decoder no longer needs those packets.
//!
//! Missing packets live in a ring of [`CAPACITY`] slots indexed by sequence number, allocated
//! with the stream (`CAPACITY × 24` B ≈ 6 KiB per video stream); nothing allocates per packet.
//! A gap wider than the ring is not asked for packet by packet: [`Gap::TooMany`] tells the
//! caller to ask for a key frame instead, as mediasoup does past its `MaxNackPackets`.
//!
//! RTX packets are unwrapped by the caller and fed back here as what they repair: only one
//! that fills a missing number is forwarded ([`NackGenerator::is_missing`]), so a duplicate
//! retransmission never reaches consumers twice.

use std::time::{Duration, Instant};

use super::rtp_stream_send::DEFAULT_RTT;
use crate::wire::rtp::seq_is_newer;

/// Slots of the ring of missing packets (a power of two dividing 2^16).
pub(crate) const CAPACITY: usize = 256;
/// Wait before the first NACK for a missing packet.
pub(crate) const NACK_DELAY: Duration = Duration::from_millis(10);
/// Requests per missing packet at most.
pub(crate) const MAX_RETRIES: u8 = 10;
/// How long a missing packet is asked for.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, Default)]
struct Missing {
    seq: u16,
    /// When it was found missing; `None`: the slot is empty.
    since: Option<Instant>,
    /// When it was last asked for.
    sent_at: Option<Instant>,
    retries: u8,
}

/// What a packet's sequence number told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gap {
    /// The next one, a duplicate or an old one: nothing new missing.
    None,
    /// Packets before it are missing: the timer has work.
    Missing,
    /// More are missing than can be asked for: ask for a key frame.
    TooMany,
    /// It fills a missing number.
    Recovered,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct NackGenerator {
    /// The newest sequence number, once a packet arrived.
    newest: Option<u16>,
    missing: Box<[Missing]>,
    pending: usize,
    /// NACK packets sent for this stream.
    pub(crate) nacks: u64,
    /// NACK requests made (one per missing packet and attempt).
    pub(crate) requested: u64,
    /// Missing packets that arrived later.
    pub(crate) recovered: u64,
    /// Missing packets given up (too old, too many retries, before a key frame, or evicted).
    pub(crate) given_up: u64,
}

impl Default for NackGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl NackGenerator {
    pub(crate) fn new() -> Self {
        Self {
            newest: None,
            missing: vec![Missing::default(); CAPACITY].into_boxed_slice(),
            pending: 0,
            nacks: 0,
            requested: 0,
            recovered: 0,
            given_up: 0,
        }
    }

    /// Whether any packet is waiting to be asked for.
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending > 0
    }

    /// Whether `seq` is a missing packet (so its retransmission is wanted).
    #[inline]
    pub(crate) fn is_missing(&self, seq: u16) -> bool {
        let m = &self.missing[usize::from(seq) % CAPACITY];
        m.since.is_some() && m.seq == seq
    }

    fn clear_slot(&mut self, i: usize) {
        if self.missing[i].since.take().is_some() {
            self.pending -= 1;
        }
    }

    /// Takes in a media packet's sequence number at `now`.
    #[inline]
    pub(crate) fn received(&mut self, now: Instant, seq: u16) -> Gap {
        let Some(newest) = self.newest else {
            self.newest = Some(seq);
            return Gap::None;
        };
        if seq_is_newer(seq, newest) {
            self.newest = Some(seq);
            let gap = usize::from(seq.wrapping_sub(newest)) - 1;
            if gap == 0 {
                return Gap::None;
            }
            if gap > CAPACITY {
                self.given_up += self.pending as u64;
                self.reset();
                return Gap::TooMany;
            }
            for k in 1..=gap {
                // k ≤ CAPACITY < 2^16.
                let s = newest.wrapping_add(k as u16);
                let i = usize::from(s) % CAPACITY;
                if self.missing[i].since.is_some() {
                    // A packet CAPACITY older, still missing: its slot is needed.
                    self.given_up += 1;
                } else {
                    self.pending += 1;
                }
                self.missing[i] = Missing {
                    seq: s,
                    since: Some(now),
                    sent_at: None,
                    retries: 0,
                };
            }
            return Gap::Missing;
        }
        if self.is_missing(seq) {
            self.clear_slot(usize::from(seq) % CAPACITY);
            self.recovered += 1;
            return Gap::Recovered;
        }
        Gap::None
    }

    /// A key frame starts at `seq`: what is missing before it is no longer wanted.
    pub(crate) fn key_frame(&mut self, seq: u16) {
        if self.pending == 0 {
            return;
        }
        for i in 0..CAPACITY {
            let m = self.missing[i];
            if m.since.is_some() && seq_is_newer(seq, m.seq) {
                self.clear_slot(i);
                self.given_up += 1;
            }
        }
    }

    /// Forgets everything missing (after a gap too wide to ask for).
    fn reset(&mut self) {
        for m in self.missing.iter_mut() {
            m.since = None;
        }
        self.pending = 0;
    }

    /// Writes into `out` the sequence numbers to ask for at `now`, oldest first, and marks
    /// them asked; drops those asked for too often or too long. Returns how many it wrote.
    pub(crate) fn due(&mut self, now: Instant, out: &mut [u16; CAPACITY]) -> usize {
        let Some(newest) = self.newest.filter(|_| self.pending > 0) else {
            return 0;
        };
        let mut n = 0;
        // Oldest first: the slots in sequence order, ending at the newest.
        for k in (1..=CAPACITY).rev() {
            let s = newest.wrapping_sub(k as u16);
            let i = usize::from(s) % CAPACITY;
            let m = self.missing[i];
            let Some(since) = m.since.filter(|_| m.seq == s) else {
                continue;
            };
            if m.retries >= MAX_RETRIES || now.saturating_duration_since(since) >= MAX_AGE {
                self.clear_slot(i);
                self.given_up += 1;
                continue;
            }
            let ready = match m.sent_at {
                None => now.saturating_duration_since(since) >= NACK_DELAY,
                Some(at) => now.saturating_duration_since(at) >= DEFAULT_RTT,
            };
            if ready {
                let m = &mut self.missing[i];
                m.sent_at = Some(now);
                m.retries += 1;
                out[n] = s;
                n += 1;
            }
        }
        self.requested += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(g: &mut NackGenerator, now: Instant) -> Vec<u16> {
        let mut out = [0u16; CAPACITY];
        let n = g.due(now, &mut out);
        out[..n].to_vec()
    }

    #[test]
    fn asks_for_gaps_after_a_delay_then_every_round_trip_until_recovered() {
        let t0 = Instant::now();
        let mut g = NackGenerator::new();
        assert_eq!(g.received(t0, 65_534), Gap::None);
        assert_eq!(g.received(t0, 65_535), Gap::None);
        // 0, 1 and 3 lost across the wrap.
        assert_eq!(g.received(t0, 2), Gap::Missing);
        assert_eq!(g.received(t0, 4), Gap::Missing);
        assert!(due(&mut g, t0).is_empty(), "not before NACK_DELAY");
        assert_eq!(due(&mut g, t0 + NACK_DELAY), vec![0, 1, 3]);
        assert!(due(&mut g, t0 + NACK_DELAY * 2).is_empty());
        assert_eq!(g.received(t0, 1), Gap::Recovered);
        assert_eq!(
            g.received(t0, 1),
            Gap::None,
            "a duplicate is not recovered twice"
        );
        assert!(!g.is_missing(1) && g.is_missing(3));
        assert_eq!(due(&mut g, t0 + NACK_DELAY + DEFAULT_RTT), vec![0, 3]);
        assert_eq!((g.requested, g.recovered), (5, 1));
    }

    #[test]
    fn gives_up_after_retries_age_or_a_key_frame() {
        let t0 = Instant::now();
        let mut g = NackGenerator::new();
        g.received(t0, 10);
        g.received(t0, 13);
        for r in 0..MAX_RETRIES {
            let at = t0 + NACK_DELAY + DEFAULT_RTT * u32::from(r);
            assert_eq!(due(&mut g, at), vec![11, 12], "attempt {r}");
        }
        assert!(due(&mut g, t0 + MAX_AGE / 2 + DEFAULT_RTT * 10).is_empty());
        assert!(!g.has_pending());

        g.received(t0, 15);
        assert!(due(&mut g, t0 + MAX_AGE).is_empty(), "too old");
        assert!(!g.has_pending());

        g.received(t0, 17);
        g.received(t0, 20);
        g.key_frame(19);
        assert!(g.is_missing(19) && !g.is_missing(16) && !g.is_missing(18));
        assert_eq!(g.given_up, 2 + 1 + 2);
    }

    #[test]
    fn a_gap_wider_than_the_ring_asks_for_a_key_frame() {
        let t0 = Instant::now();
        let mut g = NackGenerator::new();
        g.received(t0, 0);
        g.received(t0, 2);
        assert_eq!(g.received(t0, 3 + CAPACITY as u16 + 1), Gap::TooMany);
        assert!(!g.has_pending());
        assert!(due(&mut g, t0 + NACK_DELAY).is_empty());
        // Exactly CAPACITY missing still fits.
        let newest = 3 + CAPACITY as u16 + 1;
        assert_eq!(g.received(t0, newest + CAPACITY as u16 + 1), Gap::Missing);
        assert_eq!(due(&mut g, t0 + NACK_DELAY).len(), CAPACITY);
    }
}
