//! The recent packets of one video producer stream, kept for retransmission (mediasoup's
//! `RtpRetransmissionBuffer`, held there per consumer stream; here once per producer stream,
//! shared by all its consumers, which rewrite a stored packet as they rewrite a live one).
//!
//! A NACK (RFC 4585 §6.2.1) names packets a consumer's endpoint did not receive; the consumer
//! maps them back to the producer's sequence numbers and looks them up here. The buffer is a
//! ring of [`SLOTS`] fixed slots of [`SLOT_LEN`] bytes, allocated once when the producer is
//! created: a packet goes to slot `seq % SLOTS` (a divisor of 2^16, so the slot of a sequence
//! number is the same across the wrap), overwriting what was there. Storing is one `memcpy` and
//! never allocates; a lookup is one slot read.
//!
//! A packet is found when its slot still holds it (not overwritten by the packet [`SLOTS`]
//! later) and it is younger than [`MAX_AGE`]: a retransmission later than that arrives after
//! the receiver's jitter buffer gave up on it (libwebrtc waits about 1 s at most), so it would
//! only cost bandwidth. A packet older than the one in its slot (reordered by more than
//! [`SLOTS`]) is not stored.
//!
//! **Memory**: `SLOTS × SLOT_LEN` = 256 × 1472 B ≈ 368 KiB of packet bytes plus 256 × 24 B of
//! slot records per video stream (a three-layer simulcast producer: three times that). The
//! bytes are zeroed pages from the allocator, committed by the kernel as packets fill them.
//! At 250 packets/s (about 2.5 Mbit/s) the ring holds the last second; at higher rates
//! [`SLOTS`] is the limit. A packet longer than [`SLOT_LEN`] (the largest UDP payload of a
//! 1500-byte Ethernet MTU) is not stored; WebRTC senders keep theirs near 1200 bytes.
//!
//! Audio is not stored: mediasoup does not retransmit audio either (Opus has in-band FEC, and a
//! retransmitted audio frame is usually too late for playout).

use std::time::{Duration, Instant};

use crate::wire::rtp::seq_is_newer;

/// Slots in the ring (a power of two dividing 2^16).
pub(crate) const SLOTS: usize = 256;
/// Longest packet stored.
pub(crate) const SLOT_LEN: usize = 1472;
/// Age after which a stored packet is no longer retransmitted.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Slot {
    seq: u16,
    len: u16,
    /// Arrival time; `None`: empty.
    at: Option<Instant>,
}

/// See the module docs.
pub(crate) struct RetransmissionBuffer {
    bytes: Box<[u8]>,
    slots: Box<[Slot]>,
    /// Packets stored, and packets not stored (too long or too late).
    pub(crate) stored: u64,
    pub(crate) not_stored: u64,
}

impl std::fmt::Debug for RetransmissionBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetransmissionBuffer")
            .field("stored", &self.stored)
            .field("not_stored", &self.not_stored)
            .finish_non_exhaustive()
    }
}

impl Default for RetransmissionBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl RetransmissionBuffer {
    /// An empty ring, allocated here (the control path) once.
    pub(crate) fn new() -> Self {
        Self {
            bytes: vec![0u8; SLOTS * SLOT_LEN].into_boxed_slice(),
            slots: vec![
                Slot {
                    seq: 0,
                    len: 0,
                    at: None
                };
                SLOTS
            ]
            .into_boxed_slice(),
            stored: 0,
            not_stored: 0,
        }
    }

    /// Keeps a copy of `packet` (a whole RTP packet, sequence number `seq`) that arrived at
    /// `now`.
    #[inline]
    pub(crate) fn insert(&mut self, now: Instant, seq: u16, packet: &[u8]) {
        let i = usize::from(seq) % SLOTS;
        let slot = &mut self.slots[i];
        let newer_here = slot.at.is_some_and(|at| {
            seq_is_newer(slot.seq, seq) && now.saturating_duration_since(at) < MAX_AGE
        });
        if packet.len() > SLOT_LEN || newer_here {
            self.not_stored += 1;
            return;
        }
        self.bytes[i * SLOT_LEN..i * SLOT_LEN + packet.len()].copy_from_slice(packet);
        // SLOT_LEN < 2^16.
        *slot = Slot {
            seq,
            len: packet.len() as u16,
            at: Some(now),
        };
        self.stored += 1;
    }

    /// The stored packet with sequence number `seq`, if still held and younger than
    /// [`MAX_AGE`] at `now`.
    #[inline]
    pub(crate) fn get(&self, now: Instant, seq: u16) -> Option<&[u8]> {
        let i = usize::from(seq) % SLOTS;
        let slot = &self.slots[i];
        let at = slot.at?;
        if slot.seq != seq || now.saturating_duration_since(at) >= MAX_AGE {
            return None;
        }
        Some(&self.bytes[i * SLOT_LEN..i * SLOT_LEN + usize::from(slot.len)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_slots_packets_for_max_age() {
        let t0 = Instant::now();
        let mut b = RetransmissionBuffer::new();
        // Across the sequence wrap.
        for i in 0..300u16 {
            let seq = 65_500u16.wrapping_add(i);
            b.insert(t0, seq, &seq.to_be_bytes());
        }
        let newest = 65_500u16.wrapping_add(299);
        assert_eq!(b.get(t0, newest), Some(&newest.to_be_bytes()[..]));
        let oldest_kept = newest.wrapping_sub(SLOTS as u16 - 1);
        assert_eq!(b.get(t0, oldest_kept), Some(&oldest_kept.to_be_bytes()[..]));
        // Overwritten by the packet SLOTS later.
        assert_eq!(b.get(t0, oldest_kept.wrapping_sub(1)), None);
        // Never seen.
        assert_eq!(b.get(t0, newest.wrapping_add(1)), None);
        // Too old.
        assert_eq!(b.get(t0 + MAX_AGE, newest), None);
    }

    #[test]
    fn late_packets_do_not_overwrite_newer_ones_and_long_ones_are_not_kept() {
        let t0 = Instant::now();
        let mut b = RetransmissionBuffer::new();
        b.insert(t0, 1000 + SLOTS as u16, b"new");
        b.insert(t0, 1000, b"old");
        assert_eq!(b.get(t0, 1000 + SLOTS as u16), Some(&b"new"[..]));
        assert_eq!(b.get(t0, 1000), None);
        b.insert(t0, 7, &[0u8; SLOT_LEN + 1]);
        assert_eq!(b.get(t0, 7), None);
        assert_eq!((b.stored, b.not_stored), (1, 2));
        // Once the newer one is too old, its slot is free again.
        b.insert(t0 + MAX_AGE, 1000, b"old");
        assert_eq!(b.get(t0 + MAX_AGE, 1000), Some(&b"old"[..]));
    }
}
