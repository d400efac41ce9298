//! Cascading closes through the binary (DESIGN.md §4): closing a transport closes its producers
//! (and their consumers elsewhere, with `consumer.producerclose`) and its own consumers; closing
//! a router closes everything in it. Each close shows on the event stream, every closed id
//! answers 404 afterwards, and media stops.

use sluice_tests::*;

#[test]
fn closing_transports_and_routers_cascades() {
    let server = Server::start();
    let h = server.http();
    let events = EventStream::open(&h);
    let router = h.create_router(None);
    let router = str_of(&router, "id").to_string();

    // Alice sends and receives; Bob receives Alice.
    let alice = Peer::new();
    let ta = h.create_plain_transport(&router, &json!({}));
    let ta = str_of(&ta, "id").to_string();
    h.connect(&ta, alice.addr()).ok();
    let pa = h.produce_opus(&ta, 111, 0xA11CE);
    let pa = str_of(&pa, "id").to_string();
    let bob = Peer::new();
    let tb = h.create_plain_transport(&router, &json!({}));
    let tb_addr = local_addr_of(&tb);
    let tb = str_of(&tb, "id").to_string();
    h.connect(&tb, bob.addr()).ok();
    let pb = h.produce_opus(&tb, 111, 0xB0B);
    let pb = str_of(&pb, "id").to_string();
    let bob_gets_alice = str_of(&h.consume_opus(&tb, &pa, 111).ok(), "id").to_string();
    let alice_gets_bob = str_of(&h.consume_opus(&ta, &pb, 111).ok(), "id").to_string();
    let dump = h.get(&format!("/v1/routers/{router}")).ok();
    assert_eq!(
        dump["transportIds"].as_array().map(Vec::len),
        Some(2),
        "{dump}"
    );
    assert_eq!(
        dump["producerIds"].as_array().map(Vec::len),
        Some(2),
        "{dump}"
    );
    assert_eq!(
        dump["consumerIds"].as_array().map(Vec::len),
        Some(2),
        "{dump}"
    );

    // Alice leaves: her transport, her producer, her consumer, and Bob's consumer of her close.
    assert_eq!(h.delete(&format!("/v1/transports/{ta}")).status, 204);
    let missing = events.wait_all(&[
        ("transport.close", "transportId", &ta),
        ("producer.close", "producerId", &pa),
        ("consumer.producerclose", "consumerId", &bob_gets_alice),
        ("consumer.close", "consumerId", &alice_gets_bob),
    ]);
    assert!(
        missing.is_empty(),
        "after closing Alice's transport, not seen: {missing:?}"
    );
    for (kind, id) in [
        ("transports", &ta),
        ("producers", &pa),
        ("consumers", &bob_gets_alice),
        ("consumers", &alice_gets_bob),
    ] {
        h.get(&format!("/v1/{kind}/{id}"))
            .assert_error(404, "not_found", id);
    }
    h.get(&format!("/v1/producers/{pb}")).ok();
    let dump = h.get(&format!("/v1/routers/{router}")).ok();
    assert_eq!(dump["transportIds"], json!([tb]), "{dump}");
    assert_eq!(dump["consumerIds"], json!([]), "{dump}");

    // Bob's media reaches nobody now; the router closes with everything in it.
    bob.send_to(
        &rtp_packet(111, 1, 1, 0xB0B, false, &[], b"anyone?"),
        tb_addr,
    );
    assert_eq!(h.delete(&format!("/v1/routers/{router}")).status, 204);
    for (kind, id) in [
        ("routers", &router),
        ("transports", &tb),
        ("producers", &pb),
    ] {
        h.get(&format!("/v1/{kind}/{id}"))
            .assert_error(404, "not_found", id);
    }
    h.delete(&format!("/v1/routers/{router}"))
        .assert_error(404, "not_found", &router);
    let stats = h.get("/v1/workers").ok();
    let routers: u64 = stats
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["routers"].as_u64().expect("routers"))
        .sum();
    assert!(
        wait_until(|| {
            let s = h.get("/v1/workers").ok();
            let n: u64 = s
                .as_array()
                .expect("workers")
                .iter()
                .map(|w| w["routers"].as_u64().expect("routers"))
                .sum();
            (n == 0).then_some(())
        })
        .is_some(),
        "no router left (was {routers})"
    );
}

#[test]
fn closing_a_transport_reports_its_own_consumers_closed() {
    let server = Server::start();
    let h = server.http();
    let events = EventStream::open(&h);
    let router = h.create_router(None);
    let router = str_of(&router, "id");
    let tp = h.create_plain_transport(router, &json!({}));
    let p = h.produce_opus(str_of(&tp, "id"), 111, 5);
    let tc = h.create_plain_transport(router, &json!({}));
    let tc = str_of(&tc, "id");
    let c = h.consume_opus(tc, str_of(&p, "id"), 111).ok();
    let c = str_of(&c, "id");
    assert_eq!(h.delete(&format!("/v1/transports/{tc}")).status, 204);
    let e = events
        .wait_for(|e| e.name == "consumer.close" && e.data["consumerId"] == c)
        .expect("consumer.close for the consumer of the closed transport");
    assert_eq!(e.data["event"], "consumer.close");
    h.get(&format!("/v1/consumers/{c}"))
        .assert_error(404, "not_found", c);
    // The producer is untouched.
    h.get(&format!("/v1/producers/{}", str_of(&p, "id"))).ok();
}
