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
//! Nothing here allocates: [`ExtensionList`] holds at most [`MAX_ELEMENTS`] borrowed elements.
//! A packet that would not fit, or a list the format cannot carry, is an error, and the caller
//! falls back to rewriting in place ([`super::RtpPacketMut`]).

use super::{ONE_BYTE_PROFILE, RtpPacket, TWO_BYTE_PROFILE};
use crate::wire::{put16, put32};

/// Most elements an [`ExtensionList`] holds: more than any WebRTC stack sends (libwebrtc's
/// one-byte form caps a packet at 14).
pub const MAX_ELEMENTS: usize = 16;

/// Why [`write_rewritten`] or [`ExtensionList::push`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The list already holds [`MAX_ELEMENTS`] elements.
    #[error("more than {MAX_ELEMENTS} header extension elements")]
    TooManyElements,
    /// Id 0 (padding, never an element) or data longer than the two-byte form's 255 bytes.
    #[error("header extension id 0 or element longer than 255 bytes")]
    BadElement,
    /// The rewritten packet is longer than the buffer given for it.
    #[error("the rewritten packet does not fit its buffer")]
    NoRoom,
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

/// The elements of a header extension block to write, in order: `(id, data)` pairs borrowed
/// from the received packet or from the caller's stack.
#[derive(Debug, Clone, Copy)]
pub struct ExtensionList<'a> {
    elements: [(u8, &'a [u8]); MAX_ELEMENTS],
    len: usize,
    /// Sum of the elements' data lengths.
    data_len: usize,
    /// Whether every element fits the one-byte form.
    one_byte: bool,
}

impl Default for ExtensionList<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> ExtensionList<'a> {
    /// An empty list.
    pub const fn new() -> Self {
        ExtensionList {
            elements: [(0, &[]); MAX_ELEMENTS],
            len: 0,
            data_len: 0,
            one_byte: true,
        }
    }

    /// Appends an element. Ids are not checked for duplicates: the caller writes each
    /// negotiated id once.
    pub fn push(&mut self, id: u8, data: &'a [u8]) -> Result<(), RewriteError> {
        if id == 0 || data.len() > 255 {
            return Err(RewriteError::BadElement);
        }
        let slot = self
            .elements
            .get_mut(self.len)
            .ok_or(RewriteError::TooManyElements)?;
        *slot = (id, data);
        self.len += 1;
        self.data_len += data.len();
        self.one_byte &= id <= 14 && (1..=16).contains(&data.len());
        Ok(())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty (the packet is written without a header extension).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the block is written in the one-byte form (RFC 8285 §4.2).
    pub fn is_one_byte(&self) -> bool {
        self.one_byte
    }

    /// The elements, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &'a [u8])> + '_ {
        self.elements[..self.len].iter().copied()
    }

    /// Bytes the block takes in the packet: the 4-byte extension header, the elements and
    /// their padding to 32 bits; 0 for an empty list.
    pub fn block_len(&self) -> usize {
        if self.len == 0 {
            return 0;
        }
        let per_element = if self.one_byte { 1 } else { 2 };
        4 + (self.data_len + per_element * self.len).div_ceil(4) * 4
    }
}

/// Writes `src` into `out` with the fixed fields of `fixed` and the header extension block
/// of `ext` in place of `src`'s own; returns the new length. `out` must not overlap `src`.
/// Errors with [`RewriteError::NoRoom`] when the result is longer than `out`, which is then
/// left unspecified.
pub fn write_rewritten(
    out: &mut [u8],
    src: &RtpPacket<'_>,
    fixed: &FixedFields,
    ext: &ExtensionList<'_>,
) -> Result<usize, RewriteError> {
    let csrc_end = src.layout.csrc_end;
    let tail = &src.buf[src.layout.header_len..];
    let block = ext.block_len();
    let total = csrc_end + block + tail.len();
    if out.len() < total {
        return Err(RewriteError::NoRoom);
    }
    out[..csrc_end].copy_from_slice(&src.buf[..csrc_end]);
    out[0] = (out[0] & !0x10) | if block > 0 { 0x10 } else { 0 };
    out[1] = (out[1] & 0x80) | (fixed.payload_type & 0x7f);
    put16(out, 2, fixed.sequence);
    put32(out, 4, fixed.timestamp);
    put32(out, 8, fixed.ssrc);
    if block > 0 {
        let profile = if ext.one_byte {
            ONE_BYTE_PROFILE
        } else {
            TWO_BYTE_PROFILE
        };
        put16(out, csrc_end, profile);
        // At most MAX_ELEMENTS × 257 bytes: the word count fits u16.
        put16(out, csrc_end + 2, ((block - 4) / 4) as u16);
        let mut pos = csrc_end + 4;
        for (id, data) in ext.iter() {
            if ext.one_byte {
                // 1..=16 bytes in the one-byte form: len - 1 fits the nibble.
                out[pos] = (id << 4) | (data.len() - 1) as u8;
                pos += 1;
            } else {
                out[pos] = id;
                // At most 255, checked by push.
                out[pos + 1] = data.len() as u8;
                pos += 2;
            }
            out[pos..pos + data.len()].copy_from_slice(data);
            pos += data.len();
        }
        out[pos..csrc_end + block].fill(0);
    }
    out[csrc_end + block..total].copy_from_slice(tail);
    Ok(total)
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
