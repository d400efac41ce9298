//! SRTP protect and unprotect per profile at 160- and 1200-byte payloads, beside
//! `webrtc-srtp` 0.17 on the same packets, a bare `aws-lc-rs` AES-GCM seal (the floor for
//! the GCM rows) and a bare HMAC-SHA1 (most of the CM rows), all in one run:
//! `cargo bench -p sluice-engine --bench srtp`.
//!
//! `harness = false`: each figure is the fastest of several timed runs of many iterations, in
//! nanoseconds per packet (the loop is `timing/mod.rs`, shared with `rtp_rewrite.rs`): on a machine shared with other builds the fastest run is the one
//! least disturbed, so it is the best estimate of the code's own cost; the load average is
//! printed before and after. Unprotect needs a fresh index every time (the replay window
//! rejects repeats), so it opens packets protected beforehand, each copied into the receive
//! buffer first (the copy's own cost is printed on its own line to subtract), with a fresh
//! receive context per round whose making is not timed. The machine is
//! shared and noisy: compare rows of one run only (DESIGN.md §6).

mod timing;

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use sluice_engine::crypto::srtp::{SrtpContext, SrtpProfile};
use timing::{RUNS, load_average, measure};
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

const SIZES: [usize; 2] = [160, 1200];
/// Packets protected ahead for the unprotect rows (one receive context per round of them).
const POOL: usize = 1024;
const SSRC: u32 = 0x1234_5678;
const HEADER: usize = 12;

fn theirs(p: SrtpProfile) -> ProtectionProfile {
    match p {
        SrtpProfile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        SrtpProfile::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        _ => ProtectionProfile::Aes128CmHmacSha1_32,
    }
}

fn keys(p: SrtpProfile) -> (Vec<u8>, Vec<u8>) {
    (
        vec![0x3c; p.master_key_len()],
        vec![0xc3; p.master_salt_len()],
    )
}

fn ours(p: SrtpProfile) -> SrtpContext {
    let (k, s) = keys(p);
    SrtpContext::new(p, &k, &s, 8).expect("context")
}

fn rtp(buf: &mut [u8], seq: u16, payload: usize) -> usize {
    buf[..HEADER].copy_from_slice(&[0x80, 111, 0, 0, 0, 0, 3, 0xc0, 0, 0, 0, 0]);
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[8..12].copy_from_slice(&SSRC.to_be_bytes());
    buf[HEADER..HEADER + payload].fill(0xab);
    HEADER + payload
}

fn protect(p: SrtpProfile, payload: usize) -> f64 {
    let mut tx = ours(p);
    let mut buf = [0u8; 2048];
    let n = rtp(&mut buf, 0, payload);
    measure(|i| {
        buf[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        black_box(tx.protect_rtp(black_box(&mut buf), n).expect("protect"));
    })
}

/// Protected packets with consecutive sequence numbers, for the unprotect rows.
fn pool(p: SrtpProfile, payload: usize) -> Vec<Vec<u8>> {
    let mut tx = ours(p);
    (0..POOL)
        .map(|k| {
            let mut buf = [0u8; 2048];
            let n = rtp(&mut buf, k as u16, payload);
            let n = tx.protect_rtp(&mut buf, n).expect("protect");
            buf[..n].to_vec()
        })
        .collect()
}

fn unprotect(p: SrtpProfile, payload: usize) -> f64 {
    let wires = pool(p, payload);
    let mut buf = [0u8; 2048];
    // Each round opens the pool once with a receiver that has not seen it; making the
    // receiver (key derivation) is outside the timed part.
    let mut round = |rx: &mut SrtpContext| {
        let t = Instant::now();
        for w in &wires {
            buf[..w.len()].copy_from_slice(w);
            black_box(
                rx.unprotect_rtp(black_box(&mut buf[..w.len()]))
                    .expect("unprotect"),
            );
        }
        t.elapsed()
    };
    timing::fastest(1, POOL as f64, |rounds| {
        (0..rounds).map(|_| round(&mut ours(p))).sum()
    })
}

fn copy_only(p: SrtpProfile, payload: usize) -> f64 {
    let wires = pool(p, payload);
    let mut buf = [0u8; 2048];
    measure(|i| {
        let w = &wires[i as usize % POOL];
        buf[..w.len()].copy_from_slice(w);
        black_box(&mut buf);
    })
}

fn webrtc_protect(p: SrtpProfile, payload: usize) -> f64 {
    let (k, s) = keys(p);
    let mut ctx = Context::new(&k, &s, theirs(p), None, None).expect("webrtc-srtp context");
    let mut plain = vec![0u8; HEADER + payload];
    rtp(&mut plain, 0, payload);
    measure(|i| {
        plain[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        black_box(ctx.encrypt_rtp(black_box(&plain)).expect("encrypt"));
    })
}

fn webrtc_unprotect(p: SrtpProfile, payload: usize) -> f64 {
    let (k, s) = keys(p);
    // No replay protection (its default), so the same packets can be opened again.
    let mut ctx = Context::new(&k, &s, theirs(p), None, None).expect("webrtc-srtp context");
    let wires = pool(p, payload);
    measure(|i| {
        let w = &wires[i as usize % POOL];
        black_box(ctx.decrypt_rtp(black_box(w)).expect("decrypt"));
    })
}

/// The floor under the AES-128-GCM rows: one in-place seal with a 12-byte AAD.
fn bare_gcm_seal(payload: usize) -> f64 {
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[0x3c; 16]).expect("key"));
    let mut buf = [0u8; 2048];
    let n = rtp(&mut buf, 0, payload);
    measure(|i| {
        let mut iv = [0u8; 12];
        iv[4..12].copy_from_slice(&i.to_be_bytes());
        let (head, body) = buf.split_at_mut(HEADER);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(&*head),
                &mut body[..n - HEADER],
            )
            .expect("seal");
        black_box(tag.as_ref()[0]);
    })
}

/// The floor under the AES-CM rows' authentication: HMAC-SHA1 of the packet and a ROC.
fn bare_hmac_sha1(payload: usize) -> f64 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[0x3c; 20]);
    let mut buf = [0u8; 2048];
    let n = rtp(&mut buf, 0, payload);
    measure(|i| {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(black_box(&buf[..n]));
        ctx.update(&(i as u32).to_be_bytes());
        black_box(ctx.sign().as_ref()[0]);
    })
}

fn main() {
    println!("load average before: {}", load_average());
    println!("SRTP, ns per packet (fastest of {RUNS} runs); payload bytes after a 12-byte header");
    println!(
        "{:<26} {:>7} {:>9} {:>11} {:>14} {:>16}",
        "profile", "payload", "protect", "unprotect", "webrtc protect", "webrtc unprotect"
    );
    for p in SrtpProfile::ALL {
        for size in SIZES {
            println!(
                "{:<26} {:>7} {:>9.0} {:>11.0} {:>14.0} {:>16.0}",
                p.name(),
                size,
                protect(p, size),
                unprotect(p, size),
                webrtc_protect(p, size),
                webrtc_unprotect(p, size),
            );
        }
    }
    for size in SIZES {
        println!(
            "{:<26} {:>7} {:>9.0}   (aws-lc-rs seal_in_place_separate_tag alone)",
            "bare AES-128-GCM seal",
            size,
            bare_gcm_seal(size)
        );
        println!(
            "{:<26} {:>7} {:>9.0}   (aws-lc-rs HMAC-SHA1 of packet and ROC alone)",
            "bare HMAC-SHA1",
            size,
            bare_hmac_sha1(size)
        );
        println!(
            "{:<26} {:>7} {:>9.0}   (memcpy into the receive buffer, included in unprotect)",
            "copy only",
            size,
            copy_only(SrtpProfile::AeadAes128Gcm, size)
        );
    }
    println!("load average after: {}", load_average());
}
