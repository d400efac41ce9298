//! Packet formats as borrowed views over bytes: no state, no allocation on parse or rewrite.
//!
//! - [`demux`]: which protocol a datagram on a shared port carries (RFC 7983).
//! - [`rtp`]: RTP header, CSRCs and header extensions (RFC 3550 §5.1, RFC 8285).
//! - [`rtcp`]: compound RTCP (RFC 3550 §6, RFC 4585, RFC 5104).
//! - [`stun`]: STUN messages for ICE-lite (RFC 5389 / RFC 8489, RFC 8445 §7.3).

pub mod demux;
pub mod rtcp;
pub mod rtp;
pub mod stun;

#[cfg(test)]
mod fuzz_tests;

/// Why a packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than the format requires.
    #[error("packet too short")]
    TooShort,
    /// The version field is not 2.
    #[error("bad RTP/RTCP version")]
    BadVersion,
    /// A length field points past the end of the packet, or padding is inconsistent.
    #[error("bad length")]
    BadLength,
    /// A field holds a value the format does not allow.
    #[error("invalid field")]
    Invalid,
}

/// Reads a big-endian `u16` at `at`. Callers have checked `at + 2 <= b.len()`.
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian `u32` at `at`. Callers have checked `at + 4 <= b.len()`.
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes a big-endian `u16` at `at`. Callers have checked `at + 2 <= b.len()`.
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian `u32` at `at`. Callers have checked `at + 4 <= b.len()`.
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
