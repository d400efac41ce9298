//! Every error case of DESIGN.md §4 through the real binary: the status, and the body
//! `{"error":{"code","message"}}` whose message names the field or id at fault. Also the bearer
//! token (401) and the refusal to serve a non-loopback control address without one.

use sluice_tests::*;

const NO_SUCH: &str = "00000000-0000-4000-8000-000000000000";

struct Fixture {
    _server: Server,
    http: Http,
    router: String,
    transport: String,
    producer: String,
}

fn fixture() -> Fixture {
    let server = Server::start();
    let http = server.http();
    let router = str_of(&http.create_router(None), "id").to_string();
    let t = http.create_plain_transport(&router, &json!({}));
    let transport = str_of(&t, "id").to_string();
    http.connect(&transport, "127.0.0.1:5004".parse().expect("addr"))
        .ok();
    let producer = str_of(&http.produce_opus(&transport, 111, 1000), "id").to_string();
    Fixture {
        _server: server,
        http,
        router,
        transport,
        producer,
    }
}

#[test]
fn malformed_json_is_400() {
    let f = fixture();
    for body in [
        "{\"mediaCodecs\":",
        "not json",
        "{\"mediaCodecs\": [}",
        "[1,2",
    ] {
        f.http
            .post_raw("/v1/routers", body)
            .assert_error(400, "invalid_json", "malformed JSON");
    }
    f.http
        .post_raw(
            &format!("/v1/transports/{}/producers", f.transport),
            "{\"kind\":\"audio\",",
        )
        .assert_error(400, "invalid_json", "malformed JSON");
}

#[test]
fn wrong_types_and_missing_fields_are_400_naming_the_field() {
    let f = fixture();
    let h = &f.http;
    h.post(
        "/v1/routers",
        &json!({"mediaCodecs": [{"kind": "audio", "mimeType": "audio/opus", "clockRate": "x"}]}),
    )
    .assert_error(400, "invalid_field", "mediaCodecs[0].clockRate");
    h.post("/v1/routers", &json!({}))
        .assert_error(400, "invalid_field", "mediaCodecs");
    h.post("/v1/routers", &json!({"mediaCodecs": "opus"}))
        .assert_error(400, "invalid_field", "mediaCodecs");
    h.post(
        "/v1/routers",
        &json!({"mediaCodecs": media_codecs(), "workerId": "zero"}),
    )
    .assert_error(400, "invalid_field", "workerId");
    h.post(
        &format!("/v1/routers/{}/plain-transports", f.router),
        &json!({"comedia": "yes"}),
    )
    .assert_error(400, "invalid_field", "comedia");
    let t = h.create_plain_transport(&f.router, &json!({}));
    let tid = str_of(&t, "id");
    h.post(
        &format!("/v1/transports/{tid}/connect"),
        &json!({"ip": "127.0.0.1", "port": "5004"}),
    )
    .assert_error(400, "invalid_field", "port");
    h.post(
        &format!("/v1/transports/{tid}/connect"),
        &json!({"ip": "localhost", "port": 5004}),
    )
    .assert_error(400, "invalid_field", "ip");
    h.post(
        &format!("/v1/transports/{tid}/connect"),
        &json!({"port": 5004}),
    )
    .assert_error(400, "invalid_field", "ip");
    h.post(
        &format!("/v1/transports/{tid}/connect"),
        &json!({"ip": "127.0.0.1", "port": 70000}),
    )
    .assert_error(400, "invalid_field", "port");
    let mut params = opus_parameters(111, 1);
    params["encodings"][0]["ssrc"] = json!("one");
    h.post(
        &format!("/v1/transports/{}/producers", f.transport),
        &json!({"kind": "audio", "rtpParameters": params}),
    )
    .assert_error(400, "invalid_field", "rtpParameters.encodings[0].ssrc");
    h.post(
        &format!("/v1/transports/{}/producers", f.transport),
        &json!({"kind": "smell", "rtpParameters": opus_parameters(111, 2)}),
    )
    .assert_error(400, "invalid_field", "kind");
    h.post(
        &format!("/v1/transports/{}/consumers", f.transport),
        &json!({"producerId": f.producer, "rtpCapabilities": {"codecs": 5}}),
    )
    .assert_error(400, "invalid_field", "rtpCapabilities.codecs");
    h.post(
        &format!("/v1/transports/{}/consumers", f.transport),
        &json!({"rtpCapabilities": opus_capabilities(111)}),
    )
    .assert_error(400, "invalid_field", "producerId");
    let big = format!(
        "{{\"mediaCodecs\":[],\"pad\":\"{}\"}}",
        "x".repeat(300 * 1024)
    );
    h.post_raw("/v1/routers", &big)
        .assert_error(400, "body_too_large", "bytes");
    // Still alive and well after all that.
    assert_eq!(h.get("/v1/health").ok()["status"], "ok");
}

#[test]
fn unknown_ids_are_404_naming_the_id() {
    let f = fixture();
    let h = &f.http;
    for (method, path) in [
        ("GET", format!("/v1/routers/{NO_SUCH}")),
        ("DELETE", format!("/v1/routers/{NO_SUCH}")),
        ("GET", format!("/v1/routers/{NO_SUCH}/stats")),
        ("POST", format!("/v1/routers/{NO_SUCH}/plain-transports")),
        ("GET", format!("/v1/transports/{NO_SUCH}")),
        ("DELETE", format!("/v1/transports/{NO_SUCH}")),
        ("POST", format!("/v1/transports/{NO_SUCH}/connect")),
        ("POST", format!("/v1/transports/{NO_SUCH}/producers")),
        ("GET", format!("/v1/producers/{NO_SUCH}")),
        ("DELETE", format!("/v1/producers/{NO_SUCH}")),
        ("POST", format!("/v1/producers/{NO_SUCH}/pause")),
        ("GET", format!("/v1/consumers/{NO_SUCH}/stats")),
        ("POST", format!("/v1/consumers/{NO_SUCH}/resume")),
        ("POST", format!("/v1/consumers/{NO_SUCH}/request-key-frame")),
    ] {
        // Bodies are read before ids are looked up, so give each POST a valid one.
        let produce =
            json!({"kind": "audio", "rtpParameters": opus_parameters(111, 5)}).to_string();
        let body = match method {
            "POST" if path.ends_with("/producers") => Some(produce.as_str()),
            "POST" => Some("{}"),
            _ => None,
        };
        h.request(method, &path, body)
            .assert_error(404, "not_found", NO_SUCH);
    }
    // An id that is not a UUID is as unknown as any other.
    h.get("/v1/producers/not-a-uuid")
        .assert_error(404, "not_found", "not-a-uuid");
    // An id of the wrong kind: a router id where a transport is expected.
    h.get(&format!("/v1/transports/{}", f.router))
        .assert_error(404, "not_found", &f.router);
    // An unknown producer in a consume body names the field.
    h.consume_opus(&f.transport, NO_SUCH, 111)
        .assert_error(404, "not_found", "producerId");
    h.get("/v1/nothing-here")
        .assert_error(404, "no_route", "endpoint");
    h.request("PUT", "/v1/routers", Some("{}"))
        .assert_error(405, "method_not_allowed", "method");
}

#[test]
fn state_conflicts_are_409() {
    let f = fixture();
    let h = &f.http;
    // Connecting twice.
    h.connect(&f.transport, "127.0.0.1:5006".parse().expect("addr"))
        .assert_error(409, "conflict", &f.transport);
    // An SSRC already used on the transport.
    h.post(
        &format!("/v1/transports/{}/producers", f.transport),
        &json!({"kind": "audio", "rtpParameters": opus_parameters(111, 1000)}),
    )
    .assert_error(409, "conflict", "1000");
}

#[test]
fn consuming_a_closed_producer_is_404() {
    let f = fixture();
    let h = &f.http;
    let t = h.create_plain_transport(&f.router, &json!({}));
    let tid = str_of(&t, "id");
    h.consume_opus(tid, &f.producer, 111).ok();
    assert_eq!(
        h.delete(&format!("/v1/producers/{}", f.producer)).status,
        204
    );
    // Closed is gone: the same answer as an id that never existed, naming the field.
    h.consume_opus(tid, &f.producer, 111)
        .assert_error(404, "not_found", "producerId");
    h.post(&format!("/v1/producers/{}/resume", f.producer), &json!({}))
        .assert_error(404, "not_found", &f.producer);
    // Closing a transport closes its producers: consuming them is 404 too.
    let p2 = h.produce_opus(tid, 111, 2000);
    let p2 = str_of(&p2, "id");
    assert_eq!(h.delete(&format!("/v1/transports/{tid}")).status, 204);
    let t3 = h.create_plain_transport(&f.router, &json!({}));
    h.consume_opus(str_of(&t3, "id"), p2, 111)
        .assert_error(404, "not_found", "producerId");
}

#[test]
fn unacceptable_values_are_422() {
    let f = fixture();
    let h = &f.http;
    let t = h.create_plain_transport(&f.router, &json!({}));
    let tid = str_of(&t, "id");
    // Cannot consume: the capabilities have no codec of the producer's.
    let vp8_only = json!({
        "codecs": [{"kind": "video", "mimeType": "video/VP8", "preferredPayloadType": 96,
                    "clockRate": 90000, "parameters": {}, "rtcpFeedback": []}],
        "headerExtensions": []
    });
    h.post(
        &format!("/v1/transports/{tid}/consumers"),
        &json!({"producerId": f.producer, "rtpCapabilities": vp8_only}),
    )
    .assert_error(422, "unacceptable", "rtpCapabilities");
    // A producer codec the router does not have.
    let mut pcmu = opus_parameters(0, 3000);
    pcmu["codecs"] = json!([{"mimeType": "audio/PCMU", "payloadType": 0, "clockRate": 8000,
                             "parameters": {}, "rtcpFeedback": []}]);
    let msg = h
        .post(
            &format!("/v1/transports/{tid}/producers"),
            &json!({"kind": "audio", "rtpParameters": pcmu}),
        )
        .assert_error(422, "unacceptable", "");
    assert!(msg.contains("codecs") || msg.contains("PCMU"), "{msg}");
    // A router codec nobody supports.
    h.post(
        "/v1/routers",
        &json!({"mediaCodecs": [{"kind": "audio", "mimeType": "audio/nonesuch", "clockRate": 8000}]}),
    )
    .assert_error(422, "unacceptable", "mediaCodecs");
    // A worker that does not exist.
    h.post(
        "/v1/routers",
        &json!({"mediaCodecs": media_codecs(), "workerId": 99}),
    )
    .assert_error(422, "unacceptable", "workerId");
    // Port 0 is no remote.
    let t2 = h.create_plain_transport(&f.router, &json!({}));
    h.post(
        &format!("/v1/transports/{}/connect", str_of(&t2, "id")),
        &json!({"ip": "127.0.0.1", "port": 0}),
    )
    .assert_error(422, "unacceptable", "port");
    // Layers out of range on an existing consumer.
    let c = h.consume_opus(tid, &f.producer, 111).ok();
    h.request(
        "PUT",
        &format!("/v1/consumers/{}/preferred-layers", str_of(&c, "id")),
        Some(&json!({"spatialLayer": 99}).to_string()),
    )
    .assert_error(422, "unacceptable", "spatialLayer");
    // A producer of another router.
    let other = h.create_router(None);
    let ot = h.create_plain_transport(str_of(&other, "id"), &json!({}));
    h.consume_opus(str_of(&ot, "id"), &f.producer, 111)
        .assert_error(422, "unacceptable", "producerId");
}

#[test]
fn token_required_when_configured() {
    let mut o = ServerOptions::with_args(&["--token", "s3cret-token"]);
    o.token = Some("s3cret-token".into());
    let server = Server::start_with(o);
    let good = server.http();
    assert_eq!(good.get("/v1/health").ok()["status"], "ok");
    let none = server.http_anonymous();
    let wrong = Http {
        addr: server.addr,
        token: Some("s3cret-tokeN".into()),
    };
    for h in [&none, &wrong] {
        for (method, path) in [
            ("GET", "/v1/health"),
            ("GET", "/v1/workers"),
            ("POST", "/v1/routers"),
            ("GET", "/v1/events"),
            ("GET", "/metrics"),
        ] {
            let body = (method == "POST").then_some("{}");
            h.request(method, path, body)
                .assert_error(401, "unauthorized", "Bearer");
        }
    }
    // Not a bearer credential at all.
    let r = none
        .request_with_headers(
            "GET",
            "/v1/health",
            None,
            &[("Authorization", "Basic czNjcmV0LXRva2Vu")],
        )
        .expect("request");
    r.assert_error(401, "unauthorized", "Bearer");
    // The right token works for everything.
    let router = good.create_router(None);
    assert!(router["id"].is_string());
    assert!(
        good.get("/metrics")
            .body
            .contains("sluice_worker_packets_in")
    );
}

#[test]
fn non_loopback_http_without_token_is_refused_at_start() {
    for (args, env) in [
        (vec!["--http".to_string(), "0.0.0.0:0".to_string()], vec![]),
        (
            vec![],
            vec![("SLUICE_HTTP".to_string(), "0.0.0.0:0".to_string())],
        ),
    ] {
        let mut args = args;
        args.extend([
            "--media-port".into(),
            "0".into(),
            "--workers".into(),
            "1".into(),
        ]);
        let (mut child, log) = spawn_raw(&args, &env);
        let status = wait_exit(&mut child).expect("sluice exits instead of serving");
        assert!(!status.success(), "refused: {status:?}");
        let text = wait_until(|| {
            let t = log.text();
            t.contains("token").then_some(t)
        })
        .unwrap_or_else(|| log.text());
        assert!(
            text.contains("non-loopback") && text.contains("--token"),
            "the message says why and what to do: {text}"
        );
        assert!(!text.contains("control API and demo page on"), "{text}");
    }
}
