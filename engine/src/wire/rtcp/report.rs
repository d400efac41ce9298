//! Sender and receiver reports (RFC 3550 §6.4.1, §6.4.2): the sender information block, reception
//! report blocks as values, views over SR and RR, and their writers.
//!
//! Profile-specific extensions after the report blocks (§6.4.3) are accepted and ignored.

use super::{PT_RR, PT_SR, REPORT_BLOCK_LEN, SENDER_INFO_LEN, begin};
use crate::wire::{ParseError, be32, put32};
use std::slice::ChunksExact;

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
    pub(super) fn parse(body: &'a [u8], count: u8) -> Result<Self, ParseError> {
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
    pub(super) fn parse(body: &'a [u8], count: u8) -> Result<Self, ParseError> {
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
