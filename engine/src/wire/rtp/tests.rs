//! Unit tests for RTP views, rewriting and the writer, with the RFC 8285 examples.

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
fn rewrite_fixed_header_keeps_marker_and_rest() {
    let mut buf = [0u8; 64];
    let h = RtpHeader {
        marker: true,
        payload_type: 100,
        sequence: 1,
        timestamp: 2,
        ssrc: 3,
    };
    let n = write_rtp(&mut buf, &h, &[(1, &[9])], b"payload").unwrap();
    rewrite_fixed_header(&mut buf[..n], 111, 0xFFFF, 0xDEAD_BEEF, 42);
    let p = RtpPacket::parse(&buf[..n]).unwrap();
    assert!(p.marker());
    assert_eq!(
        (p.payload_type(), p.sequence(), p.timestamp(), p.ssrc()),
        (111, 0xFFFF, 0xDEAD_BEEF, 42)
    );
    assert_eq!(p.extension(1), Some(&[9][..]));
    assert_eq!(p.payload(), b"payload");
    let mut short = [0x80u8; 8];
    rewrite_fixed_header(&mut short, 1, 2, 3, 4);
    assert_eq!(short, [0x80u8; 8], "too short: untouched");
}
