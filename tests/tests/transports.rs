//! Plain transports through the real binary: `connect` with ip/port, `comedia` (the remote
//! learned from the first datagram, on the producing and on the consuming side), and
//! `rtcpMux: false` with its separate RTCP port.

use std::net::SocketAddr;

use sluice_tests::*;

/// An RTCP receiver report without report blocks (RFC 3550 §6.4.2): the smallest valid
/// compound packet.
fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

fn opus(seq: u16, ssrc: u32, tag: u8) -> Vec<u8> {
    rtp_packet(111, seq, u32::from(seq) * 960, ssrc, false, &[], &[tag; 40])
}

fn drops(http: &Http, reason: &str) -> u64 {
    http.get("/v1/workers")
        .ok()
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["stats"]["drops"][reason].as_u64().expect("drop counter"))
        .sum()
}

fn transport_stats(http: &Http, id: &str) -> Value {
    http.get(&format!("/v1/transports/{id}/stats")).ok()[0].clone()
}

/// A router with a consumer on a connected transport to `receiver`; returns (router, producer
/// transport, consumer ssrc) once the producer exists.
fn consumer_of(http: &Http, router: &str, producer: &str, receiver: SocketAddr) -> u32 {
    let t = http.create_plain_transport(router, &json!({}));
    http.connect(str_of(&t, "id"), receiver).ok();
    let c = http.consume_opus(str_of(&t, "id"), producer, 111).ok();
    c["rtpParameters"]["encodings"][0]["ssrc"]
        .as_u64()
        .expect("ssrc") as u32
}

#[test]
fn comedia_learns_the_remote_from_the_first_packet() {
    let server = Server::start();
    let http = server.http();
    let events = EventStream::open(&http);
    let router = http.create_router(None);
    let router = str_of(&router, "id");

    let t = http.create_plain_transport(router, &json!({ "comedia": true }));
    let tid = str_of(&t, "id");
    assert!(t["tuple"].get("remoteIp").is_none(), "no remote yet: {t}");
    assert_eq!(t["tuple"]["protocol"], "udp");
    // A comedia transport takes no connect.
    http.connect(tid, "127.0.0.1:9".parse().expect("addr"))
        .assert_error(409, "conflict", "comedia");
    let producer = http.produce_opus(tid, 111, 4242);
    let producer = str_of(&producer, "id");
    let receiver = Peer::new();
    let ssrc = consumer_of(&http, router, producer, receiver.addr());

    let sender = Peer::new();
    let dest = local_addr_of(&t);
    sender.send_to(&opus(1, 4242, 1), dest);
    let e = events
        .wait_for(|e| e.name == "transport.tuple" && e.data["transportId"] == tid)
        .expect("transport.tuple once the first packet arrived");
    assert_eq!(e.data["tuple"]["remoteIp"], "127.0.0.1");
    assert_eq!(
        e.data["tuple"]["remotePort"],
        sender.addr().port(),
        "the learned remote is the sender: {}",
        e.data
    );
    let dump = http.get(&format!("/v1/transports/{tid}")).ok();
    assert_eq!(dump["tuple"]["remotePort"], sender.addr().port(), "{dump}");
    assert_eq!(dump["comedia"], true);

    // The first packet itself is forwarded.
    let (b, _) = receiver.recv().expect("the first packet is forwarded");
    let p = RtpView::parse(&b).expect("RTP");
    assert_eq!((p.ssrc, p.payload.clone()), (ssrc, vec![1; 40]));

    // Another source on the same port is not the remote: dropped, counted.
    let before = drops(&http, "unknown_source");
    let intruder = Peer::new();
    intruder.send_to(&opus(2, 4242, 2), dest);
    sender.send_to(&opus(3, 4242, 3), dest);
    let (b, _) = receiver.recv().expect("the sender's next packet");
    let p = RtpView::parse(&b).expect("RTP");
    assert_eq!(
        p.payload,
        vec![3; 40],
        "the intruder's packet was not forwarded"
    );
    let after = wait_until(|| {
        let n = drops(&http, "unknown_source");
        (n > before).then_some(n)
    });
    assert_eq!(after, Some(before + 1), "one unknown_source drop");
}

#[test]
fn comedia_consumer_sends_once_the_receiver_spoke() {
    let server = Server::start();
    let http = server.http();
    let router = http.create_router(None);
    let router = str_of(&router, "id");
    let sender = Peer::new();
    let pt = http.create_plain_transport(router, &json!({}));
    http.connect(str_of(&pt, "id"), sender.addr()).ok();
    let producer = http.produce_opus(str_of(&pt, "id"), 111, 777);
    let producer = str_of(&producer, "id");

    let receiver = Peer::new();
    let ct = http.create_plain_transport(router, &json!({ "comedia": true }));
    let c = http.consume_opus(str_of(&ct, "id"), producer, 111).ok();
    let ssrc = c["rtpParameters"]["encodings"][0]["ssrc"]
        .as_u64()
        .expect("ssrc") as u32;

    // Before the receiver is known, packets for it go nowhere.
    sender.send_to(&opus(10, 777, 10), local_addr_of(&pt));
    let handled = wait_until(|| {
        (transport_stats(&http, str_of(&pt, "id"))["rtpPacketsReceived"] == 1).then_some(())
    });
    assert!(handled.is_some(), "the first packet reached the producer");
    // The receiver speaks first (an RTCP receiver report), which teaches the transport its remote.
    receiver.send_to(&rtcp_rr(ssrc), local_addr_of(&ct));
    let learned = wait_until(|| {
        let d = http
            .get(&format!("/v1/transports/{}", str_of(&ct, "id")))
            .ok();
        (d["tuple"]["remotePort"] == receiver.addr().port()).then_some(())
    });
    assert!(
        learned.is_some(),
        "the consumer transport learned its remote"
    );
    let st = transport_stats(&http, str_of(&ct, "id"));
    assert_eq!(st["rtcpPacketsReceived"], 1, "{st}");
    sender.send_to(&opus(11, 777, 11), local_addr_of(&pt));
    let (b, from) = receiver.recv().expect("media once the remote is known");
    assert_eq!(
        from,
        local_addr_of(&ct),
        "sent from the transport's own port"
    );
    let p = RtpView::parse(&b).expect("RTP");
    assert_eq!(
        p.payload,
        vec![11; 40],
        "the packet sent before the receiver spoke was not delivered later"
    );
    assert_eq!(p.ssrc, ssrc);
}

#[test]
fn connect_with_ip_and_port() {
    let server = Server::start();
    let http = server.http();
    let events = EventStream::open(&http);
    let router = http.create_router(None);
    let router = str_of(&router, "id");
    let sender = Peer::new();
    let t = http.create_plain_transport(router, &json!({ "comedia": false }));
    let tid = str_of(&t, "id");
    assert_eq!(t["tuple"]["localAddress"], "127.0.0.1");
    let r = http.connect(tid, sender.addr());
    assert_eq!(r.ok(), json!({}));
    let e = events
        .wait_for(|e| e.name == "transport.tuple" && e.data["transportId"] == tid)
        .expect("transport.tuple after connect");
    assert_eq!(e.data["tuple"]["remotePort"], sender.addr().port());
    // Connecting twice is a conflict, whatever the address.
    http.connect(tid, "127.0.0.1:5004".parse().expect("addr"))
        .assert_error(409, "conflict", "already connected");

    let producer = http.produce_opus(tid, 111, 99);
    let receiver = Peer::new();
    consumer_of(&http, router, str_of(&producer, "id"), receiver.addr());

    // Only the connected remote is heard.
    let other = Peer::new();
    other.send_to(&opus(1, 99, 1), local_addr_of(&t));
    sender.send_to(&opus(2, 99, 2), local_addr_of(&t));
    let (b, _) = receiver.recv().expect("forwarded");
    assert_eq!(RtpView::parse(&b).expect("RTP").payload, vec![2; 40]);
    let st = transport_stats(&http, tid);
    assert_eq!(st["rtpPacketsReceived"], 1, "{st}");
}

#[test]
fn rtcp_mux_false_uses_a_separate_rtcp_port() {
    let server = Server::start();
    let http = server.http();
    let router = http.create_router(None);
    let router = str_of(&router, "id");
    let t = http.create_plain_transport(router, &json!({ "rtcpMux": false }));
    let tid = str_of(&t, "id");
    let rtp_port = t["tuple"]["localPort"].as_u64().expect("rtp port");
    let rtcp_port = t["rtcpTuple"]["localPort"]
        .as_u64()
        .unwrap_or_else(|| panic!("rtcpTuple with rtcpMux false: {t}"));
    assert_ne!(rtp_port, rtcp_port);
    let dump = http.get(&format!("/v1/transports/{tid}")).ok();
    assert_eq!(dump["rtcpMux"], false);

    // connect needs rtcpPort.
    let sender = Peer::new();
    let sender_rtcp = Peer::new();
    http.connect(tid, sender.addr())
        .assert_error(422, "unacceptable", "rtcpPort");
    let r = http.post(
        &format!("/v1/transports/{tid}/connect"),
        &json!({"ip": "127.0.0.1", "port": sender.addr().port(), "rtcpPort": sender_rtcp.addr().port()}),
    );
    assert_eq!(r.ok(), json!({}));

    let producer = http.produce_opus(tid, 111, 5150);
    let receiver = Peer::new();
    consumer_of(&http, router, str_of(&producer, "id"), receiver.addr());
    let rtcp_addr = SocketAddr::new(local_addr_of(&t).ip(), rtcp_port as u16);

    // RTCP on the RTCP port from the connected RTCP remote counts; from the RTP socket it does not.
    sender_rtcp.send_to(&rtcp_rr(5150), rtcp_addr);
    sender.send_to(&rtcp_rr(5150), rtcp_addr);
    // RTP goes to the RTP port and is forwarded.
    sender.send_to(&opus(7, 5150, 7), local_addr_of(&t));
    let (b, _) = receiver.recv().expect("RTP forwarded");
    assert_eq!(RtpView::parse(&b).expect("RTP").payload, vec![7; 40]);
    let counted = wait_until(|| {
        let st = transport_stats(&http, tid);
        (st["rtcpPacketsReceived"] == 1 && st["rtpPacketsReceived"] == 1).then_some(st)
    });
    assert!(
        counted.is_some(),
        "one RTCP and one RTP packet: {}",
        transport_stats(&http, tid)
    );
    let dropped = wait_until(|| (drops(&http, "unknown_source") == 1).then_some(()));
    assert!(
        dropped.is_some(),
        "RTCP from the wrong port is an unknown_source drop"
    );
}
