//! RTCP as borrowed views: compound packets (RFC 3550 §6.1), sender and receiver reports
//! (§6.4.1, §6.4.2), SDES (§6.5), BYE (§6.6), APP (§6.7), RTP/payload-specific feedback (RFC 4585
//! §6.1–§6.3: generic NACK, PLI), FIR (RFC 5104 §4.3.1), and the transport-wide congestion control
//! feedback FMT (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1) and application-layer
//! feedback such as REMB (RFC 4585 §6.4) recognised by their FMT and handed over raw.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P| RC/FMT  |      PT       |   length (32-bit words − 1)   |
//! |                 body ...                      | pad | count   |  if P
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`compound`] walks a compound datagram and yields one [`RtcpPacket`] per packet, each validated
//! once (version, length, padding, and the count field against the body) so that accessors and
//! iterators afterwards cannot read out of bounds. Unknown packet types and feedback FMTs (XR,
//! TMMBR, SLI, …) come back as [`RtcpPacket::Other`], never as errors. [`compound_mut`] yields
//! [`RtcpPacketMut`] for the rewrites an SFU does when it relays feedback between a producer's and
//! a consumer's SSRC spaces. The `write_*` functions build packets into a caller's buffer; a
//! compound packet is several of them written one after another.
//!
//! ```
//! use sluice_engine::wire::rtcp::{self, RtcpPacket};
//!
//! let mut buf = [0u8; 64];
//! let mut n = rtcp::write_receiver_report(&mut buf, 0x1111, &[])?;
//! n += rtcp::write_nack(&mut buf[n..], 0x1111, 0x2222, &[65535, 0, 3])?;
//!
//! // Relay the NACK to the producer's SSRC space, in place.
//! for p in rtcp::compound_mut(&mut buf[..n]) {
//!     p?.set_media_ssrc(0x3333);
//! }
//! for p in rtcp::compound(&buf[..n]) {
//!     if let RtcpPacket::Nack(nack) = p? {
//!         assert_eq!(nack.media_ssrc(), 0x3333);
//!         assert!(nack.lost().eq([65535, 0, 3]));
//!     }
//! }
//! # Ok::<(), sluice_engine::wire::ParseError>(())
//! ```
//!
//! One file per packet family, re-exported here: `report` (SR, RR), `sdes`, `bye`, `app`,
//! `feedback` (NACK, PLI, FIR, transport-cc, REMB), `transport_cc` (the body of transport-wide
//! CC feedback: [`TransportCc`] reads it from a [`Generic`], [`TransportCcWriter`] builds one),
//! `rewrite` ([`RtcpPacketMut`]).
//!
//! Not done here: SRTCP (in `crypto/`), the body of REMB, XR blocks, and the RFC 3550 §6.1 rule that a compound packet starts with SR or RR (RFC 5506
//! reduced-size RTCP drops it, so the session layer decides).

mod app;
mod bye;
mod feedback;
mod report;
mod rewrite;
mod sdes;
#[cfg(test)]
mod tests;
mod transport_cc;
#[cfg(test)]
mod transport_cc_tests;

pub use app::App;
pub use bye::{Bye, write_bye};
pub use feedback::{Fir, Generic, Nack, NackLost, Pli, write_fir, write_nack, write_pli};
pub use report::{
    ReceiverReport, ReportBlock, ReportBlocks, SenderInfo, SenderReport, write_receiver_report,
    write_sender_report,
};
pub use rewrite::{CompoundIterMut, RtcpPacketMut, compound_mut};
pub use sdes::{Sdes, SdesChunk, SdesChunks, SdesItems, write_sdes_cname, write_sdes_cnames};
pub use transport_cc::{MAX_TRANSPORT_CC_LEN, TransportCc, TransportCcPackets, TransportCcWriter};

use super::{ParseError, be16, put16};

/// Sender report (RFC 3550 §6.4.1).
pub const PT_SR: u8 = 200;
/// Receiver report (RFC 3550 §6.4.2).
pub const PT_RR: u8 = 201;
/// Source description (RFC 3550 §6.5).
pub const PT_SDES: u8 = 202;
/// Goodbye (RFC 3550 §6.6).
pub const PT_BYE: u8 = 203;
/// Application-defined (RFC 3550 §6.7).
pub const PT_APP: u8 = 204;
/// Transport-layer feedback (RFC 4585 §6.2).
pub const PT_RTPFB: u8 = 205;
/// Payload-specific feedback (RFC 4585 §6.3).
pub const PT_PSFB: u8 = 206;

/// RTPFB FMT of generic NACK (RFC 4585 §6.2.1).
pub const FMT_NACK: u8 = 1;
/// RTPFB FMT of transport-wide congestion control feedback (draft-holmer-…-01 §3.1).
pub const FMT_TRANSPORT_CC: u8 = 15;
/// PSFB FMT of picture loss indication (RFC 4585 §6.3.1).
pub const FMT_PLI: u8 = 1;
/// PSFB FMT of full intra request (RFC 5104 §4.3.1).
pub const FMT_FIR: u8 = 4;
/// PSFB FMT of application-layer feedback, e.g. REMB (RFC 4585 §6.4).
pub const FMT_AFB: u8 = 15;

/// SDES item type of CNAME (RFC 3550 §6.5.1).
pub const SDES_CNAME: u8 = 1;

const REPORT_BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 24;
/// Longest packet the 16-bit length field can describe.
const MAX_PACKET_LEN: usize = (u16::MAX as usize + 1) * 4;

/// One RTCP packet within a compound datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket<'a> {
    /// SR, PT 200.
    SenderReport(SenderReport<'a>),
    /// RR, PT 201.
    ReceiverReport(ReceiverReport<'a>),
    /// SDES, PT 202.
    Sdes(Sdes<'a>),
    /// BYE, PT 203.
    Bye(Bye<'a>),
    /// APP, PT 204.
    App(App<'a>),
    /// RTPFB FMT 1.
    Nack(Nack<'a>),
    /// RTPFB FMT 15; [`TransportCc::parse`] reads its body.
    TransportCc(Generic<'a>),
    /// PSFB FMT 1.
    Pli(Pli),
    /// PSFB FMT 4.
    Fir(Fir<'a>),
    /// PSFB FMT 15 (REMB and other application-layer feedback), body not parsed.
    AppLayerFeedback(Generic<'a>),
    /// Any other packet type or feedback FMT (XR, TMMBR, SLI, …).
    Other {
        /// The packet type.
        pt: u8,
        /// The 5-bit count / FMT field.
        count: u8,
        /// The bytes after the 4-byte header, without padding.
        body: &'a [u8],
    },
}

/// What a successful header check found.
struct Framed<'a> {
    pt: u8,
    count: u8,
    /// The whole packet per its length field, padding included.
    len: usize,
    /// The bytes after the 4-byte header, without padding.
    body: &'a [u8],
}

/// Validates the common header of the first packet in `buf` (RFC 3550 §6.4.1: version, length,
/// padding).
fn frame(buf: &[u8]) -> Result<Framed<'_>, ParseError> {
    if buf.len() < 4 {
        return Err(ParseError::TooShort);
    }
    if buf[0] >> 6 != 2 {
        return Err(ParseError::BadVersion);
    }
    let len = (usize::from(be16(buf, 2)) + 1) * 4;
    if len > buf.len() {
        return Err(ParseError::BadLength);
    }
    let body_end = if buf[0] & 0x20 != 0 {
        let pad = usize::from(buf[len - 1]);
        if pad == 0 || pad > len - 4 {
            return Err(ParseError::BadLength);
        }
        len - pad
    } else {
        len
    };
    Ok(Framed {
        pt: buf[1],
        count: buf[0] & 0x1f,
        len,
        body: &buf[4..body_end],
    })
}

impl<'a> RtcpPacket<'a> {
    /// Parses the first packet in `buf`; bytes after it (per its length field) are ignored. Use
    /// [`compound`] to walk all of them.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        parse_first(buf).map(|(p, _)| p)
    }

    /// The packet type field.
    pub fn packet_type(&self) -> u8 {
        match self {
            RtcpPacket::SenderReport(_) => PT_SR,
            RtcpPacket::ReceiverReport(_) => PT_RR,
            RtcpPacket::Sdes(_) => PT_SDES,
            RtcpPacket::Bye(_) => PT_BYE,
            RtcpPacket::App(_) => PT_APP,
            RtcpPacket::Nack(_) | RtcpPacket::TransportCc(_) => PT_RTPFB,
            RtcpPacket::Pli(_) | RtcpPacket::Fir(_) | RtcpPacket::AppLayerFeedback(_) => PT_PSFB,
            RtcpPacket::Other { pt, .. } => *pt,
        }
    }
}

/// Parses the first packet and returns it with its length in bytes.
fn parse_first(buf: &[u8]) -> Result<(RtcpPacket<'_>, usize), ParseError> {
    let Framed {
        pt,
        count,
        len,
        body,
    } = frame(buf)?;
    let packet = match (pt, count) {
        (PT_SR, _) => RtcpPacket::SenderReport(SenderReport::parse(body, count)?),
        (PT_RR, _) => RtcpPacket::ReceiverReport(ReceiverReport::parse(body, count)?),
        (PT_SDES, _) => RtcpPacket::Sdes(Sdes::parse(body, count)?),
        (PT_BYE, _) => RtcpPacket::Bye(Bye::parse(body, count)?),
        (PT_APP, _) => RtcpPacket::App(App::parse(body, count)?),
        (PT_RTPFB, FMT_NACK) => RtcpPacket::Nack(Nack::parse(body)?),
        (PT_RTPFB, FMT_TRANSPORT_CC) => RtcpPacket::TransportCc(Generic::parse(body, count)?),
        (PT_PSFB, FMT_PLI) => RtcpPacket::Pli(Pli::parse(body)?),
        (PT_PSFB, FMT_FIR) => RtcpPacket::Fir(Fir::parse(body)?),
        (PT_PSFB, FMT_AFB) => RtcpPacket::AppLayerFeedback(Generic::parse(body, count)?),
        _ => RtcpPacket::Other { pt, count, body },
    };
    Ok((packet, len))
}

/// Walks the packets of a compound RTCP datagram (RFC 3550 §6.1).
pub fn compound(buf: &[u8]) -> CompoundIter<'_> {
    CompoundIter { rest: buf }
}

/// Checks that every packet of a compound datagram parses, and that there is at least one.
pub fn validate_compound(buf: &[u8]) -> Result<(), ParseError> {
    if buf.is_empty() {
        return Err(ParseError::TooShort);
    }
    compound(buf).try_for_each(|p| p.map(|_| ()))
}

/// Iterator over the packets of a compound datagram; see [`compound`]. Yields
/// `Err` at most once, then stops.
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match parse_first(self.rest) {
            Ok((p, len)) => {
                self.rest = &self.rest[len..];
                Some(Ok(p))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Checks room for a `len`-byte packet and writes its common header (no padding).
fn begin(buf: &mut [u8], count: u8, pt: u8, len: usize) -> Result<(), ParseError> {
    debug_assert!(
        len.is_multiple_of(4) && len >= 4,
        "RTCP packets are whole 32-bit words"
    );
    if len > MAX_PACKET_LEN {
        return Err(ParseError::Invalid);
    }
    if buf.len() < len {
        return Err(ParseError::TooShort);
    }
    buf[0] = 0x80 | (count & 0x1f);
    buf[1] = pt;
    // len <= MAX_PACKET_LEN, so the word count minus one fits in u16.
    put16(buf, 2, (len / 4 - 1) as u16);
    Ok(())
}
