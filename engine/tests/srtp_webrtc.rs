//! Cross-check of `crypto::srtp` against an independent implementation, `webrtc-srtp`
//! (DESIGN.md §7: test oracle). For every profile both support, over a few hundred RTP packets
//! that cross a sequence-number wrap (ROC 0 → 1) and a few hundred RTCP packets:
//! - what we protect, it unprotects to the original;
//! - what it protects, we unprotect to the original;
//! - for the same keys, index and packet, both produce the same bytes.

use sluice_engine::crypto::srtp::{SrtpContext, SrtpProfile};
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use webrtc_srtp::protection_profile::ProtectionProfile;

const PROFILES: [(SrtpProfile, ProtectionProfile); 4] = [
    (SrtpProfile::AeadAes128Gcm, ProtectionProfile::AeadAes128Gcm),
    (SrtpProfile::AeadAes256Gcm, ProtectionProfile::AeadAes256Gcm),
    (
        SrtpProfile::AesCm128HmacSha1_80,
        ProtectionProfile::Aes128CmHmacSha1_80,
    ),
    (
        SrtpProfile::AesCm128HmacSha1_32,
        ProtectionProfile::Aes128CmHmacSha1_32,
    ),
];

const PACKETS: u16 = 400;
const FIRST_SEQ: u16 = 65_336; // wraps after 200 packets

fn keys(p: SrtpProfile) -> (Vec<u8>, Vec<u8>) {
    let key = (0..p.master_key_len() as u8).map(|i| i * 7 + 3).collect();
    let salt = (0..p.master_salt_len() as u8).map(|i| i * 13 + 1).collect();
    (key, salt)
}

fn ours(p: SrtpProfile) -> SrtpContext {
    let (key, salt) = keys(p);
    SrtpContext::new(p, &key, &salt, 4).expect("valid key lengths")
}

fn theirs(p: SrtpProfile, q: ProtectionProfile) -> Context {
    let (key, salt) = keys(p);
    Context::new(
        &key,
        &salt,
        q,
        Some(srtp_replay_protection(1024)),
        Some(srtcp_replay_protection(128)),
    )
    .expect("webrtc-srtp accepts the keys")
}

/// RTP packet `k`: sequence `FIRST_SEQ + k`, varying payload length, every fourth with a
/// one-byte-header extension, every seventh with two CSRCs.
fn rtp_packet(k: u16) -> Vec<u8> {
    let seq = FIRST_SEQ.wrapping_add(k);
    let csrcs = if k.is_multiple_of(7) { 2 } else { 0 };
    let ext = k.is_multiple_of(4);
    let mut p = vec![0x80 | csrcs | if ext { 0x10 } else { 0 }, 111];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(k) * 960).to_be_bytes());
    p.extend_from_slice(&0x1122_3344u32.to_be_bytes());
    for c in 0..csrcs {
        p.extend_from_slice(&(0xC0 + u32::from(c)).to_be_bytes());
    }
    if ext {
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, k as u8, 0, 0]);
    }
    let payload = 1 + usize::from(k) * 3 % 1100;
    p.extend((0..payload).map(|i| (i as u16 ^ k) as u8));
    p
}

/// RTCP receiver report `k` from SSRC 0x55667788 with one report block.
fn rtcp_packet(k: u16) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&0x5566_7788u32.to_be_bytes());
    p.extend_from_slice(&0x1122_3344u32.to_be_bytes());
    p.extend((0..20).map(|i| (i as u16 ^ k) as u8));
    p
}

fn protect_rtp(ctx: &mut SrtpContext, plain: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    buf[..plain.len()].copy_from_slice(plain);
    let n = ctx.protect_rtp(&mut buf, plain.len()).expect("protect");
    buf[..n].to_vec()
}

fn protect_rtcp(ctx: &mut SrtpContext, plain: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    buf[..plain.len()].copy_from_slice(plain);
    let n = ctx.protect_rtcp(&mut buf, plain.len()).expect("protect");
    buf[..n].to_vec()
}

#[test]
fn rtp_we_protect_webrtc_srtp_unprotects_and_bytes_match() {
    for (p, q) in PROFILES {
        let (mut tx, mut their_tx, mut their_rx) = (ours(p), theirs(p, q), theirs(p, q));
        for k in 0..PACKETS {
            let plain = rtp_packet(k);
            let wire = protect_rtp(&mut tx, &plain);
            let reference = their_tx.encrypt_rtp(&plain).expect("webrtc-srtp encrypts");
            assert_eq!(&wire[..], &reference[..], "{p} packet {k}");
            let back = their_rx
                .decrypt_rtp(&wire)
                .expect("webrtc-srtp decrypts ours");
            assert_eq!(&back[..], &plain[..], "{p} packet {k}");
        }
        assert_eq!(tx.roc(0x1122_3344), Some(1), "{p}: crossed the wrap");
    }
}

#[test]
fn rtp_webrtc_srtp_protects_we_unprotect() {
    for (p, q) in PROFILES {
        let (mut their_tx, mut rx) = (theirs(p, q), ours(p));
        let wires: Vec<_> = (0..PACKETS)
            .map(|k| {
                their_tx
                    .encrypt_rtp(&rtp_packet(k))
                    .expect("encrypt")
                    .to_vec()
            })
            .collect();
        // Deliver pairs swapped (1, 0, 3, 2, ...), so reordering crosses the wrap too.
        for pair in (0..PACKETS as usize).collect::<Vec<_>>().chunks(2) {
            for &k in pair.iter().rev() {
                let mut w = wires[k].clone();
                let n = rx
                    .unprotect_rtp(&mut w)
                    .expect("we decrypt webrtc-srtp's packet");
                assert_eq!(&w[..n], &rtp_packet(k as u16)[..], "{p} packet {k}");
            }
        }
        assert_eq!(rx.roc(0x1122_3344), Some(1), "{p}");
        let mut again = wires[PACKETS as usize - 1].clone();
        assert!(
            rx.unprotect_rtp(&mut again).is_err(),
            "{p}: replay rejected"
        );
    }
}

#[test]
fn rtcp_both_ways_and_bytes_match() {
    for (p, q) in PROFILES {
        let (mut tx, mut rx) = (ours(p), ours(p));
        let (mut their_tx, mut their_rx) = (theirs(p, q), theirs(p, q));
        // webrtc-srtp's first SRTCP index is 1; spend our index 0 so that both sides use the
        // same indices from here on.
        protect_rtcp(&mut tx, &rtcp_packet(0));
        for k in 1..=PACKETS {
            let plain = rtcp_packet(k);
            let wire = protect_rtcp(&mut tx, &plain);
            let reference = their_tx.encrypt_rtcp(&plain).expect("webrtc-srtp encrypts");
            assert_eq!(&wire[..], &reference[..], "{p} RTCP {k}");
            let back = their_rx
                .decrypt_rtcp(&wire)
                .expect("webrtc-srtp decrypts ours");
            assert_eq!(&back[..], &plain[..], "{p} RTCP {k}");
            let mut w = reference.to_vec();
            let n = rx
                .unprotect_rtcp(&mut w)
                .expect("we decrypt webrtc-srtp's RTCP");
            assert_eq!(&w[..n], &plain[..], "{p} RTCP {k}");
        }
    }
}
