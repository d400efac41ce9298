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

/// RFC 1982 serial-number comparison on 16-bit sequence numbers: is `a` newer than `b`?
///
/// `a` is newer when it is ahead of `b` by 1..2^15 (modulo 2^16). At exactly 2^15 apart the RFC
/// leaves the order undefined; as libwebrtc does, the numerically larger one is then newer, so the
/// relation stays antisymmetric.
pub fn seq_is_newer(a: u16, b: u16) -> bool {
    let d = a.wrapping_sub(b);
    if d == 0x8000 {
        a > b
    } else {
        d != 0 && d < 0x8000
    }
}

/// RFC 1982 serial-number comparison on 32-bit RTP timestamps: is `a` newer than `b`?
pub fn timestamp_is_newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    if d == 0x8000_0000 {
        a > b
    } else {
        d != 0 && d < 0x8000_0000
    }
}

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
    if buf.len() < 12 {
        return;
    }
    buf[1] = (buf[1] & 0x80) | (payload_type & 0x7F);
    buf[2..4].copy_from_slice(&sequence.to_be_bytes());
    buf[4..8].copy_from_slice(&timestamp.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// Extends wrapping counters to 64 bits: the value nearest (in serial arithmetic) to the newest
/// one seen so far. `BITS` is 16 or 32.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Unwrapper<const BITS: u32> {
    /// The newest extended value seen.
    newest: Option<u64>,
}

impl<const BITS: u32> Unwrapper<BITS> {
    fn extend(&mut self, v: u64) -> Option<u64> {
        let Some(newest) = self.newest else {
            self.newest = Some(v);
            return Some(v);
        };
        let modulus = 1u64 << BITS;
        let mask = modulus - 1;
        let forward = v.wrapping_sub(newest) & mask;
        let half = modulus >> 1;
        if forward == 0 {
            Some(newest)
        } else if forward < half || (forward == half && v > newest & mask) {
            let ext = newest + forward;
            self.newest = Some(ext);
            Some(ext)
        } else {
            newest.checked_sub(modulus - forward)
        }
    }
}

/// Extends 16-bit RTP sequence numbers to `u64`, across wrap-around and with reordering of up to
/// ±2^15 packets. The first value seen is taken as is (cycle 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqUnwrapper(Unwrapper<16>);

impl SeqUnwrapper {
    /// A fresh unwrapper.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq`. `None` only for a packet older than the first one seen that
    /// would fall below zero (it predates the stream as far as this unwrapper knows).
    pub fn extend(&mut self, seq: u16) -> Option<u64> {
        self.0.extend(u64::from(seq))
    }

    /// The newest extended value seen so far.
    pub fn newest(&self) -> Option<u64> {
        self.0.newest
    }
}

/// Extends 32-bit RTP timestamps to `u64`, across wrap-around and with jumps of up to ±2^31.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimestampUnwrapper(Unwrapper<32>);

impl TimestampUnwrapper {
    /// A fresh unwrapper.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `ts`; `None` as for [`SeqUnwrapper::extend`].
    pub fn extend(&mut self, ts: u32) -> Option<u64> {
        self.0.extend(u64::from(ts))
    }

    /// The newest extended value seen so far.
    pub fn newest(&self) -> Option<u64> {
        self.0.newest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: [u8; 12] = [
        0x80, 0xe0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
    ];

    fn packet(ext: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut v = HDR.to_vec();
        if !ext.is_empty() {
            v[0] |= 0x10;
        }
        v.extend_from_slice(ext);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn fixed_header_fields() {
        let buf = packet(&[], b"hello");
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.version(), 2);
        assert!(!p.padding());
        assert!(!p.has_extension());
        assert!(p.marker());
        assert_eq!(p.payload_type(), 96);
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 0xdead_beef);
        assert_eq!(p.ssrc(), 0x0102_0304);
        assert_eq!(p.csrcs().count(), 0);
        assert_eq!(p.header_len(), 12);
        assert_eq!(p.payload_offset(), 12);
        assert_eq!(p.payload(), b"hello");
        assert_eq!(p.padding_len(), 0);
        assert_eq!(p.extension_profile(), None);
        assert_eq!(p.extensions().count(), 0);
    }

    #[test]
    fn header_only_packet_is_valid() {
        let p = RtpPacket::parse(&HDR).unwrap();
        assert!(p.payload().is_empty());
    }

    #[test]
    fn csrcs_and_padding() {
        let mut buf = HDR.to_vec();
        buf[0] = 0x80 | 0x20 | 2; // P, CC=2
        buf.extend_from_slice(&[0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]);
        buf.extend_from_slice(b"pay");
        buf.extend_from_slice(&[0, 0, 3]);
        let p = RtpPacket::parse(&buf).unwrap();
        assert!(p.padding());
        assert_eq!(p.csrc_count(), 2);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![7, 0xffff_ffff]);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.payload(), b"pay");
        assert_eq!(p.padding_len(), 3);
    }

    #[test]
    fn padding_may_be_the_whole_body() {
        let mut buf = HDR.to_vec();
        buf[0] |= 0x20;
        buf.extend_from_slice(&[0, 0, 0, 4]);
        let p = RtpPacket::parse(&buf).unwrap();
        assert!(p.payload().is_empty());
        assert_eq!(p.padding_len(), 4);
    }

    #[test]
    fn malformed() {
        assert_eq!(RtpPacket::parse(&[]), Err(ParseError::TooShort));
        assert_eq!(RtpPacket::parse(&HDR[..11]), Err(ParseError::TooShort));
        for v in [0x00, 0x40, 0xc0] {
            let mut b = HDR;
            b[0] = v;
            assert_eq!(RtpPacket::parse(&b), Err(ParseError::BadVersion));
        }
        // CSRC count past the end.
        let mut b = packet(&[], &[0, 0, 0, 1]);
        b[0] |= 2;
        assert_eq!(RtpPacket::parse(&b), Err(ParseError::BadLength));
        // Extension header itself truncated.
        let mut b = HDR.to_vec();
        b[0] |= 0x10;
        b.extend_from_slice(&[0xbe, 0xde]);
        assert_eq!(RtpPacket::parse(&b), Err(ParseError::BadLength));
        // Extension length past the end.
        let b = packet(&[0xbe, 0xde, 0, 2, 0x10, 1, 0, 0], &[]);
        assert_eq!(RtpPacket::parse(&b), Err(ParseError::BadLength));
        // Padding count 0.
        let mut b = packet(&[], &[1, 2, 0]);
        b[0] |= 0x20;
        assert_eq!(RtpPacket::parse(&b), Err(ParseError::BadLength));
        // Padding count larger than the body.
        let mut b = packet(&[], &[1, 2, 4]);
        b[0] |= 0x20;
        assert_eq!(RtpPacket::parse(&b), Err(ParseError::BadLength));
        // Padding bit on a header-only packet: the count byte would be inside the header.
        let mut b = HDR;
        b[0] |= 0x20;
        b[11] = 1;
        assert_eq!(RtpPacket::parse(&b), Err(ParseError::BadLength));
        let mut m = b;
        assert_eq!(
            RtpPacketMut::parse(&mut m).unwrap_err(),
            ParseError::BadLength
        );
    }

    /// RFC 8285 §4.2 figure: ID/L=0 + 1 byte, ID/L=1 + 2 bytes, two padding bytes, ID/L=3 + 4.
    #[test]
    fn rfc8285_one_byte_example() {
        let ext = [
            0xbe, 0xde, 0x00, 0x03, //
            0x10, 0xaa, 0x21, 0xbb, //
            0xbb, 0x00, 0x00, 0x33, //
            0xcc, 0xcc, 0xcc, 0xcc,
        ];
        let buf = packet(&ext, b"x");
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.extension_profile(), Some(0xbede));
        assert_eq!(p.header_len(), 12 + 16);
        assert_eq!(p.payload(), b"x");
        let got: Vec<_> = p.extensions().collect();
        assert_eq!(
            got,
            vec![
                (1, &[0xaa][..]),
                (2, &[0xbb, 0xbb][..]),
                (3, &[0xcc, 0xcc, 0xcc, 0xcc][..])
            ]
        );
        assert_eq!(p.extension(2), Some(&[0xbb, 0xbb][..]));
        assert_eq!(p.extension(4), None);
    }

    /// RFC 8285 §4.3 figure: ID/L=0, ID/L=1 + 1 byte, one padding byte, ID/L=4 + 4 bytes.
    #[test]
    fn rfc8285_two_byte_example() {
        let ext = [
            0x10, 0x00, 0x00, 0x03, //
            0x01, 0x00, 0x02, 0x01, //
            0xaa, 0x00, 0x03, 0x04, //
            0xcc, 0xcc, 0xcc, 0xcc,
        ];
        let buf = packet(&ext, b"");
        let p = RtpPacket::parse(&buf).unwrap();
        let got: Vec<_> = p.extensions().collect();
        assert_eq!(
            got,
            vec![
                (1, &[][..]),
                (2, &[0xaa][..]),
                (3, &[0xcc, 0xcc, 0xcc, 0xcc][..])
            ]
        );
        // appbits in the low nibble are ignored.
        let mut buf2 = buf.clone();
        buf2[13] = 0x0f;
        let p2 = RtpPacket::parse(&buf2).unwrap();
        assert_eq!(p2.extension_profile(), Some(0x100f));
        assert_eq!(p2.extensions().count(), 3);
    }

    #[test]
    fn one_byte_id_15_stops_parsing() {
        let ext = [0xbe, 0xde, 0, 2, 0x10, 0xaa, 0xf0, 0x20, 0xbb, 0, 0, 0];
        let buf = packet(&ext, b"");
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.extensions().collect::<Vec<_>>(), vec![(1, &[0xaa][..])]);
    }

    #[test]
    fn one_byte_id_0_with_length_stops_parsing() {
        let ext = [0xbe, 0xde, 0, 2, 0x10, 0xaa, 0x01, 0x20, 0xbb, 0, 0, 0];
        let buf = packet(&ext, b"");
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.extensions().collect::<Vec<_>>(), vec![(1, &[0xaa][..])]);
    }

    #[test]
    fn truncated_element_ends_iteration() {
        // One-byte: id 1 claims 4 bytes but only 2 remain in the block.
        let ext = [0xbe, 0xde, 0, 1, 0x10, 0xaa, 0x23, 0xbb];
        let buf = packet(&ext, b"zz");
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.extensions().collect::<Vec<_>>(), vec![(1, &[0xaa][..])]);
        assert_eq!(p.payload(), b"zz");
        // Two-byte: length byte missing.
        let ext = [0x10, 0x00, 0, 1, 0x00, 0x00, 0x00, 0x05];
        let buf = packet(&ext, b"");
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.extensions().count(), 0);
    }

    #[test]
    fn unknown_profile_is_opaque() {
        let ext = [0x12, 0x34, 0, 1, 1, 2, 3, 4];
        let buf = packet(&ext, b"p");
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.extension_profile(), Some(0x1234));
        assert_eq!(p.extension_data(), Some(&[1, 2, 3, 4][..]));
        assert_eq!(p.extensions().count(), 0);
        assert_eq!(p.payload(), b"p");
    }

    #[test]
    fn write_then_parse_one_byte() {
        let h = RtpHeader {
            marker: true,
            payload_type: 111,
            sequence: 65535,
            timestamp: 0xffff_fff0,
            ssrc: 0xcafe_babe,
        };
        let mut buf = [0u8; 64];
        let exts: [(u8, &[u8]); 2] = [(1, &[0x42]), (14, &[1, 2, 3])];
        let n = write_rtp(&mut buf, &h, &exts, b"opus").unwrap();
        assert_eq!(n, 12 + 4 + 8 + 4);
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 111);
        assert_eq!(p.sequence(), 65535);
        assert_eq!(p.timestamp(), 0xffff_fff0);
        assert_eq!(p.ssrc(), 0xcafe_babe);
        assert_eq!(p.extension_profile(), Some(ONE_BYTE_PROFILE));
        assert_eq!(p.extensions().collect::<Vec<_>>(), exts.to_vec());
        assert_eq!(p.payload(), b"opus");
    }

    #[test]
    fn write_then_parse_two_byte() {
        let h = RtpHeader {
            payload_type: 96,
            ..RtpHeader::default()
        };
        let big = [7u8; 17];
        let mut buf = [0u8; 128];
        // id 15 and a 17-byte element both force the two-byte form; an empty element is allowed.
        let exts: [(u8, &[u8]); 3] = [(15, &[1]), (200, &big), (3, &[])];
        let n = write_rtp(&mut buf, &h, &exts, b"v").unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.extension_profile(), Some(TWO_BYTE_PROFILE));
        assert_eq!(p.extensions().collect::<Vec<_>>(), exts.to_vec());
        assert_eq!(p.payload(), b"v");
        assert_eq!((p.header_len() - 16) % 4, 0);
    }

    #[test]
    fn write_errors() {
        let h = RtpHeader::default();
        let mut small = [0u8; 12];
        assert_eq!(
            write_rtp(&mut small, &h, &[], b"x"),
            Err(ParseError::TooShort)
        );
        assert_eq!(write_rtp(&mut small, &h, &[], b""), Ok(12));
        let mut buf = [0u8; 600];
        let bad_pt = RtpHeader {
            payload_type: 128,
            ..h
        };
        assert_eq!(
            write_rtp(&mut buf, &bad_pt, &[], b""),
            Err(ParseError::Invalid)
        );
        assert_eq!(
            write_rtp(&mut buf, &h, &[(0, &[1])], b""),
            Err(ParseError::Invalid)
        );
        let huge = [0u8; 256];
        assert_eq!(
            write_rtp(&mut buf, &h, &[(1, &huge)], b""),
            Err(ParseError::Invalid)
        );
    }

    fn rewritable() -> Vec<u8> {
        let mut buf = vec![0u8; 64];
        let h = RtpHeader {
            marker: true,
            payload_type: 100,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        };
        let exts: [(u8, &[u8]); 3] = [(1, &[0x11]), (3, &[0x33, 0x33]), (5, &[0x55, 0x55, 0x55])];
        let n = write_rtp(&mut buf, &h, &exts, b"data").unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn setters_rewrite_in_place() {
        let mut buf = rewritable();
        let len = buf.len();
        let mut m = RtpPacketMut::parse(&mut buf).unwrap();
        m.set_payload_type(0xff); // top bit ignored
        assert!(m.marker());
        assert_eq!(m.payload_type(), 127);
        m.set_payload_type(97);
        m.set_marker(false);
        assert_eq!(m.payload_type(), 97);
        m.set_marker(true);
        assert_eq!(m.payload_type(), 97);
        m.set_sequence(0xabcd);
        m.set_timestamp(0x1234_5678);
        m.set_ssrc(0x8765_4321);
        m.extension_mut(3).unwrap().copy_from_slice(&[9, 9]);
        assert!(m.extension_mut(4).is_none());
        m.payload_mut()[0] = b'D';
        assert_eq!(
            (m.sequence(), m.timestamp(), m.ssrc()),
            (0xabcd, 0x1234_5678, 0x8765_4321)
        );
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(buf.len(), len);
        assert!(p.marker());
        assert_eq!(p.payload_type(), 97);
        assert_eq!(p.extension(3), Some(&[9, 9][..]));
        assert_eq!(p.payload(), b"Data");
    }

    #[test]
    fn remap_one_byte_with_drop() {
        let mut buf = rewritable();
        let before = buf.clone();
        let mut map = [0u8; 256];
        map[1] = 7;
        map[3] = 0; // not negotiated: dropped
        map[5] = 15; // out of one-byte range: dropped
        RtpPacketMut::parse(&mut buf)
            .unwrap()
            .remap_extension_ids(&map);
        assert_eq!(buf.len(), before.len());
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.extensions().collect::<Vec<_>>(), vec![(7, &[0x11][..])]);
        assert_eq!(p.payload(), b"data");
        // Keep everything, renumbered.
        let mut buf = before.clone();
        let mut map = [0u8; 256];
        map[1] = 2;
        map[3] = 4;
        map[5] = 14;
        RtpPacketMut::parse(&mut buf)
            .unwrap()
            .remap_extension_ids(&map);
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(
            p.extensions().collect::<Vec<_>>(),
            vec![
                (2, &[0x11][..]),
                (4, &[0x33, 0x33][..]),
                (14, &[0x55, 0x55, 0x55][..])
            ]
        );
    }

    #[test]
    fn remap_two_byte_with_drop() {
        let mut buf = vec![0u8; 64];
        let exts: [(u8, &[u8]); 3] = [(1, &[]), (20, &[0x20; 20]), (3, &[0x33])];
        let n = write_rtp(&mut buf, &RtpHeader::default(), &exts, b"pp").unwrap();
        buf.truncate(n);
        let mut map = [0u8; 256];
        map[1] = 200;
        map[3] = 30;
        RtpPacketMut::parse(&mut buf)
            .unwrap()
            .remap_extension_ids(&map);
        assert_eq!(buf.len(), n);
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(
            p.extensions().collect::<Vec<_>>(),
            vec![(200, &[][..]), (30, &[0x33][..])]
        );
        assert_eq!(p.payload(), b"pp");
    }

    #[test]
    fn remap_without_extension_is_a_no_op() {
        let mut buf = packet(&[], b"abc");
        let before = buf.clone();
        RtpPacketMut::parse(&mut buf)
            .unwrap()
            .remap_extension_ids(&[0; 256]);
        assert_eq!(buf, before);
    }

    #[test]
    fn serial_arithmetic() {
        assert!(seq_is_newer(1, 0));
        assert!(!seq_is_newer(0, 1));
        assert!(!seq_is_newer(5, 5));
        assert!(seq_is_newer(0, 65535));
        assert!(seq_is_newer(10, 65530));
        assert!(!seq_is_newer(65530, 10));
        assert!(seq_is_newer(0x7fff, 0));
        // Exactly half apart: larger is newer, antisymmetric.
        assert!(seq_is_newer(0x8000, 0));
        assert!(!seq_is_newer(0, 0x8000));
        assert!(timestamp_is_newer(5, u32::MAX - 5));
        assert!(!timestamp_is_newer(u32::MAX - 5, 5));
        assert!(timestamp_is_newer(0x8000_0000, 0));
        assert!(!timestamp_is_newer(0, 0x8000_0000));
    }

    #[test]
    fn seq_unwrapper_across_wrap_and_reorder() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.extend(65533), Some(65533));
        assert_eq!(u.extend(65535), Some(65535));
        assert_eq!(u.extend(0), Some(65536));
        assert_eq!(u.extend(65534), Some(65534)); // reordered, before the wrap
        assert_eq!(u.extend(2), Some(65538));
        assert_eq!(u.extend(1), Some(65537));
        assert_eq!(u.newest(), Some(65538));
        assert_eq!(u.extend(2), Some(65538));
        // Forward jump just under half a cycle.
        assert_eq!(u.extend(2 + 0x7fff), Some(65538 + 0x7fff));
        // Many cycles.
        let mut u = SeqUnwrapper::new();
        let mut expect = 100u64;
        u.extend(100);
        for _ in 0..300_000 {
            expect += 1000;
            assert_eq!(u.extend(expect as u16), Some(expect));
        }
        // Older than the first packet, below zero.
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.extend(3), Some(3));
        assert_eq!(u.extend(65535), None);
        assert_eq!(u.extend(2), Some(2));
        assert_eq!(u.extend(4), Some(4));
    }

    #[test]
    fn timestamp_unwrapper_across_wrap() {
        let mut u = TimestampUnwrapper::new();
        assert_eq!(u.extend(u32::MAX - 959), Some(u64::from(u32::MAX) - 959));
        assert_eq!(u.extend(0), Some(1u64 << 32));
        assert_eq!(u.extend(u32::MAX), Some(u64::from(u32::MAX)));
        assert_eq!(u.extend(960), Some((1u64 << 32) + 960));
    }
}
