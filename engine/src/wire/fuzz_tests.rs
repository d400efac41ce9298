//! Robustness: pseudo-random and mutated byte strings through every parser in `wire`, asserting
//! that none panics and that the in-place rewriters keep a valid packet valid at the same length.
//!
//! A stand-in until the `cargo fuzz` targets exist (STYLE.md practice 8): a fixed-seed xorshift
//! generator, so a failure reproduces exactly, and no new dependency.

use super::demux::classify;
use super::rtcp::{self, RtcpPacket, RtcpPacketMut};
use super::rtp::{RtpHeader, RtpPacket, RtpPacketMut, write_rtp};

use crate::test_rng::XorShift;

fn exercise_rtp(buf: &[u8]) {
    let Ok(p) = RtpPacket::parse(buf) else {
        return;
    };
    assert_eq!(p.version(), 2);
    assert_eq!(
        p.header_len() + p.payload().len() + p.padding_len(),
        buf.len()
    );
    assert_eq!(p.payload_offset(), p.header_len());
    assert_eq!(p.csrcs().count(), usize::from(p.csrc_count()));
    let _ = (
        p.marker(),
        p.payload_type(),
        p.sequence(),
        p.timestamp(),
        p.ssrc(),
    );
    let _ = (p.padding(), p.has_extension(), p.extension_profile());
    let _ = p.extension_data();
    for (id, data) in p.extensions() {
        assert_ne!(id, 0);
        assert!(data.len() <= buf.len());
    }
    for id in [1, 2, 14, 15, 255] {
        let _ = p.extension(id);
    }
}

fn exercise_rtp_mut(buf: &mut [u8], rng: &mut XorShift) {
    let len = buf.len();
    let Ok(mut m) = RtpPacketMut::parse(buf) else {
        return;
    };
    let header_len = m.as_packet().header_len();
    let mut map = [0u8; 256];
    for v in map.iter_mut() {
        *v = rng.byte();
    }
    m.remap_extension_ids(&map);
    m.set_payload_type(rng.byte());
    m.set_marker(rng.next() & 1 == 1);
    m.set_sequence(rng.next() as u16);
    m.set_timestamp(rng.next() as u32);
    m.set_ssrc(rng.next() as u32);
    if let Some(d) = m.extension_mut(rng.byte()) {
        d.fill(0xee);
    }
    m.payload_mut().fill(0x55);
    let after = RtpPacket::parse(buf).expect("rewrites keep a valid RTP packet valid");
    assert_eq!(after.header_len(), header_len);
    assert_eq!(buf.len(), len);
    for (id, _) in after.extensions() {
        assert_ne!(id, 0);
    }
}

/// Every accessor of every RTCP packet kind, with the fuzz target's invariants.
fn exercise_rtcp_packet(p: &RtcpPacket<'_>) {
    crate::fuzz_entry::rtcp_packet(p);
}

fn exercise_rtcp(buf: &[u8]) {
    let _ = rtcp::validate_compound(buf);
    let _ = RtcpPacket::parse(buf);
    let mut errors = 0;
    for p in rtcp::compound(buf) {
        match p {
            Ok(p) => exercise_rtcp_packet(&p),
            Err(_) => errors += 1,
        }
    }
    assert!(errors <= 1, "iteration stops after the first error");
}

fn exercise_rtcp_mut(buf: &mut [u8], rng: &mut XorShift) {
    let before = rtcp::compound(buf).count();
    let valid_before = rtcp::validate_compound(buf);
    let _ = RtcpPacketMut::parse(buf).map(|p| p.packet_type());
    for p in rtcp::compound_mut(buf) {
        let Ok(mut p) = p else {
            break;
        };
        let _ = p.count();
        let v = rng.next() as u32;
        p.set_sender_ssrc(v);
        p.set_media_ssrc(v);
        p.set_sr_rtp_timestamp(v);
        p.set_sr_packet_count(v);
        p.set_sr_octet_count(v);
        p.set_sr_ntp(v, v);
        p.map_fir_entries(|s, n| (s ^ v, n.wrapping_add(1)));
        p.map_report_block_ssrcs(|s| s ^ v);
    }
    assert_eq!(rtcp::compound(buf).count(), before);
    assert_eq!(rtcp::validate_compound(buf), valid_before);
}

/// Runs every parser and rewriter over `input`; returns whether it parsed as RTP and as a whole
/// compound RTCP datagram, so the tests can check they reach past the first checks.
fn exercise(input: &[u8], rng: &mut XorShift) -> (bool, bool) {
    let _ = classify(input);
    exercise_rtp(input);
    exercise_rtcp(input);
    let mut copy = input.to_vec();
    exercise_rtp_mut(&mut copy, rng);
    let mut copy = input.to_vec();
    exercise_rtcp_mut(&mut copy, rng);
    (
        RtpPacket::parse(input).is_ok(),
        rtcp::validate_compound(input).is_ok(),
    )
}

/// Valid packets to mutate, so that random changes reach past the first checks.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let h = RtpHeader {
        marker: true,
        payload_type: 96,
        sequence: 65535,
        timestamp: 1,
        ssrc: 2,
    };
    let long = [9u8; 20];
    let ext_sets: [&[(u8, &[u8])]; 3] = [
        &[],
        &[(1, &[1]), (3, &[1, 2, 3]), (14, &[0; 16])],
        &[(1, &[]), (15, &[1]), (200, &long)],
    ];
    for exts in ext_sets {
        if let Ok(n) = write_rtp(&mut buf, &h, exts, b"payload") {
            out.push(buf[..n].to_vec());
        }
    }
    // CSRCs and padding.
    let mut p = vec![0xa2, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
    p.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 6, 1, 2, 3, 0, 0, 3]);
    out.push(p);

    let mut n = rtcp::write_sender_report(
        &mut buf,
        &rtcp::SenderInfo::default(),
        &[rtcp::ReportBlock::default()],
    )
    .unwrap_or(0);
    n += rtcp::write_sdes_cname(&mut buf[n..], 1, b"cname").unwrap_or(0);
    n += rtcp::write_bye(&mut buf[n..], &[1, 2], b"bye").unwrap_or(0);
    out.push(buf[..n].to_vec());
    let mut n = rtcp::write_receiver_report(&mut buf, 1, &[]).unwrap_or(0);
    n += rtcp::write_nack(&mut buf[n..], 1, 2, &[1, 2, 40]).unwrap_or(0);
    n += rtcp::write_pli(&mut buf[n..], 1, 2).unwrap_or(0);
    n += rtcp::write_fir(&mut buf[n..], 1, &[(2, 3), (4, 5)]).unwrap_or(0);
    out.push(buf[..n].to_vec());
    out.push(vec![0x8f, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 1]);
    out.push(vec![
        0x8f, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 1, 2, 3, 4,
    ]);
    out.push(vec![0x81, 204, 0, 2, 0, 0, 0, 1, b'n', b'a', b'm', b'e']);
    out
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..5_000 {
        let len = rng.below(80);
        let mut input: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        // Half the time, make it look like version 2 so it gets past the first check.
        if let Some(b) = input.first_mut()
            && rng.next() & 1 == 0
        {
            *b = 0x80 | (*b & 0x3f);
        }
        if input.len() > 1 && rng.next() & 1 == 0 {
            input[1] = 192 + rng.byte() % 32;
        }
        exercise(&input, &mut rng);
    }
}

#[test]
fn mutated_packets_never_panic() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let seeds = seeds();
    assert!(seeds.len() >= 8, "every seed writer succeeded");
    for seed in &seeds {
        exercise(seed, &mut rng);
        assert!(
            RtpPacket::parse(seed).is_ok() || rtcp::validate_compound(seed).is_ok(),
            "seeds are valid"
        );
    }
    let (mut rtp_ok, mut rtcp_ok) = (0, 0);
    for _ in 0..5_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(input.len());
            match rng.below(4) {
                0 => input[at] = rng.byte(),
                1 => input[at] ^= 1 << rng.below(8),
                2 => input.truncate(at),
                _ => input.push(rng.byte()),
            }
            if input.is_empty() {
                break;
            }
        }
        let (rtp, rtcp) = exercise(&input, &mut rng);
        rtp_ok += usize::from(rtp);
        rtcp_ok += usize::from(rtcp);
    }
    // Mutations must leave enough inputs valid for the view and rewrite paths to be exercised.
    assert!(rtp_ok > 500, "only {rtp_ok} mutated inputs parsed as RTP");
    assert!(
        rtcp_ok > 500,
        "only {rtcp_ok} mutated inputs parsed as RTCP"
    );
}
