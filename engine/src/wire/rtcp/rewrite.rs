//! In-place rewriting of RTCP for an SFU relaying between a producer's and a consumer's SSRC
//! spaces: the sender SSRC of SR/RR/APP/feedback (RFC 3550 §6.4, RFC 4585 §6.1), the media SSRC of
//! feedback, FIR entries (RFC 5104 §4.3.1.1), report block SSRCs and an SR's sender information.
//!
//! Every rewrite keeps the packet's length; a setter that does not apply to the packet's type
//! writes nothing and returns `false`.

use super::{
    FMT_FIR, PT_APP, PT_PSFB, PT_RR, PT_RTPFB, PT_SR, REPORT_BLOCK_LEN, SENDER_INFO_LEN,
    parse_first,
};
use crate::wire::{ParseError, be32, put32};

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
    /// Validates the first packet in `buf` as [`RtcpPacket::parse`](super::RtcpPacket::parse)
    /// does; the view covers that packet only.
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

    /// The packet's bytes, e.g. to [`RtcpPacket::parse`](super::RtcpPacket::parse) them.
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
