//! SDES-SRTP on plain transports, sans-IO: an ffmpeg-like sender protects with the key it gave
//! in `connect`; the receiver decrypts with the key the transport answered at creation.

use std::net::SocketAddr;
use std::time::Instant;

use serde_json::json;
use uuid::Uuid;

use super::rtp_parameters::{MediaKind, RtpCodecCapability, RtpParameters};
use super::*;
use crate::crypto::srtp::{SrtpContext, SrtpProfile};
use crate::net::{SockId, VecTransmit};
use crate::wire::rtp::{RtpHeader, RtpPacket, write_rtp};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

fn ctx(profile: SrtpProfile, key_and_salt: &[u8]) -> SrtpContext {
    let n = profile.master_key_len();
    SrtpContext::new(profile, &key_and_salt[..n], &key_and_salt[n..], 4).expect("context")
}

#[test]
fn srtp_in_with_the_remote_key_and_out_with_ours() {
    let mut core = WorkerCore::new();
    let router = Uuid::new_v4();
    let codecs: Vec<RtpCodecCapability> = serde_json::from_value(json!([
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
    ]))
    .expect("codecs");
    let caps = core
        .create_router(router, &codecs)
        .expect("router")
        .rtp_capabilities;
    let plain = |core: &mut WorkerCore, sock: u32, remote: &str| {
        let id = Uuid::new_v4();
        let options = PlainTransportOptions {
            comedia: false,
            rtcp_mux: true,
            app_data: json!(null),
        };
        let local = addr(&format!("127.0.0.1:{}", 41_000 + sock));
        core.create_plain_transport(router, id, (SockId(sock), local), None, options)
            .expect("transport");
        let r = addr(remote);
        (id, r, move |core: &mut WorkerCore| {
            core.connect_plain_transport(id, r.ip(), r.port(), None)
        })
    };
    let (send, send_remote, connect_send) = plain(&mut core, 1, "10.0.0.1:5000");
    let (recv, recv_remote, connect_recv) = plain(&mut core, 2, "10.0.0.2:6000");
    let send_key = core
        .enable_plain_srtp(send, SrtpProfile::AesCm128HmacSha1_80)
        .expect("srtp");
    assert_eq!(send_key.len(), 30);
    let recv_key = core
        .enable_plain_srtp(recv, SrtpProfile::AeadAes128Gcm)
        .expect("srtp");
    assert!(
        core.enable_plain_srtp(recv, SrtpProfile::AeadAes128Gcm)
            .is_err()
    );
    connect_send(&mut core).expect("connect");
    connect_recv(&mut core).expect("connect");
    let producer = Uuid::new_v4();
    let rtp_parameters: RtpParameters = serde_json::from_value(json!({
        "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
        "encodings": [{"ssrc": 1234}]
    }))
    .expect("parameters");
    core.produce(
        send,
        ProduceOptions {
            id: producer,
            kind: MediaKind::Audio,
            rtp_parameters,
            paused: false,
            app_data: json!(null),
        },
    )
    .expect("produce");
    core.consume(
        recv,
        ConsumeOptions {
            id: Uuid::new_v4(),
            producer_id: producer,
            rtp_capabilities: caps,
            paused: false,
            app_data: json!(null),
        },
    )
    .expect("consume");

    // The sender's own key (what it told us in connect).
    let sender_key: Vec<u8> = (0..30u8).collect();
    let mut sender = ctx(SrtpProfile::AesCm128HmacSha1_80, &sender_key);
    let packet = |sender: &mut SrtpContext, seq: u16| {
        let mut buf = [0u8; 256];
        let h = RtpHeader {
            payload_type: 100,
            sequence: seq,
            ssrc: 1234,
            ..Default::default()
        };
        let n = write_rtp(&mut buf, &h, &[], &[seq as u8; 50]).expect("rtp");
        let n = sender.protect_rtp(&mut buf, n).expect("protect");
        buf[..n].to_vec()
    };
    let now = Instant::now();
    // Before the remote's key: nothing forwarded, nothing in clear.
    let mut tx = VecTransmit::default();
    core.handle_datagram(
        now,
        SockId(1),
        send_remote,
        &mut packet(&mut sender, 1),
        &mut tx,
    );
    assert!(tx.sent.is_empty());
    assert_eq!(core.counters().drops_of(DropReason::NoSrtp), 1);
    // The receiver's remote key must be given too before it gets media.
    core.set_plain_srtp_remote(send, SrtpProfile::AesCm128HmacSha1_80, &sender_key)
        .expect("remote key");
    let mut tx = VecTransmit::default();
    core.handle_datagram(
        now,
        SockId(1),
        send_remote,
        &mut packet(&mut sender, 2),
        &mut tx,
    );
    assert!(
        tx.sent.is_empty(),
        "no plain RTP to a transport that asked for SRTP"
    );
    core.set_plain_srtp_remote(recv, SrtpProfile::AeadAes128Gcm, &[7u8; 28])
        .expect("remote key");
    assert!(
        core.set_plain_srtp_remote(recv, SrtpProfile::AeadAes128Gcm, &[7u8; 28])
            .is_err()
    );
    let mut receiver = ctx(SrtpProfile::AeadAes128Gcm, &recv_key);
    for seq in 3..8u16 {
        let mut tx = VecTransmit::default();
        core.handle_datagram(
            now,
            SockId(1),
            send_remote,
            &mut packet(&mut sender, seq),
            &mut tx,
        );
        assert_eq!(tx.sent.len(), 1);
        let (sock, to, mut bytes) = tx.sent.pop().expect("one");
        assert_eq!((sock, to), (SockId(2), recv_remote));
        let n = receiver
            .unprotect_rtp(&mut bytes)
            .expect("decrypts with our answered key");
        let p = RtpPacket::parse(&bytes[..n]).expect("rtp");
        assert_eq!(p.payload(), &[seq as u8; 50][..]);
    }
    // A packet under another key is dropped and counted.
    let mut stranger = ctx(SrtpProfile::AesCm128HmacSha1_80, &[9u8; 30]);
    let mut tx = VecTransmit::default();
    core.handle_datagram(
        now,
        SockId(1),
        send_remote,
        &mut packet(&mut stranger, 9),
        &mut tx,
    );
    assert!(tx.sent.is_empty());
    assert_eq!(core.counters().drops_of(DropReason::SrtpUnprotect), 1);
    // A wrong key length is refused with the field named.
    let (other, _, _) = plain(&mut core, 3, "10.0.0.3:7000");
    core.enable_plain_srtp(other, SrtpProfile::AeadAes256Gcm)
        .expect("srtp");
    let e = core
        .set_plain_srtp_remote(other, SrtpProfile::AeadAes256Gcm, &[1u8; 30])
        .expect_err("short key");
    assert!(e.to_string().contains("keyBase64"), "{e}");
}
