//! RFC 5769 test vectors (all four), the writer reproducing them, and malformed messages.

use std::net::SocketAddr;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|c| (c as char).to_digit(16).expect("filtered to hex digits") as u8)
        .collect();
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// RFC 5769 §2.1: password for the short-term vectors.
const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
const TID: TransactionId = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

/// RFC 5769 §2.1 Sample Request.
fn request() -> Vec<u8> {
    hex("00010058 2112a442 b7e7a701 bc34d686 fa87dfae
         80220010 5354554e 20746573 7420636c 69656e74
         00240004 6e0001ff
         80290008 932ff9b1 51263b36
         00060009 6576746a 3a683676 59202020
         00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
         80280004 e57a3bcf")
}

/// RFC 5769 §2.2 Sample IPv4 Response.
fn response_v4() -> Vec<u8> {
    hex("0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
         8022000b 74657374 20766563 746f7220
         00200008 0001a147 e112a643
         00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
         80280004 c07d4c96")
}

/// RFC 5769 §2.3 Sample IPv6 Response.
fn response_v6() -> Vec<u8> {
    hex("01010048 2112a442 b7e7a701 bc34d686 fa87dfae
         8022000b 74657374 20766563 746f7220
         00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
         00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
         80280004 c8fb0b4c")
}

/// RFC 5769 §2.4 Sample Request with Long-Term Authentication.
fn request_long_term() -> Vec<u8> {
    hex("00010060 2112a442 78ad3433 c6ad72c0 29da412e
         00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000
         0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341
         0014000b 6578616d 706c652e 6f726700
         00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666")
}

fn v4_addr() -> SocketAddr {
    "192.0.2.1:32853".parse().expect("literal address")
}

fn v6_addr() -> SocketAddr {
    "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
        .parse()
        .expect("literal address")
}

fn key() -> IntegrityKey {
    IntegrityKey::new(PASSWORD)
}

#[test]
fn rfc5769_request_parses_and_verifies() {
    let b = request();
    let m = StunMessage::parse(&b).expect("valid vector");
    assert_eq!(m.class(), Class::Request);
    assert_eq!(m.method(), METHOD_BINDING);
    assert!(m.is_binding_request());
    assert_eq!(m.transaction_id(), &TID);
    assert_eq!(m.software(), Some(&b"STUN test client"[..]));
    assert_eq!(m.username(), Some(&b"evtj:h6vY"[..]));
    assert_eq!(
        local_ufrag(m.username().expect("present")),
        Some(&b"evtj"[..])
    );
    assert_eq!(m.priority(), Some(0x6e00_01ff));
    assert_eq!(m.ice_controlled(), Some(0x932f_f9b1_5126_3b36));
    assert_eq!(m.ice_controlling(), None);
    assert!(!m.use_candidate());
    assert_eq!(m.fingerprint(), Some(0xe57a_3bcf));
    let types: Vec<u16> = m.attributes().map(|a| a.attr).collect();
    assert_eq!(
        types,
        [
            attr::SOFTWARE,
            attr::PRIORITY,
            attr::ICE_CONTROLLED,
            attr::USERNAME,
            attr::MESSAGE_INTEGRITY,
            attr::FINGERPRINT
        ]
    );
    m.verify_fingerprint().expect("fingerprint");
    m.verify_integrity(&key()).expect("integrity");
}

#[test]
fn rfc5769_ipv4_response_parses_and_verifies() {
    let b = response_v4();
    let m = StunMessage::parse(&b).expect("valid vector");
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.method(), METHOD_BINDING);
    assert_eq!(m.software(), Some(&b"test vector"[..]));
    assert_eq!(m.xor_mapped_address(), Some(v4_addr()));
    m.verify_fingerprint().expect("fingerprint");
    m.verify_integrity(&key()).expect("integrity");
}

#[test]
fn rfc5769_ipv6_response_parses_and_verifies() {
    let b = response_v6();
    let m = StunMessage::parse(&b).expect("valid vector");
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.xor_mapped_address(), Some(v6_addr()));
    m.verify_fingerprint().expect("fingerprint");
    m.verify_integrity(&key()).expect("integrity");
}

#[test]
fn rfc5769_long_term_request_verifies_with_md5_key() {
    use md5::{Digest, Md5};
    let b = request_long_term();
    let m = StunMessage::parse(&b).expect("valid vector");
    let username = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
    assert_eq!(m.username(), Some(username.as_bytes()));
    assert_eq!(m.attribute(attr::REALM), Some(&b"example.org"[..]));
    assert_eq!(
        m.attribute(attr::NONCE),
        Some(&b"f//499k954d6OL34oL9FSTvy64sA"[..])
    );
    assert_eq!(m.fingerprint(), None);
    assert_eq!(m.verify_fingerprint(), Err(StunError::NoFingerprint));
    // RFC 5389 §15.4: key = MD5(username ":" realm ":" SASLprep(password)); SASLprep turns
    // "The<U+00AD>M<U+00AA>tr<U+2168>" into "TheMatrIX".
    let md5 = Md5::digest(format!("{username}:example.org:TheMatrIX").as_bytes());
    m.verify_integrity(&IntegrityKey::new(&md5))
        .expect("integrity");
    assert_eq!(
        m.verify_integrity(&IntegrityKey::new(b"TheMatrIX")),
        Err(StunError::IntegrityMismatch)
    );
}

#[test]
fn wrong_password_fails_integrity_only() {
    for b in [request(), response_v4(), response_v6()] {
        let m = StunMessage::parse(&b).expect("valid vector");
        assert_eq!(
            m.verify_integrity(&IntegrityKey::new(b"VOkJxbRl1RmTxUk/WvJxBT")),
            Err(StunError::IntegrityMismatch)
        );
        assert_eq!(
            m.verify_integrity(&IntegrityKey::new(b"")),
            Err(StunError::IntegrityMismatch)
        );
        m.verify_fingerprint()
            .expect("fingerprint is independent of the key");
    }
}

#[test]
fn any_flipped_bit_before_fingerprint_is_detected() {
    let b = request();
    let fp_at = b.len() - 8;
    let mut still_parsed = 0;
    for byte in 0..fp_at {
        for bit in 0..8 {
            let mut c = b.clone();
            c[byte] ^= 1 << bit;
            let Ok(m) = StunMessage::parse(&c) else {
                continue;
            };
            still_parsed += 1;
            assert!(m.verify_fingerprint().is_err(), "byte {byte} bit {bit}");
            // MESSAGE-INTEGRITY covers everything before it, the padding included.
            if byte < fp_at - 24 {
                assert!(m.verify_integrity(&key()).is_err(), "byte {byte} bit {bit}");
            }
        }
    }
    // Values and padding (not the structure) take most flips: most still parse.
    assert!(still_parsed > 400, "{still_parsed}");
}

#[test]
fn writer_reproduces_rfc5769_request() {
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(&mut buf, Class::Request, METHOD_BINDING, &TID)
        .expect("room for a header")
        .with_padding_byte(b' ');
    w.software(b"STUN test client").expect("fits");
    w.priority(0x6e00_01ff).expect("fits");
    w.ice_controlled(0x932f_f9b1_5126_3b36).expect("fits");
    w.username(b"evtj:h6vY").expect("fits");
    w.message_integrity(&key()).expect("fits");
    w.fingerprint().expect("fits");
    let n = w.finish();
    assert_eq!(&buf[..n], &request()[..]);
}

/// RFC 5769 §2.2/§2.3 responses carry SOFTWARE, which ours do not: the writer adds the vector's
/// SOFTWARE (space-padded, as the vector is) and then exactly the steps of
/// [`write_binding_success`]; a second test pins that function to those steps.
fn response_with_software(mapped: SocketAddr) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(&mut buf, Class::SuccessResponse, METHOD_BINDING, &TID)
        .expect("room for a header")
        .with_padding_byte(b' ');
    w.software(b"test vector").expect("fits");
    w.xor_mapped_address(mapped).expect("fits");
    w.message_integrity(&key()).expect("fits");
    w.fingerprint().expect("fits");
    let n = w.finish();
    buf[..n].to_vec()
}

#[test]
fn writer_reproduces_rfc5769_responses() {
    assert_eq!(response_with_software(v4_addr()), response_v4());
    assert_eq!(response_with_software(v6_addr()), response_v6());
}

#[test]
fn binding_success_is_the_vector_without_software() {
    for (addr, len) in [(v4_addr(), 64), (v6_addr(), 76)] {
        let mut buf = [0u8; 128];
        let n = write_binding_success(&mut buf, &TID, addr, &key()).expect("fits");
        assert_eq!(n, len);
        let mut manual = [0u8; 128];
        let mut w = MessageWriter::new(&mut manual, Class::SuccessResponse, METHOD_BINDING, &TID)
            .expect("room for a header");
        w.xor_mapped_address(addr).expect("fits");
        w.message_integrity(&key()).expect("fits");
        w.fingerprint().expect("fits");
        assert_eq!(w.finish(), n);
        assert_eq!(buf[..n], manual[..n]);

        let m = StunMessage::parse(&buf[..n]).expect("our response parses");
        assert_eq!(m.class(), Class::SuccessResponse);
        assert_eq!(m.method(), METHOD_BINDING);
        assert_eq!(m.transaction_id(), &TID);
        assert_eq!(m.xor_mapped_address(), Some(addr));
        m.verify_integrity(&key()).expect("integrity");
        m.verify_fingerprint().expect("fingerprint");
        // The vector's XOR-MAPPED-ADDRESS bytes, moved up by the missing SOFTWARE.
        let vector = if len == 64 {
            response_v4()
        } else {
            response_v6()
        };
        assert_eq!(buf[20..n - 32], vector[36..vector.len() - 32]);
    }
}

#[test]
fn error_responses() {
    for (code, reason, with_key) in [
        (400, "Bad Request", false),
        (401, "Unauthorized", false),
        (487, "Role Conflict", true),
    ] {
        let mut buf = [0u8; 128];
        let k = key();
        let n = write_binding_error(&mut buf, &TID, code, with_key.then_some(&k)).expect("fits");
        let m = StunMessage::parse(&buf[..n]).expect("our error parses");
        assert_eq!(m.class(), Class::ErrorResponse);
        assert_eq!(m.method(), METHOD_BINDING);
        assert_eq!(m.message_type(), 0x0111);
        assert_eq!(m.error_code(), Some((code, reason.as_bytes())));
        m.verify_fingerprint().expect("fingerprint");
        if with_key {
            m.verify_integrity(&k).expect("integrity");
        } else {
            assert_eq!(m.verify_integrity(&k), Err(StunError::NoIntegrity));
        }
    }
}

#[test]
fn writer_refuses_small_buffers_and_bad_order() {
    let mut full = [0u8; 128];
    let n = write_binding_success(&mut full, &TID, v6_addr(), &key()).expect("fits");
    for size in 0..n {
        let mut buf = vec![0u8; size];
        assert_eq!(
            write_binding_success(&mut buf, &TID, v6_addr(), &key()),
            Err(StunError::BufferTooSmall),
            "size {size}"
        );
    }
    let mut buf = [0u8; 128];
    let mut w = MessageWriter::new(&mut buf, Class::Request, METHOD_BINDING, &TID).expect("fits");
    w.message_integrity(&key()).expect("fits");
    assert_eq!(w.priority(1), Err(StunError::AfterIntegrity));
    assert_eq!(w.message_integrity(&key()), Err(StunError::AfterIntegrity));
    w.fingerprint().expect("fits");
    assert_eq!(w.fingerprint(), Err(StunError::AfterFingerprint));
    assert_eq!(w.use_candidate(), Err(StunError::AfterFingerprint));
    let mut w = MessageWriter::new(&mut buf, Class::Request, METHOD_BINDING, &TID).expect("fits");
    assert_eq!(
        w.error_code(200, "OK"),
        Err(StunError::BadAttribute {
            attr: attr::ERROR_CODE
        })
    );
    assert_eq!(
        w.username(&[b'a'; 513]),
        Err(StunError::ValueTooLong {
            attr: attr::USERNAME
        })
    );
    assert!(w.is_empty());
}

#[test]
fn message_type_round_trips() {
    for class in [
        Class::Request,
        Class::Indication,
        Class::SuccessResponse,
        Class::ErrorResponse,
    ] {
        for method in [0x001, 0x003, 0x0ff, 0x0f0, 0xabc, 0xfff] {
            let mut buf = [0u8; 20];
            let w = MessageWriter::new(&mut buf, class, method, &TID).expect("fits");
            let n = w.finish();
            let m = StunMessage::parse(&buf[..n]).expect("header only");
            assert_eq!((m.class(), m.method()), (class, method));
            assert_eq!(buf[0] & 0xc0, 0);
        }
    }
    assert_eq!(message_type(Class::Request, METHOD_BINDING), 0x0001);
    assert_eq!(message_type(Class::Indication, METHOD_BINDING), 0x0011);
    assert_eq!(message_type(Class::SuccessResponse, METHOD_BINDING), 0x0101);
}

#[test]
fn truncated_messages_are_rejected() {
    for b in [request(), response_v4(), response_v6(), request_long_term()] {
        for n in 0..b.len() {
            let e = StunMessage::parse(&b[..n]).expect_err("truncated");
            assert!(
                matches!(e, StunError::TooShort | StunError::BadLength),
                "{n}: {e:?}"
            );
        }
    }
}

#[test]
fn header_errors() {
    let b = request();
    let mut c = b.clone();
    c[4] ^= 0x01;
    assert_eq!(StunMessage::parse(&c).err(), Some(StunError::BadCookie));
    let mut c = b.clone();
    c[0] |= 0x80;
    assert_eq!(StunMessage::parse(&c).err(), Some(StunError::NotStun));
    // Length one word short, one word long, and not a multiple of 4.
    for len in [0x54u16, 0x5c, 0x57] {
        let mut c = b.clone();
        c[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(StunMessage::parse(&c).err(), Some(StunError::BadLength));
    }
    // Trailing bytes after the message.
    let mut c = b.clone();
    c.extend_from_slice(&[0; 4]);
    assert_eq!(StunMessage::parse(&c).err(), Some(StunError::BadLength));
}

/// A header with `attrs` (already encoded) and the right length.
fn message(attrs: &[u8]) -> Vec<u8> {
    let mut m = hex("0001 0000 2112a442");
    m.extend_from_slice(&TID);
    m.extend_from_slice(attrs);
    let len = (m.len() - HEADER_LEN) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

#[test]
fn attribute_errors() {
    // A 9-byte USERNAME without its 3 padding bytes: the message is not a multiple of 4.
    let unpadded = message(&hex("00060009 6576746a 3a683676 59"));
    assert_eq!(
        StunMessage::parse(&unpadded).err(),
        Some(StunError::BadLength)
    );
    // A value that runs past the end.
    let overrun = message(&hex("00060010 6576746a 3a683676"));
    assert_eq!(
        StunMessage::parse(&overrun).err(),
        Some(StunError::AttributeOverrun {
            attr: attr::USERNAME
        })
    );
    // The padding of the last attribute runs past the end (length patched to a multiple of 4).
    let mut pad_overrun = message(&hex("00060005 6576746a 3a"));
    pad_overrun.truncate(pad_overrun.len() - 1);
    pad_overrun[3] = 8;
    assert_eq!(
        StunMessage::parse(&pad_overrun).err(),
        Some(StunError::AttributeOverrun {
            attr: attr::USERNAME
        })
    );
    // A cut-off attribute header is not possible with a length that is a multiple of 4, and an
    // empty attribute list is fine.
    assert!(StunMessage::parse(&message(&[])).is_ok());
    // Known attributes with the wrong size or content.
    for (bytes, a) in [
        ("00240008 00000001 00000002", attr::PRIORITY),
        ("00250004 00000000", attr::USE_CANDIDATE),
        ("802a0004 00000001", attr::ICE_CONTROLLING),
        (
            "00080010 00000000 00000000 00000000 00000000",
            attr::MESSAGE_INTEGRITY,
        ),
        ("00200008 0002a147 e112a643", attr::XOR_MAPPED_ADDRESS),
        ("00200008 0003a147 e112a643", attr::XOR_MAPPED_ADDRESS),
        ("00090004 00000210", attr::ERROR_CODE),
        ("00090004 00000464", attr::ERROR_CODE),
    ] {
        assert_eq!(
            StunMessage::parse(&message(&hex(bytes))).err(),
            Some(StunError::BadAttribute { attr: a }),
            "{bytes}"
        );
    }
}

#[test]
fn integrity_must_be_last_but_fingerprint() {
    let b = request();
    // Move PRIORITY (bytes 40..48) to after MESSAGE-INTEGRITY.
    let mut c = b[..40].to_vec();
    c.extend_from_slice(&b[48..b.len() - 8]);
    c.extend_from_slice(&b[40..48]);
    c.extend_from_slice(&b[b.len() - 8..]);
    assert_eq!(c.len(), b.len());
    assert_eq!(
        StunMessage::parse(&c).err(),
        Some(StunError::AfterIntegrity)
    );
    // Anything after FINGERPRINT.
    let mut c = b.clone();
    c.extend_from_slice(&b[40..48]);
    let len = (c.len() - HEADER_LEN) as u16;
    c[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        StunMessage::parse(&c).err(),
        Some(StunError::AfterFingerprint)
    );
    // Two FINGERPRINTs.
    let mut c = b.clone();
    c.extend_from_slice(&b[b.len() - 8..]);
    let len = (c.len() - HEADER_LEN) as u16;
    c[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        StunMessage::parse(&c).err(),
        Some(StunError::AfterFingerprint)
    );
}

#[test]
fn fingerprint_mismatch_and_absence() {
    let mut b = request();
    let last = b.len() - 1;
    b[last] ^= 1;
    let m = StunMessage::parse(&b).expect("still well-formed");
    assert_eq!(m.verify_fingerprint(), Err(StunError::FingerprintMismatch));
    m.verify_integrity(&key())
        .expect("FINGERPRINT is outside the HMAC");
    // Without FINGERPRINT the integrity still verifies: its length field never covered it.
    let mut c = request();
    c.truncate(c.len() - 8);
    let len = (c.len() - HEADER_LEN) as u16;
    c[2..4].copy_from_slice(&len.to_be_bytes());
    let m = StunMessage::parse(&c).expect("well-formed");
    assert_eq!(m.verify_fingerprint(), Err(StunError::NoFingerprint));
    m.verify_integrity(&key()).expect("integrity");
}

#[test]
fn first_occurrence_wins() {
    let b = message(&hex("00240004 00000001 00240004 00000002"));
    let m = StunMessage::parse(&b).expect("repeated attributes are allowed");
    assert_eq!(m.priority(), Some(1));
    assert_eq!(m.attributes().count(), 2);
}
