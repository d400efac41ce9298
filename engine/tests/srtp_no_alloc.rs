//! Proves SRTP/SRTCP protect and unprotect allocate nothing once the contexts exist: a
//! counting global allocator, every profile, RTP across a ROC wrap, new SSRCs taking their
//! slots mid-run, RTCP, and the error paths (replay, bad tag, too many SSRCs).
//!
//! `harness = false`: libtest's own threads would allocate while we count.

mod alloc_counter;

use sluice_engine::crypto::srtp::{SrtpContext, SrtpError, SrtpProfile};

const MAX_SSRCS: usize = 4;

fn write_rtp(buf: &mut [u8], ssrc: u32, seq: u16, payload: usize) -> usize {
    buf[..12].copy_from_slice(&[0x90, 96, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    buf[12..20].copy_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0x55, 0, 0]);
    buf[20..20 + payload].fill(seq as u8);
    20 + payload
}

fn write_rtcp(buf: &mut [u8], ssrc: u32) -> usize {
    buf[..8].copy_from_slice(&[0x81, 201, 0, 7, 0, 0, 0, 0]);
    buf[4..8].copy_from_slice(&ssrc.to_be_bytes());
    buf[8..32].fill(0x42);
    32
}

/// Runs a session through `tx` and `rx`; returns how many packets were unprotected.
fn exercise(tx: &mut SrtpContext, rx: &mut SrtpContext) -> u64 {
    let mut buf = [0u8; 2048];
    let mut ok = 0;
    for k in 0..3000u32 {
        // Three SSRCs, the later ones first seen mid-run; sequence numbers wrap.
        let ssrc = 1 + k % 3.min(1 + k / 500);
        let seq = (64_000 + k) as u16;
        let payload = if k % 2 == 0 { 160 } else { 1200 };
        let n = write_rtp(&mut buf, ssrc, seq, payload);
        let n = tx.protect_rtp(&mut buf, n).expect("protect");
        // A tampered copy fails, the real one passes, its replay fails: no path allocates.
        let mut copy = [0u8; 2048];
        copy[..n].copy_from_slice(&buf[..n]);
        copy[n - 1] ^= 1;
        assert_eq!(rx.unprotect_rtp(&mut copy[..n]), Err(SrtpError::Auth));
        copy[..n].copy_from_slice(&buf[..n]);
        rx.unprotect_rtp(&mut buf[..n]).expect("unprotect");
        ok += 1;
        assert_eq!(rx.unprotect_rtp(&mut copy[..n]), Err(SrtpError::Replay));

        let n = write_rtcp(&mut buf, ssrc);
        let n = tx.protect_rtcp(&mut buf, n).expect("protect rtcp");
        rx.unprotect_rtcp(&mut buf[..n]).expect("unprotect rtcp");
    }
    // Fill the table, then one SSRC too many.
    for ssrc in 4..=MAX_SSRCS as u32 + 1 {
        let n = write_rtp(&mut buf, ssrc, 1, 100);
        let got = tx.protect_rtp(&mut buf, n);
        if ssrc as usize > MAX_SSRCS {
            assert_eq!(got, Err(SrtpError::TooManySsrcs));
        } else {
            rx.unprotect_rtp(&mut buf[..got.expect("protect")])
                .expect("unprotect");
        }
    }
    ok
}

fn main() {
    // The counter sees allocations at all (else a zero below would prove nothing).
    let before = alloc_counter::allocations();
    drop(std::hint::black_box(vec![0u8; 64]));
    assert!(
        alloc_counter::allocations() > before,
        "counting allocator installed"
    );

    let mut failed = 0;
    for profile in SrtpProfile::ALL {
        let key = vec![0x11; profile.master_key_len()];
        let salt = vec![0x22; profile.master_salt_len()];
        let mut tx = SrtpContext::new(profile, &key, &salt, MAX_SSRCS).expect("context");
        let mut rx = SrtpContext::new(profile, &key, &salt, MAX_SSRCS).expect("context");

        let before = alloc_counter::allocations();
        let packets = std::hint::black_box(exercise(&mut tx, &mut rx));
        let allocs = alloc_counter::allocations() - before;

        if allocs == 0 && packets == 3000 && rx.roc(1) == Some(1) {
            println!("test srtp_no_alloc::{profile} ... ok ({packets} packets, 0 allocations)");
        } else {
            println!(
                "test srtp_no_alloc::{profile} ... FAILED ({packets} packets, {allocs} allocations, roc {:?})",
                rx.roc(1)
            );
            failed += 1;
        }
    }
    let total = SrtpProfile::ALL.len();
    println!(
        "\ntest result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        total - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
