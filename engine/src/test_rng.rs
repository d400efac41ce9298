//! The pseudo-random generator of the robustness tests (`wire::fuzz_tests`,
//! `wire::stun::fuzz_tests`, `crypto::srtp::tests`): xorshift64 (Marsaglia 2003) from a fixed
//! seed, so a failure reproduces exactly, and no dependency.

pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(crate) fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}
