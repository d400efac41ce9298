//! The benchmark's packets: an RTP header (RFC 3550 §5.1) and a payload that carries a stamp.
//!
//! Sluice rewrites the RTP header per consumer (SSRC, payload type, sequence number, timestamp)
//! and leaves the payload untouched, so everything the receiver needs to measure is in the
//! payload, right after the 12-byte fixed header:
//!
//! ```text
//!  0       4       6   7   8               16              24
//!  | magic | prod  | f | 0 | sequence (u64) | send ns (u64) | zero padding up to --size
//! ```
//!
//! `prod` is the producer's index, `f` bit 0 marks packets sent inside the measurement window,
//! `sequence` counts the producer's packets from 0 and `send ns` is the send time in nanoseconds
//! since the harness's clock epoch (one `Instant` shared by sender and receiver threads, so the
//! difference is a one-way latency without clock synchronisation). All integers big-endian.
//!
//! The floor forwarder re-sends datagrams byte for byte, so the same decoder reads both.

/// Size of the fixed RTP header (no CSRC, no extension).
pub const RTP_HEADER: usize = 12;
/// Size of the stamp written after the RTP header.
pub const STAMP_LEN: usize = 24;
/// Smallest datagram the harness sends: a header and a stamp.
pub const MIN_PACKET: usize = RTP_HEADER + STAMP_LEN;

const MAGIC: [u8; 4] = *b"SLBM";
const FLAG_MEASURED: u8 = 1;

/// What a packet's payload says about its sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the producer that sent it.
    pub producer: u16,
    /// Sent inside the measurement window.
    pub measured: bool,
    /// The producer's packet counter.
    pub seq: u64,
    /// Send time, nanoseconds since the harness's epoch.
    pub sent_ns: u64,
}

/// RTP header fields the sender sets.
#[derive(Clone, Copy, Debug)]
pub struct RtpFields {
    pub payload_type: u8,
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
}

/// Writes a `size`-byte RTP packet carrying `stamp` into `buf`; returns the length written
/// (`size` clamped to `MIN_PACKET..=buf.len()`).
pub fn write_packet(buf: &mut [u8], size: usize, rtp: RtpFields, stamp: Stamp) -> usize {
    let len = size.max(MIN_PACKET).min(buf.len());
    buf[0] = 0x80; // V=2, no padding, no extension, CC=0.
    buf[1] = rtp.payload_type & 0x7f;
    buf[2..4].copy_from_slice(&rtp.seq.to_be_bytes());
    buf[4..8].copy_from_slice(&rtp.timestamp.to_be_bytes());
    buf[8..12].copy_from_slice(&rtp.ssrc.to_be_bytes());
    encode(&mut buf[RTP_HEADER..RTP_HEADER + STAMP_LEN], stamp);
    buf[RTP_HEADER + STAMP_LEN..len].fill(0);
    len
}

/// Writes `stamp` into the first [`STAMP_LEN`] bytes of `out`.
pub fn encode(out: &mut [u8], stamp: Stamp) {
    out[0..4].copy_from_slice(&MAGIC);
    out[4..6].copy_from_slice(&stamp.producer.to_be_bytes());
    out[6] = if stamp.measured { FLAG_MEASURED } else { 0 };
    out[7] = 0;
    out[8..16].copy_from_slice(&stamp.seq.to_be_bytes());
    out[16..24].copy_from_slice(&stamp.sent_ns.to_be_bytes());
}

/// Reads the stamp of a received RTP datagram: after its fixed header and any CSRCs and header
/// extension (Sluice may add or rewrite extensions). `None` when the datagram is not ours.
pub fn decode_packet(datagram: &[u8]) -> Option<Stamp> {
    decode_packet_after(datagram, 0)
}

/// As [`decode_packet`], for a payload that starts with `prefix` codec bytes before the stamp
/// (the VP8 payload descriptor of the WebRTC scenarios, RFC 7741 §4.2).
pub fn decode_packet_after(datagram: &[u8], prefix: usize) -> Option<Stamp> {
    let first = *datagram.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let csrcs = usize::from(first & 0x0f);
    let mut off = RTP_HEADER + 4 * csrcs;
    if first & 0x10 != 0 {
        // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words.
        let words = datagram.get(off + 2..off + 4)?;
        off += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    decode(datagram.get(off + prefix..)?)
}

/// Reads a stamp from the start of `payload`. `None` when too short or the magic is wrong.
pub fn decode(payload: &[u8]) -> Option<Stamp> {
    let s = payload.get(..STAMP_LEN)?;
    if s[0..4] != MAGIC {
        return None;
    }
    Some(Stamp {
        producer: u16::from_be_bytes([s[4], s[5]]),
        measured: s[6] & FLAG_MEASURED != 0,
        seq: u64::from_be_bytes(s[8..16].try_into().ok()?),
        sent_ns: u64::from_be_bytes(s[16..24].try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        producer: 3,
        measured: true,
        seq: 0x0102_0304_0506_0708,
        sent_ns: 987_654_321_012,
    };
    const RTP: RtpFields = RtpFields {
        payload_type: 100,
        ssrc: 0xdead_beef,
        seq: 65535,
        timestamp: 960,
    };

    #[test]
    fn stamp_round_trips() {
        let mut b = [0u8; STAMP_LEN];
        encode(&mut b, STAMP);
        assert_eq!(decode(&b), Some(STAMP));
        let unmeasured = Stamp {
            measured: false,
            ..STAMP
        };
        encode(&mut b, unmeasured);
        assert_eq!(decode(&b), Some(unmeasured));
    }

    #[test]
    fn packet_has_rtp_header_and_requested_size() {
        let mut buf = [0xaau8; 2048];
        let n = write_packet(&mut buf, 200, RTP, STAMP);
        assert_eq!(n, 200);
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 100);
        assert_eq!(&buf[2..4], &[0xff, 0xff]);
        assert_eq!(&buf[4..8], &960u32.to_be_bytes());
        assert_eq!(&buf[8..12], &[0xde, 0xad, 0xbe, 0xef]);
        assert!(buf[RTP_HEADER + STAMP_LEN..200].iter().all(|&b| b == 0));
        assert_eq!(decode_packet(&buf[..n]), Some(STAMP));
    }

    #[test]
    fn size_is_clamped_to_header_plus_stamp_and_buffer() {
        let mut buf = [0u8; 64];
        assert_eq!(write_packet(&mut buf, 1, RTP, STAMP), MIN_PACKET);
        assert_eq!(write_packet(&mut buf, 1000, RTP, STAMP), 64);
    }

    #[test]
    fn decode_skips_csrcs_and_extension() {
        let mut buf = [0u8; 256];
        let n = write_packet(&mut buf, 100, RTP, STAMP);
        // Insert one CSRC and a one-word extension between header and payload.
        let mut p = Vec::new();
        p.extend_from_slice(&buf[..RTP_HEADER]);
        p[0] = 0x80 | 0x10 | 1;
        p.extend_from_slice(&[0, 0, 0, 7]);
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]);
        p.extend_from_slice(&buf[RTP_HEADER..n]);
        assert_eq!(decode_packet(&p), Some(STAMP));
    }

    #[test]
    fn foreign_or_short_datagrams_are_rejected() {
        let mut buf = [0u8; 64];
        let n = write_packet(&mut buf, 64, RTP, STAMP);
        assert_eq!(decode_packet(&buf[..n - 30]), None, "truncated stamp");
        let mut wrong = buf;
        wrong[RTP_HEADER] = b'X';
        assert_eq!(decode_packet(&wrong), None, "bad magic");
        let mut v1 = buf;
        v1[0] = 0x40;
        assert_eq!(decode_packet(&v1), None, "RTP version 1");
        assert_eq!(decode_packet(&[]), None);
        // Extension length pointing past the end.
        let mut ext = buf;
        ext[0] = 0x90;
        ext[14] = 0xff;
        ext[15] = 0xff;
        assert_eq!(decode_packet(&ext), None);
    }
}
