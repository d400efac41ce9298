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

fn list<'a>(elements: &[(u8, &'a [u8])]) -> ExtensionList<'a> {
    let mut l = ExtensionList::new();
    for &(id, d) in elements {
        l.push(id, d).expect("element");
    }
    l
}

fn rewrite(src: &[u8], ext: &ExtensionList<'_>) -> Vec<u8> {
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
    let out = rewrite(&src, &list(&[(3, b"consumer-mid"), (12, &[0x85])]));
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
    let out = rewrite(&src, &list(&[(1, b"7")]));
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
    let out = rewrite(&src, &list(&[(1, b"0"), (5, &twcc)]));
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert!(p.has_extension());
    assert_eq!(elements(&p), vec![(1, b"0".to_vec()), (5, twcc.to_vec())]);
    assert_eq!(p.payload(), b"no extensions here");
}

#[test]
fn an_empty_list_removes_the_block_and_the_x_bit() {
    let src = source(&[(1, b"0"), (2, &[1, 2, 3])], b"payload");
    let out = rewrite(&src, &ExtensionList::new());
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
    let out = rewrite(&src, &list(&[(4, b"longer-mid")]));
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
    let l = list(&[(1, b"0"), (20, &[9, 9])]);
    assert!(!l.is_one_byte());
    let out = rewrite(&src, &l);
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.extension_profile(), Some(TWO_BYTE_PROFILE));
    assert_eq!(elements(&p), vec![(1, b"0".to_vec()), (20, vec![9, 9])]);

    let long = [7u8; 17];
    let out = rewrite(&src, &list(&[(2, &long)]));
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.extension_profile(), Some(TWO_BYTE_PROFILE));
    assert_eq!(p.extension(2), Some(&long[..]));

    let empty = list(&[(3, &[])]);
    assert!(
        !empty.is_one_byte(),
        "only the two-byte form has empty elements"
    );
    let out = rewrite(&src, &empty);
    assert_eq!(
        RtpPacket::parse(&out).expect("parses").extension(3),
        Some(&[][..])
    );
}

#[test]
fn a_two_byte_source_may_become_one_byte() {
    let src = source(&[(1, b"0"), (200, &[1])], b"p");
    assert_eq!(
        RtpPacket::parse(&src).expect("parses").extension_profile(),
        Some(TWO_BYTE_PROFILE)
    );
    let out = rewrite(&src, &list(&[(1, b"0")]));
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.extension_profile(), Some(ONE_BYTE_PROFILE));
    assert_eq!(elements(&p), vec![(1, b"0".to_vec())]);
}

#[test]
fn too_big_is_an_error_and_the_list_refuses_what_the_format_cannot_carry() {
    let src = source(&[(1, b"0")], &[0xaa; 1000]);
    let p = RtpPacket::parse(&src).expect("parses");
    let l = list(&[(1, b"a-much-longer-mid")]);
    let mut small = vec![0u8; src.len()];
    assert_eq!(
        write_rewritten(&mut small, &p, &FIXED, &l),
        Err(RewriteError::NoRoom)
    );
    let mut exact = vec![0u8; 12 + l.block_len() + 1000];
    assert_eq!(write_rewritten(&mut exact, &p, &FIXED, &l), Ok(exact.len()));

    let mut l = ExtensionList::new();
    assert_eq!(l.push(0, b"x"), Err(RewriteError::BadElement));
    assert_eq!(l.push(1, &[0; 256]), Err(RewriteError::BadElement));
    let data = [0x42u8; MAX_ELEMENTS];
    for (i, d) in data.chunks(1).enumerate() {
        l.push(i as u8 + 1, d).expect("room");
    }
    assert_eq!(l.push(99, b"x"), Err(RewriteError::TooManyElements));
    assert_eq!(l.len(), MAX_ELEMENTS);
}

#[test]
fn an_opaque_profile_block_is_replaced() {
    // X set with a profile that is neither RFC 8285 form: no elements to keep.
    let mut src = vec![0x90, 0x6f, 0, 7, 0, 0, 3, 0xc0, 0, 0, 0x12, 0x34];
    src.extend_from_slice(&[0xab, 0xcd, 0, 1, 1, 2, 3, 4]);
    src.extend_from_slice(b"data");
    let out = rewrite(&src, &list(&[(1, b"m")]));
    let p = RtpPacket::parse(&out).expect("rewritten parses");
    assert_eq!(p.extension_profile(), Some(ONE_BYTE_PROFILE));
    assert_eq!(elements(&p), vec![(1, b"m".to_vec())]);
    assert_eq!(p.payload(), b"data");
}

#[test]
fn block_len_counts_header_elements_and_padding() {
    assert_eq!(ExtensionList::new().block_len(), 0);
    assert_eq!(list(&[(1, b"0")]).block_len(), 8);
    assert_eq!(list(&[(1, b"012")]).block_len(), 8);
    assert_eq!(list(&[(1, b"0123")]).block_len(), 12);
    assert_eq!(list(&[(20, b"01")]).block_len(), 8);
}
