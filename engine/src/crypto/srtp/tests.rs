//! RFC 3711 Appendix B and RFC 7714 §16–§17 vectors, index estimation, replay and bad input.

use super::transform::{Transform, ctr};
use super::*;
use crate::crypto::dtls::DtlsSide;
use crate::test_rng::XorShift;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector is hex"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// RFC 3711 Appendix B.2: AES-CM keystream.

#[test]
fn rfc3711_b2_aes_cm_keystream() {
    let key = hex("2B7E151628AED2A6ABF7158809CF4F3C");
    let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
    let aes = aws_lc_rs::cipher::EncryptingKey::ctr(
        aws_lc_rs::cipher::UnboundCipherKey::new(&aws_lc_rs::cipher::AES_128, &key).unwrap(),
    )
    .unwrap();
    // SSRC 0, index 0: the IV is the salt shifted by 16 bits; the keystream of blocks
    // 0x0000..=0xFF01 encrypts zeros into itself.
    let mut ks = vec![0u8; 16 * 0xFF02];
    ctr(&aes, &salt, 0, 0, &mut ks).unwrap();
    let block = |n: usize| &ks[16 * n..16 * (n + 1)];
    assert_eq!(block(0), &hex("E03EAD0935C95E80E166B16DD92B4EB4")[..]);
    assert_eq!(block(1), &hex("D23513162B02D0F72A43A2FE4A5F97AB")[..]);
    assert_eq!(block(2), &hex("41E95B3BB0A2E8DD477901E4FCA894C0")[..]);
    assert_eq!(block(0xFEFF), &hex("EC8CDF7398607CB0F2D21675EA9EA1E4")[..]);
    assert_eq!(block(0xFF00), &hex("362B7C3C6773516318A077D7FC5073AE")[..]);
    assert_eq!(block(0xFF01), &hex("6A2CC3787889374FBEB4C81B17BA6C44")[..]);
}

// ---------------------------------------------------------------------------------------------
// RFC 3711 Appendix B.3: key derivation.

#[test]
fn rfc3711_b3_key_derivation() {
    let key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
    let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
    let mut out = [0u8; 16];
    kdf::derive(&key, &salt, kdf::LABEL_RTP_ENCRYPTION, &mut out).unwrap();
    assert_eq!(&out[..], &hex("C61E7A93744F39EE10734AFE3FF7A087")[..]);
    let mut out = [0u8; 14];
    kdf::derive(&key, &salt, kdf::LABEL_RTP_SALT, &mut out).unwrap();
    assert_eq!(&out[..], &hex("30CBBC08863D8C85D49DB34A9AE1")[..]);
    // The RFC lists 94 bytes of the authentication keystream; SHA1-HMAC uses the first 20.
    let mut out = [0u8; 94];
    kdf::derive(&key, &salt, kdf::LABEL_RTP_AUTH, &mut out).unwrap();
    assert_eq!(
        &out[..],
        &hex(
            "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE
              E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25
              6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2"
        )[..]
    );
}

#[test]
fn key_lengths_are_checked() {
    for p in SrtpProfile::ALL {
        let key = vec![1; p.master_key_len()];
        let salt = vec![2; p.master_salt_len()];
        assert!(SrtpContext::new(p, &key, &salt, 1).is_ok(), "{p}");
        assert_eq!(
            SrtpContext::new(p, &key[1..], &salt, 1).unwrap_err(),
            SrtpError::KeyLength
        );
        assert_eq!(
            SrtpContext::new(p, &key, &salt[1..], 1).unwrap_err(),
            SrtpError::KeyLength
        );
    }
}

#[test]
fn profile_ids_and_names_round_trip() {
    for p in SrtpProfile::ALL {
        assert_eq!(SrtpProfile::from_dtls_id(p.dtls_id()), Some(p));
        assert_eq!(SrtpProfile::from_name(p.name()), Some(p));
    }
    assert_eq!(SrtpProfile::from_dtls_id(0x0003), None);
    assert_eq!(SrtpProfile::AeadAes128Gcm.keying_material_len(), 56);
    assert_eq!(SrtpProfile::AeadAes256Gcm.keying_material_len(), 88);
    assert_eq!(SrtpProfile::AesCm128HmacSha1_80.keying_material_len(), 60);
    assert_eq!(SrtpProfile::AesCm128HmacSha1_32.rtp_overhead(), 4);
    assert_eq!(SrtpProfile::AesCm128HmacSha1_32.rtcp_overhead(), 14);
}

// ---------------------------------------------------------------------------------------------
// RFC 7714 §16 (SRTP) and §17 (SRTCP): session key and salt given directly.

const GCM_KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
const GCM_KEY_256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const GCM_SALT: &str = "517569642070726f2071756f";
const RFC7714_RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                           20646976 69736120 696e2070 61727465 73207472 6573";
const RFC7714_RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                            4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef";

fn gcm_context(key: &str) -> SrtpContext {
    let (key, salt) = (hex(key), hex(GCM_SALT));
    let profile = if key.len() == 16 {
        SrtpProfile::AeadAes128Gcm
    } else {
        SrtpProfile::AeadAes256Gcm
    };
    SrtpContext::from_transforms(
        profile,
        Transform::gcm(&key, &salt).unwrap(),
        Transform::gcm(&key, &salt).unwrap(),
        4,
    )
}

fn check_rtp_vector(key: &str, protected: &str) {
    let (plain, protected) = (hex(RFC7714_RTP), hex(protected));
    let mut buf = [0u8; 256];
    buf[..plain.len()].copy_from_slice(&plain);
    let n = gcm_context(key).protect_rtp(&mut buf, plain.len()).unwrap();
    assert_eq!(&buf[..n], &protected[..]);

    let mut rx = gcm_context(key);
    let mut wire = protected.clone();
    let n = rx.unprotect_rtp(&mut wire).unwrap();
    assert_eq!(&wire[..n], &plain[..]);
    let mut wire = protected;
    assert_eq!(rx.unprotect_rtp(&mut wire), Err(SrtpError::Replay));
}

#[test]
fn rfc7714_16_1_aes_128_gcm_rtp() {
    check_rtp_vector(
        GCM_KEY_128,
        "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f
         42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
    );
}

#[test]
fn rfc7714_16_2_aes_256_gcm_rtp() {
    check_rtp_vector(
        GCM_KEY_256,
        "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3
         b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
    );
}

/// Protect with the sender's next SRTCP index set to `index` (the vectors start at 0x5d4).
fn protect_rtcp_at(ctx: &mut SrtpContext, index: u32, buf: &mut [u8], len: usize) -> usize {
    let ssrc = rtcp_ssrc(&buf[..len]).unwrap();
    let i = ctx.streams.find_or_insert(ssrc).unwrap();
    ctx.streams.states[i].rtcp_next = index;
    ctx.protect_rtcp(buf, len).unwrap()
}

fn check_rtcp_vector(key: &str, protected: &str) {
    let (plain, protected) = (hex(RFC7714_RTCP), hex(protected));
    let mut buf = [0u8; 256];
    buf[..plain.len()].copy_from_slice(&plain);
    let n = protect_rtcp_at(&mut gcm_context(key), 0x5d4, &mut buf, plain.len());
    assert_eq!(&buf[..n], &protected[..]);

    let mut rx = gcm_context(key);
    let mut wire = protected.clone();
    let n = rx.unprotect_rtcp(&mut wire).unwrap();
    assert_eq!(&wire[..n], &plain[..]);
    let mut wire = protected;
    assert_eq!(rx.unprotect_rtcp(&mut wire), Err(SrtpError::Replay));
}

#[test]
fn rfc7714_17_1_aes_128_gcm_rtcp() {
    check_rtcp_vector(
        GCM_KEY_128,
        "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1
         730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4",
    );
}

#[test]
fn rfc7714_17_2_aes_256_gcm_rtcp() {
    check_rtcp_vector(
        GCM_KEY_256,
        "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1
         110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4",
    );
}

/// §17.3 and §17.4: SRTCP with the E flag clear (authenticated, not encrypted).
#[test]
fn rfc7714_17_3_and_17_4_unencrypted_rtcp() {
    for (key, protected) in [
        (
            GCM_KEY_128,
            "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
             deadbeef deadbeef deadbeef deadbeef deadbeef 841dd968 3dd78ec9 2ae58790
             125f62b3 000005d4",
        ),
        (
            GCM_KEY_256,
            "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
             deadbeef deadbeef deadbeef deadbeef deadbeef 91db4afb feee5a97 8fab4393
             ed2615fe 000005d4",
        ),
    ] {
        let mut rx = gcm_context(key);
        let mut wire = hex(protected);
        let n = rx.unprotect_rtcp(&mut wire).unwrap();
        assert_eq!(&wire[..n], &hex(RFC7714_RTCP)[..]);
        // One flipped bit of the clear payload fails the tag.
        let mut wire = hex(protected);
        wire[20] ^= 1;
        assert_eq!(
            gcm_context(key).unprotect_rtcp(&mut wire),
            Err(SrtpError::Auth)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Behaviour, for every profile.

const KEY: [u8; 32] = [0x5a; 32];
const SALT: [u8; 14] = [0xa5; 14];

fn pair(p: SrtpProfile) -> (SrtpContext, SrtpContext) {
    let (k, s) = (&KEY[..p.master_key_len()], &SALT[..p.master_salt_len()]);
    (
        SrtpContext::new(p, k, s, 8).unwrap(),
        SrtpContext::new(p, k, s, 8).unwrap(),
    )
}

/// An RTP packet with a one-byte-header extension and a payload that depends on `seq`.
fn rtp(buf: &mut [u8], ssrc: u32, seq: u16, payload_len: usize) -> usize {
    buf[..12].copy_from_slice(&[0x90, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&(u32::from(seq) * 90).to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    buf[12..20].copy_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0x55, 0, 0]);
    for (i, b) in buf[20..20 + payload_len].iter_mut().enumerate() {
        *b = (i as u16 ^ seq) as u8;
    }
    20 + payload_len
}

fn protected_rtp(tx: &mut SrtpContext, ssrc: u32, seq: u16) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = rtp(&mut buf, ssrc, seq, 100);
    let n = tx.protect_rtp(&mut buf, n).unwrap();
    buf[..n].to_vec()
}

fn plain_rtp(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = rtp(&mut buf, ssrc, seq, 100);
    buf[..n].to_vec()
}

#[test]
fn header_and_extension_stay_clear_payload_is_encrypted() {
    for p in SrtpProfile::ALL {
        let (mut tx, _) = pair(p);
        let wire = protected_rtp(&mut tx, 7, 1);
        let plain = plain_rtp(7, 1);
        assert_eq!(wire.len(), plain.len() + p.rtp_overhead(), "{p}");
        assert_eq!(
            &wire[..20],
            &plain[..20],
            "{p}: header and extension in clear"
        );
        assert_ne!(
            &wire[20..plain.len()],
            &plain[20..],
            "{p}: payload encrypted"
        );
    }
}

#[test]
fn roc_rolls_over_across_seq_wrap() {
    for p in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(p);
        for k in 0..40u32 {
            let seq = (65_520 + k) as u16;
            let mut wire = protected_rtp(&mut tx, 9, seq);
            let n = rx.unprotect_rtp(&mut wire).unwrap();
            assert_eq!(&wire[..n], &plain_rtp(9, seq)[..], "{p} seq {seq}");
        }
        assert_eq!(tx.roc(9), Some(1), "{p}");
        assert_eq!(rx.roc(9), Some(1), "{p}");
    }
}

#[test]
fn roc_wrap_with_reordering_around_zero() {
    for p in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(p);
        let seqs: Vec<u16> = (65_530..=65_535).chain(0..6).collect();
        let wires: Vec<_> = seqs.iter().map(|&s| protected_rtp(&mut tx, 3, s)).collect();
        // Delivery order: 65530, 65531, 1, 0, 65533, 65532, 2, 65535, 65534, 3, 4, 5.
        for i in [0, 1, 7, 6, 3, 2, 8, 5, 4, 9, 10, 11] {
            let mut w = wires[i].clone();
            let n = rx.unprotect_rtp(&mut w).unwrap();
            assert_eq!(&w[..n], &plain_rtp(3, seqs[i])[..], "{p} seq {}", seqs[i]);
        }
        assert_eq!(rx.roc(3), Some(1));
    }
}

#[test]
fn reordering_within_window_accepted_replay_and_too_old_rejected() {
    for p in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(p);
        let wires: Vec<_> = (0..1200u16).map(|s| protected_rtp(&mut tx, 5, s)).collect();
        for (s, w) in wires[..1100].iter().enumerate() {
            if s != 100 && s != 150 {
                rx.unprotect_rtp(&mut w.clone()).unwrap();
            }
        }
        // 1099 - 100 = 999 behind the newest: inside the window, accepted once.
        let mut late = wires[100].clone();
        let n = rx.unprotect_rtp(&mut late).unwrap();
        assert_eq!(&late[..n], &plain_rtp(5, 100)[..], "{p}");
        assert_eq!(
            rx.unprotect_rtp(&mut wires[100].clone()),
            Err(SrtpError::Replay)
        );
        assert_eq!(
            rx.unprotect_rtp(&mut wires[1099].clone()),
            Err(SrtpError::Replay)
        );
        for w in &wires[1100..] {
            rx.unprotect_rtp(&mut w.clone()).unwrap();
        }
        // 1199 - 150 = 1049 behind: outside a 1024-packet window.
        assert_eq!(
            rx.unprotect_rtp(&mut wires[150].clone()),
            Err(SrtpError::TooOld)
        );
        assert_eq!(
            rx.unprotect_rtp(&mut wires[0].clone()),
            Err(SrtpError::TooOld)
        );
    }
}

#[test]
fn window_edges_are_exact() {
    let (mut tx, mut rx) = pair(SrtpProfile::AeadAes128Gcm);
    let top = RTP_REPLAY_WINDOW as u16 + 10;
    let wires: Vec<_> = (0..=top).map(|s| protected_rtp(&mut tx, 1, s)).collect();
    rx.unprotect_rtp(&mut wires[top as usize].clone()).unwrap();
    let oldest = usize::from(top) - RTP_REPLAY_WINDOW as usize;
    assert_eq!(
        rx.unprotect_rtp(&mut wires[oldest].clone()),
        Err(SrtpError::TooOld)
    );
    rx.unprotect_rtp(&mut wires[oldest + 1].clone()).unwrap();
    assert_eq!(
        rx.unprotect_rtp(&mut wires[oldest + 1].clone()),
        Err(SrtpError::Replay)
    );
}

#[test]
fn tampering_fails_auth_and_moves_no_state() {
    for p in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(p);
        let wire = protected_rtp(&mut tx, 11, 500);
        for at in [1, 9, 15, 30, wire.len() - 1] {
            let mut bad = wire.clone();
            bad[at] ^= 0x04;
            assert_eq!(
                rx.unprotect_rtp(&mut bad),
                Err(SrtpError::Auth),
                "{p} byte {at}"
            );
        }
        // No forged packet took a slot or marked the window: the real one still passes.
        assert_eq!(rx.ssrc_count(), 0, "{p}");
        rx.unprotect_rtp(&mut wire.clone()).unwrap();
        // A wrong key fails too.
        let mut other = SrtpContext::new(
            p,
            &[1; 32][..p.master_key_len()],
            &SALT[..p.master_salt_len()],
            1,
        )
        .unwrap();
        assert_eq!(other.unprotect_rtp(&mut wire.clone()), Err(SrtpError::Auth));
    }
}

#[test]
fn truncated_and_malformed_packets_error() {
    for p in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(p);
        let wire = protected_rtp(&mut tx, 2, 1);
        assert_eq!(
            rx.unprotect_rtp(&mut wire[..3].to_vec()),
            Err(SrtpError::TooShort)
        );
        assert_eq!(
            rx.unprotect_rtp(&mut wire[..11 + p.rtp_overhead()].to_vec()),
            Err(SrtpError::TooShort)
        );
        // The extension header claims more words than the packet has.
        let mut short = wire[..20 + p.rtp_overhead()].to_vec();
        short[14..16].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(rx.unprotect_rtp(&mut short), Err(SrtpError::Malformed));
        let mut v1 = wire.clone();
        v1[0] = 0x50;
        assert_eq!(rx.unprotect_rtp(&mut v1), Err(SrtpError::Malformed));
        // Shortened by one byte: the tag is in the wrong place.
        let mut cut = wire[..wire.len() - 1].to_vec();
        assert_eq!(rx.unprotect_rtp(&mut cut), Err(SrtpError::Auth));

        let mut rtcp = [0u8; 8 + 13];
        assert_eq!(rx.unprotect_rtcp(&mut rtcp[..]), Err(SrtpError::TooShort));

        // Protect needs tailroom and a header.
        let mut buf = [0u8; 40];
        let n = rtp(&mut buf, 2, 2, 20);
        assert_eq!(tx.protect_rtp(&mut buf[..n], n), Err(SrtpError::NoTailroom));
        assert_eq!(tx.protect_rtp(&mut buf, 8), Err(SrtpError::TooShort));
        assert_eq!(tx.protect_rtp(&mut buf, 41), Err(SrtpError::TooShort));
    }
}

/// A minimal RTCP receiver report from `ssrc` with one report block.
fn rtcp(buf: &mut [u8], ssrc: u32, n: u8) -> usize {
    buf[..8].copy_from_slice(&[0x81, 201, 0, 7, 0, 0, 0, 0]);
    buf[4..8].copy_from_slice(&ssrc.to_be_bytes());
    for (i, b) in buf[8..32].iter_mut().enumerate() {
        *b = i as u8 ^ n;
    }
    32
}

#[test]
fn rtcp_round_trip_replay_and_tamper() {
    for p in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(p);
        let mut wires = Vec::new();
        for k in 0..200u8 {
            let mut buf = [0u8; 128];
            let n = rtcp(&mut buf, 77, k);
            let n = tx.protect_rtcp(&mut buf, n).unwrap();
            assert_eq!(n, 32 + p.rtcp_overhead(), "{p}");
            assert_ne!(
                &buf[8..32],
                &{
                    let mut plain = [0u8; 128];
                    rtcp(&mut plain, 77, k);
                    plain
                }[8..32]
            );
            wires.push(buf[..n].to_vec());
        }
        for (k, w) in wires.iter().enumerate().rev().take(100).rev() {
            let mut w = w.clone();
            let n = rx.unprotect_rtcp(&mut w).unwrap();
            let mut plain = [0u8; 128];
            let m = rtcp(&mut plain, 77, k as u8);
            assert_eq!(&w[..n], &plain[..m], "{p}");
        }
        assert_eq!(
            rx.unprotect_rtcp(&mut wires[199].clone()),
            Err(SrtpError::Replay)
        );
        // 199 - 40 = 159 behind: outside the 128-packet SRTCP window.
        assert_eq!(
            rx.unprotect_rtcp(&mut wires[40].clone()),
            Err(SrtpError::TooOld)
        );
        // 199 - 90 = 109: inside, never seen.
        rx.unprotect_rtcp(&mut wires[90].clone()).unwrap();
        let mut bad = wires[95].clone();
        bad[10] ^= 1;
        assert_eq!(rx.unprotect_rtcp(&mut bad), Err(SrtpError::Auth));
        // A flipped E flag changes the authenticated data too.
        let mut bad = wires[96].clone();
        let at = if p.is_aead() {
            bad.len() - 4
        } else {
            bad.len() - 14
        };
        bad[at] ^= 0x80;
        assert_eq!(rx.unprotect_rtcp(&mut bad), Err(SrtpError::Auth));
    }
}

#[test]
fn ssrc_table_is_bounded_and_slots_free() {
    let p = SrtpProfile::AeadAes128Gcm;
    let mut tx = SrtpContext::new(p, &KEY[..16], &SALT[..12], 8).unwrap();
    let mut rx = SrtpContext::new(p, &KEY[..16], &SALT[..12], 2).unwrap();
    for ssrc in 1..=2 {
        rx.unprotect_rtp(&mut protected_rtp(&mut tx, ssrc, 1))
            .unwrap();
    }
    let mut third = protected_rtp(&mut tx, 3, 1);
    assert_eq!(
        rx.unprotect_rtp(&mut third.clone()),
        Err(SrtpError::TooManySsrcs)
    );
    rx.remove_ssrc(1);
    rx.unprotect_rtp(&mut third).unwrap();
    rx.unprotect_rtp(&mut protected_rtp(&mut tx, 2, 2)).unwrap();
    assert_eq!(rx.ssrc_count(), 2);
}

#[test]
fn dtls_keying_material_splits_by_role() {
    for p in SrtpProfile::ALL {
        let material: Vec<u8> = (0..p.keying_material_len() as u8).collect();
        let ck = SrtpKeys::from_keying_material(p, DtlsSide::Client, &material).unwrap();
        let sk = SrtpKeys::from_keying_material(p, DtlsSide::Server, &material).unwrap();
        let mut client = SrtpSession::from_keys(&ck, 4).unwrap();
        let mut server = SrtpSession::from_keys(&sk, 4).unwrap();
        let mut w = protected_rtp(&mut client.outbound, 1, 1);
        server.inbound.unprotect_rtp(&mut w).unwrap();
        let mut w = protected_rtp(&mut server.outbound, 1, 1);
        client.inbound.unprotect_rtp(&mut w).unwrap();
        // Our own outbound packets do not open with our inbound keys.
        let mut w = protected_rtp(&mut client.outbound, 1, 2);
        assert_eq!(client.inbound.unprotect_rtp(&mut w), Err(SrtpError::Auth));
        let mut short = ck.clone();
        short.local_key.pop();
        assert_eq!(
            SrtpSession::from_keys(&short, 4).unwrap_err(),
            SrtpError::KeyLength
        );
    }
}

#[test]
fn contexts_can_move_to_a_worker_thread() {
    // Keys are derived on the control thread (DTLS) and handed to the owning worker.
    let (tx, mut rx) = pair(SrtpProfile::AeadAes128Gcm);
    let mut tx = std::thread::spawn(move || tx).join().unwrap();
    rx.unprotect_rtp(&mut protected_rtp(&mut tx, 1, 1)).unwrap();
    assert_eq!(SrtpError::TooOld.as_str(), "too_old");
}

/// Network bytes: random datagrams, and real packets truncated at every length and with one
/// byte mutated, through unprotect. None panics, none is accepted.
#[test]
fn random_and_mutated_datagrams_never_panic_nor_pass() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for p in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(p);
        for _ in 0..3000 {
            let len = (rng.next() % 300) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if let Some(b) = d.first_mut() {
                *b = 0x80 | (*b & 0x3f);
            }
            assert!(rx.unprotect_rtp(&mut d.clone()).is_err(), "{p}");
            assert!(rx.unprotect_rtcp(&mut d).is_err(), "{p}");
        }
        let wire = protected_rtp(&mut tx, 8, 1);
        let mut buf = [0u8; 128];
        let n = rtcp(&mut buf, 8, 1);
        let n = tx.protect_rtcp(&mut buf, n).unwrap();
        let wire_rtcp = buf[..n].to_vec();
        for w in [&wire, &wire_rtcp] {
            for cut in 0..w.len() {
                assert!(rx.unprotect_rtp(&mut w[..cut].to_vec()).is_err(), "{p}");
                assert!(rx.unprotect_rtcp(&mut w[..cut].to_vec()).is_err(), "{p}");
            }
            for _ in 0..500 {
                let mut m = w.clone();
                let at = (rng.next() % m.len() as u64) as usize;
                m[at] ^= 1 << (rng.next() % 8);
                assert!(rx.unprotect_rtp(&mut m.clone()).is_err(), "{p}");
                assert!(rx.unprotect_rtcp(&mut m).is_err(), "{p}");
            }
        }
        // Untouched, they still pass: the failures above left no state behind.
        rx.unprotect_rtp(&mut wire.clone()).unwrap();
        rx.unprotect_rtcp(&mut wire_rtcp.clone()).unwrap();
    }
}
