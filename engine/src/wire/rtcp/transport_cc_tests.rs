//! Tests of the transport-wide CC feedback writer and view: byte vectors computed by hand from
//! the layouts and chunk examples of draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1,
//! round trips through our view, and webrtc-rs's `rtcp` crate as an independent parser of what
//! we write. Random status lists never make the writer or the view panic and always read back.

use super::*;
use crate::test_rng::XorShift;
use ::rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, SymbolSizeTypeTcc, SymbolTypeTcc, TransportLayerCc,
};

/// Writes one feedback with `statuses` (deltas in 250 µs units, `None` not received).
fn write(buf: &mut [u8], base: u16, reference: u32, count: u8, statuses: &[Option<i16>]) -> usize {
    let mut w = TransportCcWriter::new(buf, 0x0102_0304, 0x0506_0708, base, reference, count)
        .expect("room for a feedback");
    for &s in statuses {
        w.push(s).expect("fits");
    }
    w.finish().expect("statuses")
}

/// Our view of a datagram holding one feedback packet.
fn ours(buf: &[u8]) -> (TransportCc<'_>, Vec<(u16, Option<i16>)>) {
    let mut it = compound(buf);
    let Some(Ok(RtcpPacket::TransportCc(g))) = it.next() else {
        panic!("not a transport-cc feedback: {buf:02x?}")
    };
    assert!(it.next().is_none());
    let fb = TransportCc::parse(&g).expect("our view parses what we wrote");
    let packets = fb.packets().collect();
    (fb, packets)
}

/// webrtc-rs's reading of the same bytes: the header fields and `(seq, delta in µs)`.
fn theirs(buf: &[u8]) -> (TransportLayerCc, Vec<(u16, Option<i64>)>) {
    let packets = ::rtcp::packet::unmarshal(&mut &buf[..]).expect("webrtc-rs parses it");
    assert_eq!(packets.len(), 1);
    let fb = packets[0]
        .as_any()
        .downcast_ref::<TransportLayerCc>()
        .expect("a TransportLayerCc")
        .clone();
    let mut symbols = Vec::new();
    for chunk in &fb.packet_chunks {
        match chunk {
            PacketStatusChunk::RunLengthChunk(r) => symbols.extend(std::iter::repeat_n(
                r.packet_status_symbol,
                r.run_length.into(),
            )),
            PacketStatusChunk::StatusVectorChunk(v) => {
                let n = match v.symbol_size {
                    SymbolSizeTypeTcc::OneBit => 14,
                    SymbolSizeTypeTcc::TwoBit => 7,
                };
                assert_eq!(v.symbol_list.len(), n);
                symbols.extend(v.symbol_list.iter().copied());
            }
        }
    }
    symbols.truncate(fb.packet_status_count.into());
    let mut deltas = fb.recv_deltas.iter();
    let statuses = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let seq = fb.base_sequence_number.wrapping_add(i as u16);
            match s {
                SymbolTypeTcc::PacketNotReceived => (seq, None),
                SymbolTypeTcc::PacketReceivedSmallDelta
                | SymbolTypeTcc::PacketReceivedLargeDelta => {
                    let d = deltas.next().expect("a delta per received status");
                    assert_eq!(d.type_tcc_packet, *s);
                    (seq, Some(d.delta))
                }
                SymbolTypeTcc::PacketReceivedWithoutDelta => panic!("we never write status 11"),
            }
        })
        .collect();
    assert!(deltas.next().is_none());
    (fb, statuses)
}

/// Both parsers read back `statuses` from `base` on.
fn reads_back(buf: &[u8], base: u16, statuses: &[Option<i16>]) {
    let expected: Vec<_> = statuses
        .iter()
        .enumerate()
        .map(|(i, &d)| (base.wrapping_add(i as u16), d))
        .collect();
    let (fb, packets) = ours(buf);
    assert_eq!(fb.base_seq(), base);
    assert_eq!(usize::from(fb.status_count()), statuses.len());
    assert_eq!(packets, expected);
    let (theirs_fb, theirs) = theirs(buf);
    assert_eq!(theirs_fb.base_sequence_number, base);
    assert_eq!(theirs_fb.reference_time, fb.reference_time());
    assert_eq!(theirs_fb.fb_pkt_count, fb.feedback_count());
    assert_eq!(
        (theirs_fb.sender_ssrc, theirs_fb.media_ssrc),
        (fb.sender_ssrc(), fb.media_ssrc())
    );
    let expected_us: Vec<_> = expected
        .iter()
        .map(|&(s, d)| (s, d.map(|d| i64::from(d) * 250)))
        .collect();
    assert_eq!(theirs, expected_us);
}

const NR: Option<i16> = None;

#[test]
fn one_bit_vector_as_in_the_drafts_example() {
    // §3.1.4 example 1: |1|0|0 1 1 1 1 1 0 0 0 1 1 1 0 0| = 1x not received, 5x received,
    // 3x not received, 3x received, 2x not received; across the 16-bit wrap of the base.
    let s = |d| Some(d);
    let statuses = [
        NR,
        s(1),
        s(2),
        s(3),
        s(4),
        s(5),
        NR,
        NR,
        NR,
        s(6),
        s(7),
        s(8),
        NR,
        NR,
    ];
    let mut buf = [0u8; 64];
    let n = write(&mut buf, 0xfffe, 0x0102, 7, &statuses);
    #[rustfmt::skip]
    let expected = [
        0xaf, 0xcd, 0x00, 0x07, // V=2 P=1 FMT=15, PT=205, 8 words
        0x01, 0x02, 0x03, 0x04, // sender SSRC
        0x05, 0x06, 0x07, 0x08, // media SSRC
        0xff, 0xfe, 0x00, 0x0e, // base 65534, 14 statuses
        0x00, 0x01, 0x02, 0x07, // reference time 0x000102, feedback count 7
        0x9f, 0x1c,             // 1 0 01111100011100
        1, 2, 3, 4, 5, 6, 7, 8, // eight small deltas
        0x00, 0x02,             // padding, its count
    ];
    assert_eq!(&buf[..n], &expected);
    reads_back(&buf[..n], 0xfffe, &statuses);
}

#[test]
fn run_length_chunks_as_in_the_drafts_example() {
    // §3.1.3 example 1: |0|0 0|0 0 0 0 1 1 0 1 1 1 0 1| = 221 not received; then a run of 24
    // received with small deltas (example 2 has the same run with draft -01's status 11,
    // which libwebrtc refuses: 01 here).
    let mut statuses = vec![NR; 221];
    statuses.extend([Some(1); 24]);
    let mut buf = [0u8; 64];
    let n = write(&mut buf, 100, 0, 0, &statuses);
    let mut expected = vec![
        0x8f, 0xcd, 0x00, 0x0b, // no padding, 12 words
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, //
        0x00, 0x64, 0x00, 0xf5, // base 100, 245 statuses
        0x00, 0x00, 0x00, 0x00, //
        0x00, 0xdd, // 0 00 0000011011101: 221 not received
        0x20, 0x18, // 0 01 0000000011000: 24 small deltas
    ];
    expected.extend([1; 24]);
    assert_eq!(&buf[..n], &expected[..]);
    reads_back(&buf[..n], 100, &statuses);
}

#[test]
fn two_bit_vector_with_large_and_negative_deltas() {
    let statuses = [Some(4), Some(-4), NR, Some(255), Some(0), NR, Some(300)];
    let mut buf = [0u8; 64];
    let n = write(&mut buf, 7, 0xff_ffff, 255, &statuses);
    #[rustfmt::skip]
    let expected = [
        0xaf, 0xcd, 0x00, 0x07,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        0x00, 0x07, 0x00, 0x07,
        0xff, 0xff, 0xff, 0xff,
        0xd8, 0x52,             // 1 1 01 10 00 01 01 00 10
        0x04, 0xff, 0xfc, 0xff, 0x00, 0x01, 0x2c, // 4, -4 (2 bytes), 255, 0, 300 (2 bytes)
        0x00, 0x00, 0x03,
    ];
    assert_eq!(&buf[..n], &expected);
    reads_back(&buf[..n], 7, &statuses);
}

#[test]
fn chunk_choice() {
    let chunks = |statuses: &[Option<i16>]| {
        let mut buf = [0u8; 512];
        let n = write(&mut buf, 0, 0, 0, statuses);
        reads_back(&buf[..n], 0, statuses);
        let (fb, _) = ours(&buf[..n]);
        fb.chunks()
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect::<Vec<_>>()
    };
    // A large delta after seven mixed statuses: those seven go into a two-bit vector.
    let mut s = vec![Some(1), Some(1), Some(1), NR, NR, NR, Some(1), Some(1000)];
    assert_eq!(chunks(&s), [0xd501, 0x4001]);
    // Fourteen mixed small/not received: one one-bit vector, then the next status.
    s = [Some(2), NR].repeat(7);
    s.push(Some(3));
    assert_eq!(chunks(&s), [0xaaaa, 0x2001]);
    // A run of 300 small deltas is one chunk.
    assert_eq!(chunks(&[Some(0); 300]), [0x212c]);
    // A run is one chunk up to 8191 statuses, then a new one. Statuses not received cost
    // chunks only (webrtc-rs wants at least one delta after the chunks: not compared here).
    let mut buf = [0u8; 64];
    let mut w = TransportCcWriter::new(&mut buf, 1, 2, 0, 0, 0).unwrap();
    for _ in 0..9001 {
        w.push(NR).unwrap();
    }
    let n = w.finish().unwrap();
    assert_eq!(n, 20 + 4);
    let (fb, packets) = ours(&buf[..n]);
    assert_eq!(usize::from(fb.status_count()), 9001);
    assert_eq!(packets.len(), 9001);
    assert!(packets.iter().all(|p| p.1.is_none()));
    assert_eq!(fb.chunks(), [0x1f, 0xff, 0x03, 0x2a]);
}

#[test]
fn full_packets_refuse_more_and_stay_valid() {
    // Small deltas: each costs a byte, the chunks a bit more; the packet never passes the
    // buffer nor MAX_TRANSPORT_CC_LEN.
    for room in [24, 25, 31, 32, 33, 100, 999, MAX_TRANSPORT_CC_LEN, 4000] {
        let mut buf = vec![0u8; room];
        let mut w = TransportCcWriter::new(&mut buf, 1, 2, 500, 3, 4).unwrap();
        let mut statuses = Vec::new();
        let mut i = 0i16;
        loop {
            let d = if i % 5 == 4 { Some(-i) } else { Some(i % 200) };
            if w.push(d).is_err() {
                break;
            }
            statuses.push(d);
            i += 1;
        }
        assert!(!statuses.is_empty());
        let n = w.finish().unwrap();
        assert!(n <= room.min(MAX_TRANSPORT_CC_LEN), "{n} > {room}");
        // Not much room left unused: another status would not fit.
        assert!(n + 8 > room.min(MAX_TRANSPORT_CC_LEN), "{n} of {room}");
        reads_back(&buf[..n], 500, &statuses);
    }
    let mut small = [0u8; 23];
    assert_eq!(
        TransportCcWriter::new(&mut small, 1, 2, 0, 0, 0).err(),
        Some(ParseError::TooShort)
    );
    let mut buf = [0u8; 64];
    let w = TransportCcWriter::new(&mut buf, 1, 2, 0, 0, 0).unwrap();
    assert_eq!(w.finish(), Err(ParseError::Invalid));
}

#[test]
fn view_refuses_what_libwebrtc_refuses() {
    let mut buf = [0u8; 64];
    let n = write(&mut buf, 1, 0, 0, &[Some(1), NR, Some(2)]);
    let parse = |bytes: &[u8]| match RtcpPacket::parse(bytes) {
        Ok(RtcpPacket::TransportCc(g)) => TransportCc::parse(&g).map(|_| ()),
        other => panic!("{other:?}"),
    };
    assert_eq!(parse(&buf[..n]), Ok(()));
    // Status count 0.
    let mut b = buf;
    b[14..16].copy_from_slice(&[0, 0]);
    assert_eq!(parse(&b[..n]), Err(ParseError::Invalid));
    // More statuses than the chunks and deltas hold.
    let mut b = buf;
    b[14..16].copy_from_slice(&[0, 200]);
    assert_eq!(parse(&b[..n]), Err(ParseError::TooShort));
    // The reserved status 11 in a two-bit vector.
    let mut b = buf;
    b[20] |= 0x30;
    assert_eq!(parse(&b[..n]), Err(ParseError::Invalid));
    // Zero padding without the padding bit (mediasoup writes it so) is fine.
    let statuses = [Some(1), NR, Some(2), Some(3)];
    let n = write(&mut buf, 1, 0, 0, &statuses);
    assert_eq!((n, buf[n - 1]), (28, 3));
    buf[0] &= !0x20;
    buf[n - 1] = 0;
    assert_eq!(parse(&buf[..n]), Ok(()));
    reads_back(&buf[..n], 1, &statuses);
}

#[test]
fn random_statuses_always_read_back() {
    let mut rng = XorShift(0x7cc0_ffee_1234_5678);
    for round in 0..3000 {
        let room = 24 + rng.below(MAX_TRANSPORT_CC_LEN + 200);
        let mut buf = vec![0u8; room];
        let base = rng.next() as u16;
        let reference = rng.next() as u32;
        let mut w = TransportCcWriter::new(&mut buf, 9, 8, base, reference, round as u8).unwrap();
        // At least one received (webrtc-rs wants a delta after the chunks; Sluice always has one).
        let first = Some(rng.below(256) as i16);
        w.push(first).unwrap();
        let mut statuses = vec![first];
        let wanted = 1 + rng.below(if round % 10 == 0 { 20_000 } else { 300 });
        // Runs and mixes of every kind of status.
        let style = rng.below(4);
        'fill: while statuses.len() < wanted {
            let d = match (style, rng.below(8)) {
                (0, _) => Some(rng.below(256) as i16),
                (1, 0..=5) => None,
                (2, 0) => Some(rng.next() as i16),
                (_, 0..=1) => None,
                (_, 2) => Some(-(rng.below(100) as i16)),
                _ => Some(rng.below(300) as i16),
            };
            let long = rng.below(4) == 0;
            let repeat = 1 + rng.below(if long { 40 } else { 2 });
            for _ in 0..repeat {
                if w.push(d).is_err() {
                    break 'fill;
                }
                statuses.push(d);
            }
        }
        assert_eq!(usize::from(w.status_count()), statuses.len());
        let n = w.finish().unwrap();
        assert!(n <= room.min(MAX_TRANSPORT_CC_LEN));
        assert_eq!(n % 4, 0);
        reads_back(&buf[..n], base, &statuses);
        assert_eq!(ours(&buf[..n]).0.reference_time(), reference & 0xff_ffff);
    }
}

#[test]
fn random_bytes_never_panic_the_view() {
    let mut rng = XorShift(0x0bad_cafe_0000_0001);
    let mut buf = [0u8; 160];
    let n = write(&mut buf, 3, 0, 0, &[Some(1), Some(-9), NR, NR, Some(7)]);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let mut b = buf;
        let len = 4 + rng.below(n + 40);
        for _ in 0..1 + rng.below(6) {
            b[rng.below(len)] = rng.byte();
        }
        // Header kept (FMT 15, PT 205) with the length field of the bytes at hand.
        b[0] = 0x8f;
        b[1] = 205;
        let words = (len / 4).max(1);
        b[2..4].copy_from_slice(&((words - 1) as u16).to_be_bytes());
        if let Ok(RtcpPacket::TransportCc(g)) = RtcpPacket::parse(&b[..words * 4])
            && let Ok(fb) = TransportCc::parse(&g)
        {
            assert_eq!(fb.packets().count(), usize::from(fb.status_count()));
            parsed += 1;
        }
    }
    assert!(parsed > 1000, "{parsed} of the mutated packets parsed");
}
