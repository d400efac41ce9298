//! Feedback messages (RFC 4585 §6.1): generic NACK (§6.2.1), picture loss indication (§6.3.1),
//! full intra request (RFC 5104 §4.3.1), and [`Generic`] for the FMTs recognised but passed through
//! raw: transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01
//! §3.1) and application-layer feedback such as REMB (RFC 4585 §6.4). Writers for NACK, PLI and
//! FIR.

use super::{FMT_FIR, FMT_NACK, FMT_PLI, PT_PSFB, PT_RTPFB, begin};
use crate::wire::{ParseError, be16, be32, put16, put32};
use std::slice::ChunksExact;

/// Reads the two SSRCs every feedback message starts with (RFC 4585 §6.1).
fn fb_ssrcs(body: &[u8]) -> Result<(u32, u32), ParseError> {
    if body.len() < 8 {
        return Err(ParseError::TooShort);
    }
    Ok((be32(body, 0), be32(body, 4)))
}

/// The two SSRCs and an FCI of whole `entry`-byte entries (NACK 4, FIR 8).
fn fb_entries(body: &[u8], entry: usize) -> Result<(u32, u32, &[u8]), ParseError> {
    let (sender_ssrc, media_ssrc) = fb_ssrcs(body)?;
    let fci = &body[8..];
    if !fci.len().is_multiple_of(entry) {
        return Err(ParseError::BadLength);
    }
    Ok((sender_ssrc, media_ssrc, fci))
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
    pub(super) fn parse(body: &'a [u8], fmt: u8) -> Result<Self, ParseError> {
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
    pub(super) fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (sender_ssrc, media_ssrc, fci) = fb_entries(body, 4)?;
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
    pub(super) fn parse(body: &[u8]) -> Result<Self, ParseError> {
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
    pub(super) fn parse(body: &'a [u8]) -> Result<Self, ParseError> {
        let (sender_ssrc, media_ssrc, fci) = fb_entries(body, 8)?;
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
