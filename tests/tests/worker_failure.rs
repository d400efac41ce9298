//! A worker that panics (test hook `SLUICE_TEST_HOOKS=1`, `POST /v1/workers/{id}/panic`): the
//! process reports it in `/v1/health` ("degraded"), API calls on its routers answer 503 instead
//! of hanging, and the other workers go on serving, media included.

use sluice_tests::*;

fn hooks_server() -> Server {
    Server::start_with(ServerOptions::default().env("SLUICE_TEST_HOOKS", "1"))
}

#[test]
fn panicked_worker_degrades_health_and_its_routers_answer_503() {
    let server = hooks_server();
    let h = server.http();
    let a = h.create_router(Some(0));
    assert_eq!(a["workerId"], 0);
    let b = h.create_router(Some(1));
    assert_eq!(b["workerId"], 1);
    let (a, b) = (str_of(&a, "id"), str_of(&b, "id"));
    let ta = h.create_plain_transport(a, &json!({}));
    let ta = str_of(&ta, "id");
    let pa = h.produce_opus(ta, 111, 1);
    let pa = str_of(&pa, "id");

    assert_eq!(h.post("/v1/workers/0/panic", &json!({})).ok(), json!({}));
    // Whoever learned that the worker failed finds it reported.
    let health = h.get("/v1/health").ok();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["workers"], 2);
    assert_eq!(health["deadWorkers"], json!([0]));
    let workers = h.get("/v1/workers").ok();
    assert_eq!(workers[0]["alive"], false, "{workers}");
    assert_eq!(workers[1]["alive"], true, "{workers}");

    // Everything on worker 0 answers 503 (the client's read timeout would fail a hang).
    for (method, path, body) in [
        ("GET", format!("/v1/routers/{a}"), None),
        ("GET", format!("/v1/routers/{a}/stats"), None),
        (
            "POST",
            format!("/v1/routers/{a}/plain-transports"),
            Some("{}"),
        ),
        ("GET", format!("/v1/transports/{ta}"), None),
        (
            "POST",
            format!("/v1/transports/{ta}/connect"),
            Some(r#"{"ip":"127.0.0.1","port":5004}"#),
        ),
        ("POST", format!("/v1/producers/{pa}/pause"), None),
        ("DELETE", format!("/v1/producers/{pa}"), None),
        ("DELETE", format!("/v1/routers/{a}"), None),
    ] {
        h.request(method, &path, body)
            .assert_error(503, "worker_unavailable", "worker 0");
    }
    h.post(
        "/v1/routers",
        &json!({"mediaCodecs": media_codecs(), "workerId": 0}),
    )
    .assert_error(503, "worker_unavailable", "worker 0");
    // Panicking it again is harmless.
    assert_eq!(h.post("/v1/workers/0/panic", &json!({})).ok(), json!({}));

    // A new router without workerId goes to the live worker.
    let c = h.create_router(None);
    assert_eq!(c["workerId"], 1, "{c}");

    // Worker 1 still forwards media.
    let sender = Peer::new();
    let receiver = Peer::new();
    let tb = h.create_plain_transport(b, &json!({}));
    h.connect(str_of(&tb, "id"), sender.addr()).ok();
    let pb = h.produce_opus(str_of(&tb, "id"), 111, 2);
    let tr = h.create_plain_transport(b, &json!({}));
    h.connect(str_of(&tr, "id"), receiver.addr()).ok();
    h.consume_opus(str_of(&tr, "id"), str_of(&pb, "id"), 111)
        .ok();
    sender.send_to(
        &rtp_packet(111, 9, 9, 2, false, &[], b"still here"),
        local_addr_of(&tb),
    );
    let (bytes, _) = receiver.recv().expect("worker 1 still forwards");
    assert_eq!(RtpView::parse(&bytes).expect("RTP").payload, b"still here");

    // Metrics say which worker is down.
    let m = h.get("/metrics").body;
    assert!(m.contains("sluice_worker_up{worker=\"0\"} 0"), "{m}");
    assert!(m.contains("sluice_worker_up{worker=\"1\"} 1"), "{m}");
    assert!(
        server.log.wait_for("worker panicked").is_some(),
        "{}",
        server.log.text()
    );
}

#[test]
fn panic_hook_needs_test_hooks() {
    let server = Server::start();
    let h = server.http();
    h.post("/v1/workers/0/panic", &json!({}))
        .assert_error(404, "no_route", "endpoint");
    assert_eq!(h.get("/v1/health").ok()["status"], "ok");
}

#[test]
fn panic_hook_names_unknown_workers() {
    let server = hooks_server();
    let h = server.http();
    h.post("/v1/workers/7/panic", &json!({}))
        .assert_error(404, "not_found", "7");
    h.post("/v1/workers/x/panic", &json!({}))
        .assert_error(404, "not_found", "x");
    assert_eq!(h.get("/v1/health").ok()["status"], "ok");
}
