//! The SFU's per-consumer copy: a received packet written into a send buffer with the consumer's
//! fixed header fields and a header extension block of the consumer's own (RFC 8285), payload
//! and padding copied unchanged.
//!
//! Every forwarded packet is copied once into its send buffer anyway, so the extension block is
//! built during that copy rather than patched in place: an element may change length (a mid of
//! another length than the producer's, RFC 8843 §15), appear where the producer sent none (the
//! mid once libwebrtc stops sending it, a transport-wide sequence number, abs-send-time), or
//! vanish (an extension the consumer did not negotiate). mediasoup reaches the same result by
//! rebuilding the block of every received packet with room for a mid of up to 8 bytes
//! (`Producer::MangleRtpPacket`, `RtpPacket::SetExtensions`) and shrinking it per consumer
//! (`RtpPacket::UpdateMid`); writing the consumer's block outright needs no such reserve.
//!
//! The block uses the one-byte form (RFC 8285 §4.2) when every id is 1..=14 and every element
//! 1..=16 bytes long, the two-byte form (§4.3, appbits 0) otherwise, and is zero-padded to a
//! multiple of 32 bits; with no element the X bit is cleared and no block is written. The CSRC
//! list, the V, P, CC and M bits, the payload and the padding are kept.
//!
//! The elements go straight into the send buffer as the caller's fill function pushes them
//! ([`write_rewritten_with`], [`ExtensionWriter`]), in one pass: the block's length is known
//! once they are written, and the payload is copied after it. A received packet's elements are
//! read once for all its consumers ([`ExtensionElements`], at most [`MAX_ELEMENTS`]). Nothing
//! here allocates. A packet that would not fit is an error, and the caller falls back to
//! rewriting in place ([`super::RtpPacketMut`]).

use super::{ExtForm, FIXED_HEADER_LEN, ONE_BYTE_PROFILE, RtpPacket, TWO_BYTE_PROFILE};

/// Most elements an [`ExtensionElements`] holds: more than any WebRTC stack sends (libwebrtc's
/// one-byte form caps a packet at 14).
pub const MAX_ELEMENTS: usize = 16;

/// Why a rewrite refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The packet has more than [`MAX_ELEMENTS`] extension elements.
    #[error("more than {MAX_ELEMENTS} header extension elements")]
    TooManyElements,
    /// Id 0 (padding, never an element) or data longer than the two-byte form's 255 bytes.
    #[error("header extension id 0 or element longer than 255 bytes")]
    BadElement,
    /// The rewritten packet is longer than the buffer given for it.
    #[error("the rewritten packet does not fit its buffer")]
    NoRoom,
    /// An element the one-byte form cannot carry (id above 14, length outside 1..=16):
    /// [`write_rewritten_with`] then writes the block in the two-byte form, and never returns
    /// this.
    #[error("element needs the two-byte header extension form")]
    NeedsTwoByte,
}

/// The fixed header fields a consumer rewrites (RFC 3550 §5.1); the marker bit is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixedFields {
    /// 7-bit payload type (the top bit is ignored).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// SSRC.
    pub ssrc: u32,
}

/// The RFC 8285 elements of one received packet, read once for all its consumers: the same
/// elements, in the same order, as [`RtpPacket::extensions`], kept as offsets into the packet.
#[derive(Debug, Clone, Copy)]
pub struct ExtensionElements<'a> {
    block: &'a [u8],
    /// `(id, length, offset of the data in block)`.
    items: [(u8, u8, u16); MAX_ELEMENTS],
    len: usize,
}

impl<'a> ExtensionElements<'a> {
    /// Reads the elements of `p` (none for a packet without extension or with a profile that
    /// is neither RFC 8285 form). More than [`MAX_ELEMENTS`] is an error.
    #[inline]
    pub fn read(p: &RtpPacket<'a>) -> Result<Self, RewriteError> {
        let mut e = ExtensionElements {
            block: &[],
            items: [(0, 0, 0); MAX_ELEMENTS],
            len: 0,
        };
        let (Some((start, end)), Some(profile)) = (p.layout.ext, p.extension_profile()) else {
            return Ok(e);
        };
        let block = &p.buf[start..end];
        e.block = block;
        let form = ExtForm::of(profile);
        let mut pos = 0;
        // RFC 8285 §4.2 / §4.3, as `next_element`: zero bytes are padding; in the one-byte form
        // id 15, or id 0 with a length, ends the block; so does a truncated element.
        while let Some(&b) = block.get(pos) {
            if b == 0 {
                pos += 1;
                continue;
            }
            let (id, data, len) = match form {
                ExtForm::OneByte if b >> 4 == 15 || b >> 4 == 0 => break,
                ExtForm::OneByte => (b >> 4, pos + 1, usize::from(b & 0x0f) + 1),
                ExtForm::TwoByte => match block.get(pos + 1) {
                    Some(&l) => (b, pos + 2, usize::from(l)),
                    None => break,
                },
                ExtForm::Opaque => break,
            };
            if data + len > block.len() {
                break;
            }
            let slot = e
                .items
                .get_mut(e.len)
                .ok_or(RewriteError::TooManyElements)?;
            // A block fits a datagram (< 64 KiB) and an element's length is at most 255.
            *slot = (id, len as u8, data as u16);
            e.len += 1;
            pos = data + len;
        }
        Ok(e)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the packet has no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements as `(id, data)`, in order.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = (u8, &'a [u8])> + '_ {
        let block = self.block;
        self.items[..self.len].iter().map(move |&(id, len, off)| {
            let off = usize::from(off);
            (id, &block[off..off + usize::from(len)])
        })
    }
}

/// Writes `src` into `out` with the fixed fields of `fixed` and the header extension block
/// of `elements` in place of `src`'s own; returns the new length. See [`write_rewritten_with`].
pub fn write_rewritten(
    out: &mut [u8],
    src: &RtpPacket<'_>,
    fixed: &FixedFields,
    elements: &[(u8, &[u8])],
) -> Result<usize, RewriteError> {
    write_rewritten_with(out, src, fixed, |w| {
        for &(id, data) in elements {
            w.push(id, data)?;
        }
        Ok(())
    })
}

/// Writes the elements of a header extension block straight into the send buffer, for
/// [`write_rewritten_with`].
#[derive(Debug)]
pub struct ExtensionWriter<'o> {
    out: &'o mut [u8],
    /// Where the next element goes.
    pos: usize,
    two_byte: bool,
}

impl ExtensionWriter<'_> {
    /// Appends one element. In the one-byte form, an id above 14 or a length outside 1..=16
    /// is [`RewriteError::NeedsTwoByte`] (the caller of the fill function retries in the
    /// two-byte form); an element past the end of the buffer is [`RewriteError::NoRoom`].
    #[inline]
    pub fn push(&mut self, id: u8, data: &[u8]) -> Result<(), RewriteError> {
        if id == 0 || data.len() > 255 {
            return Err(RewriteError::BadElement);
        }
        let head = if self.two_byte {
            2
        } else if id <= 14 && (1..=16).contains(&data.len()) {
            1
        } else {
            return Err(RewriteError::NeedsTwoByte);
        };
        let end = self.pos + head + data.len();
        let Some(dst) = self.out.get_mut(self.pos..end) else {
            return Err(RewriteError::NoRoom);
        };
        if head == 1 {
            // 1..=16 bytes: len - 1 fits the nibble.
            dst[0] = (id << 4) | (data.len() - 1) as u8;
        } else {
            dst[0] = id;
            // At most 255, checked above.
            dst[1] = data.len() as u8;
        }
        dst[head..].copy_from_slice(data);
        self.pos = end;
        Ok(())
    }
}

/// Writes `src` into `out` with the fixed fields of `fixed` and a header extension block of
/// the elements `fill` pushes, in place of `src`'s own; returns the new length. The block is in
/// the one-byte form unless an element needs the two-byte form, in which case `fill` is called
/// again for a two-byte block (so it must push the same elements each time). `out` must not
/// overlap `src`. Errors: [`RewriteError::NoRoom`] when the result is longer than `out`,
/// [`RewriteError::BadElement`] as [`ExtensionWriter::push`], or what `fill` returns; `out` is
/// then left unspecified.
#[inline]
pub fn write_rewritten_with<F>(
    out: &mut [u8],
    src: &RtpPacket<'_>,
    fixed: &FixedFields,
    mut fill: F,
) -> Result<usize, RewriteError>
where
    F: FnMut(&mut ExtensionWriter<'_>) -> Result<(), RewriteError>,
{
    let csrc_end = src.layout.csrc_end;
    let tail = &src.buf[src.layout.header_len..];
    if out.len() < csrc_end + tail.len() {
        return Err(RewriteError::NoRoom);
    }
    let elements = csrc_end + 4;
    let mut w = ExtensionWriter {
        out: &mut *out,
        pos: elements,
        two_byte: false,
    };
    match fill(&mut w) {
        Err(RewriteError::NeedsTwoByte) => {
            w.pos = elements;
            w.two_byte = true;
            fill(&mut w)?;
        }
        r => r?,
    }
    let (end, two_byte) = (w.pos, w.two_byte);
    let block = if end == elements {
        0
    } else {
        (end - csrc_end).div_ceil(4) * 4
    };
    let total = csrc_end + block + tail.len();
    if out.len() < total {
        return Err(RewriteError::NoRoom);
    }
    // Of the fixed header only V, P, CC and M survive; the rest is the consumer's.
    let mut head = [0u8; FIXED_HEADER_LEN];
    head[0] = (src.buf[0] & !0x10) | if block > 0 { 0x10 } else { 0 };
    head[1] = (src.buf[1] & 0x80) | (fixed.payload_type & 0x7f);
    head[2..4].copy_from_slice(&fixed.sequence.to_be_bytes());
    head[4..8].copy_from_slice(&fixed.timestamp.to_be_bytes());
    head[8..12].copy_from_slice(&fixed.ssrc.to_be_bytes());
    out[..FIXED_HEADER_LEN].copy_from_slice(&head);
    if csrc_end > FIXED_HEADER_LEN {
        out[FIXED_HEADER_LEN..csrc_end].copy_from_slice(&src.buf[FIXED_HEADER_LEN..csrc_end]);
    }
    if block > 0 {
        let words = u16::try_from((block - 4) / 4).map_err(|_| RewriteError::NoRoom)?;
        let profile = if two_byte {
            TWO_BYTE_PROFILE
        } else {
            ONE_BYTE_PROFILE
        };
        out[csrc_end..csrc_end + 2].copy_from_slice(&profile.to_be_bytes());
        out[csrc_end + 2..csrc_end + 4].copy_from_slice(&words.to_be_bytes());
        out[end..csrc_end + block].fill(0);
    }
    out[csrc_end + block..total].copy_from_slice(tail);
    Ok(total)
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
