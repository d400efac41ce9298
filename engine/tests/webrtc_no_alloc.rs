//! Proves the WebRTC forwarding path allocates nothing: a counting global allocator, a real
//! worker (both I/O backends) with four WebRTC transports on the shared media port, keyed by
//! real DTLS handshakes (clients: `WebRtcPeer`; server side: the `DtlsDriver` on a thread of
//! its own, as the control plane runs it), then 5 000 SRTP packets from one publisher
//! unprotected, rewritten and protected again for three subscribers, with zero allocations in
//! the process after warm-up. The header extension block is rewritten to each consumer's own:
//! the publisher's mid is longer than the consumers' and missing from every other packet (as
//! libwebrtc stops sending it), and its abs-send-time is stamped with the send time.
//!
//! `harness = false`: libtest's own threads would allocate while we count.

mod alloc_counter;
mod webrtc_common;

use std::time::{Duration, Instant};

use serde_json::json;
use sluice_engine::io::IoKind;
use sluice_engine::rtc::webrtc_peer::PeerInput;
use sluice_engine::wire::rtp::RtpPacket;
use webrtc_common::Client;

const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

fn run(io: IoKind) {
    let (sfu, dtls) = webrtc_common::start(io, None);
    let (workers, media) = (sfu.workers.clone(), sfu.media);
    let (router, r) = webrtc_common::opus_router(&workers);
    let mut clients: Vec<Client> = (0..4)
        .map(|_| webrtc_common::join_ice(&sfu, router, Duration::from_millis(100)))
        .collect();
    // Handshakes: every client is the DTLS client and checks the announced fingerprint.
    for c in &mut clients {
        webrtc_common::handshake(c, media, Duration::from_secs(20));
    }
    let producer_id = webrtc_common::produce(
        &workers,
        clients[0].t.id,
        json!({
            "mid": "audio-publisher",
            "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2}],
            "headerExtensions": [
                {"uri": MID_URI, "id": 4},
                {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "id": 2}
            ],
            "encodings": [{"ssrc": 1111}]
        }),
    );
    for c in &clients[1..] {
        webrtc_common::consume(&workers, c.t.id, producer_id, &r);
    }
    // Protect every packet before counting: the client allocates, the SFU must not.
    let packets: Vec<Vec<u8>> = (0..6_000u16)
        .map(|seq| {
            let mut buf = [0u8; 200];
            let h = sluice_engine::wire::rtp::RtpHeader {
                payload_type: 111,
                sequence: seq,
                timestamp: 960 * u32::from(seq),
                ssrc: 1111,
                ..Default::default()
            };
            let with: [(u8, &[u8]); 2] = [(4, b"audio-publisher"), (2, &[1, 2, 3])];
            let ext: &[(u8, &[u8])] = if seq % 2 == 0 { &with } else { &[] };
            let n =
                sluice_engine::wire::rtp::write_rtp(&mut buf, &h, ext, &[0xAB; 160]).expect("rtp");
            clients[0].peer.protect_rtp(&buf[..n]).expect("protect")
        })
        .collect();
    let (warmup, measured) = packets.split_at(1_000);
    // Warm-up, with every forwarded packet decrypted by its subscriber: each carries its
    // consumer's mid ("0", the first consumer of each transport), whatever the publisher sent.
    let mut lens = Vec::new();
    let mut buf = [0u8; 2048];
    for burst in warmup.chunks(50) {
        for p in burst {
            clients[0].sock.send_to(p, media).expect("send");
        }
        for c in &mut clients[1..] {
            for _ in burst {
                let (n, _) = c.sock.recv_from(&mut buf).expect("every packet arrives");
                if !lens.contains(&n) {
                    lens.push(n);
                }
                match c.peer.handle_datagram(Instant::now(), &buf[..n]) {
                    PeerInput::Rtp(p) => {
                        let p = RtpPacket::parse(&p).expect("rtp");
                        assert!(
                            p.extensions().any(|(_, d)| d == b"0"),
                            "{io:?}: a packet without the consumer's mid"
                        );
                    }
                    other => panic!("{io:?}: subscriber got {other:?}"),
                }
            }
        }
    }
    // With and without abs-send-time.
    assert_eq!(lens.len(), 2, "{io:?}: forwarded lengths {lens:?}");
    let before = alloc_counter::allocations();
    for burst in measured.chunks(50) {
        for p in burst {
            clients[0].sock.send_to(p, media).expect("send");
        }
        for c in &clients[1..] {
            let mut got = 0;
            while got < burst.len() {
                let (n, _) = c.sock.recv_from(&mut buf).expect("every packet arrives");
                // The worker's RTCP timer runs on real time: on a slow machine an SR can land
                // among the forwarded packets (RTCP packet types 200-206, RFC 5761 §4).
                if n >= 2 && (200..=206).contains(&buf[1]) {
                    continue;
                }
                assert!(lens.contains(&n), "{io:?}: forwarded {n} bytes");
                got += 1;
            }
        }
    }
    let after = alloc_counter::allocations();
    let forwarded = workers.get(0).expect("worker").stats().rtc.rtp_forwarded;
    sfu.stop_dtls(dtls);
    assert!(forwarded >= 18_000, "{io:?}: forwarded {forwarded}");
    assert_eq!(
        after - before,
        0,
        "{io:?}: {} heap allocations while forwarding 5 000 SRTP packets",
        after - before
    );
    println!("webrtc_no_alloc {io:?}: 5000 SRTP packets x 3 consumers with 0 allocations");
}

fn main() {
    run(IoKind::Uring);
    run(IoKind::Mmsg);
    println!("webrtc_no_alloc: 2 passed, 0 failed");
}
