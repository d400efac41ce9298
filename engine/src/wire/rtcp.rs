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
//! Not done here: SRTCP (in `crypto/`), the body of transport-wide CC feedback and REMB, XR
//! blocks, and the RFC 3550 §6.1 rule that a compound packet starts with SR or RR (RFC 5506
//! reduced-size RTCP drops it, so the session layer decides).

use super::{ParseError, be16, be32, put16, put32};
use std::slice::ChunksExact;

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
    /// RTPFB FMT 15, body not parsed.
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

/// Walks a compound datagram yielding each packet as an [`RtcpPacketMut`] for in-place rewriting.
pub fn compound_mut(buf: &mut [u8]) -> CompoundIterMut<'_> {
    CompoundIterMut { rest: buf }
}

/// Iterator over the packets of a compound datagram as mutable views; see [`compound_mut`].
/// Yields `Err` at most once, then stops.
#[derive(Debug)]
pub struct CompoundIterMut<'a> {
    rest: &'a mut [u8],
}

impl<'a> Iterator for CompoundIterMut<'a> {
    type Item = Result<RtcpPacketMut<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.rest);
        let len = match parse_first(rest) {
            Ok((_, len)) => len,
            Err(e) => return Some(Err(e)),
        };
        let (packet, tail) = rest.split_at_mut(len);
        self.rest = tail;
        Some(Ok(RtcpPacketMut::from_validated(packet)))
    }
}

/// The sender information block of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// SSRC of the sender.
    pub ssrc: u32,
    /// NTP timestamp, seconds since 1900.
    pub ntp_sec: u32,
    /// NTP timestamp, fraction of a second in units of 2^-32 s.
    pub ntp_frac: u32,
    /// RTP timestamp corresponding to the NTP timestamp.
    pub rtp_timestamp: u32,
    /// Sender's packet count.
    pub packet_count: u32,
    /// Sender's octet count (payload bytes).
    pub octet_count: u32,
}

impl SenderInfo {
    fn read(b: &[u8]) -> Self {
        SenderInfo {
            ssrc: be32(b, 0),
            ntp_sec: be32(b, 4),
            ntp_frac: be32(b, 8),
            rtp_timestamp: be32(b, 12),
            packet_count: be32(b, 16),
            octet_count: be32(b, 20),
        }
    }
}

/// A reception report block (RFC 3550 §6.4.1), as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// SSRC of the source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, a 24-bit signed value (negative with duplicates). Writers clamp
    /// it to −2^23..=2^23−1.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received.
    pub lsr: u32,
    /// Delay since that SR, in units of 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    fn read(b: &[u8]) -> Self {
        let lost = be32(b, 4);
        ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: (lost >> 24) as u8,
            // Sign-extend the low 24 bits.
            cumulative_lost: ((lost << 8) as i32) >> 8,
            highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            lsr: be32(b, 16),
            dlsr: be32(b, 20),
        }
    }

    fn write(&self, b: &mut [u8]) {
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0xff_ffff;
        put32(b, 0, self.ssrc);
        put32(b, 4, (u32::from(self.fraction_lost) << 24) | lost);
        put32(b, 8, self.highest_seq);
        put32(b, 12, self.jitter);
        put32(b, 16, self.lsr);
        put32(b, 20, self.dlsr);
    }
}

/// Iterator over the report blocks of an SR or RR.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a>(ChunksExact<'a, u8>);

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        self.0.next().map(ReportBlock::read)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}

fn report_blocks(b: &[u8]) -> ReportBlocks<'_> {
    ReportBlocks(b.chunks_exact(REPORT_BLOCK_LEN))
}

/// A sender report (RFC 3550 §6.4.1). Profile-specific extensions after the report blocks are
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    info: SenderInfo,
    blocks: &'a [u8],
}

impl<'a> SenderReport<'a> {
    fn parse(body: &'a [u8], count: u8) -> Result<Self, ParseError> {
        if body.len() < SENDER_INFO_LEN {
            return Err(ParseError::TooShort);
        }
        let end = SENDER_INFO_LEN + REPORT_BLOCK_LEN * usize::from(count);
        if end > body.len() {
            return Err(ParseError::BadLength);
        }
        Ok(SenderReport {
            info: SenderInfo::read(body),
            blocks: &body[SENDER_INFO_LEN..end],
        })
    }

    /// The whole sender information block.
    pub fn sender_info(&self) -> SenderInfo {
        self.info
    }

    /// SSRC of the sender.
    pub fn ssrc(&self) -> u32 {
        self.info.ssrc
    }

    /// NTP timestamp, seconds.
    pub fn ntp_sec(&self) -> u32 {
        self.info.ntp_sec
    }

    /// NTP timestamp, fraction.
    pub fn ntp_frac(&self) -> u32 {
        self.info.ntp_frac
    }

    /// RTP timestamp matching the NTP timestamp.
    pub fn rtp_timestamp(&self) -> u32 {
        self.info.rtp_timestamp
    }

    /// Sender's packet count.
    pub fn packet_count(&self) -> u32 {
        self.info.packet_count
    }

    /// Sender's octet count.
    pub fn octet_count(&self) -> u32 {
        self.info.octet_count
    }

    /// The reception report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        report_blocks(self.blocks)
    }
}

/// A receiver report (RFC 3550 §6.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    ssrc: u32,
    blocks: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    fn parse(body: &'a [u8], count: u8) -> Result<Self, ParseError> {
        if body.len() < 4 {
            return Err(ParseError::TooShort);
        }
        let end = 4 + REPORT_BLOCK_LEN * usize::from(count);
        if end > body.len() {
            return Err(ParseError::BadLength);
        }
        Ok(ReceiverReport {
            ssrc: be32(body, 0),
            blocks: &body[4..end],
        })
    }

    /// SSRC of the packet's sender.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The reception report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        report_blocks(self.blocks)
    }
}

/// An SDES packet (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sdes<'a> {
    body: &'a [u8],
    count: u8,
}

/// One SDES chunk: an SSRC/CSRC and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    ssrc: u32,
    items: &'a [u8],
}

/// Reads the chunk at `pos`; returns it and where the next chunk starts. A chunk's item list ends
/// with a null octet, then null padding up to the next 32-bit boundary (tolerated if the body ends
/// first).
fn sdes_chunk(body: &[u8], pos: usize) -> Result<(SdesChunk<'_>, usize), ParseError> {
    if pos + 4 > body.len() {
        return Err(ParseError::BadLength);
    }
    let ssrc = be32(body, pos);
    let start = pos + 4;
    let mut at = start;
    loop {
        match body.get(at) {
            None => return Err(ParseError::BadLength),
            Some(0) => break,
            Some(_) => {
                let len = usize::from(*body.get(at + 1).ok_or(ParseError::BadLength)?);
                at += 2 + len;
                if at > body.len() {
                    return Err(ParseError::BadLength);
                }
            }
        }
    }
    let items = &body[start..at];
    let next = ((at + 1).div_ceil(4) * 4).min(body.len());
    Ok((SdesChunk { ssrc, items }, next))
}

impl<'a> Sdes<'a> {
    fn parse(body: &'a [u8], count: u8) -> Result<Self, ParseError> {
        let mut pos = 0;
        for _ in 0..count {
            pos = sdes_chunk(body, pos)?.1;
        }
        Ok(Sdes { body, count })
    }

    /// The chunks, one per source.
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks {
            body: self.body,
            pos: 0,
            left: self.count,
        }
    }
}

/// Iterator over SDES chunks.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    body: &'a [u8],
    pos: usize,
    left: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match sdes_chunk(self.body, self.pos) {
            Ok((chunk, next)) => {
                self.pos = next;
                Some(chunk)
            }
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
}

impl<'a> SdesChunk<'a> {
    /// The SSRC or CSRC the chunk describes.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The items as `(type, value)`.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems { rest: self.items }
    }

    /// The CNAME item's value, if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items().find(|&(t, _)| t == SDES_CNAME).map(|(_, v)| v)
    }
}

/// Iterator over the items of one SDES chunk, as `(type, value)`.
#[derive(Debug, Clone)]
pub struct SdesItems<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (&t, after) = self.rest.split_first()?;
        let (&len, after) = after.split_first()?;
        let len = usize::from(len);
        if t == 0 || len > after.len() {
            self.rest = &[];
            return None;
        }
        let (value, rest) = after.split_at(len);
        self.rest = rest;
        Some((t, value))
    }
}

/// A BYE packet (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    ssrcs: &'a [u8],
    reason: Option<&'a [u8]>,
}

impl<'a> Bye<'a> {
    fn parse(body: &'a [u8], count: u8) -> Result<Self, ParseError> {
        let end = 4 * usize::from(count);
        if end > body.len() {
            return Err(ParseError::BadLength);
        }
        let reason = match body.get(end) {
            None => None,
            Some(&len) => {
                let r_end = end + 1 + usize::from(len);
                if r_end > body.len() {
                    return Err(ParseError::BadLength);
                }
                Some(&body[end + 1..r_end])
            }
        };
        Ok(Bye {
            ssrcs: &body[..end],
            reason,
        })
    }

    /// The sources leaving.
    pub fn ssrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.ssrcs.chunks_exact(4).map(|c| be32(c, 0))
    }

    /// The reason for leaving, if the packet carries one.
    pub fn reason(&self) -> Option<&'a [u8]> {
        self.reason
    }
}

/// An APP packet (RFC 3550 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App<'a> {
    subtype: u8,
    ssrc: u32,
    name: [u8; 4],
    data: &'a [u8],
}

impl<'a> App<'a> {
    fn parse(body: &'a [u8], subtype: u8) -> Result<Self, ParseError> {
        if body.len() < 8 {
            return Err(ParseError::TooShort);
        }
        Ok(App {
            subtype,
            ssrc: be32(body, 0),
            name: [body[4], body[5], body[6], body[7]],
            data: &body[8..],
        })
    }

    /// The 5-bit subtype.
    pub fn subtype(&self) -> u8 {
        self.subtype
    }

    /// SSRC of the sender.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The four-character name.
    pub fn name(&self) -> [u8; 4] {
        self.name
    }

    /// Application-dependent data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// Reads the two SSRCs every feedback message starts with (RFC 4585 §6.1).
fn fb_ssrcs(body: &[u8]) -> Result<(u32, u32), ParseError> {
    if body.len() < 8 {
        return Err(ParseError::TooShort);
    }
    Ok((be32(body, 0), be32(body, 4)))
}

/// A feedback message whose FCI is handed over raw (transport-wide CC, REMB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generic<'a> {
    fmt: u8,
    sender_ssrc: u32,
    media_ssrc: u32,
    fci: &'a [u8],
}

impl<'a> Generic<'a> {
    fn parse(body: &'a [u8], fmt: u8) -> Result<Self, ParseError> {
        let (sender_ssrc, media_ssrc) = fb_ssrcs(body)?;
        Ok(Generic {
            fmt,
            sender_ssrc,
            media_ssrc,
            fci: &body[8..],
        })
    }

    /// The FMT field.
    pub fn fmt(&self) -> u8 {
        self.fmt
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        self.sender_ssrc
    }

    /// SSRC of the media source.
    pub fn media_ssrc(&self) -> u32 {
        self.media_ssrc
    }

    /// The feedback control information, unparsed.
    pub fn fci(&self) -> &'a [u8] {
        self.fci
    }

    /// Whether this application-layer feedback is REMB (its FCI starts with "REMB").
    pub fn is_remb(&self) -> bool {
        self.fci.starts_with(b"REMB")
    }
}

/// Generic NACK (RFC 4585 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack<'a> {
    sender_ssrc: u32,
    media_ssrc: u32,
    fci: &'a [u8],
}

impl<'a> Nack<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (sender_ssrc, media_ssrc) = fb_ssrcs(body)?;
        let fci = &body[8..];
        if !fci.len().is_multiple_of(4) {
            return Err(ParseError::BadLength);
        }
        Ok(Nack {
            sender_ssrc,
            media_ssrc,
            fci,
        })
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        self.sender_ssrc
    }

    /// SSRC of the media source whose packets are lost.
    pub fn media_ssrc(&self) -> u32 {
        self.media_ssrc
    }

    /// The FCI entries as `(pid, blp)`.
    pub fn items(&self) -> impl ExactSizeIterator<Item = (u16, u16)> + 'a {
        self.fci.chunks_exact(4).map(|c| (be16(c, 0), be16(c, 2)))
    }

    /// Every lost sequence number the entries name, in FCI order: each PID, then PID+1..=PID+16
    /// for the set bits of its BLP (wrapping at 2^16).
    pub fn lost(&self) -> NackLost<'a> {
        NackLost {
            items: self.fci.chunks_exact(4),
            current: None,
        }
    }
}

/// Iterator over the sequence numbers of a NACK; see [`Nack::lost`].
#[derive(Debug, Clone)]
pub struct NackLost<'a> {
    items: ChunksExact<'a, u8>,
    /// The entry being expanded: PID and the BLP bits not yet yielded.
    current: Option<(u16, u16)>,
}

impl Iterator for NackLost<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if let Some((pid, blp)) = self.current.filter(|&(_, blp)| blp != 0) {
            let bit = blp.trailing_zeros();
            self.current = Some((pid, blp & (blp - 1)));
            // bit < 16, so bit + 1 fits in u16.
            return Some(pid.wrapping_add(bit as u16 + 1));
        }
        let c = self.items.next()?;
        let (pid, blp) = (be16(c, 0), be16(c, 2));
        self.current = Some((pid, blp));
        Some(pid)
    }
}

/// Picture loss indication (RFC 4585 §6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pli {
    /// SSRC of the packet sender.
    pub sender_ssrc: u32,
    /// SSRC of the media source that should send a key frame.
    pub media_ssrc: u32,
}

impl Pli {
    fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let (sender_ssrc, media_ssrc) = fb_ssrcs(body)?;
        Ok(Pli {
            sender_ssrc,
            media_ssrc,
        })
    }
}

/// Full intra request (RFC 5104 §4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fir<'a> {
    sender_ssrc: u32,
    media_ssrc: u32,
    fci: &'a [u8],
}

impl<'a> Fir<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (sender_ssrc, media_ssrc) = fb_ssrcs(body)?;
        let fci = &body[8..];
        if !fci.len().is_multiple_of(8) {
            return Err(ParseError::BadLength);
        }
        Ok(Fir {
            sender_ssrc,
            media_ssrc,
            fci,
        })
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        self.sender_ssrc
    }

    /// The header's media source SSRC (RFC 5104 says 0; the targets are in the entries).
    pub fn media_ssrc(&self) -> u32 {
        self.media_ssrc
    }

    /// The FCI entries as `(ssrc, command sequence number)`.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (u32, u8)> + 'a {
        self.fci.chunks_exact(8).map(|c| (be32(c, 0), c[4]))
    }
}

/// One validated RTCP packet over mutable bytes, for in-place rewriting. Every setter returns
/// whether it applied: `false` (and nothing written) when this packet type has no such field.
/// Lengths never change.
#[derive(Debug)]
pub struct RtcpPacketMut<'a> {
    buf: &'a mut [u8],
    /// End of the body (before any padding).
    body_end: usize,
}

impl<'a> RtcpPacketMut<'a> {
    /// Validates the first packet in `buf` as [`RtcpPacket::parse`] does; the view covers that
    /// packet only.
    pub fn parse(buf: &'a mut [u8]) -> Result<Self, ParseError> {
        let (_, len) = parse_first(buf)?;
        Ok(Self::from_validated(&mut buf[..len]))
    }

    /// `buf` is exactly one packet that `parse_first` accepted.
    fn from_validated(buf: &'a mut [u8]) -> Self {
        let pad = if buf[0] & 0x20 != 0 {
            usize::from(buf[buf.len() - 1])
        } else {
            0
        };
        let body_end = buf.len() - pad;
        RtcpPacketMut { buf, body_end }
    }

    /// The packet's bytes, e.g. to [`RtcpPacket::parse`] them.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf
    }

    /// The packet type.
    pub fn packet_type(&self) -> u8 {
        self.buf[1]
    }

    /// The 5-bit count / FMT field.
    pub fn count(&self) -> u8 {
        self.buf[0] & 0x1f
    }

    fn is_feedback(&self) -> bool {
        matches!(self.packet_type(), PT_RTPFB | PT_PSFB)
    }

    fn is_sr(&self) -> bool {
        self.packet_type() == PT_SR
    }

    /// Writes `v` at byte `at` if it lies inside the body.
    fn put(&mut self, at: usize, v: u32) -> bool {
        if at + 4 > self.body_end {
            return false;
        }
        put32(self.buf, at, v);
        true
    }

    /// Sets the packet sender's SSRC: SR, RR, APP and RTPFB/PSFB feedback.
    pub fn set_sender_ssrc(&mut self, ssrc: u32) -> bool {
        matches!(
            self.packet_type(),
            PT_SR | PT_RR | PT_APP | PT_RTPFB | PT_PSFB
        ) && self.put(4, ssrc)
    }

    /// Sets the media source SSRC of RTPFB/PSFB feedback (NACK, PLI, transport-cc, REMB, …). For
    /// FIR, whose targets are in its entries, see [`map_fir_entries`](Self::map_fir_entries).
    pub fn set_media_ssrc(&mut self, ssrc: u32) -> bool {
        self.is_feedback() && self.put(8, ssrc)
    }

    /// Rewrites each FIR entry `(ssrc, seq_nr)` through `f`.
    pub fn map_fir_entries(&mut self, mut f: impl FnMut(u32, u8) -> (u32, u8)) -> bool {
        if self.packet_type() != PT_PSFB || self.count() != FMT_FIR {
            return false;
        }
        let mut at = 12;
        while at + 8 <= self.body_end {
            let (ssrc, seq) = f(be32(self.buf, at), self.buf[at + 4]);
            put32(self.buf, at, ssrc);
            self.buf[at + 4] = seq;
            at += 8;
        }
        true
    }

    /// Rewrites the SSRC of each report block of an SR or RR through `f`.
    pub fn map_report_block_ssrcs(&mut self, mut f: impl FnMut(u32) -> u32) -> bool {
        let first = match self.packet_type() {
            PT_SR => 4 + SENDER_INFO_LEN,
            PT_RR => 8,
            _ => return false,
        };
        for i in 0..usize::from(self.count()) {
            let at = first + i * REPORT_BLOCK_LEN;
            if at + REPORT_BLOCK_LEN > self.body_end {
                break;
            }
            let ssrc = f(be32(self.buf, at));
            put32(self.buf, at, ssrc);
        }
        true
    }

    /// Sets an SR's NTP timestamp.
    pub fn set_sr_ntp(&mut self, sec: u32, frac: u32) -> bool {
        self.is_sr() && self.put(8, sec) && self.put(12, frac)
    }

    /// Sets an SR's RTP timestamp.
    pub fn set_sr_rtp_timestamp(&mut self, ts: u32) -> bool {
        self.is_sr() && self.put(16, ts)
    }

    /// Sets an SR's packet count.
    pub fn set_sr_packet_count(&mut self, n: u32) -> bool {
        self.is_sr() && self.put(20, n)
    }

    /// Sets an SR's octet count.
    pub fn set_sr_octet_count(&mut self, n: u32) -> bool {
        self.is_sr() && self.put(24, n)
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

/// Writes an SR with up to 31 report blocks; returns its length.
pub fn write_sender_report(
    buf: &mut [u8],
    info: &SenderInfo,
    blocks: &[ReportBlock],
) -> Result<usize, ParseError> {
    let count = u8::try_from(blocks.len())
        .ok()
        .filter(|&n| n <= 31)
        .ok_or(ParseError::Invalid)?;
    let len = 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * blocks.len();
    begin(buf, count, PT_SR, len)?;
    put32(buf, 4, info.ssrc);
    put32(buf, 8, info.ntp_sec);
    put32(buf, 12, info.ntp_frac);
    put32(buf, 16, info.rtp_timestamp);
    put32(buf, 20, info.packet_count);
    put32(buf, 24, info.octet_count);
    for (block, out) in blocks
        .iter()
        .zip(buf[28..len].chunks_exact_mut(REPORT_BLOCK_LEN))
    {
        block.write(out);
    }
    Ok(len)
}

/// Writes an RR with up to 31 report blocks; returns its length.
pub fn write_receiver_report(
    buf: &mut [u8],
    ssrc: u32,
    blocks: &[ReportBlock],
) -> Result<usize, ParseError> {
    let count = u8::try_from(blocks.len())
        .ok()
        .filter(|&n| n <= 31)
        .ok_or(ParseError::Invalid)?;
    let len = 8 + REPORT_BLOCK_LEN * blocks.len();
    begin(buf, count, PT_RR, len)?;
    put32(buf, 4, ssrc);
    for (block, out) in blocks
        .iter()
        .zip(buf[8..len].chunks_exact_mut(REPORT_BLOCK_LEN))
    {
        block.write(out);
    }
    Ok(len)
}

/// Writes an SDES with one chunk holding one CNAME item (at most 255 bytes); returns its length.
pub fn write_sdes_cname(buf: &mut [u8], ssrc: u32, cname: &[u8]) -> Result<usize, ParseError> {
    let cname_len = u8::try_from(cname.len()).map_err(|_| ParseError::Invalid)?;
    // Header, SSRC, item type and length, value, at least one null octet, padded to 32 bits.
    let len = (4 + 4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    begin(buf, 1, PT_SDES, len)?;
    put32(buf, 4, ssrc);
    buf[8] = SDES_CNAME;
    buf[9] = cname_len;
    buf[10..10 + cname.len()].copy_from_slice(cname);
    buf[10 + cname.len()..len].fill(0);
    Ok(len)
}

/// Writes a BYE for up to 31 sources, with a reason if `reason` is not empty (at most 255
/// bytes); returns its length.
pub fn write_bye(buf: &mut [u8], ssrcs: &[u32], reason: &[u8]) -> Result<usize, ParseError> {
    let count = u8::try_from(ssrcs.len())
        .ok()
        .filter(|&n| n <= 31)
        .ok_or(ParseError::Invalid)?;
    let reason_len = u8::try_from(reason.len()).map_err(|_| ParseError::Invalid)?;
    let ssrc_end = 4 + 4 * ssrcs.len();
    let len = if reason.is_empty() {
        ssrc_end
    } else {
        (ssrc_end + 1 + reason.len()).div_ceil(4) * 4
    };
    begin(buf, count, PT_BYE, len)?;
    for (ssrc, out) in ssrcs.iter().zip(buf[4..ssrc_end].chunks_exact_mut(4)) {
        put32(out, 0, *ssrc);
    }
    if !reason.is_empty() {
        buf[ssrc_end] = reason_len;
        buf[ssrc_end + 1..ssrc_end + 1 + reason.len()].copy_from_slice(reason);
        buf[ssrc_end + 1 + reason.len()..len].fill(0);
    }
    Ok(len)
}

/// Writes a PLI; returns its length (12).
pub fn write_pli(buf: &mut [u8], sender_ssrc: u32, media_ssrc: u32) -> Result<usize, ParseError> {
    begin(buf, FMT_PLI, PT_PSFB, 12)?;
    put32(buf, 4, sender_ssrc);
    put32(buf, 8, media_ssrc);
    Ok(12)
}

/// Writes a FIR with one entry per `(ssrc, command sequence number)`; the header's media SSRC is
/// 0 as RFC 5104 §4.3.1.2 requires. Returns its length.
pub fn write_fir(
    buf: &mut [u8],
    sender_ssrc: u32,
    entries: &[(u32, u8)],
) -> Result<usize, ParseError> {
    if entries.is_empty() {
        return Err(ParseError::Invalid);
    }
    let len = 12 + 8 * entries.len();
    begin(buf, FMT_FIR, PT_PSFB, len)?;
    put32(buf, 4, sender_ssrc);
    put32(buf, 8, 0);
    for ((ssrc, seq), out) in entries.iter().zip(buf[12..len].chunks_exact_mut(8)) {
        put32(out, 0, *ssrc);
        out[4] = *seq;
        out[5..8].fill(0);
    }
    Ok(len)
}

/// Writes a generic NACK for the sequence numbers in `lost`, packing each run that fits in 17
/// packets into one `(pid, blp)` entry. `lost` should be in ascending order (modulo 2^16, so a
/// run may cross the wrap); any order is encoded correctly, just less compactly. Returns its
/// length; [`ParseError::Invalid`] if `lost` is empty.
pub fn write_nack(
    buf: &mut [u8],
    sender_ssrc: u32,
    media_ssrc: u32,
    lost: &[u16],
) -> Result<usize, ParseError> {
    if lost.is_empty() {
        return Err(ParseError::Invalid);
    }
    if buf.len() < 16 {
        return Err(ParseError::TooShort);
    }
    let mut len = 12;
    let mut entry: Option<(u16, u16)> = None;
    let flush = |buf: &mut [u8], len: &mut usize, (pid, blp): (u16, u16)| {
        if *len + 4 > buf.len() {
            return Err(ParseError::TooShort);
        }
        put16(buf, *len, pid);
        put16(buf, *len + 2, blp);
        *len += 4;
        Ok(())
    };
    for &seq in lost {
        entry = match entry {
            Some((pid, blp)) => {
                let d = seq.wrapping_sub(pid);
                if d == 0 {
                    Some((pid, blp))
                } else if (1..=16).contains(&d) {
                    Some((pid, blp | (1 << (d - 1))))
                } else {
                    flush(buf, &mut len, (pid, blp))?;
                    Some((seq, 0))
                }
            }
            None => Some((seq, 0)),
        };
    }
    if let Some(e) = entry {
        flush(buf, &mut len, e)?;
    }
    begin(buf, FMT_NACK, PT_RTPFB, len)?;
    put32(buf, 4, sender_ssrc);
    put32(buf, 8, media_ssrc);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: lost,
            highest_seq: 0x0001_fff0,
            jitter: 123,
            lsr: 0xabcd_ef01,
            dlsr: 65536,
        }
    }

    fn only(buf: &[u8]) -> RtcpPacket<'_> {
        let mut it = compound(buf);
        let p = it.next().unwrap().unwrap();
        assert!(it.next().is_none());
        p
    }

    fn info() -> SenderInfo {
        SenderInfo {
            ssrc: 0x1111_2222,
            ntp_sec: 0xe8f0_0000,
            ntp_frac: 0x8000_0000,
            rtp_timestamp: 48_000,
            packet_count: 50,
            octet_count: 8_000,
        }
    }

    #[test]
    fn sender_report_round_trip() {
        let mut buf = [0u8; 200];
        let blocks = [block(1, -5), block(2, 0x7f_ffff), block(3, -0x80_0000)];
        let n = write_sender_report(&mut buf, &info(), &blocks).unwrap();
        assert_eq!(n, 28 + 72);
        let RtcpPacket::SenderReport(sr) = only(&buf[..n]) else {
            panic!("not an SR")
        };
        assert_eq!(sr.sender_info(), info());
        assert_eq!(sr.ssrc(), 0x1111_2222);
        assert_eq!((sr.ntp_sec(), sr.ntp_frac()), (0xe8f0_0000, 0x8000_0000));
        assert_eq!(sr.rtp_timestamp(), 48_000);
        assert_eq!((sr.packet_count(), sr.octet_count()), (50, 8_000));
        assert_eq!(sr.report_blocks().len(), 3);
        assert_eq!(sr.report_blocks().collect::<Vec<_>>(), blocks.to_vec());
    }

    #[test]
    fn cumulative_lost_is_clamped_on_write() {
        let mut buf = [0u8; 64];
        let n =
            write_receiver_report(&mut buf, 9, &[block(1, 1 << 30), block(2, -(1 << 30))]).unwrap();
        let RtcpPacket::ReceiverReport(rr) = only(&buf[..n]) else {
            panic!("not an RR")
        };
        let lost: Vec<_> = rr.report_blocks().map(|b| b.cumulative_lost).collect();
        assert_eq!(lost, vec![0x7f_ffff, -0x80_0000]);
    }

    #[test]
    fn receiver_report_round_trip_and_limits() {
        let mut buf = [0u8; 1024];
        let blocks: Vec<_> = (0..31).map(|i| block(i, i as i32)).collect();
        let n = write_receiver_report(&mut buf, 0xdead, &blocks).unwrap();
        assert_eq!(n, 8 + 31 * 24);
        let RtcpPacket::ReceiverReport(rr) = only(&buf[..n]) else {
            panic!("not an RR")
        };
        assert_eq!(rr.ssrc(), 0xdead);
        assert_eq!(rr.report_blocks().collect::<Vec<_>>(), blocks);
        let too_many: Vec<_> = (0..32).map(|i| block(i, 0)).collect();
        assert_eq!(
            write_receiver_report(&mut buf, 1, &too_many),
            Err(ParseError::Invalid)
        );
        assert_eq!(
            write_sender_report(&mut buf, &info(), &too_many),
            Err(ParseError::Invalid)
        );
        assert_eq!(
            write_receiver_report(&mut buf[..31], 1, &blocks[..1]),
            Err(ParseError::TooShort)
        );
        // An empty RR (RFC 3550 §6.4.2: RC may be 0).
        let n = write_receiver_report(&mut buf, 7, &[]).unwrap();
        assert_eq!(&buf[..n], &[0x80, 201, 0, 1, 0, 0, 0, 7]);
    }

    /// An SR + SDES compound as Chrome sends it for an audio track: RC=0, 16-character CNAME.
    #[test]
    fn browser_like_sr_sdes_compound() {
        #[rustfmt::skip]
        let bytes = [
            // SR, RC=0, length 6
            0x80, 0xc8, 0x00, 0x06,
            0x5f, 0x3a, 0x81, 0x12, // SSRC
            0xea, 0x3b, 0x1c, 0x4d, // NTP seconds
            0x9b, 0xa5, 0xe3, 0x53, // NTP fraction
            0x00, 0x0b, 0xb8, 0x80, // RTP timestamp
            0x00, 0x00, 0x01, 0xf4, // packets: 500
            0x00, 0x00, 0x7d, 0x00, // octets: 32000
            // SDES, SC=1, length 6
            0x81, 0xca, 0x00, 0x06,
            0x5f, 0x3a, 0x81, 0x12, // SSRC
            0x01, 0x10, // CNAME, 16 bytes
            b'9', b'w', b'G', b'b', b'r', b'Q', b'a', b'M',
            b'2', b'x', b'T', b'k', b'f', b'P', b'u', b'Z',
            0x00, 0x00, // END + pad
        ];
        validate_compound(&bytes).unwrap();
        let packets: Vec<_> = compound(&bytes).map(Result::unwrap).collect();
        assert_eq!(packets.len(), 2);
        let RtcpPacket::SenderReport(sr) = packets[0] else {
            panic!("not an SR")
        };
        assert_eq!(sr.ssrc(), 0x5f3a_8112);
        assert_eq!(sr.rtp_timestamp(), 768_128);
        assert_eq!(sr.packet_count(), 500);
        assert_eq!(sr.octet_count(), 32_000);
        assert_eq!(sr.report_blocks().count(), 0);
        let RtcpPacket::Sdes(sdes) = packets[1] else {
            panic!("not SDES")
        };
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].ssrc(), 0x5f3a_8112);
        assert_eq!(chunks[0].cname(), Some(&b"9wGbrQaM2xTkfPuZ"[..]));
        assert_eq!(chunks[0].items().count(), 1);

        // The same bytes from our writers.
        let mut out = [0u8; 64];
        let info = sr.sender_info();
        let n = write_sender_report(&mut out, &info, &[]).unwrap();
        let m = write_sdes_cname(&mut out[n..], info.ssrc, b"9wGbrQaM2xTkfPuZ").unwrap();
        assert_eq!(&out[..n + m], &bytes[..]);
    }

    #[test]
    fn sdes_multiple_chunks_and_items() {
        #[rustfmt::skip]
        let bytes = [
            0x82, 0xca, 0x00, 0x06,
            0, 0, 0, 1, 1, 3, b'a', b'b', b'c', 0, 0, 0, // CNAME "abc", END, pad to 12
            0, 0, 0, 2, 1, 1, b'x', 6, 2, b'h', b'i', 0, // CNAME "x", TOOL "hi", END
        ];
        let RtcpPacket::Sdes(sdes) = only(&bytes) else {
            panic!("not SDES")
        };
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].cname(), Some(&b"abc"[..]));
        assert_eq!(chunks[1].ssrc(), 2);
        assert_eq!(
            chunks[1].items().collect::<Vec<_>>(),
            vec![(1, &b"x"[..]), (6, &b"hi"[..])]
        );
    }

    #[test]
    fn sdes_writer_padding() {
        let mut buf = [0u8; 300];
        for len in 0..=9 {
            let cname = &b"0123456789"[..len];
            let n = write_sdes_cname(&mut buf, 5, cname).unwrap();
            assert_eq!(n % 4, 0);
            let RtcpPacket::Sdes(s) = only(&buf[..n]) else {
                panic!("not SDES")
            };
            assert_eq!(s.chunks().next().unwrap().cname(), Some(cname));
        }
        assert_eq!(
            write_sdes_cname(&mut buf, 5, &[b'a'; 256]),
            Err(ParseError::Invalid)
        );
    }

    #[test]
    fn bye_round_trip() {
        let mut buf = [0u8; 64];
        let n = write_bye(&mut buf, &[1, 2], b"").unwrap();
        assert_eq!(n, 12);
        let RtcpPacket::Bye(bye) = only(&buf[..n]) else {
            panic!("not BYE")
        };
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(bye.reason(), None);
        let n = write_bye(&mut buf, &[3], b"gone").unwrap();
        assert_eq!(n, 16);
        let RtcpPacket::Bye(bye) = only(&buf[..n]) else {
            panic!("not BYE")
        };
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![3]);
        assert_eq!(bye.reason(), Some(&b"gone"[..]));
    }

    #[test]
    fn app_packet() {
        let bytes = [
            0x83, 204, 0, 3, 0, 0, 0, 9, b'q', b'o', b'e', b'!', 1, 2, 3, 4,
        ];
        let RtcpPacket::App(app) = only(&bytes) else {
            panic!("not APP")
        };
        assert_eq!(app.subtype(), 3);
        assert_eq!(app.ssrc(), 9);
        assert_eq!(&app.name(), b"qoe!");
        assert_eq!(app.data(), &[1, 2, 3, 4]);
    }

    #[test]
    fn pli_and_fir_round_trip() {
        let mut buf = [0u8; 64];
        let n = write_pli(&mut buf, 1, 2).unwrap();
        assert_eq!(&buf[..n], &[0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(
            only(&buf[..n]),
            RtcpPacket::Pli(Pli {
                sender_ssrc: 1,
                media_ssrc: 2
            })
        );
        let n = write_fir(&mut buf, 7, &[(0xaaaa, 3), (0xbbbb, 255)]).unwrap();
        assert_eq!(n, 28);
        assert_eq!(buf[0], 0x84);
        let RtcpPacket::Fir(fir) = only(&buf[..n]) else {
            panic!("not FIR")
        };
        assert_eq!(fir.sender_ssrc(), 7);
        assert_eq!(fir.media_ssrc(), 0);
        assert_eq!(
            fir.entries().collect::<Vec<_>>(),
            vec![(0xaaaa, 3), (0xbbbb, 255)]
        );
        assert_eq!(write_fir(&mut buf, 7, &[]), Err(ParseError::Invalid));
        assert_eq!(write_pli(&mut buf[..11], 1, 2), Err(ParseError::TooShort));
    }

    #[test]
    fn feedback_fmts_recognised() {
        // Transport-wide CC: RTPFB FMT 15; body passed through raw.
        let twcc = [
            0x8f, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 1, 0, 0, 0, 0,
        ];
        let RtcpPacket::TransportCc(g) = only(&twcc) else {
            panic!("not transport-cc")
        };
        assert_eq!((g.fmt(), g.sender_ssrc(), g.media_ssrc()), (15, 1, 2));
        assert_eq!(g.fci(), &twcc[12..]);
        // REMB: PSFB FMT 15, "REMB".
        let remb = [
            0x8f, 206, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 1, 0x0a, 0x12, 0x34,
            0, 0, 0, 2,
        ];
        let RtcpPacket::AppLayerFeedback(g) = only(&remb) else {
            panic!("not AFB")
        };
        assert!(g.is_remb());
        assert_eq!(only(&remb).packet_type(), PT_PSFB);
        // TMMBR (RTPFB FMT 3) and XR (PT 207): Other, not errors.
        let tmmbr = [
            0x83, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0,
        ];
        assert!(matches!(
            only(&tmmbr),
            RtcpPacket::Other {
                pt: 205,
                count: 3,
                ..
            }
        ));
        let xr = [0x80, 207, 0, 2, 0, 0, 0, 1, 4, 0, 0, 0];
        assert_eq!(
            only(&xr),
            RtcpPacket::Other {
                pt: 207,
                count: 0,
                body: &xr[4..]
            }
        );
    }

    #[test]
    fn nack_packing_and_expansion() {
        let mut buf = [0u8; 64];
        let lost = [65534, 65535, 0, 1, 17, 20, 40];
        let n = write_nack(&mut buf, 1, 2, &lost).unwrap();
        let RtcpPacket::Nack(nack) = only(&buf[..n]) else {
            panic!("not NACK")
        };
        assert_eq!((nack.sender_ssrc(), nack.media_ssrc()), (1, 2));
        // 65534 + {1,2,3,...}: 65535 (bit 0), 0 (bit 1), 1 (bit 2); 17 is 19 ahead → new entry.
        assert_eq!(
            nack.items().collect::<Vec<_>>(),
            vec![(65534, 0b111), (17, 0b100), (40, 0)]
        );
        assert_eq!(nack.lost().collect::<Vec<_>>(), lost.to_vec());
        // Exactly 16 ahead fits the last BLP bit; duplicates collapse.
        let n = write_nack(&mut buf, 1, 2, &[100, 100, 116]).unwrap();
        let RtcpPacket::Nack(nack) = only(&buf[..n]) else {
            panic!("not NACK")
        };
        assert_eq!(nack.items().collect::<Vec<_>>(), vec![(100, 0x8000)]);
        assert_eq!(nack.lost().collect::<Vec<_>>(), vec![100, 116]);
        // A full BLP across the wrap.
        let bytes = [
            0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xf8, 0xff, 0xff,
        ];
        let RtcpPacket::Nack(nack) = only(&bytes) else {
            panic!("not NACK")
        };
        let expect: Vec<u16> = (0..17u16).map(|i| 0xfff8u16.wrapping_add(i)).collect();
        assert_eq!(nack.lost().collect::<Vec<_>>(), expect);
        assert_eq!(write_nack(&mut buf, 1, 2, &[]), Err(ParseError::Invalid));
        assert_eq!(
            write_nack(&mut buf[..16], 1, 2, &[1, 100]),
            Err(ParseError::TooShort)
        );
    }

    #[test]
    fn compound_of_everything_written_back_to_back() {
        let mut buf = [0u8; 512];
        let mut n = write_receiver_report(&mut buf, 1, &[block(2, 3)]).unwrap();
        n += write_sdes_cname(&mut buf[n..], 1, b"cname").unwrap();
        n += write_nack(&mut buf[n..], 1, 2, &[5, 6]).unwrap();
        n += write_pli(&mut buf[n..], 1, 2).unwrap();
        n += write_fir(&mut buf[n..], 1, &[(2, 1)]).unwrap();
        n += write_bye(&mut buf[n..], &[1], b"").unwrap();
        validate_compound(&buf[..n]).unwrap();
        let types: Vec<_> = compound(&buf[..n])
            .map(|p| p.unwrap().packet_type())
            .collect();
        assert_eq!(
            types,
            vec![PT_RR, PT_SDES, PT_RTPFB, PT_PSFB, PT_PSFB, PT_BYE]
        );
    }

    #[test]
    fn padding_on_last_packet() {
        // RR with P set, 4 bytes of padding (count 4) after an 8-byte body.
        let bytes = [0xa0, 201, 0, 2, 0, 0, 0, 5, 0, 0, 0, 4];
        let RtcpPacket::ReceiverReport(rr) = only(&bytes) else {
            panic!("not RR")
        };
        assert_eq!(rr.ssrc(), 5);
        let zero_pad = [0xa0, 201, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0];
        assert_eq!(validate_compound(&zero_pad), Err(ParseError::BadLength));
        let big_pad = [0xa0, 201, 0, 2, 0, 0, 0, 5, 0, 0, 0, 9];
        assert_eq!(validate_compound(&big_pad), Err(ParseError::BadLength));
        // Padding eating into the SSRC: the RR body is then too short.
        let eaten = [0xa0, 201, 0, 2, 0, 0, 0, 5, 0, 0, 0, 8];
        assert_eq!(validate_compound(&eaten), Err(ParseError::TooShort));
    }

    #[test]
    fn malformed() {
        assert_eq!(validate_compound(&[]), Err(ParseError::TooShort));
        assert!(compound(&[]).next().is_none());
        // Zero-length garbage and short garbage.
        assert_eq!(
            validate_compound(&[0, 0, 0, 0]),
            Err(ParseError::BadVersion)
        );
        assert_eq!(validate_compound(&[0x80, 200]), Err(ParseError::TooShort));
        // Bad version.
        assert_eq!(
            validate_compound(&[0x40, 201, 0, 1, 0, 0, 0, 1]),
            Err(ParseError::BadVersion)
        );
        // Length past the end.
        assert_eq!(
            validate_compound(&[0x80, 201, 0, 2, 0, 0, 0, 1]),
            Err(ParseError::BadLength)
        );
        // SR shorter than its sender info.
        assert_eq!(
            validate_compound(&[0x80, 200, 0, 1, 0, 0, 0, 1]),
            Err(ParseError::TooShort)
        );
        // Truncated report block: RC=1 but only 20 of 24 bytes.
        let mut rr = vec![0x81, 201, 0, 6, 0, 0, 0, 1];
        rr.extend_from_slice(&[0; 20]);
        assert_eq!(validate_compound(&rr), Err(ParseError::BadLength));
        // Count larger than the body: SDES with SC=2 but one chunk; BYE with SC=3, two SSRCs.
        let sdes = [0x82, 202, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(validate_compound(&sdes), Err(ParseError::BadLength));
        let bye = [0x83, 203, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(validate_compound(&bye), Err(ParseError::BadLength));
        // SDES item length past the chunk.
        let sdes = [0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, b'a', b'b'];
        assert_eq!(validate_compound(&sdes), Err(ParseError::BadLength));
        // BYE reason length past the end.
        let bye = [0x81, 203, 0, 2, 0, 0, 0, 1, 5, b'a', b'b', b'c'];
        assert_eq!(validate_compound(&bye), Err(ParseError::BadLength));
        // Feedback without its two SSRCs, NACK FCI not whole entries, FIR half an entry.
        assert_eq!(
            validate_compound(&[0x81, 206, 0, 1, 0, 0, 0, 1]),
            Err(ParseError::TooShort)
        );
        let nack = [0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0x20];
        assert!(validate_compound(&nack).is_ok());
        let fir = [0x84, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2];
        assert_eq!(validate_compound(&fir), Err(ParseError::BadLength));
        // APP shorter than SSRC + name.
        assert_eq!(
            validate_compound(&[0x80, 204, 0, 1, 0, 0, 0, 1]),
            Err(ParseError::TooShort)
        );
    }

    #[test]
    fn iteration_stops_after_first_error() {
        let mut buf = [0u8; 64];
        let n = write_pli(&mut buf, 1, 2).unwrap();
        // Trailing 3 bytes after a good packet, then what would be another good packet.
        buf[n..n + 3].copy_from_slice(&[0x80, 0xc9, 0x00]);
        let m = write_pli(&mut buf[n + 3..], 3, 4).unwrap();
        let items: Vec<_> = compound(&buf[..n + 3 + m]).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(items[1], Err(ParseError::BadLength));
        let items: Vec<_> = compound(&buf[..n + 3]).collect();
        assert_eq!(items[1], Err(ParseError::TooShort));
        let mut copy = buf;
        let results: Vec<_> = compound_mut(&mut copy[..n + 3 + m])
            .map(|r| r.map(|p| p.packet_type()))
            .collect();
        assert_eq!(results, vec![Ok(PT_PSFB), Err(ParseError::BadLength)]);
    }

    #[test]
    fn rewrite_in_place() {
        let mut buf = [0u8; 512];
        let mut n = write_sender_report(&mut buf, &info(), &[block(10, 1)]).unwrap();
        n += write_sdes_cname(&mut buf[n..], 1, b"c").unwrap();
        n += write_nack(&mut buf[n..], 20, 21, &[1]).unwrap();
        n += write_pli(&mut buf[n..], 20, 21).unwrap();
        n += write_fir(&mut buf[n..], 20, &[(21, 1), (22, 2)]).unwrap();
        let before = buf;
        let mut applied = Vec::new();
        for p in compound_mut(&mut buf[..n]) {
            let mut p = p.unwrap();
            let len = p.as_bytes().len();
            applied.push((
                p.set_sender_ssrc(0xaaaa),
                p.set_media_ssrc(0xbbbb),
                p.set_sr_rtp_timestamp(77),
                p.set_sr_packet_count(88),
                p.set_sr_octet_count(99),
                p.set_sr_ntp(5, 6),
                p.map_fir_entries(|ssrc, seq| (ssrc + 100, seq + 1)),
                p.map_report_block_ssrcs(|s| s * 2),
            ));
            assert_eq!(p.as_bytes().len(), len);
        }
        assert_eq!(
            applied,
            vec![
                (true, false, true, true, true, true, false, true),
                (false, false, false, false, false, false, false, false),
                (true, true, false, false, false, false, false, false),
                (true, true, false, false, false, false, false, false),
                (true, true, false, false, false, false, true, false),
            ]
        );
        let packets: Vec<_> = compound(&buf[..n]).map(Result::unwrap).collect();
        let RtcpPacket::SenderReport(sr) = packets[0] else {
            panic!("not SR")
        };
        assert_eq!(
            sr.sender_info(),
            SenderInfo {
                ssrc: 0xaaaa,
                ntp_sec: 5,
                ntp_frac: 6,
                rtp_timestamp: 77,
                packet_count: 88,
                octet_count: 99
            }
        );
        assert_eq!(sr.report_blocks().next().unwrap().ssrc, 20);
        assert_eq!(packets[1], only(&before[28 + 24..28 + 24 + 12]));
        let RtcpPacket::Nack(nack) = packets[2] else {
            panic!("not NACK")
        };
        assert_eq!((nack.sender_ssrc(), nack.media_ssrc()), (0xaaaa, 0xbbbb));
        assert_eq!(nack.lost().collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            packets[3],
            RtcpPacket::Pli(Pli {
                sender_ssrc: 0xaaaa,
                media_ssrc: 0xbbbb
            })
        );
        let RtcpPacket::Fir(fir) = packets[4] else {
            panic!("not FIR")
        };
        assert_eq!(fir.entries().collect::<Vec<_>>(), vec![(121, 2), (122, 3)]);
    }

    #[test]
    fn packet_mut_parse_covers_first_packet_only() {
        let mut buf = [0u8; 64];
        let n = write_pli(&mut buf, 1, 2).unwrap();
        let m = write_pli(&mut buf[n..], 3, 4).unwrap();
        let mut p = RtcpPacketMut::parse(&mut buf[..n + m]).unwrap();
        assert_eq!(p.as_bytes().len(), 12);
        assert_eq!(p.count(), FMT_PLI);
        assert!(p.set_media_ssrc(9));
        assert_eq!(
            RtcpPacket::parse(&buf[n..]).unwrap(),
            RtcpPacket::Pli(Pli {
                sender_ssrc: 3,
                media_ssrc: 4
            })
        );
        assert_eq!(
            RtcpPacketMut::parse(&mut [0x80, 200, 0, 9]).unwrap_err(),
            ParseError::BadLength
        );
    }
}
