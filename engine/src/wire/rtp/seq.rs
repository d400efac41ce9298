//! RFC 1982 serial-number arithmetic on RTP's wrapping counters: comparison of 16-bit sequence
//! numbers and 32-bit timestamps (RFC 3550 §5.1, Appendix A.1), and unwrappers that extend them to
//! 64 bits for the SFU's bookkeeping (NACK history, ordering, extended highest sequence number).

/// RFC 1982 serial-number comparison on 16-bit sequence numbers: is `a` newer than `b`?
///
/// `a` is newer when it is ahead of `b` by 1..2^15 (modulo 2^16). At exactly 2^15 apart the RFC
/// leaves the order undefined; as libwebrtc does, the numerically larger one is then newer, so the
/// relation stays antisymmetric.
pub fn seq_is_newer(a: u16, b: u16) -> bool {
    let d = a.wrapping_sub(b);
    if d == 0x8000 {
        a > b
    } else {
        d != 0 && d < 0x8000
    }
}

/// RFC 1982 serial-number comparison on 32-bit RTP timestamps: is `a` newer than `b`?
pub fn timestamp_is_newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    if d == 0x8000_0000 {
        a > b
    } else {
        d != 0 && d < 0x8000_0000
    }
}

/// Extends wrapping counters to 64 bits: the value nearest (in serial arithmetic) to the newest
/// one seen so far. `BITS` is 16 or 32.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Unwrapper<const BITS: u32> {
    /// The newest extended value seen.
    newest: Option<u64>,
}

impl<const BITS: u32> Unwrapper<BITS> {
    fn extend(&mut self, v: u64) -> Option<u64> {
        let Some(newest) = self.newest else {
            self.newest = Some(v);
            return Some(v);
        };
        let modulus = 1u64 << BITS;
        let mask = modulus - 1;
        let forward = v.wrapping_sub(newest) & mask;
        let half = modulus >> 1;
        if forward == 0 {
            Some(newest)
        } else if forward < half || (forward == half && v > newest & mask) {
            let ext = newest + forward;
            self.newest = Some(ext);
            Some(ext)
        } else {
            newest.checked_sub(modulus - forward)
        }
    }
}

/// Extends 16-bit RTP sequence numbers to `u64`, across wrap-around and with reordering of up to
/// ±2^15 packets. The first value seen is taken as is (cycle 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqUnwrapper(Unwrapper<16>);

impl SeqUnwrapper {
    /// A fresh unwrapper.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq`. `None` only for a packet older than the first one seen that
    /// would fall below zero (it predates the stream as far as this unwrapper knows).
    pub fn extend(&mut self, seq: u16) -> Option<u64> {
        self.0.extend(u64::from(seq))
    }

    /// The newest extended value seen so far.
    pub fn newest(&self) -> Option<u64> {
        self.0.newest
    }
}

/// Extends 32-bit RTP timestamps to `u64`, across wrap-around and with jumps of up to ±2^31.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimestampUnwrapper(Unwrapper<32>);

impl TimestampUnwrapper {
    /// A fresh unwrapper.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `ts`; `None` as for [`SeqUnwrapper::extend`].
    pub fn extend(&mut self, ts: u32) -> Option<u64> {
        self.0.extend(u64::from(ts))
    }

    /// The newest extended value seen so far.
    pub fn newest(&self) -> Option<u64> {
        self.0.newest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_arithmetic() {
        assert!(seq_is_newer(1, 0));
        assert!(!seq_is_newer(0, 1));
        assert!(!seq_is_newer(5, 5));
        assert!(seq_is_newer(0, 65535));
        assert!(seq_is_newer(10, 65530));
        assert!(!seq_is_newer(65530, 10));
        assert!(seq_is_newer(0x7fff, 0));
        // Exactly half apart: larger is newer, antisymmetric.
        assert!(seq_is_newer(0x8000, 0));
        assert!(!seq_is_newer(0, 0x8000));
        assert!(timestamp_is_newer(5, u32::MAX - 5));
        assert!(!timestamp_is_newer(u32::MAX - 5, 5));
        assert!(timestamp_is_newer(0x8000_0000, 0));
        assert!(!timestamp_is_newer(0, 0x8000_0000));
    }

    #[test]
    fn seq_unwrapper_across_wrap_and_reorder() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.extend(65533), Some(65533));
        assert_eq!(u.extend(65535), Some(65535));
        assert_eq!(u.extend(0), Some(65536));
        assert_eq!(u.extend(65534), Some(65534)); // reordered, before the wrap
        assert_eq!(u.extend(2), Some(65538));
        assert_eq!(u.extend(1), Some(65537));
        assert_eq!(u.newest(), Some(65538));
        assert_eq!(u.extend(2), Some(65538));
        // Forward jump just under half a cycle.
        assert_eq!(u.extend(2 + 0x7fff), Some(65538 + 0x7fff));
        // Many cycles.
        let mut u = SeqUnwrapper::new();
        let mut expect = 100u64;
        u.extend(100);
        for _ in 0..300_000 {
            expect += 1000;
            assert_eq!(u.extend(expect as u16), Some(expect));
        }
        // Older than the first packet, below zero.
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.extend(3), Some(3));
        assert_eq!(u.extend(65535), None);
        assert_eq!(u.extend(2), Some(2));
        assert_eq!(u.extend(4), Some(4));
    }

    #[test]
    fn timestamp_unwrapper_across_wrap() {
        let mut u = TimestampUnwrapper::new();
        assert_eq!(u.extend(u32::MAX - 959), Some(u64::from(u32::MAX) - 959));
        assert_eq!(u.extend(0), Some(1u64 << 32));
        assert_eq!(u.extend(u32::MAX), Some(u64::from(u32::MAX)));
        assert_eq!(u.extend(960), Some((1u64 << 32) + 960));
    }
}
