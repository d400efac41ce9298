//! The demo room registry (`control/src/api/demo.rs`) over HTTP: what the page at `/` relies on
//! to register a peer's transports and producers, and to close them when it leaves.

use sluice_tests::*;

#[test]
fn a_peer_registers_transports_and_producers_and_leaving_closes_them() {
    let server = Server::start();
    let http = server.http();
    let joined = http.post("/demo/rooms/lobby/join", &json!({})).ok();
    let peer = str_of(&joined, "peerId").to_owned();
    let router = str_of(&joined, "routerId").to_owned();
    let t = http
        .post(
            &format!("/v1/routers/{router}/webrtc-transports"),
            &json!({}),
        )
        .ok();
    let transport = str_of(&t, "id").to_owned();

    // Unknown room, unknown peer, a peer id that is no UUID, an unknown producer: 404 each.
    let body = json!({ "transportId": transport });
    http.post(
        &format!("/demo/rooms/elsewhere/peers/{peer}/transports"),
        &body,
    )
    .assert_error(404, "not_found", "elsewhere");
    let stranger = "00000000-0000-4000-8000-000000000000";
    http.post(
        &format!("/demo/rooms/lobby/peers/{stranger}/transports"),
        &body,
    )
    .assert_error(404, "not_found", stranger);
    http.post("/demo/rooms/lobby/peers/nobody/transports", &body)
        .assert_error(404, "not_found", "nobody");
    http.post(
        &format!("/demo/rooms/lobby/peers/{peer}/producers"),
        &json!({ "producerId": stranger, "kind": "audio" }),
    )
    .assert_error(404, "not_found", stranger);

    http.post(&format!("/demo/rooms/lobby/peers/{peer}/transports"), &body)
        .ok();
    http.get(&format!("/v1/transports/{transport}")).ok();
    http.post(&format!("/demo/rooms/lobby/peers/{peer}/leave"), &json!({}))
        .ok();
    http.get(&format!("/v1/transports/{transport}"))
        .assert_error(404, "not_found", &transport);
    // The last peer left: the room's router is closed too.
    http.get(&format!("/v1/routers/{router}"))
        .assert_error(404, "not_found", &router);
}
