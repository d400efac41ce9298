//! What a receiving client knows about one RTP source, and the RTCP receiver report block it
//! sends about it (RFC 3550 §6.4.1, §6.4.2).
//!
//! The arithmetic is RFC 3550's own, as its appendices give it:
//!
//! - **Extended highest sequence number** (§A.1): the highest sequence number seen, with the
//!   number of 16-bit wraps in the high half; a packet counts as newer when it is less than
//!   half the sequence space ahead (reordered and duplicate packets leave it alone). The
//!   probation of A.1 (a new source must deliver two packets in order) is left out: the
//!   harness knows its sources.
//! - **Cumulative lost** (§A.3): expected (extended highest − first + 1) minus received, where
//!   received counts duplicates too, so it may go negative; sent as a 24-bit two's complement
//!   number, clamped to −2²³ … 2²³ − 1 (§6.4.1).
//! - **Fraction lost** (§A.3): the packets lost since the previous report over those expected
//!   since then, as an 8-bit fixed-point fraction (`lost_interval << 8 / expected_interval`),
//!   0 when nothing was expected or duplicates outnumbered the losses.
//! - **Interarrival jitter** (§6.4.1, §A.8): with the transit time `arrival − RTP timestamp`
//!   in timestamp units, `J += (|D| − J) / 16` per packet, D the change of transit between two
//!   consecutive arrivals; kept scaled by 16 in an integer as A.8's second form does
//!   (`J += |D| − ((J + 8) >> 4)`), sent as `J >> 4`. The first packet only sets the transit
//!   (A.8's code would start from a transit of 0 and count the whole first transit as D).
//!   The arrival clock is the receiver's own, converted to the codec's clock rate; a constant
//!   offset (the SFU's timestamp rewrite, the two clocks' epochs) cancels out of D.
//!
//! Last SR and delay since last SR are 0: the harness does not track the SFU's sender reports
//! (§6.4.1 allows 0 when no SR was received).

use std::time::Duration;

/// Report blocks per RR packet (the 5-bit RC field, RFC 3550 §6.4.2).
pub const MAX_BLOCKS: usize = 31;

/// Largest and smallest cumulative loss a report block carries (24-bit signed, §6.4.1).
const LOST_MAX: i64 = 0x7f_ffff;
const LOST_MIN: i64 = -0x80_0000;

/// Reception state of one source (RFC 3550 §A.1's `source` structure, without probation).
#[derive(Clone, Copy, Debug, Default)]
pub struct Reception {
    base_seq: Option<u16>,
    max_seq: u16,
    /// Wraps of the sequence number, shifted left by 16 (A.1's `cycles`).
    cycles: u32,
    /// Packets received, duplicates included (A.1's `received`).
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// The previous packet's transit time, timestamp units.
    transit: Option<u32>,
    /// Jitter × 16, timestamp units (A.8).
    jitter_q4: u32,
}

/// One report block's figures (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost, clamped to 24-bit signed.
    pub cumulative_lost: i32,
    pub extended_max: u32,
    /// Interarrival jitter, timestamp units.
    pub jitter: u32,
}

/// `elapsed` on a clock of `clock_rate` Hz, modulo 2³² (the arrival time of A.8, in the units
/// of the RTP timestamp).
pub fn arrival_units(elapsed: Duration, clock_rate: u32) -> u32 {
    let ticks = elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
    ticks as u32
}

impl Reception {
    /// Files one received packet: its sequence number, its RTP timestamp and its arrival time
    /// in the same units.
    pub fn on_packet(&mut self, seq: u16, rtp_ts: u32, arrival: u32) {
        self.received += 1;
        match self.base_seq {
            None => {
                self.base_seq = Some(seq);
                self.max_seq = seq;
            }
            Some(_) => {
                let delta = seq.wrapping_sub(self.max_seq);
                if delta != 0 && delta < 0x8000 {
                    if seq < self.max_seq {
                        self.cycles = self.cycles.wrapping_add(1 << 16);
                    }
                    self.max_seq = seq;
                }
            }
        }
        let transit = arrival.wrapping_sub(rtp_ts);
        if let Some(prev) = self.transit {
            // Transit times are compared modulo 2³², as A.8's `int` arithmetic does.
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            self.jitter_q4 = self
                .jitter_q4
                .wrapping_add(d)
                .wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// Extended highest sequence number received (A.1).
    pub fn extended_max(&self) -> u32 {
        self.cycles | u32::from(self.max_seq)
    }

    /// Packets expected so far: extended highest − first + 1 (A.3); 0 before the first.
    pub fn expected(&self) -> u64 {
        match self.base_seq {
            None => 0,
            Some(base) => u64::from(self.extended_max()) - u64::from(base) + 1,
        }
    }

    /// Expected minus received, clamped to what a report block carries.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i64 - self.received as i64;
        lost.clamp(LOST_MIN, LOST_MAX) as i32
    }

    /// Interarrival jitter, timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// The block for the next report, and the start of the next interval; `None` before the
    /// first packet (§6.4.1: a block is about a source heard from).
    pub fn report(&mut self, ssrc: u32) -> Option<ReportBlock> {
        self.base_seq?;
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            extended_max: self.extended_max(),
            jitter: self.jitter(),
        })
    }
}

/// Writes one RTCP receiver report (RFC 3550 §6.4.2) from `sender_ssrc` with up to
/// [`MAX_BLOCKS`] of `blocks`; returns its length, 0 when `buf` is too small.
pub fn write_rr(buf: &mut [u8], sender_ssrc: u32, blocks: &[ReportBlock]) -> usize {
    let n = blocks.len().min(MAX_BLOCKS);
    let len = 8 + 24 * n;
    if buf.len() < len {
        return 0;
    }
    buf[0] = 0x80 | n as u8;
    buf[1] = 201;
    buf[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
    buf[4..8].copy_from_slice(&sender_ssrc.to_be_bytes());
    for (i, blk) in blocks.iter().take(n).enumerate() {
        let b = &mut buf[8 + 24 * i..8 + 24 * (i + 1)];
        b[0..4].copy_from_slice(&blk.ssrc.to_be_bytes());
        b[4] = blk.fraction_lost;
        // Two's complement in 24 bits: the low three bytes of the 32-bit value.
        b[5..8].copy_from_slice(&blk.cumulative_lost.to_be_bytes()[1..]);
        b[8..12].copy_from_slice(&blk.extended_max.to_be_bytes());
        b[12..16].copy_from_slice(&blk.jitter.to_be_bytes());
        // Last SR and delay since last SR: none tracked.
        b[16..24].fill(0);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets with the given sequence numbers, 20 ms of a 48 kHz clock apart, arriving on time.
    fn receive(r: &mut Reception, seqs: &[u16]) {
        for &s in seqs {
            let ts = u32::from(s) * 960;
            r.on_packet(s, ts, ts.wrapping_add(5_000));
        }
    }

    #[test]
    fn fraction_and_cumulative_lost_per_interval() {
        let mut r = Reception::default();
        assert_eq!(r.report(1), None, "no block before the first packet");
        // 100..=104 without 102: expected 5, received 4.
        receive(&mut r, &[100, 101, 103, 104]);
        let b = r.report(7).unwrap();
        assert_eq!(b.ssrc, 7);
        assert_eq!(b.extended_max, 104);
        assert_eq!(b.cumulative_lost, 1);
        assert_eq!(b.fraction_lost, 51, "1 of 5 → 256 / 5 = 51");
        // 105..=108, none lost: the fraction is of this interval only.
        receive(&mut r, &[105, 106, 107, 108]);
        let b = r.report(7).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 1));
        // 109 and 112: 4 expected, 2 received → 2 × 256 / 4 = 128.
        receive(&mut r, &[109, 112]);
        let b = r.report(7).unwrap();
        assert_eq!(
            (b.fraction_lost, b.cumulative_lost, b.extended_max),
            (128, 3, 112)
        );
        // Nothing new: nothing expected, fraction 0.
        assert_eq!(r.report(7).unwrap().fraction_lost, 0);
        // A late 110 lowers the cumulative loss; duplicates outnumbering losses give fraction 0.
        receive(&mut r, &[110]);
        let b = r.report(7).unwrap();
        assert_eq!((b.fraction_lost, b.cumulative_lost), (0, 2));
    }

    #[test]
    fn duplicates_make_the_loss_negative_and_large_losses_clamp() {
        let mut r = Reception::default();
        receive(&mut r, &[5, 5, 6]);
        assert_eq!(r.expected(), 2);
        assert_eq!(r.cumulative_lost(), -1);
        let b = r.report(1).unwrap();
        assert_eq!(b.fraction_lost, 0);
        let mut buf = [0u8; 64];
        assert_eq!(write_rr(&mut buf, 9, &[b]), 32);
        assert_eq!(&buf[13..16], &[0xff, 0xff, 0xff], "−1 in 24 bits");
        // 2²⁴ + 10 expected, 2 received: clamped to 2²³ − 1.
        let mut big = Reception::default();
        big.on_packet(0, 0, 0);
        big.cycles = 256 << 16;
        big.max_seq = 10;
        big.received = 2;
        assert_eq!(big.expected(), (1 << 24) + 11);
        assert_eq!(big.cumulative_lost(), 0x7f_ffff);
        let b = big.report(1).unwrap();
        assert_eq!(b.fraction_lost, 255, "2 of 2^24 + 11 received: 255/256");
        write_rr(&mut buf, 9, &[b]);
        assert_eq!(&buf[13..16], &[0x7f, 0xff, 0xff]);
    }

    #[test]
    fn extended_sequence_counts_wraps_and_ignores_reordering() {
        let mut r = Reception::default();
        receive(&mut r, &[65534, 65535, 0, 65533, 1, 2]);
        assert_eq!(r.extended_max(), 0x1_0002);
        // From 65534 to 65536 + 2: 5 expected, 6 received (65533 is older than the first).
        assert_eq!(r.expected(), 5);
        assert_eq!(r.cumulative_lost(), -1);
    }

    #[test]
    fn jitter_follows_rfc3550_a8() {
        // Transit 1000, 1000, 1010, 1000 on an 8 kHz clock: |D| = 0, 10, 10.
        // J×16: 0 → 0 + 0 − 0 = 0 → 0 + 10 − (8 >> 4) = 10 → 10 + 10 − (18 >> 4) = 19; J = 1.
        let mut r = Reception::default();
        for (ts, arrival) in [(0, 1000), (160, 1160), (320, 1330), (480, 1480)] {
            r.on_packet((ts / 160) as u16, ts, arrival);
        }
        assert_eq!(r.jitter_q4, 19);
        assert_eq!(r.jitter(), 1);
        // |D| = 100 every packet: J×16 = 100, 194, 282 (float: 6.25, 12.1, 17.6); J = 17.
        let mut r = Reception::default();
        for k in 0..4u32 {
            let ts = k * 960;
            r.on_packet(k as u16, ts, ts + if k % 2 == 0 { 0 } else { 100 });
        }
        assert_eq!(r.jitter_q4, 282);
        assert_eq!(r.jitter(), 17);
        // It converges on |D|, and a steady flow has none, across the 2³² wrap of both clocks.
        for k in 4..400u32 {
            let ts = k * 960;
            r.on_packet(k as u16, ts, ts + if k % 2 == 0 { 0 } else { 100 });
        }
        assert!((98..=100).contains(&r.jitter()), "{}", r.jitter());
        let mut steady = Reception::default();
        for k in 0..50u32 {
            let ts = (u32::MAX - 10_000).wrapping_add(k * 960);
            steady.on_packet(k as u16, ts, ts.wrapping_add(3_000_000_000));
        }
        assert_eq!(steady.jitter(), 0);
    }

    #[test]
    fn arrival_is_counted_in_timestamp_units() {
        assert_eq!(arrival_units(Duration::from_millis(20), 48_000), 960);
        assert_eq!(arrival_units(Duration::from_secs(1), 90_000), 90_000);
        // 2³² ticks of 90 kHz is ~13.3 h: the count wraps as RTP timestamps do.
        let wrap = Duration::from_nanos((1u64 << 32) * 1_000_000_000 / 90_000 + 1_000_000);
        assert!(arrival_units(wrap, 90_000) < 100);
    }

    #[test]
    fn receiver_report_layout() {
        let mut buf = [0u8; 1500];
        let blocks: Vec<ReportBlock> = (0..40)
            .map(|i| ReportBlock {
                ssrc: 100 + i,
                fraction_lost: i as u8,
                cumulative_lost: i as i32,
                extended_max: 0x1_0005,
                jitter: 0x0102_0304,
            })
            .collect();
        let n = write_rr(&mut buf, 0xfeed, &blocks);
        assert_eq!(n, 8 + 24 * 31, "at most 31 blocks");
        assert_eq!(buf[0], 0x80 | 31);
        assert_eq!(buf[1], 201);
        assert_eq!(usize::from(u16::from_be_bytes([buf[2], buf[3]])), n / 4 - 1);
        assert_eq!(&buf[4..8], &0xfeedu32.to_be_bytes());
        let b1 = &buf[8 + 24..8 + 48];
        assert_eq!(&b1[0..4], &101u32.to_be_bytes());
        assert_eq!(b1[4], 1, "fraction lost");
        assert_eq!(&b1[5..8], &[0, 0, 1], "cumulative lost, 24 bits");
        assert_eq!(&b1[8..12], &0x1_0005u32.to_be_bytes());
        assert_eq!(&b1[12..16], &[1, 2, 3, 4], "jitter");
        assert_eq!(&b1[16..24], &[0; 8], "no LSR, DLSR");
        assert_eq!(
            write_rr(&mut buf[..20], 1, &blocks[..1]),
            0,
            "too small a buffer"
        );
    }
}
