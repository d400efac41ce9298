//! RFC 7983 demultiplexing: which protocol a datagram on a shared port carries.
//!
//! WebRTC multiplexes STUN, DTLS, RTP and RTCP on one 5-tuple. RFC 7983 §7 tells them apart by the
//! first byte alone:
//!
//! ```text
//!   0 ..=   3  STUN          (RFC 5389)
//!  16 ..=  19  ZRTP          (not supported: Unknown)
//!  20 ..=  63  DTLS          (RFC 6347)
//!  64 ..=  79  TURN channel  (not supported: Unknown)
//! 128 ..= 191  RTP / RTCP    (RFC 3550)
//! ```
//!
//! RTP and RTCP on one port (RFC 5761 §4) are told apart by the second byte: RTCP packet types
//! 192–223 collide with RTP payload types 64–95 with the marker bit set, which RFC 5761 §4 forbids
//! senders to use, so a second byte in 192..=223 means RTCP.
//!
//! This module only classifies: it validates nothing beyond the bytes it reads. The parsers in
//! [`super::rtp`] and [`super::rtcp`] do the validation.

/// The protocol a datagram on a multiplexed port carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// STUN (first byte 0–3).
    Stun,
    /// DTLS record (first byte 20–63).
    Dtls,
    /// RTP (first byte 128–191, second byte outside 192–223).
    Rtp,
    /// RTCP (first byte 128–191, second byte 192–223).
    Rtcp,
    /// Anything else, including an empty datagram.
    Unknown,
}

/// Classifies a datagram by its first byte (RFC 7983 §7) and, for RTP/RTCP, its second byte
/// (RFC 5761 §4).
///
/// A datagram of a single byte in the RTP range is `Unknown`: it cannot be told apart and is too
/// short to be either.
pub fn classify(datagram: &[u8]) -> PacketKind {
    let Some(&first) = datagram.first() else {
        return PacketKind::Unknown;
    };
    match first {
        0..=3 => PacketKind::Stun,
        20..=63 => PacketKind::Dtls,
        128..=191 => match datagram.get(1) {
            Some(192..=223) => PacketKind::Rtcp,
            Some(_) => PacketKind::Rtp,
            None => PacketKind::Unknown,
        },
        _ => PacketKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(b0: u8, b1: u8) -> PacketKind {
        classify(&[b0, b1, 0, 0])
    }

    #[test]
    fn empty_and_single_byte() {
        assert_eq!(classify(&[]), PacketKind::Unknown);
        assert_eq!(classify(&[0]), PacketKind::Stun);
        assert_eq!(classify(&[20]), PacketKind::Dtls);
        assert_eq!(classify(&[0x80]), PacketKind::Unknown);
    }

    #[test]
    fn stun_boundaries() {
        assert_eq!(kind(0, 1), PacketKind::Stun);
        assert_eq!(kind(3, 1), PacketKind::Stun);
        assert_eq!(kind(4, 1), PacketKind::Unknown);
    }

    #[test]
    fn dtls_boundaries() {
        assert_eq!(kind(19, 0), PacketKind::Unknown);
        assert_eq!(kind(20, 0), PacketKind::Dtls);
        assert_eq!(kind(22, 0xfe), PacketKind::Dtls);
        assert_eq!(kind(63, 0), PacketKind::Dtls);
        assert_eq!(kind(64, 0), PacketKind::Unknown);
    }

    #[test]
    fn rtp_rtcp_boundaries() {
        assert_eq!(kind(127, 96), PacketKind::Unknown);
        assert_eq!(kind(128, 96), PacketKind::Rtp);
        assert_eq!(kind(191, 96), PacketKind::Rtp);
        assert_eq!(kind(192, 96), PacketKind::Unknown);
        assert_eq!(kind(255, 200), PacketKind::Unknown);
        // Second byte: 191 and 224 are RTP (PT 63 / PT 96 with marker), 192..=223 RTCP.
        assert_eq!(kind(0x80, 191), PacketKind::Rtp);
        assert_eq!(kind(0x80, 192), PacketKind::Rtcp);
        assert_eq!(kind(0x80, 200), PacketKind::Rtcp);
        assert_eq!(kind(0x81, 205), PacketKind::Rtcp);
        assert_eq!(kind(0x80, 223), PacketKind::Rtcp);
        assert_eq!(kind(0x80, 224), PacketKind::Rtp);
        assert_eq!(kind(0x80, 0xe0 | 0x60), PacketKind::Rtp);
    }
}
