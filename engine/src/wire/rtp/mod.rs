//! RTP packets as borrowed views: RFC 3550 §5.1 (fixed header, CSRCs, padding), §5.3.1 (header
//! extension) and RFC 8285 (one-byte and two-byte header extension elements).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers  (CC × 32)  |
//! |  profile (0xBEDE / 0x100x)    |   length (32-bit words)       |  if X
//! |                  header extension elements ...                |
//! |                  payload ...            | padding | pad count |  if P
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`RtpPacket::parse`] validates every length once (version, CSRC count, extension length,
//! padding count) so that the accessors afterwards are infallible. [`RtpPacketMut`] is the same
//! view over `&mut [u8]` with the in-place rewrites an SFU does per consumer: payload type, marker,
//! sequence number, timestamp, SSRC and RFC 8285 extension ids (an id the consumer did not
//! negotiate becomes padding, RFC 8285 §4.2/§4.3). Neither allocates.
//!
//! [`write_rtp`] builds packets for tests, benchmarks and the SFU's own probes; [`seq_is_newer`],
//! [`SeqUnwrapper`] and [`TimestampUnwrapper`] implement RFC 1982 serial-number arithmetic on
//! 16-bit sequence numbers and 32-bit timestamps.
//!
//! ```
//! use sluice_engine::wire::rtp::{RtpHeader, RtpPacket, RtpPacketMut, write_rtp};
//!
//! let mut buf = [0u8; 64];
//! let h = RtpHeader { payload_type: 111, sequence: 7, ssrc: 0x1234, ..RtpHeader::default() };
//! let n = write_rtp(&mut buf, &h, &[(1, &[0x30][..])], b"opus")?;
//!
//! // Per consumer: rewrite in place; extension 1 was not negotiated, so it becomes padding.
//! let mut p = RtpPacketMut::parse(&mut buf[..n])?;
//! p.set_ssrc(0xabcd);
//! p.set_payload_type(100);
//! p.remap_extension_ids(&[0; 256]);
//!
//! let p = RtpPacket::parse(&buf[..n])?;
//! assert_eq!((p.ssrc(), p.payload_type(), p.extension(1)), (0xabcd, 100, None));
//! assert_eq!(p.payload(), b"opus");
//! # Ok::<(), sluice_engine::wire::ParseError>(())
//! ```
//!
//! Not done here: SRTP (RFC 3711, in `crypto/`), codec payload descriptors, and interpretation of
//! extension element contents (abs-send-time, transport-wide sequence number, …), which belong to
//! the RTC layer that knows the negotiated id ↔ URI mapping.

mod seq;
/// Rewrites the fixed-position header fields of a packet that already parsed as RTP (RFC 3550
/// §5.1): payload type (keeping the marker bit), sequence number, timestamp and SSRC. The SFU's
/// per-consumer rewrite; it does not re-validate, so `buf` must hold at least the 12-byte fixed
/// header (a shorter buffer is left untouched).
#[inline]
pub fn rewrite_fixed_header(
    buf: &mut [u8],
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
) {
    if buf.len() < FIXED_HEADER_LEN {
        return;
    }
    buf[1] = (buf[1] & 0x80) | (payload_type & 0x7F);
    buf[2..4].copy_from_slice(&sequence.to_be_bytes());
    buf[4..8].copy_from_slice(&timestamp.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests;

pub use seq::{SeqUnwrapper, TimestampUnwrapper, seq_is_newer, timestamp_is_newer};

use super::{ParseError, be16, be32, put16, put32};

/// Size of the fixed RTP header (RFC 3550 §5.1).
pub const FIXED_HEADER_LEN: usize = 12;
/// Profile of the RFC 8285 §4.2 one-byte header extension form.
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// Profile of the RFC 8285 §4.3 two-byte header extension form (low nibble: "appbits").
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

/// Offsets a successful parse computes once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// End of the CSRC list (start of the extension header if X is set).
    csrc_end: usize,
    /// Start and end of the extension elements (after the 4-byte extension header), if X is set.
    ext: Option<(usize, usize)>,
    /// Fixed header + CSRCs + extension: where the payload starts.
    header_len: usize,
    /// Where the payload ends (the packet length minus padding).
    payload_end: usize,
}

fn layout(buf: &[u8]) -> Result<Layout, ParseError> {
    if buf.len() < FIXED_HEADER_LEN {
        return Err(ParseError::TooShort);
    }
    if buf[0] >> 6 != 2 {
        return Err(ParseError::BadVersion);
    }
    let cc = usize::from(buf[0] & 0x0f);
    let csrc_end = FIXED_HEADER_LEN + 4 * cc;
    if csrc_end > buf.len() {
        return Err(ParseError::BadLength);
    }
    let (ext, header_len) = if buf[0] & 0x10 != 0 {
        if csrc_end + 4 > buf.len() {
            return Err(ParseError::BadLength);
        }
        let words = usize::from(be16(buf, csrc_end + 2));
        let start = csrc_end + 4;
        let end = start + 4 * words;
        if end > buf.len() {
            return Err(ParseError::BadLength);
        }
        (Some((start, end)), end)
    } else {
        (None, csrc_end)
    };
    let payload_end = if buf[0] & 0x20 != 0 {
        let pad = usize::from(buf[buf.len() - 1]);
        if pad == 0 || pad > buf.len() - header_len {
            return Err(ParseError::BadLength);
        }
        buf.len() - pad
    } else {
        buf.len()
    };
    Ok(Layout {
        csrc_end,
        ext,
        header_len,
        payload_end,
    })
}

/// Which RFC 8285 form a header extension block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExtForm {
    OneByte,
    TwoByte,
    /// Some other profile (RFC 3550 §5.3.1): opaque, no elements.
    Opaque,
}

impl ExtForm {
    fn of(profile: u16) -> Self {
        if profile == ONE_BYTE_PROFILE {
            ExtForm::OneByte
        } else if profile & 0xfff0 == TWO_BYTE_PROFILE {
            ExtForm::TwoByte
        } else {
            ExtForm::Opaque
        }
    }
}

/// One extension element's position within the extension block.
#[derive(Debug, Clone, Copy)]
struct Element {
    id: u8,
    /// Offset of the element's first header byte.
    start: usize,
    /// Offset of its data.
    data: usize,
    /// Offset one past its data.
    end: usize,
}

/// Finds the next element at or after `pos` in `block` (RFC 8285 §4.2, §4.3). Padding bytes
/// (zero) are skipped; in the one-byte form id 15 or id 0 with a non-zero length, and in either
/// form a truncated element or the end of the block, end the walk (`None`).
fn next_element(block: &[u8], form: ExtForm, mut pos: usize) -> Option<Element> {
    loop {
        let b = *block.get(pos)?;
        if b == 0 {
            pos += 1;
            continue;
        }
        let el = match form {
            ExtForm::OneByte => {
                let id = b >> 4;
                // 15 is reserved and ends the walk (RFC 8285 §4.2). Id 0 is padding only as a
                // whole zero byte; id 0 with a non-zero length is undefined, and libwebrtc stops
                // there too.
                if id == 15 || id == 0 {
                    return None;
                }
                let len = usize::from(b & 0x0f) + 1;
                Element {
                    id,
                    start: pos,
                    data: pos + 1,
                    end: pos + 1 + len,
                }
            }
            ExtForm::TwoByte => {
                let len = usize::from(*block.get(pos + 1)?);
                Element {
                    id: b,
                    start: pos,
                    data: pos + 2,
                    end: pos + 2 + len,
                }
            }
            ExtForm::Opaque => return None,
        };
        return (el.end <= block.len()).then_some(el);
    }
}

/// A validated, read-only view of an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    layout: Layout,
}

impl<'a> RtpPacket<'a> {
    /// Validates `buf` as one RTP packet (RFC 3550 §5.1): version 2, at least 12 bytes, the CSRC
    /// list and header extension inside the packet, and a padding count of at least 1 that fits
    /// after the header.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        Ok(RtpPacket {
            buf,
            layout: layout(buf)?,
        })
    }

    /// The whole packet, padding included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The version field (always 2 after a successful parse).
    pub fn version(&self) -> u8 {
        self.buf[0] >> 6
    }

    /// The P bit.
    pub fn padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// The X bit.
    pub fn has_extension(&self) -> bool {
        self.buf[0] & 0x10 != 0
    }

    /// Number of CSRCs (the CC field).
    pub fn csrc_count(&self) -> u8 {
        self.buf[0] & 0x0f
    }

    /// The M bit.
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }

    /// The sequence number.
    pub fn sequence(&self) -> u16 {
        be16(self.buf, 2)
    }

    /// The RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        be32(self.buf, 4)
    }

    /// The synchronisation source.
    pub fn ssrc(&self) -> u32 {
        be32(self.buf, 8)
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.buf[FIXED_HEADER_LEN..self.layout.csrc_end]
            .chunks_exact(4)
            .map(|c| be32(c, 0))
    }

    /// Fixed header + CSRCs + header extension, in bytes.
    pub fn header_len(&self) -> usize {
        self.layout.header_len
    }

    /// Offset of the payload within the packet (equal to [`header_len`](Self::header_len)).
    pub fn payload_offset(&self) -> usize {
        self.layout.header_len
    }

    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.layout.header_len..self.layout.payload_end]
    }

    /// Bytes of padding at the end, the count byte included (0 when P is clear).
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.layout.payload_end
    }

    /// The header extension's profile field ("defined by profile", RFC 3550 §5.3.1), if X is set.
    pub fn extension_profile(&self) -> Option<u16> {
        self.layout
            .ext
            .map(|_| be16(self.buf, self.layout.csrc_end))
    }

    /// The raw extension block after its 4-byte header, if X is set.
    pub fn extension_data(&self) -> Option<&'a [u8]> {
        self.layout.ext.map(|(s, e)| &self.buf[s..e])
    }

    /// The RFC 8285 extension elements as `(id, data)`. Empty for a profile that is neither the
    /// one-byte (0xBEDE) nor the two-byte (0x100x) form.
    pub fn extensions(&self) -> Extensions<'a> {
        let (block, form) = match (self.layout.ext, self.extension_profile()) {
            (Some((s, e)), Some(p)) => (&self.buf[s..e], ExtForm::of(p)),
            _ => (&self.buf[..0], ExtForm::Opaque),
        };
        Extensions {
            block,
            form,
            pos: 0,
        }
    }

    /// The data of the first extension element with `id`.
    pub fn extension(&self, id: u8) -> Option<&'a [u8]> {
        self.extensions().find(|&(i, _)| i == id).map(|(_, d)| d)
    }
}

/// Iterator over RFC 8285 extension elements, yielding `(id, data)`. See
/// [`RtpPacket::extensions`].
#[derive(Debug, Clone)]
pub struct Extensions<'a> {
    block: &'a [u8],
    form: ExtForm,
    pos: usize,
}

impl<'a> Iterator for Extensions<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match next_element(self.block, self.form, self.pos) {
            Some(el) => {
                self.pos = el.end;
                Some((el.id, &self.block[el.data..el.end]))
            }
            None => {
                self.pos = self.block.len();
                None
            }
        }
    }
}

/// A validated view of an RTP packet over mutable bytes, for in-place rewriting. Setters never
/// change the packet's length.
#[derive(Debug)]
pub struct RtpPacketMut<'a> {
    buf: &'a mut [u8],
    layout: Layout,
}

impl<'a> RtpPacketMut<'a> {
    /// Validates `buf` exactly as [`RtpPacket::parse`] does.
    pub fn parse(buf: &'a mut [u8]) -> Result<Self, ParseError> {
        let layout = layout(buf)?;
        Ok(RtpPacketMut { buf, layout })
    }

    /// A read-only view with every getter of [`RtpPacket`].
    pub fn as_packet(&self) -> RtpPacket<'_> {
        RtpPacket {
            buf: self.buf,
            layout: self.layout,
        }
    }

    /// The M bit.
    pub fn marker(&self) -> bool {
        self.as_packet().marker()
    }

    /// The payload type.
    pub fn payload_type(&self) -> u8 {
        self.as_packet().payload_type()
    }

    /// The sequence number.
    pub fn sequence(&self) -> u16 {
        self.as_packet().sequence()
    }

    /// The RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        self.as_packet().timestamp()
    }

    /// The SSRC.
    pub fn ssrc(&self) -> u32 {
        self.as_packet().ssrc()
    }

    /// Sets the 7-bit payload type, keeping the marker bit. The top bit of `pt` is ignored.
    pub fn set_payload_type(&mut self, pt: u8) {
        self.buf[1] = (self.buf[1] & 0x80) | (pt & 0x7f);
    }

    /// Sets or clears the marker bit.
    pub fn set_marker(&mut self, marker: bool) {
        self.buf[1] = (self.buf[1] & 0x7f) | if marker { 0x80 } else { 0 };
    }

    /// Sets the sequence number.
    pub fn set_sequence(&mut self, seq: u16) {
        put16(self.buf, 2, seq);
    }

    /// Sets the RTP timestamp.
    pub fn set_timestamp(&mut self, ts: u32) {
        put32(self.buf, 4, ts);
    }

    /// Sets the SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        put32(self.buf, 8, ssrc);
    }

    /// The payload (without padding), writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.layout.header_len..self.layout.payload_end]
    }

    fn ext_block(&self) -> Option<(usize, usize, ExtForm)> {
        let (s, e) = self.layout.ext?;
        Some((s, e, ExtForm::of(be16(self.buf, self.layout.csrc_end))))
    }

    /// The data of the first extension element with `id`, writable (e.g. to stamp a
    /// transport-wide sequence number or abs-send-time per consumer).
    pub fn extension_mut(&mut self, id: u8) -> Option<&mut [u8]> {
        let (s, e, form) = self.ext_block()?;
        let block = &self.buf[s..e];
        let mut pos = 0;
        let el = loop {
            let el = next_element(block, form, pos)?;
            if el.id == id {
                break el;
            }
            pos = el.end;
        };
        Some(&mut self.buf[s + el.data..s + el.end])
    }

    /// Writes `value` into the first extension element with `id` when it has exactly that
    /// length; otherwise overwrites the whole element with zero bytes, which receivers skip as
    /// padding (RFC 8285 §4.2), since an element cannot grow or shrink in place. Returns
    /// whether the value was written. A packet without the element is left as it is.
    pub fn set_or_clear_extension(&mut self, id: u8, value: &[u8]) -> bool {
        let Some((s, e, form)) = self.ext_block() else {
            return false;
        };
        let mut pos = 0;
        while let Some(el) = next_element(&self.buf[s..e], form, pos) {
            pos = el.end;
            if el.id != id {
                continue;
            }
            if el.end - el.data == value.len() {
                self.buf[s + el.data..s + el.end].copy_from_slice(value);
                return true;
            }
            self.buf[s + el.start..s + el.end].fill(0);
            return false;
        }
        false
    }

    /// Rewrites every extension element's id in place: the new id is `map[old]`. A mapped value of
    /// 0 means the consumer did not negotiate that extension: the element (header and data) is
    /// overwritten with zero bytes, which receivers skip as padding (RFC 8285 §4.2, §4.3). In the
    /// one-byte form a mapped value above 14 is treated as 0, since 15 is reserved. The packet's
    /// length never changes.
    pub fn remap_extension_ids(&mut self, map: &[u8; 256]) {
        let Some((s, e, form)) = self.ext_block() else {
            return;
        };
        let mut pos = 0;
        while let Some(el) = next_element(&self.buf[s..e], form, pos) {
            pos = el.end;
            let new = map[usize::from(el.id)];
            let (start, end) = (s + el.start, s + el.end);
            match form {
                ExtForm::OneByte if (1..=14).contains(&new) => {
                    self.buf[start] = (new << 4) | (self.buf[start] & 0x0f);
                }
                ExtForm::TwoByte if new != 0 => self.buf[start] = new,
                _ => self.buf[start..end].fill(0),
            }
        }
    }
}

/// The fields [`write_rtp`] writes into the fixed header (no CSRCs, version 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// The M bit.
    pub marker: bool,
    /// 7-bit payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// SSRC.
    pub ssrc: u32,
}

/// Writes an RTP packet into `buf` and returns its length.
///
/// Extensions use the RFC 8285 one-byte form when every id is 1..=14 and every length 1..=16,
/// the two-byte form (profile 0x1000) otherwise; the block is zero-padded to 32 bits. No
/// extensions means no X bit.
///
/// Errors: [`ParseError::TooShort`] if `buf` is too small; [`ParseError::Invalid`] for a payload
/// type above 127, an extension id of 0, or (two-byte form) an element longer than 255 bytes.
pub fn write_rtp(
    buf: &mut [u8],
    h: &RtpHeader,
    extensions: &[(u8, &[u8])],
    payload: &[u8],
) -> Result<usize, ParseError> {
    if h.payload_type > 127 {
        return Err(ParseError::Invalid);
    }
    let one_byte = extensions
        .iter()
        .all(|(id, d)| (1..=14).contains(id) && (1..=16).contains(&d.len()));
    let per_element = if one_byte { 1 } else { 2 };
    let mut ext_len = 0usize;
    for (id, d) in extensions {
        if *id == 0 || d.len() > 255 {
            return Err(ParseError::Invalid);
        }
        ext_len += per_element + d.len();
    }
    let ext_padded = ext_len.div_ceil(4) * 4;
    if ext_padded / 4 > usize::from(u16::MAX) {
        return Err(ParseError::Invalid);
    }
    let ext_total = if extensions.is_empty() {
        0
    } else {
        4 + ext_padded
    };
    let total = FIXED_HEADER_LEN + ext_total + payload.len();
    if buf.len() < total {
        return Err(ParseError::TooShort);
    }
    let x = if extensions.is_empty() { 0 } else { 0x10 };
    buf[0] = 0x80 | x;
    buf[1] = (if h.marker { 0x80 } else { 0 }) | h.payload_type;
    put16(buf, 2, h.sequence);
    put32(buf, 4, h.timestamp);
    put32(buf, 8, h.ssrc);
    let mut pos = FIXED_HEADER_LEN;
    if !extensions.is_empty() {
        let profile = if one_byte {
            ONE_BYTE_PROFILE
        } else {
            TWO_BYTE_PROFILE
        };
        put16(buf, pos, profile);
        // Checked above: ext_padded / 4 fits in u16.
        put16(buf, pos + 2, (ext_padded / 4) as u16);
        pos += 4;
        let block_end = pos + ext_padded;
        for (id, d) in extensions {
            if one_byte {
                // 1..=16 bytes, so len - 1 fits the nibble.
                buf[pos] = (id << 4) | (d.len() - 1) as u8;
                pos += 1;
            } else {
                buf[pos] = *id;
                // At most 255, checked above.
                buf[pos + 1] = d.len() as u8;
                pos += 2;
            }
            buf[pos..pos + d.len()].copy_from_slice(d);
            pos += d.len();
        }
        buf[pos..block_end].fill(0);
        pos = block_end;
    }
    buf[pos..pos + payload.len()].copy_from_slice(payload);
    Ok(total)
}
