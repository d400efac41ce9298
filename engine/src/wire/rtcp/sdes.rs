//! Source description (RFC 3550 §6.5): chunks of SSRC/CSRC plus `(type, value)` items, and a
//! writer for the one item every compound packet carries, CNAME (§6.5.1).
//!
//! Items other than CNAME are handed over by type; none is interpreted here.

use super::{PT_SDES, SDES_CNAME, begin};
use crate::wire::{ParseError, be32, put32};

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
    pub(super) fn parse(body: &'a [u8], count: u8) -> Result<Self, ParseError> {
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

/// Writes an SDES with one CNAME chunk per `(ssrc, cname)` (1 to 31 chunks, each CNAME at most
/// 255 bytes), as a compound packet carries for every source it reports on (RFC 3550 §6.1).
/// Returns its length.
pub fn write_sdes_cnames<'a, I>(buf: &mut [u8], chunks: I) -> Result<usize, ParseError>
where
    I: IntoIterator<Item = (u32, &'a [u8])>,
{
    let mut at = 4;
    let mut count = 0u8;
    for (ssrc, cname) in chunks {
        if count == 31 {
            return Err(ParseError::Invalid);
        }
        let cname_len = u8::try_from(cname.len()).map_err(|_| ParseError::Invalid)?;
        // SSRC, item type and length, value, at least one null octet, padded to 32 bits.
        let chunk = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
        if at + chunk > buf.len() {
            return Err(ParseError::TooShort);
        }
        put32(buf, at, ssrc);
        buf[at + 4] = SDES_CNAME;
        buf[at + 5] = cname_len;
        buf[at + 6..at + 6 + cname.len()].copy_from_slice(cname);
        buf[at + 6 + cname.len()..at + chunk].fill(0);
        at += chunk;
        count += 1;
    }
    if count == 0 {
        return Err(ParseError::Invalid);
    }
    begin(buf, count, PT_SDES, at)?;
    Ok(at)
}
