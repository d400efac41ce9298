//! Unit tests for RTCP views, writers and rewriting, with vectors built from the RFC layouts.

use super::*;

fn block(ssrc: u32, lost: i32) -> ReportBlock {
    ReportBlock {
        ssrc,
        fraction_lost: 25,
        cumulative_lost: lost,
        highest_seq: 0x0001_fff0,
        jitter: 123,
        lsr: 0xabcd_ef01,
        dlsr: 65536,
    }
}

fn only(buf: &[u8]) -> RtcpPacket<'_> {
    let mut it = compound(buf);
    let p = it.next().unwrap().unwrap();
    assert!(it.next().is_none());
    p
}

fn info() -> SenderInfo {
    SenderInfo {
        ssrc: 0x1111_2222,
        ntp_sec: 0xe8f0_0000,
        ntp_frac: 0x8000_0000,
        rtp_timestamp: 48_000,
        packet_count: 50,
        octet_count: 8_000,
    }
}

#[test]
fn sender_report_round_trip() {
    let mut buf = [0u8; 200];
    let blocks = [block(1, -5), block(2, 0x7f_ffff), block(3, -0x80_0000)];
    let n = write_sender_report(&mut buf, &info(), &blocks).unwrap();
    assert_eq!(n, 28 + 72);
    let RtcpPacket::SenderReport(sr) = only(&buf[..n]) else {
        panic!("not an SR")
    };
    assert_eq!(sr.sender_info(), info());
    assert_eq!(sr.ssrc(), 0x1111_2222);
    assert_eq!((sr.ntp_sec(), sr.ntp_frac()), (0xe8f0_0000, 0x8000_0000));
    assert_eq!(sr.rtp_timestamp(), 48_000);
    assert_eq!((sr.packet_count(), sr.octet_count()), (50, 8_000));
    assert_eq!(sr.report_blocks().len(), 3);
    assert_eq!(sr.report_blocks().collect::<Vec<_>>(), blocks.to_vec());
}

#[test]
fn cumulative_lost_is_clamped_on_write() {
    let mut buf = [0u8; 64];
    let n = write_receiver_report(&mut buf, 9, &[block(1, 1 << 30), block(2, -(1 << 30))]).unwrap();
    let RtcpPacket::ReceiverReport(rr) = only(&buf[..n]) else {
        panic!("not an RR")
    };
    let lost: Vec<_> = rr.report_blocks().map(|b| b.cumulative_lost).collect();
    assert_eq!(lost, vec![0x7f_ffff, -0x80_0000]);
}

#[test]
fn receiver_report_round_trip_and_limits() {
    let mut buf = [0u8; 1024];
    let blocks: Vec<_> = (0..31).map(|i| block(i, i as i32)).collect();
    let n = write_receiver_report(&mut buf, 0xdead, &blocks).unwrap();
    assert_eq!(n, 8 + 31 * 24);
    let RtcpPacket::ReceiverReport(rr) = only(&buf[..n]) else {
        panic!("not an RR")
    };
    assert_eq!(rr.ssrc(), 0xdead);
    assert_eq!(rr.report_blocks().collect::<Vec<_>>(), blocks);
    let too_many: Vec<_> = (0..32).map(|i| block(i, 0)).collect();
    assert_eq!(
        write_receiver_report(&mut buf, 1, &too_many),
        Err(ParseError::Invalid)
    );
    assert_eq!(
        write_sender_report(&mut buf, &info(), &too_many),
        Err(ParseError::Invalid)
    );
    assert_eq!(
        write_receiver_report(&mut buf[..31], 1, &blocks[..1]),
        Err(ParseError::TooShort)
    );
    // An empty RR (RFC 3550 §6.4.2: RC may be 0).
    let n = write_receiver_report(&mut buf, 7, &[]).unwrap();
    assert_eq!(&buf[..n], &[0x80, 201, 0, 1, 0, 0, 0, 7]);
}

/// An SR + SDES compound as Chrome sends it for an audio track: RC=0, 16-character CNAME.
#[test]
fn browser_like_sr_sdes_compound() {
    #[rustfmt::skip]
    let bytes = [
        // SR, RC=0, length 6
        0x80, 0xc8, 0x00, 0x06,
        0x5f, 0x3a, 0x81, 0x12, // SSRC
        0xea, 0x3b, 0x1c, 0x4d, // NTP seconds
        0x9b, 0xa5, 0xe3, 0x53, // NTP fraction
        0x00, 0x0b, 0xb8, 0x80, // RTP timestamp
        0x00, 0x00, 0x01, 0xf4, // packets: 500
        0x00, 0x00, 0x7d, 0x00, // octets: 32000
        // SDES, SC=1, length 6
        0x81, 0xca, 0x00, 0x06,
        0x5f, 0x3a, 0x81, 0x12, // SSRC
        0x01, 0x10, // CNAME, 16 bytes
        b'9', b'w', b'G', b'b', b'r', b'Q', b'a', b'M',
        b'2', b'x', b'T', b'k', b'f', b'P', b'u', b'Z',
        0x00, 0x00, // END + pad
    ];
    validate_compound(&bytes).unwrap();
    let packets: Vec<_> = compound(&bytes).map(Result::unwrap).collect();
    assert_eq!(packets.len(), 2);
    let RtcpPacket::SenderReport(sr) = packets[0] else {
        panic!("not an SR")
    };
    assert_eq!(sr.ssrc(), 0x5f3a_8112);
    assert_eq!(sr.rtp_timestamp(), 768_128);
    assert_eq!(sr.packet_count(), 500);
    assert_eq!(sr.octet_count(), 32_000);
    assert_eq!(sr.report_blocks().count(), 0);
    let RtcpPacket::Sdes(sdes) = packets[1] else {
        panic!("not SDES")
    };
    let chunks: Vec<_> = sdes.chunks().collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].ssrc(), 0x5f3a_8112);
    assert_eq!(chunks[0].cname(), Some(&b"9wGbrQaM2xTkfPuZ"[..]));
    assert_eq!(chunks[0].items().count(), 1);

    // The same bytes from our writers.
    let mut out = [0u8; 64];
    let info = sr.sender_info();
    let n = write_sender_report(&mut out, &info, &[]).unwrap();
    let m = write_sdes_cname(&mut out[n..], info.ssrc, b"9wGbrQaM2xTkfPuZ").unwrap();
    assert_eq!(&out[..n + m], &bytes[..]);
}

#[test]
fn sdes_multiple_chunks_and_items() {
    #[rustfmt::skip]
    let bytes = [
        0x82, 0xca, 0x00, 0x06,
        0, 0, 0, 1, 1, 3, b'a', b'b', b'c', 0, 0, 0, // CNAME "abc", END, pad to 12
        0, 0, 0, 2, 1, 1, b'x', 6, 2, b'h', b'i', 0, // CNAME "x", TOOL "hi", END
    ];
    let RtcpPacket::Sdes(sdes) = only(&bytes) else {
        panic!("not SDES")
    };
    let chunks: Vec<_> = sdes.chunks().collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].cname(), Some(&b"abc"[..]));
    assert_eq!(chunks[1].ssrc(), 2);
    assert_eq!(
        chunks[1].items().collect::<Vec<_>>(),
        vec![(1, &b"x"[..]), (6, &b"hi"[..])]
    );
}

#[test]
fn sdes_writer_padding() {
    let mut buf = [0u8; 300];
    for len in 0..=9 {
        let cname = &b"0123456789"[..len];
        let n = write_sdes_cname(&mut buf, 5, cname).unwrap();
        assert_eq!(n % 4, 0);
        let RtcpPacket::Sdes(s) = only(&buf[..n]) else {
            panic!("not SDES")
        };
        assert_eq!(s.chunks().next().unwrap().cname(), Some(cname));
    }
    assert_eq!(
        write_sdes_cname(&mut buf, 5, &[b'a'; 256]),
        Err(ParseError::Invalid)
    );
}

#[test]
fn sdes_writer_several_chunks() {
    let mut buf = [0u8; 300];
    let names: [&[u8]; 3] = [b"a", b"0123456", b"user@host"];
    let n = write_sdes_cnames(&mut buf, [(1, names[0]), (2, names[1]), (3, names[2])]).unwrap();
    assert_eq!(n % 4, 0);
    let RtcpPacket::Sdes(s) = only(&buf[..n]) else {
        panic!("not SDES")
    };
    let got: Vec<(u32, &[u8])> = s.chunks().map(|c| (c.ssrc(), c.cname().unwrap())).collect();
    assert_eq!(got, vec![(1, names[0]), (2, names[1]), (3, names[2])]);
    assert_eq!(
        write_sdes_cnames(&mut buf, std::iter::empty()),
        Err(ParseError::Invalid)
    );
    assert_eq!(
        write_sdes_cnames(&mut buf[..20], [(1, names[2]), (2, names[2])]),
        Err(ParseError::TooShort)
    );
}

#[test]
fn bye_round_trip() {
    let mut buf = [0u8; 64];
    let n = write_bye(&mut buf, &[1, 2], b"").unwrap();
    assert_eq!(n, 12);
    let RtcpPacket::Bye(bye) = only(&buf[..n]) else {
        panic!("not BYE")
    };
    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(bye.reason(), None);
    let n = write_bye(&mut buf, &[3], b"gone").unwrap();
    assert_eq!(n, 16);
    let RtcpPacket::Bye(bye) = only(&buf[..n]) else {
        panic!("not BYE")
    };
    assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![3]);
    assert_eq!(bye.reason(), Some(&b"gone"[..]));
}

#[test]
fn app_packet() {
    let bytes = [
        0x83, 204, 0, 3, 0, 0, 0, 9, b'q', b'o', b'e', b'!', 1, 2, 3, 4,
    ];
    let RtcpPacket::App(app) = only(&bytes) else {
        panic!("not APP")
    };
    assert_eq!(app.subtype(), 3);
    assert_eq!(app.ssrc(), 9);
    assert_eq!(&app.name(), b"qoe!");
    assert_eq!(app.data(), &[1, 2, 3, 4]);
}

#[test]
fn pli_and_fir_round_trip() {
    let mut buf = [0u8; 64];
    let n = write_pli(&mut buf, 1, 2).unwrap();
    assert_eq!(&buf[..n], &[0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
    assert_eq!(
        only(&buf[..n]),
        RtcpPacket::Pli(Pli {
            sender_ssrc: 1,
            media_ssrc: 2
        })
    );
    let n = write_fir(&mut buf, 7, &[(0xaaaa, 3), (0xbbbb, 255)]).unwrap();
    assert_eq!(n, 28);
    assert_eq!(buf[0], 0x84);
    let RtcpPacket::Fir(fir) = only(&buf[..n]) else {
        panic!("not FIR")
    };
    assert_eq!(fir.sender_ssrc(), 7);
    assert_eq!(fir.media_ssrc(), 0);
    assert_eq!(
        fir.entries().collect::<Vec<_>>(),
        vec![(0xaaaa, 3), (0xbbbb, 255)]
    );
    assert_eq!(write_fir(&mut buf, 7, &[]), Err(ParseError::Invalid));
    assert_eq!(write_pli(&mut buf[..11], 1, 2), Err(ParseError::TooShort));
}

#[test]
fn feedback_fmts_recognised() {
    // Transport-wide CC: RTPFB FMT 15; body passed through raw.
    let twcc = [
        0x8f, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 1, 0, 0, 0, 0,
    ];
    let RtcpPacket::TransportCc(g) = only(&twcc) else {
        panic!("not transport-cc")
    };
    assert_eq!((g.fmt(), g.sender_ssrc(), g.media_ssrc()), (15, 1, 2));
    assert_eq!(g.fci(), &twcc[12..]);
    // REMB: PSFB FMT 15, "REMB".
    let remb = [
        0x8f, 206, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 1, 0x0a, 0x12, 0x34, 0, 0,
        0, 2,
    ];
    let RtcpPacket::AppLayerFeedback(g) = only(&remb) else {
        panic!("not AFB")
    };
    assert!(g.is_remb());
    assert_eq!(only(&remb).packet_type(), PT_PSFB);
    // TMMBR (RTPFB FMT 3) and XR (PT 207): Other, not errors.
    let tmmbr = [
        0x83, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0,
    ];
    assert!(matches!(
        only(&tmmbr),
        RtcpPacket::Other {
            pt: 205,
            count: 3,
            ..
        }
    ));
    let xr = [0x80, 207, 0, 2, 0, 0, 0, 1, 4, 0, 0, 0];
    assert_eq!(
        only(&xr),
        RtcpPacket::Other {
            pt: 207,
            count: 0,
            body: &xr[4..]
        }
    );
}

/// RFC 4585 §6.2.1 on the wire: V=2, FMT=1, PT=205 (RTPFB), length 3 for one FCI entry; PID
/// the first lost packet, bit i of BLP the packet PID+i+1. Packets 5 and 7 lost: PID 5, BLP
/// 0b10.
#[test]
fn nack_bytes_as_rfc_4585_lays_them_out() {
    let mut buf = [0u8; 16];
    let n = write_nack(&mut buf, 0x0102_0304, 0x0a0b_0c0d, &[5, 7]).unwrap();
    assert_eq!(
        buf[..n],
        [
            0x81, 205, 0, 3, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0, 5, 0, 0b10
        ]
    );
    let RtcpPacket::Nack(nack) = only(&buf[..n]) else {
        panic!("not NACK")
    };
    assert_eq!(nack.items().collect::<Vec<_>>(), vec![(5, 0b10)]);
    assert_eq!(nack.lost().collect::<Vec<_>>(), vec![5, 7]);
}

#[test]
fn nack_packing_and_expansion() {
    let mut buf = [0u8; 64];
    let lost = [65534, 65535, 0, 1, 17, 20, 40];
    let n = write_nack(&mut buf, 1, 2, &lost).unwrap();
    let RtcpPacket::Nack(nack) = only(&buf[..n]) else {
        panic!("not NACK")
    };
    assert_eq!((nack.sender_ssrc(), nack.media_ssrc()), (1, 2));
    // 65534 + {1,2,3,...}: 65535 (bit 0), 0 (bit 1), 1 (bit 2); 17 is 19 ahead → new entry.
    assert_eq!(
        nack.items().collect::<Vec<_>>(),
        vec![(65534, 0b111), (17, 0b100), (40, 0)]
    );
    assert_eq!(nack.lost().collect::<Vec<_>>(), lost.to_vec());
    // Exactly 16 ahead fits the last BLP bit; duplicates collapse.
    let n = write_nack(&mut buf, 1, 2, &[100, 100, 116]).unwrap();
    let RtcpPacket::Nack(nack) = only(&buf[..n]) else {
        panic!("not NACK")
    };
    assert_eq!(nack.items().collect::<Vec<_>>(), vec![(100, 0x8000)]);
    assert_eq!(nack.lost().collect::<Vec<_>>(), vec![100, 116]);
    // A full BLP across the wrap.
    let bytes = [
        0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xf8, 0xff, 0xff,
    ];
    let RtcpPacket::Nack(nack) = only(&bytes) else {
        panic!("not NACK")
    };
    let expect: Vec<u16> = (0..17u16).map(|i| 0xfff8u16.wrapping_add(i)).collect();
    assert_eq!(nack.lost().collect::<Vec<_>>(), expect);
    assert_eq!(write_nack(&mut buf, 1, 2, &[]), Err(ParseError::Invalid));
    assert_eq!(
        write_nack(&mut buf[..16], 1, 2, &[1, 100]),
        Err(ParseError::TooShort)
    );
}

#[test]
fn compound_of_everything_written_back_to_back() {
    let mut buf = [0u8; 512];
    let mut n = write_receiver_report(&mut buf, 1, &[block(2, 3)]).unwrap();
    n += write_sdes_cname(&mut buf[n..], 1, b"cname").unwrap();
    n += write_nack(&mut buf[n..], 1, 2, &[5, 6]).unwrap();
    n += write_pli(&mut buf[n..], 1, 2).unwrap();
    n += write_fir(&mut buf[n..], 1, &[(2, 1)]).unwrap();
    n += write_bye(&mut buf[n..], &[1], b"").unwrap();
    validate_compound(&buf[..n]).unwrap();
    let types: Vec<_> = compound(&buf[..n])
        .map(|p| p.unwrap().packet_type())
        .collect();
    assert_eq!(
        types,
        vec![PT_RR, PT_SDES, PT_RTPFB, PT_PSFB, PT_PSFB, PT_BYE]
    );
}

#[test]
fn padding_on_last_packet() {
    // RR with P set, 4 bytes of padding (count 4) after an 8-byte body.
    let bytes = [0xa0, 201, 0, 2, 0, 0, 0, 5, 0, 0, 0, 4];
    let RtcpPacket::ReceiverReport(rr) = only(&bytes) else {
        panic!("not RR")
    };
    assert_eq!(rr.ssrc(), 5);
    let zero_pad = [0xa0, 201, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0];
    assert_eq!(validate_compound(&zero_pad), Err(ParseError::BadLength));
    let big_pad = [0xa0, 201, 0, 2, 0, 0, 0, 5, 0, 0, 0, 9];
    assert_eq!(validate_compound(&big_pad), Err(ParseError::BadLength));
    // Padding eating into the SSRC: the RR body is then too short.
    let eaten = [0xa0, 201, 0, 2, 0, 0, 0, 5, 0, 0, 0, 8];
    assert_eq!(validate_compound(&eaten), Err(ParseError::TooShort));
}

#[test]
fn malformed() {
    assert_eq!(validate_compound(&[]), Err(ParseError::TooShort));
    assert!(compound(&[]).next().is_none());
    // Zero-length garbage and short garbage.
    assert_eq!(
        validate_compound(&[0, 0, 0, 0]),
        Err(ParseError::BadVersion)
    );
    assert_eq!(validate_compound(&[0x80, 200]), Err(ParseError::TooShort));
    // Bad version.
    assert_eq!(
        validate_compound(&[0x40, 201, 0, 1, 0, 0, 0, 1]),
        Err(ParseError::BadVersion)
    );
    // Length past the end.
    assert_eq!(
        validate_compound(&[0x80, 201, 0, 2, 0, 0, 0, 1]),
        Err(ParseError::BadLength)
    );
    // SR shorter than its sender info.
    assert_eq!(
        validate_compound(&[0x80, 200, 0, 1, 0, 0, 0, 1]),
        Err(ParseError::TooShort)
    );
    // Truncated report block: RC=1 but only 20 of 24 bytes.
    let mut rr = vec![0x81, 201, 0, 6, 0, 0, 0, 1];
    rr.extend_from_slice(&[0; 20]);
    assert_eq!(validate_compound(&rr), Err(ParseError::BadLength));
    // Count larger than the body: SDES with SC=2 but one chunk; BYE with SC=3, two SSRCs.
    let sdes = [0x82, 202, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];
    assert_eq!(validate_compound(&sdes), Err(ParseError::BadLength));
    let bye = [0x83, 203, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
    assert_eq!(validate_compound(&bye), Err(ParseError::BadLength));
    // SDES item length past the chunk.
    let sdes = [0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, b'a', b'b'];
    assert_eq!(validate_compound(&sdes), Err(ParseError::BadLength));
    // BYE reason length past the end.
    let bye = [0x81, 203, 0, 2, 0, 0, 0, 1, 5, b'a', b'b', b'c'];
    assert_eq!(validate_compound(&bye), Err(ParseError::BadLength));
    // Feedback without its two SSRCs, NACK FCI not whole entries, FIR half an entry.
    assert_eq!(
        validate_compound(&[0x81, 206, 0, 1, 0, 0, 0, 1]),
        Err(ParseError::TooShort)
    );
    let nack = [0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0x20];
    assert!(validate_compound(&nack).is_ok());
    let fir = [0x84, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2];
    assert_eq!(validate_compound(&fir), Err(ParseError::BadLength));
    // APP shorter than SSRC + name.
    assert_eq!(
        validate_compound(&[0x80, 204, 0, 1, 0, 0, 0, 1]),
        Err(ParseError::TooShort)
    );
}

#[test]
fn iteration_stops_after_first_error() {
    let mut buf = [0u8; 64];
    let n = write_pli(&mut buf, 1, 2).unwrap();
    // Trailing 3 bytes after a good packet, then what would be another good packet.
    buf[n..n + 3].copy_from_slice(&[0x80, 0xc9, 0x00]);
    let m = write_pli(&mut buf[n + 3..], 3, 4).unwrap();
    let items: Vec<_> = compound(&buf[..n + 3 + m]).collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert_eq!(items[1], Err(ParseError::BadLength));
    let items: Vec<_> = compound(&buf[..n + 3]).collect();
    assert_eq!(items[1], Err(ParseError::TooShort));
    let mut copy = buf;
    let results: Vec<_> = compound_mut(&mut copy[..n + 3 + m])
        .map(|r| r.map(|p| p.packet_type()))
        .collect();
    assert_eq!(results, vec![Ok(PT_PSFB), Err(ParseError::BadLength)]);
}

#[test]
fn rewrite_in_place() {
    let mut buf = [0u8; 512];
    let mut n = write_sender_report(&mut buf, &info(), &[block(10, 1)]).unwrap();
    n += write_sdes_cname(&mut buf[n..], 1, b"c").unwrap();
    n += write_nack(&mut buf[n..], 20, 21, &[1]).unwrap();
    n += write_pli(&mut buf[n..], 20, 21).unwrap();
    n += write_fir(&mut buf[n..], 20, &[(21, 1), (22, 2)]).unwrap();
    let before = buf;
    let mut applied = Vec::new();
    for p in compound_mut(&mut buf[..n]) {
        let mut p = p.unwrap();
        let len = p.as_bytes().len();
        applied.push((
            p.set_sender_ssrc(0xaaaa),
            p.set_media_ssrc(0xbbbb),
            p.set_sr_rtp_timestamp(77),
            p.set_sr_packet_count(88),
            p.set_sr_octet_count(99),
            p.set_sr_ntp(5, 6),
            p.map_fir_entries(|ssrc, seq| (ssrc + 100, seq + 1)),
            p.map_report_block_ssrcs(|s| s * 2),
        ));
        assert_eq!(p.as_bytes().len(), len);
    }
    assert_eq!(
        applied,
        vec![
            (true, false, true, true, true, true, false, true),
            (false, false, false, false, false, false, false, false),
            (true, true, false, false, false, false, false, false),
            (true, true, false, false, false, false, false, false),
            (true, true, false, false, false, false, true, false),
        ]
    );
    let packets: Vec<_> = compound(&buf[..n]).map(Result::unwrap).collect();
    let RtcpPacket::SenderReport(sr) = packets[0] else {
        panic!("not SR")
    };
    assert_eq!(
        sr.sender_info(),
        SenderInfo {
            ssrc: 0xaaaa,
            ntp_sec: 5,
            ntp_frac: 6,
            rtp_timestamp: 77,
            packet_count: 88,
            octet_count: 99
        }
    );
    assert_eq!(sr.report_blocks().next().unwrap().ssrc, 20);
    assert_eq!(packets[1], only(&before[28 + 24..28 + 24 + 12]));
    let RtcpPacket::Nack(nack) = packets[2] else {
        panic!("not NACK")
    };
    assert_eq!((nack.sender_ssrc(), nack.media_ssrc()), (0xaaaa, 0xbbbb));
    assert_eq!(nack.lost().collect::<Vec<_>>(), vec![1]);
    assert_eq!(
        packets[3],
        RtcpPacket::Pli(Pli {
            sender_ssrc: 0xaaaa,
            media_ssrc: 0xbbbb
        })
    );
    let RtcpPacket::Fir(fir) = packets[4] else {
        panic!("not FIR")
    };
    assert_eq!(fir.entries().collect::<Vec<_>>(), vec![(121, 2), (122, 3)]);
}

#[test]
fn packet_mut_parse_covers_first_packet_only() {
    let mut buf = [0u8; 64];
    let n = write_pli(&mut buf, 1, 2).unwrap();
    let m = write_pli(&mut buf[n..], 3, 4).unwrap();
    let mut p = RtcpPacketMut::parse(&mut buf[..n + m]).unwrap();
    assert_eq!(p.as_bytes().len(), 12);
    assert_eq!(p.count(), FMT_PLI);
    assert!(p.set_media_ssrc(9));
    assert_eq!(
        RtcpPacket::parse(&buf[n..]).unwrap(),
        RtcpPacket::Pli(Pli {
            sender_ssrc: 3,
            media_ssrc: 4
        })
    );
    assert_eq!(
        RtcpPacketMut::parse(&mut [0x80, 200, 0, 9]).unwrap_err(),
        ParseError::BadLength
    );
}
