//! Packet formats as borrowed views over bytes: no state, no allocation on parse or rewrite.
//!
//! - [`demux`]: which protocol a datagram on a shared port carries (RFC 7983).
//! - [`rtp`]: RTP header, CSRCs and header extensions (RFC 3550 §5.1, RFC 8285).
//! - [`rtcp`]: compound RTCP (RFC 3550 §6, RFC 4585, RFC 5104).

pub mod demux;
pub mod rtcp;
pub mod rtp;

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
