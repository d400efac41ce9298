//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
//! §3.1, RTPFB FMT 15): a writer ([`TransportCcWriter`]) and a view ([`TransportCc`]) over what
//! [`super::Generic`] hands over raw.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|  FMT=15 |    PT=205     |           length              |
//! |                     SSRC of packet sender                     |
//! |                      SSRC of media source                     |
//! |      base sequence number     |      packet status count      |
//! |                 reference time                | fb pkt. count |
//! |          packet chunk         |         packet chunk          |
//! .                                                               .
//! |         packet chunk          |  recv delta   |  recv delta   |
//! .                                                               .
//! |           recv delta          |  recv delta   | zero padding  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! One status per transport-wide sequence number from the base on (§3.1.1): not received (00),
//! received with a small delta (01: one unsigned byte), received with a large or negative delta
//! (10: two signed bytes); deltas in 250 µs units (§3.1.5), the first one from the reference
//! time (24 bits, 64 ms units), each later one from the previous received packet. Statuses go
//! into 16-bit chunks (§3.1.2): a run of one status up to 8191 long (§3.1.3), or a vector of 14
//! one-bit or 7 two-bit statuses (§3.1.4).
//!
//! The writer picks chunks as libwebrtc's `TransportFeedback` does (its `LastChunk`): statuses
//! gather until no chunk can take the next one, then the longest chunk that holds them goes
//! out: a run if they are all alike, else a 14-status one-bit vector, else a 7-status two-bit
//! vector with the rest kept for the next chunk. The last chunk may be a partly filled vector
//! (the status count says where the statuses end). The packet is padded to 32 bits with the
//! RTCP padding bit set (RFC 3550 §6.4.1), as libwebrtc and str0m do.
//!
//! The view checks upfront that the chunks cover the status count and that the deltas they call
//! for are all there, so its iterator cannot read out of bounds. It refuses the reserved status
//! 11 (draft -01 called it "received, without delta"; libwebrtc rejects it) and an empty status
//! count, as libwebrtc does.

use super::{FMT_TRANSPORT_CC, Generic, PT_RTPFB, begin};
use crate::wire::{ParseError, be16, put16, put32};

/// Longest feedback packet the writer builds: one fits an SRTCP datagram under a 1280-byte IPv6
/// MTU with room to spare (mediasoup caps its own at its 1500-byte MTU).
pub const MAX_TRANSPORT_CC_LEN: usize = 1200;

/// Header, two SSRCs, base, count, reference time and feedback count.
const FIXED_LEN: usize = 20;
/// Longest run a run length chunk holds (13 bits).
const MAX_RUN: u16 = 0x1fff;
const ONE_BIT_CAPACITY: usize = 14;
const TWO_BIT_CAPACITY: usize = 7;

/// Status symbols (§3.1.1).
const NOT_RECEIVED: u8 = 0;
const SMALL: u8 = 1;
const LARGE: u8 = 2;

/// The status symbol and the length in bytes of the delta of one packet: `None` not received,
/// `Some(delta)` received `delta` × 250 µs after the previous one.
fn symbol(delta: Option<i16>) -> (u8, usize) {
    match delta {
        None => (NOT_RECEIVED, 0),
        Some(0..=255) => (SMALL, 1),
        Some(_) => (LARGE, 2),
    }
}

/// The statuses not yet written into a chunk (libwebrtc's `LastChunk`, our own code).
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    /// The first [`ONE_BIT_CAPACITY`] symbols (a longer pending list is a run of `syms[0]`).
    syms: [u8; ONE_BIT_CAPACITY],
    len: usize,
    all_same: bool,
    has_large: bool,
}

impl Pending {
    fn can_add(&self, sym: u8) -> bool {
        self.len < TWO_BIT_CAPACITY
            || (self.len < ONE_BIT_CAPACITY && !self.has_large && sym != LARGE)
            || (self.all_same && self.syms[0] == sym && self.len < usize::from(MAX_RUN))
    }

    fn add(&mut self, sym: u8) {
        if self.len < ONE_BIT_CAPACITY {
            self.syms[self.len] = sym;
        }
        self.all_same = self.len == 0 || (self.all_same && self.syms[0] == sym);
        self.has_large |= sym == LARGE;
        self.len += 1;
    }

    /// The chunk of the longest prefix that fits one, removed from the list; called when the
    /// next status does not fit (so `len >= 7`).
    fn emit(&mut self) -> u16 {
        if self.all_same {
            let chunk = run_chunk(self.syms[0], self.len);
            *self = Self::default();
            return chunk;
        }
        if self.len == ONE_BIT_CAPACITY {
            let chunk = one_bit_chunk(&self.syms);
            *self = Self::default();
            return chunk;
        }
        let chunk = two_bit_chunk(&self.syms[..TWO_BIT_CAPACITY]);
        let rest = self.len - TWO_BIT_CAPACITY;
        let mut left = Self::default();
        for i in 0..rest {
            left.add(self.syms[TWO_BIT_CAPACITY + i]);
        }
        *self = left;
        chunk
    }

    /// The chunk of everything pending, at the end of a packet (`len > 0`).
    fn last(&self) -> u16 {
        if self.all_same {
            run_chunk(self.syms[0], self.len)
        } else if self.len <= TWO_BIT_CAPACITY {
            two_bit_chunk(&self.syms[..self.len])
        } else {
            one_bit_chunk(&self.syms[..self.len])
        }
    }
}

/// §3.1.3: T=0, the symbol, a 13-bit run length.
fn run_chunk(sym: u8, len: usize) -> u16 {
    (u16::from(sym) << 13) | (len as u16 & MAX_RUN)
}

/// §3.1.4: T=1, S=0, up to 14 one-bit symbols, first in the highest bit; missing ones are 0.
fn one_bit_chunk(syms: &[u8]) -> u16 {
    syms.iter().enumerate().fold(0x8000, |c, (i, &s)| {
        c | (u16::from(s & 1) << (ONE_BIT_CAPACITY - 1 - i))
    })
}

/// §3.1.4: T=1, S=1, up to 7 two-bit symbols, first in the highest bits; missing ones are 0.
fn two_bit_chunk(syms: &[u8]) -> u16 {
    syms.iter().enumerate().fold(0xc000, |c, (i, &s)| {
        c | (u16::from(s & 3) << (2 * (TWO_BIT_CAPACITY - 1 - i)))
    })
}

/// Builds one feedback packet into a caller's buffer, one status at a time: every status is
/// accepted only if the packet, finished right after it, still fits the buffer (and
/// [`MAX_TRANSPORT_CC_LEN`]). Nothing is allocated: the deltas wait in an array of the writer's
/// own until [`Self::finish`] puts them after the chunks.
pub struct TransportCcWriter<'a> {
    buf: &'a mut [u8],
    /// Bytes of chunks written so far, from [`FIXED_LEN`] on.
    chunks_len: usize,
    pending: Pending,
    deltas: [u8; MAX_TRANSPORT_CC_LEN],
    deltas_len: usize,
    count: u16,
}

impl<'a> TransportCcWriter<'a> {
    /// Starts a feedback packet of `sender_ssrc` about `media_ssrc` whose first status is that
    /// of `base_seq`; `reference_time` is in 64 ms units (its low 24 bits are written).
    /// [`ParseError::TooShort`] if `buf` cannot hold even one received status.
    pub fn new(
        buf: &'a mut [u8],
        sender_ssrc: u32,
        media_ssrc: u32,
        base_seq: u16,
        reference_time: u32,
        feedback_count: u8,
    ) -> Result<Self, ParseError> {
        let limit = buf.len().min(MAX_TRANSPORT_CC_LEN);
        // The smallest useful packet: one chunk and one large delta.
        if limit < FIXED_LEN + 4 {
            return Err(ParseError::TooShort);
        }
        let buf = &mut buf[..limit];
        put32(buf, 4, sender_ssrc);
        put32(buf, 8, media_ssrc);
        put16(buf, 12, base_seq);
        put32(buf, 16, (reference_time << 8) | u32::from(feedback_count));
        Ok(Self {
            buf,
            chunks_len: 0,
            pending: Pending::default(),
            deltas: [0; MAX_TRANSPORT_CC_LEN],
            deltas_len: 0,
            count: 0,
        })
    }

    /// Number of statuses written.
    pub fn status_count(&self) -> u16 {
        self.count
    }

    /// Adds the status of the next sequence number: `None` not received, `Some(delta)` received
    /// `delta` × 250 µs after the previous received packet of this feedback (the first one:
    /// after the reference time). [`ParseError::TooShort`] if the packet would no longer fit,
    /// [`ParseError::Invalid`] past 65535 statuses; the writer is unchanged then.
    pub fn push(&mut self, delta: Option<i16>) -> Result<(), ParseError> {
        if self.count == u16::MAX {
            return Err(ParseError::Invalid);
        }
        let (sym, delta_len) = symbol(delta);
        let mut pending = self.pending;
        let mut chunks_len = self.chunks_len;
        if !pending.can_add(sym) {
            pending.emit();
            chunks_len += 2;
        }
        pending.add(sym);
        let len = FIXED_LEN + chunks_len + 2 + self.deltas_len + delta_len;
        if len.next_multiple_of(4) > self.buf.len() {
            return Err(ParseError::TooShort);
        }
        if chunks_len > self.chunks_len {
            let chunk = self.pending.emit();
            put16(self.buf, FIXED_LEN + self.chunks_len, chunk);
            self.chunks_len = chunks_len;
        }
        self.pending.add(sym);
        match delta {
            Some(d) if delta_len == 1 => self.deltas[self.deltas_len] = d as u8,
            Some(d) => self.deltas[self.deltas_len..][..2].copy_from_slice(&d.to_be_bytes()),
            None => {}
        }
        self.deltas_len += delta_len;
        self.count += 1;
        Ok(())
    }

    /// Writes the last chunk, the deltas, the padding and the header; returns the packet's
    /// length. [`ParseError::Invalid`] without any status.
    pub fn finish(self) -> Result<usize, ParseError> {
        if self.count == 0 {
            return Err(ParseError::Invalid);
        }
        let chunk = self.pending.last();
        put16(self.buf, FIXED_LEN + self.chunks_len, chunk);
        put16(self.buf, 14, self.count);
        let deltas_at = FIXED_LEN + self.chunks_len + 2;
        let end = deltas_at + self.deltas_len;
        self.buf[deltas_at..end].copy_from_slice(&self.deltas[..self.deltas_len]);
        let len = end.next_multiple_of(4);
        let pad = len - end;
        begin(self.buf, FMT_TRANSPORT_CC, PT_RTPFB, len)?;
        if pad > 0 {
            self.buf[end..len - 1].fill(0);
            self.buf[len - 1] = pad as u8;
            self.buf[0] |= 0x20;
        }
        Ok(len)
    }
}

/// A transport-wide congestion control feedback packet, validated (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportCc<'a> {
    sender_ssrc: u32,
    media_ssrc: u32,
    base_seq: u16,
    status_count: u16,
    reference_time: u32,
    feedback_count: u8,
    /// The chunks, exactly as many as the status count needs.
    chunks: &'a [u8],
    /// The deltas the chunks call for, and what follows them (zero padding of senders that
    /// do not set the padding bit).
    deltas: &'a [u8],
}

impl<'a> TransportCc<'a> {
    /// Parses the FCI of an RTPFB FMT 15 packet (`RtcpPacket::TransportCc`).
    pub fn parse(packet: &Generic<'a>) -> Result<Self, ParseError> {
        if packet.fmt() != FMT_TRANSPORT_CC {
            return Err(ParseError::Invalid);
        }
        let fci = packet.fci();
        if fci.len() < 8 {
            return Err(ParseError::TooShort);
        }
        let status_count = be16(fci, 2);
        if status_count == 0 {
            return Err(ParseError::Invalid);
        }
        let mut at = 8;
        let mut statuses = 0usize;
        let mut delta_bytes = 0usize;
        while statuses < usize::from(status_count) {
            if at + 2 > fci.len() {
                return Err(ParseError::TooShort);
            }
            let left = usize::from(status_count) - statuses;
            let chunk = Chunk::of(be16(fci, at));
            let n = chunk.len().min(left);
            for i in 0..n {
                match chunk.symbol(i) {
                    NOT_RECEIVED => {}
                    SMALL => delta_bytes += 1,
                    LARGE => delta_bytes += 2,
                    _ => return Err(ParseError::Invalid),
                }
            }
            statuses += n;
            at += 2;
        }
        if fci.len() < at + delta_bytes {
            return Err(ParseError::TooShort);
        }
        Ok(Self {
            sender_ssrc: packet.sender_ssrc(),
            media_ssrc: packet.media_ssrc(),
            base_seq: be16(fci, 0),
            status_count,
            reference_time: u32::from_be_bytes([0, fci[4], fci[5], fci[6]]),
            feedback_count: fci[7],
            chunks: &fci[8..at],
            deltas: &fci[at..],
        })
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        self.sender_ssrc
    }

    /// SSRC of the media source.
    pub fn media_ssrc(&self) -> u32 {
        self.media_ssrc
    }

    /// Transport-wide sequence number of the first status.
    pub fn base_seq(&self) -> u16 {
        self.base_seq
    }

    /// Number of statuses.
    pub fn status_count(&self) -> u16 {
        self.status_count
    }

    /// The reference time field, in 64 ms units (24 bits, as sent).
    pub fn reference_time(&self) -> u32 {
        self.reference_time
    }

    /// The feedback packet count (8 bits, wrapping).
    pub fn feedback_count(&self) -> u8 {
        self.feedback_count
    }

    /// The packet chunks, as sent (two bytes each).
    pub fn chunks(&self) -> &'a [u8] {
        self.chunks
    }

    /// Every status in sequence order: the sequence number and, when received, the delta in
    /// 250 µs units from the previous received packet (the first one: from the reference time).
    pub fn packets(&self) -> TransportCcPackets<'a> {
        TransportCcPackets {
            chunks: self.chunks,
            deltas: self.deltas,
            seq: self.base_seq,
            left: self.status_count,
            index: 0,
        }
    }
}

/// One packet chunk, decoded.
#[derive(Debug, Clone, Copy)]
enum Chunk {
    Run(u8, usize),
    OneBit(u16),
    TwoBit(u16),
}

impl Chunk {
    fn of(c: u16) -> Self {
        match c >> 14 {
            0 | 1 => Chunk::Run(((c >> 13) & 3) as u8, usize::from(c & MAX_RUN)),
            2 => Chunk::OneBit(c),
            _ => Chunk::TwoBit(c),
        }
    }

    fn len(self) -> usize {
        match self {
            Chunk::Run(_, n) => n,
            Chunk::OneBit(_) => ONE_BIT_CAPACITY,
            Chunk::TwoBit(_) => TWO_BIT_CAPACITY,
        }
    }

    fn symbol(self, i: usize) -> u8 {
        match self {
            Chunk::Run(s, _) => s,
            Chunk::OneBit(c) => ((c >> (ONE_BIT_CAPACITY - 1 - i)) & 1) as u8,
            Chunk::TwoBit(c) => ((c >> (2 * (TWO_BIT_CAPACITY - 1 - i))) & 3) as u8,
        }
    }
}

/// Iterator over the statuses of a [`TransportCc`]: `(sequence number, delta)`.
#[derive(Debug, Clone)]
pub struct TransportCcPackets<'a> {
    chunks: &'a [u8],
    deltas: &'a [u8],
    seq: u16,
    left: u16,
    /// Position in the current (first) chunk.
    index: usize,
}

impl Iterator for TransportCcPackets<'_> {
    type Item = (u16, Option<i16>);

    fn next(&mut self) -> Option<Self::Item> {
        // The chunks were checked to cover `left` statuses, the deltas to be there.
        while self.left > 0 && self.chunks.len() >= 2 {
            let chunk = Chunk::of(be16(self.chunks, 0));
            if self.index >= chunk.len() {
                self.chunks = &self.chunks[2..];
                self.index = 0;
                continue;
            }
            let sym = chunk.symbol(self.index);
            self.index += 1;
            let delta = match sym {
                SMALL => {
                    let d = i16::from(*self.deltas.first()?);
                    self.deltas = &self.deltas[1..];
                    Some(d)
                }
                LARGE if self.deltas.len() >= 2 => {
                    let d = be16(self.deltas, 0) as i16;
                    self.deltas = &self.deltas[2..];
                    Some(d)
                }
                NOT_RECEIVED => None,
                _ => return None,
            };
            let seq = self.seq;
            self.seq = seq.wrapping_add(1);
            self.left -= 1;
            return Some((seq, delta));
        }
        None
    }
}
