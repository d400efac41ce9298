//! Unit tests of [`write_rewritten`]: blocks of other lengths, inserted where the packet had
//! none, kept CSRCs and padding, one-byte and two-byte forms, and the errors.

use super::*;
use crate::wire::rtp::{RtpHeader, write_rtp};

const FIXED: FixedFields = FixedFields {
    payload_type: 100,
    sequence: 0xabcd,
    timestamp: 0x0102_0304,
    ssrc: 0xfeed_beef,
};

fn source(ext: &[(u8, &[u8])], payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 1500];
    let h = RtpHeader {
        marker: true,
        payload_type: 111,
        sequence: 7,
        timestamp: 960,
        ssrc: 0x1234,
    };
    let n = write_rtp(&mut buf, &h, ext, payload).expect("source packet");
    buf.truncate(n);
    buf
}

fn rewrite(src: &[u8], ext: &[(u8, &[u8])]) -> Vec<u8> {
    let p = RtpPacket::parse(src).expect("source parses");
    let mut out = [0x5au8; 2048];
    let n = write_rewritten(&mut out, &p, &FIXED, ext).expect("fits");
    out[..n].to_vec()
}

fn elements(p: &RtpPacket<'_>) -> Vec<(u8, Vec<u8>)> {
    p.extensions().map(|(id, d)| (id, d.to_vec())).collect()
}

#[test]
fn a_longer_mid_replaces_a_shorter_one() {
    let src = source(&[(1, b"0"), (10, &[0x85])], b"opus payload");
    let out = rewrite(&src, &[(3, b"consumer-mid"), (12, &[0x85])]);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.extension_profile(), Some(ONE_BYTE_PROFILE));
    assert_eq!(
        elements(&p),
        vec![(3, b"consumer-mid".to_vec()), (12, vec![0x85])]
    );
    // 1 + 12 + 1 + 1 = 15 bytes of elements, padded to 16.
    assert_eq!(p.extension_data().map(<[u8]>::len), Some(16));
    assert_eq!(p.payload(), b"opus payload");
    assert_eq!(
        (p.payload_type(), p.sequence(), p.timestamp(), p.ssrc()),
        (100, 0xabcd, 0x0102_0304, 0xfeed_beef)
    );
    assert!(p.marker(), "the marker bit is kept");
}

#[test]
fn a_shorter_mid_replaces_a_longer_one() {
    let src = source(&[(1, b"producer-mid-long")], b"x");
    let out = rewrite(&src, &[(1, b"7")]);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(elements(&p), vec![(1, b"7".to_vec())]);
    assert_eq!(
        out.len(),
        12 + 4 + 4 + 1,
        "header, block of one word, payload"
    );
    assert_eq!(p.payload(), b"x");
}

#[test]
fn a_block_is_inserted_into_a_packet_without_one() {
    let src = source(&[], b"no extensions here");
    assert!(!RtpPacket::parse(&src).expect("parses").has_extension());
    let twcc = 0x0102u16.to_be_bytes();
    let out = rewrite(&src, &[(1, b"0"), (5, &twcc)]);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert!(p.has_extension());
    assert_eq!(elements(&p), vec![(1, b"0".to_vec()), (5, twcc.to_vec())]);
    assert_eq!(p.payload(), b"no extensions here");
}

#[test]
fn an_empty_list_removes_the_block_and_the_x_bit() {
    let src = source(&[(1, b"0"), (2, &[1, 2, 3])], b"payload");
    let out = rewrite(&src, &[]);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert!(!p.has_extension());
    assert_eq!(out.len(), 12 + 7);
    assert_eq!(p.payload(), b"payload");
}

#[test]
fn csrcs_and_padding_are_kept() {
    // V=2, P, X, CC=2; one-byte block with mid "ab"; payload, then 3 bytes of padding.
    let mut src = vec![0xb2, 0x6f, 0, 7, 0, 0, 3, 0xc0, 0, 0, 0x12, 0x34];
    src.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
    src.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x11, b'a', b'b', 0]);
    src.extend_from_slice(b"media");
    src.extend_from_slice(&[0, 0, 3]);
    let out = rewrite(&src, &[(4, b"longer-mid")]);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![1, 2]);
    assert!(p.padding());
    assert_eq!(p.padding_len(), 3);
    assert_eq!(p.payload(), b"media");
    assert_eq!(elements(&p), vec![(4, b"longer-mid".to_vec())]);
    assert_eq!(&out[out.len() - 3..], &[0, 0, 3], "padding copied verbatim");
}

#[test]
fn an_id_above_14_or_a_long_element_takes_the_two_byte_form() {
    let src = source(&[(1, b"0")], b"p");
    let out = rewrite(&src, &[(1, b"0"), (20, &[9, 9])]);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.extension_profile(), Some(TWO_BYTE_PROFILE));
    assert_eq!(elements(&p), vec![(1, b"0".to_vec()), (20, vec![9, 9])]);
    // 2 + 1 + 2 + 2 = 7 bytes of elements, padded to 8.
    assert_eq!(p.extension_data().map(<[u8]>::len), Some(8));

    let long = [7u8; 17];
    let out = rewrite(&src, &[(2, &long)]);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.extension_profile(), Some(TWO_BYTE_PROFILE));
    assert_eq!(p.extension(2), Some(&long[..]));

    // Only the two-byte form has empty elements.
    let out = rewrite(&src, &[(3, &[])]);
    let p = RtpPacket::parse(&out).expect("parses");
    assert_eq!(p.extension_profile(), Some(TWO_BYTE_PROFILE));
    assert_eq!(p.extension(3), Some(&[][..]));
}

#[test]
fn a_two_byte_source_may_become_one_byte() {
    let src = source(&[(1, b"0"), (200, &[1])], b"p");
    assert_eq!(
        RtpPacket::parse(&src).expect("parses").extension_profile(),
        Some(TWO_BYTE_PROFILE)
    );
    let out = rewrite(&src, &[(1, b"0")]);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.extension_profile(), Some(ONE_BYTE_PROFILE));
    assert_eq!(elements(&p), vec![(1, b"0".to_vec())]);
}

#[test]
fn too_big_is_an_error_and_so_is_what_the_format_cannot_carry() {
    let src = source(&[(1, b"0")], &[0xaa; 1000]);
    let p = RtpPacket::parse(&src).expect("parses");
    let mid: &[u8] = b"sixteen-byte-mid";
    let mut small = vec![0u8; src.len()];
    assert_eq!(
        write_rewritten(&mut small, &p, &FIXED, &[(1, mid)]),
        Err(RewriteError::NoRoom)
    );
    // 1 + 16 bytes of elements, padded to 20, after the 4-byte extension header.
    let mut exact = vec![0u8; 12 + 4 + 20 + 1000];
    assert_eq!(
        write_rewritten(&mut exact, &p, &FIXED, &[(1, mid)]),
        Ok(exact.len())
    );
    let mut out = [0u8; 2048];
    assert_eq!(
        write_rewritten(&mut out, &p, &FIXED, &[(0, b"x")]),
        Err(RewriteError::BadElement)
    );
    assert_eq!(
        write_rewritten(&mut out, &p, &FIXED, &[(1, &[0; 256])]),
        Err(RewriteError::BadElement)
    );
    // The fill function's own error comes back as it is.
    assert_eq!(
        write_rewritten_with(&mut out, &p, &FIXED, |_| Err(RewriteError::TooManyElements)),
        Err(RewriteError::TooManyElements)
    );
}

#[test]
fn more_elements_than_the_reader_holds_is_an_error() {
    let data = [0x42u8; MAX_ELEMENTS + 1];
    let ext: Vec<(u8, &[u8])> = data
        .chunks(1)
        .enumerate()
        .map(|(i, d)| (i as u8 + 1, d))
        .collect();
    let src = source(&ext, b"p");
    let p = RtpPacket::parse(&src).expect("parses");
    assert_eq!(p.extensions().count(), MAX_ELEMENTS + 1);
    assert_eq!(
        ExtensionElements::read(&p).map(|e| e.len()),
        Err(RewriteError::TooManyElements)
    );
    let src = source(&ext[..MAX_ELEMENTS], b"p");
    let p = RtpPacket::parse(&src).expect("parses");
    assert_eq!(
        ExtensionElements::read(&p).map(|e| e.len()),
        Ok(MAX_ELEMENTS)
    );
}

/// The reader yields what the view's iterator yields, on random blocks of either form (padding,
/// truncated elements, reserved ids and all).
#[test]
fn the_reader_agrees_with_the_iterator() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut seen = 0;
    for round in 0..2_000 {
        let words = (next() % 6) as usize;
        let profile = if round % 2 == 0 { 0xBEDE } else { 0x1000 };
        let mut pkt = vec![0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
        pkt.extend_from_slice(&u16::to_be_bytes(profile));
        pkt.extend_from_slice(&(words as u16).to_be_bytes());
        for _ in 0..4 * words {
            // Many zero bytes (padding) and small lengths.
            let r = next();
            pkt.push(if r % 4 == 0 {
                0
            } else {
                (r >> 8) as u8 & 0x3f | (r >> 20) as u8 & 0xf0
            });
        }
        pkt.extend_from_slice(b"payload");
        let p = RtpPacket::parse(&pkt).expect("well framed");
        let want: Vec<(u8, Vec<u8>)> = elements(&p);
        seen += want.len();
        match ExtensionElements::read(&p) {
            Ok(e) => {
                let got: Vec<(u8, Vec<u8>)> = e.iter().map(|(i, d)| (i, d.to_vec())).collect();
                assert_eq!(got, want, "round {round}: {pkt:02x?}");
            }
            Err(err) => assert!(want.len() > MAX_ELEMENTS, "round {round}: {err}"),
        }
    }
    assert!(seen > 500, "the blocks held elements: {seen}");
}

#[test]
fn an_opaque_profile_block_is_replaced() {
    // X set with a profile that is neither RFC 8285 form: no elements to keep.
    let mut src = vec![0x90, 0x6f, 0, 7, 0, 0, 3, 0xc0, 0, 0, 0x12, 0x34];
    src.extend_from_slice(&[0xab, 0xcd, 0, 1, 1, 2, 3, 4]);
    src.extend_from_slice(b"data");
    let out = rewrite(&src, &[(1, b"m")]);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.extension_profile(), Some(ONE_BYTE_PROFILE));
    assert_eq!(elements(&p), vec![(1, b"m".to_vec())]);
    assert_eq!(p.payload(), b"data");
}
