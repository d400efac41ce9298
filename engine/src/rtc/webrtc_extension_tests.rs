//! Sans-IO scenarios of the header extensions a consumer writes itself (see
//! [`crate::rtc::consumer`]): its own mid whatever the producer's (longer, shorter, missing),
//! transport-wide sequence numbers of the sending transport's own, consecutive across
//! producers, and abs-send-time from the clock. Browsers and core as in the parent module.

use super::*;
use crate::rtc::supported_rtp_capabilities::{ABS_SEND_TIME_URI, TRANSPORT_WIDE_CC_URI};

/// The publisher's own extension ids (not the router's, so every consumer remaps).
const P_MID: u8 = 9;
const P_ABS: u8 = 2;
const P_TWCC: u8 = 3;

/// Two keyed browsers or more.
fn keyed(sfu: &mut Sfu, n: usize) -> Vec<Browser> {
    (0..n)
        .map(|i| {
            let mut b = sfu.browser(&format!("192.0.2.{}:5000", i + 1));
            sfu.ice(&mut b);
            sfu.connect(&mut b, DtlsRole::Client, true);
            b
        })
        .collect()
}

fn produce(sfu: &mut Sfu, b: &Browser, kind: MediaKind, mid: &str, ssrc: u32) -> Uuid {
    let codec = match kind {
        MediaKind::Audio => {
            json!({"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2})
        }
        MediaKind::Video => json!({"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}),
    };
    let rtp_parameters: RtpParameters = serde_json::from_value(json!({
        "mid": mid,
        "codecs": [codec],
        "headerExtensions": [
            {"uri": MID_URI, "id": P_MID},
            {"uri": ABS_SEND_TIME_URI, "id": P_ABS},
            {"uri": TRANSPORT_WIDE_CC_URI, "id": P_TWCC}
        ],
        "encodings": [{"ssrc": ssrc}],
        "rtcp": {"cname": "browser", "reducedSize": true}
    }))
    .expect("rtp parameters");
    let id = Uuid::new_v4();
    sfu.core
        .produce(
            b.transport.id,
            ProduceOptions {
                id,
                kind,
                rtp_parameters,
                paused: false,
                app_data: json!(null),
            },
        )
        .expect("produce");
    id
}

fn ext_id(c: &ConsumeReply, uri: &str) -> Option<u8> {
    c.rtp_parameters
        .header_extensions
        .iter()
        .find(|e| e.uri == uri)
        .map(|e| e.id)
}

/// Sends one packet from `from` with `ext` (publisher ids) and delivers what the core sent to
/// each of `to`.
fn send(
    sfu: &mut Sfu,
    from: &mut Browser,
    to: &mut [&mut Browser],
    (pt, ssrc, seq): (u8, u32, u16),
    ext: &[(u8, &[u8])],
) {
    let mut buf = [0u8; 300];
    let h = RtpHeader {
        payload_type: pt,
        sequence: seq,
        timestamp: 960 * u32::from(seq),
        ssrc,
        ..Default::default()
    };
    let n = write_rtp(&mut buf, &h, ext, &payload(seq)).expect("rtp");
    let srtp = from.peer.protect_rtp(&buf[..n]).expect("keyed");
    let tx = sfu.input(from.addr, &srtp);
    for (_, dest, data) in tx.sent {
        let b = to
            .iter_mut()
            .find(|b| b.addr == dest)
            .expect("sent to a subscriber");
        match b.peer.handle_datagram(sfu.now, &data) {
            PeerInput::Rtp(p) => b.rtp.push(p),
            other => panic!("not SRTP the subscriber decrypts: {other:?}"),
        }
    }
}

fn payload(seq: u16) -> Vec<u8> {
    (0..50).map(|i| (seq as u8).wrapping_add(i)).collect()
}

#[test]
fn each_consumer_gets_its_own_mid_longer_shorter_or_missing_at_the_producer() {
    let mut sfu = Sfu::new();
    let mut peers = keyed(&mut sfu, 2);
    let (mut a, mut b) = (peers.remove(0), peers.remove(0));
    let producer = produce(&mut sfu, &a, MediaKind::Audio, "x", 0x1111);
    // Eleven consumers on one transport: mids "0" … "10".
    let consumers: Vec<ConsumeReply> = (0..11).map(|_| sfu.consume(&b, producer)).collect();
    let mid_id = ext_id(&consumers[0], MID_URI).expect("MID negotiated");
    let abs_id = ext_id(&consumers[0], ABS_SEND_TIME_URI).expect("abs-send-time negotiated");
    let by_ssrc = |ssrc: u32| {
        consumers
            .iter()
            .find(|c| c.rtp_parameters.encodings[0].ssrc == Some(ssrc))
            .and_then(|c| c.rtp_parameters.mid.clone())
            .expect("a consumer's SSRC")
    };
    let long = b"a-producer-mid-longer-than-any-consumers";
    // Producer mid of one byte (shorter than "10"), then longer than all, then none at all
    // (libwebrtc and str0m stop sending it once the SSRC is bound).
    let cases: [&[(u8, &[u8])]; 3] = [
        &[(P_MID, b"x"), (P_ABS, &[1, 2, 3])],
        &[(P_ABS, &[1, 2, 3]), (P_MID, long)],
        &[],
    ];
    for (k, ext) in cases.iter().enumerate() {
        b.rtp.clear();
        sfu.now += Duration::from_millis(20);
        send(
            &mut sfu,
            &mut a,
            &mut [&mut b],
            (111, 0x1111, k as u16),
            ext,
        );
        assert_eq!(b.rtp.len(), 11, "case {k}: one packet per consumer");
        for p in &b.rtp {
            let p = RtpPacket::parse(p).expect("rtp");
            let mid = by_ssrc(p.ssrc());
            assert_eq!(
                p.extension(mid_id),
                Some(mid.as_bytes()),
                "case {k}: the consumer's own mid"
            );
            assert_eq!(p.payload(), &payload(k as u16)[..], "case {k}: payload");
            // Audio: abs-send-time, stamped with the send time, only where the producer sent
            // one; the packet without extensions gets the mid alone.
            let abs = p.extension(abs_id);
            if ext.is_empty() {
                assert_eq!(p.extensions().count(), 1, "case {k}: the mid alone");
            } else {
                assert!(abs.is_some_and(|a| a != [1, 2, 3]), "case {k}: {abs:?}");
            }
        }
    }
}

#[test]
fn transport_wide_numbers_are_the_sending_transports_own_across_producers() {
    let mut sfu = Sfu::new();
    let mut peers = keyed(&mut sfu, 3);
    let (mut a, mut b, mut c) = (peers.remove(0), peers.remove(0), peers.remove(0));
    let v1 = produce(&mut sfu, &a, MediaKind::Video, "v1", 0x1111);
    let v2 = produce(&mut sfu, &a, MediaKind::Video, "v2", 0x2222);
    // b consumes both; c only the second.
    let b1 = sfu.consume(&b, v1);
    let b2 = sfu.consume(&b, v2);
    let c2 = sfu.consume(&c, v2);
    let twcc_id = ext_id(&b1, TRANSPORT_WIDE_CC_URI).expect("video negotiates transport-cc");
    let abs_id = ext_id(&b1, ABS_SEND_TIME_URI).expect("abs-send-time negotiated");
    assert_eq!(ext_id(&b2, TRANSPORT_WIDE_CC_URI), Some(twcc_id));
    assert_eq!(ext_id(&c2, TRANSPORT_WIDE_CC_URI), Some(twcc_id));
    for i in 0..10u16 {
        // The publisher's own numbers, far from what the subscribers get; one packet of each
        // producer carries none at all.
        let theirs = (40_000 + 7 * i).to_be_bytes();
        let ext: &[(u8, &[u8])] = if i == 4 {
            &[(P_MID, b"v1")]
        } else {
            &[(P_TWCC, &theirs), (P_ABS, &[9, 9, 9])]
        };
        sfu.now += Duration::from_millis(250);
        send(
            &mut sfu,
            &mut a,
            &mut [&mut b, &mut c],
            (96, 0x1111, i),
            ext,
        );
        send(
            &mut sfu,
            &mut a,
            &mut [&mut b, &mut c],
            (96, 0x2222, i),
            ext,
        );
    }
    let numbers = |br: &Browser| -> Vec<u16> {
        br.rtp
            .iter()
            .map(|p| {
                let p = RtpPacket::parse(p).expect("rtp");
                let d = p.extension(twcc_id).expect("every packet numbered");
                u16::from_be_bytes([d[0], d[1]])
            })
            .collect()
    };
    let (nb, nc) = (numbers(&b), numbers(&c));
    assert_eq!(nb.len(), 20, "b gets both producers' packets");
    assert_eq!(nc.len(), 10);
    assert_eq!(
        nb,
        (1..=20).collect::<Vec<u16>>(),
        "b's transport numbers its packets"
    );
    assert_eq!(
        nc,
        (1..=10).collect::<Vec<u16>>(),
        "c's transport has a sequence of its own"
    );
    // abs-send-time is the time of sending: 250 ms apart between the packets of one producer
    // (6.18 fixed point: 0.25 s = 2^16), never the publisher's value.
    let abs: Vec<u32> = c
        .rtp
        .iter()
        .map(|p| {
            let p = RtpPacket::parse(p).expect("rtp");
            let d = p.extension(abs_id).expect("abs-send-time in every packet");
            u32::from_be_bytes([0, d[0], d[1], d[2]])
        })
        .collect();
    for w in abs.windows(2) {
        assert_eq!(w[1].wrapping_sub(w[0]) & 0xFF_FFFF, 1 << 16, "{abs:?}");
    }
}

#[test]
fn a_consumer_without_the_extensions_gets_none_of_them() {
    let mut sfu = Sfu::new();
    let mut peers = keyed(&mut sfu, 2);
    let (mut a, mut b) = (peers.remove(0), peers.remove(0));
    let producer = produce(&mut sfu, &a, MediaKind::Video, "v", 0x1111);
    // A subscriber whose capabilities list no header extension at all.
    let mut caps = sfu.caps.clone();
    caps.header_extensions.clear();
    let consumer = sfu
        .core
        .consume(
            b.transport.id,
            ConsumeOptions {
                id: Uuid::new_v4(),
                producer_id: producer,
                rtp_capabilities: caps,
                paused: false,
                app_data: json!(null),
            },
        )
        .expect("consume");
    assert!(consumer.rtp_parameters.header_extensions.is_empty());
    send(
        &mut sfu,
        &mut a,
        &mut [&mut b],
        (96, 0x1111, 1),
        &[(P_MID, b"v"), (P_TWCC, &[0, 1]), (P_ABS, &[1, 2, 3])],
    );
    assert_eq!(b.rtp.len(), 1);
    let p = RtpPacket::parse(&b.rtp[0]).expect("rtp");
    assert!(!p.has_extension(), "no header extension block");
    assert_eq!(p.payload(), &payload(1)[..]);
}
