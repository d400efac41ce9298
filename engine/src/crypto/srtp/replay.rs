//! Packet index estimation (RFC 3711 §3.3.1, Appendix A) and replay windows (RFC 3711 §3.3.2).
//!
//! An SRTP packet carries only the low 16 bits of its 48-bit index; the receiver keeps the
//! roll-over counter (ROC) and the highest sequence number `s_l` it authenticated and guesses
//! the ROC of each packet from them (Appendix A). State moves only after a packet has
//! authenticated, so a forged packet cannot push the ROC or the window.
//!
//! The replay window is a ring of 64-bit words in the manner of RFC 6479: bit `i mod (64 W)`
//! records index `i`, and moving the highest index forward clears only the words it passes,
//! so the common case (the next packet) touches one word and nothing shifts. `W` words cover
//! exactly `64 (W - 1)` indices behind the highest: the word holding the highest index is
//! only partly inside the window, so one extra word keeps the rest from aliasing.

use super::SrtpError;

/// Roll-over counter and highest sequence number of one SRTP stream (RFC 3711 §3.3.1).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RocState {
    /// `None` until the first packet: that one sets `s_l` and starts the ROC at 0.
    s_l: Option<u16>,
    roc: u32,
}

impl RocState {
    /// The 48-bit index of a packet with sequence number `seq`, from Appendix A's estimate of
    /// its ROC `v`. `Err(TooOld)` when `v` would be -1 (a packet from before the stream's
    /// first index), `Err(IndexExhausted)` when it would pass 2^32 - 1 (RFC 3711 §9.2: rekey).
    #[inline]
    pub(crate) fn estimate(&self, seq: u16) -> Result<u64, SrtpError> {
        let Some(s_l) = self.s_l else {
            return Ok(u64::from(seq));
        };
        let (seq32, s_l32) = (u32::from(seq), u32::from(s_l));
        let v = if s_l < 0x8000 {
            if seq32 > s_l32 + 0x8000 {
                self.roc.checked_sub(1).ok_or(SrtpError::TooOld)?
            } else {
                self.roc
            }
        } else if s_l32 - 0x8000 > seq32 {
            self.roc.checked_add(1).ok_or(SrtpError::IndexExhausted)?
        } else {
            self.roc
        };
        Ok((u64::from(v) << 16) | u64::from(seq))
    }

    /// Records an authenticated packet of index `index` (RFC 3711 §3.3.1: update ROC and
    /// `s_l` when the packet is the newest yet).
    #[inline]
    pub(crate) fn update(&mut self, index: u64) {
        let newest = match self.s_l {
            None => true,
            Some(s_l) => index > self.highest(s_l),
        };
        if newest {
            self.roc = (index >> 16) as u32;
            self.s_l = Some(index as u16);
        }
    }

    fn highest(&self, s_l: u16) -> u64 {
        (u64::from(self.roc) << 16) | u64::from(s_l)
    }

    /// Roll-over counter now.
    pub(crate) fn roc(&self) -> u32 {
        self.roc
    }
}

/// A replay window of `64 (W - 1)` indices behind the highest one seen (RFC 3711 §3.3.2).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplayWindow<const W: usize> {
    /// Highest index accepted, `None` before the first.
    top: Option<u64>,
    bits: [u64; W],
}

impl<const W: usize> Default for ReplayWindow<W> {
    fn default() -> Self {
        Self {
            top: None,
            bits: [0; W],
        }
    }
}

impl<const W: usize> ReplayWindow<W> {
    /// How many indices behind the highest are still judged; older ones are `TooOld`.
    pub(crate) const SIZE: u64 = 64 * (W as u64 - 1);

    /// `Ok` when `index` is new: ahead of the highest or inside the window and not seen.
    #[inline]
    pub(crate) fn check(&self, index: u64) -> Result<(), SrtpError> {
        let Some(top) = self.top else {
            return Ok(());
        };
        if index > top {
            return Ok(());
        }
        if top - index >= Self::SIZE {
            return Err(SrtpError::TooOld);
        }
        let (word, bit) = Self::slot(index);
        if self.bits[word] & (1 << bit) != 0 {
            return Err(SrtpError::Replay);
        }
        Ok(())
    }

    /// Marks `index` as received; call only after [`Self::check`] passed and the packet
    /// authenticated.
    #[inline]
    pub(crate) fn accept(&mut self, index: u64) {
        match self.top {
            None => {
                self.bits = [0; W];
                self.top = Some(index);
            }
            Some(top) if index > top => {
                // Clear the words between the old top's word and the new one (exclusive of
                // the old, inclusive of the new), at most all of them.
                let passed = ((index >> 6) - (top >> 6)).min(W as u64);
                for i in 1..=passed {
                    self.bits[((top >> 6) + i) as usize % W] = 0;
                }
                self.top = Some(index);
            }
            Some(_) => {}
        }
        let (word, bit) = Self::slot(index);
        self.bits[word] |= 1 << bit;
    }

    #[inline]
    fn slot(index: u64) -> (usize, u32) {
        ((index >> 6) as usize % W, (index & 63) as u32)
    }
}
