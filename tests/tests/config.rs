//! Configuration of the started binary (DESIGN.md §5): flags, `SLUICE_*` variables and a TOML
//! `--config` file, with precedence defaults < file < environment < flags, read back from what
//! the running server does (where it listens, how many workers, which backend, which ports); the
//! log lines saying where it listens; SIGTERM and SIGINT stopping it cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::Value;

use sluice_tests::*;

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config file");
    p
}

fn manual(args: &[String], env: &[(&str, String)]) -> ServerOptions {
    ServerOptions {
        args: args.to_vec(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        auto_http: false,
        auto_media_port: false,
        auto_rtc_ports: false,
        token: None,
    }
}

fn workers_of(s: &Server) -> u64 {
    s.http().get("/v1/health").ok()["workers"]
        .as_u64()
        .expect("workers")
}

fn io_of(s: &Server) -> String {
    let w = s.http().get("/v1/workers").ok();
    w[0]["io"].as_str().expect("io").to_string()
}

/// The local port of a fresh plain transport.
fn transport_port(s: &Server) -> u16 {
    let h = s.http();
    let r = h.create_router(None);
    let t = h.create_plain_transport(str_of(&r, "id"), &json!({}));
    local_addr_of(&t).port()
}

fn local(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

#[test]
fn precedence_defaults_file_env_flags() {
    let (file_http, env_http, flag_http) = (free_tcp_port(), free_tcp_port(), free_tcp_port());
    let (file_rtc, env_rtc, flag_rtc) = (rtc_port_range(), rtc_port_range(), rtc_port_range());
    let media = free_udp_port();
    let file = temp_file(
        "precedence.toml",
        &format!(
            "http = \"{}\"\nworkers = 3\nio = \"mmsg\"\nmedia_port = {media}\nrtc_ports = \"{}-{}\"\n",
            local(file_http),
            file_rtc.0,
            file_rtc.1
        ),
    );
    let cfg = vec!["--config".to_string(), file.display().to_string()];

    // The file over the defaults.
    let s = Server::start_with(manual(&cfg, &[]));
    assert_eq!(
        s.addr,
        local(file_http).parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(workers_of(&s), 3);
    assert_eq!(io_of(&s), "mmsg");
    let p = transport_port(&s);
    assert!(
        (file_rtc.0..=file_rtc.1).contains(&p),
        "{p} in {file_rtc:?}"
    );
    let media_line = s.log.wait_for("media plane ready").expect("media log line");
    assert!(
        media_line.contains(&format!("127.0.0.1:{media}")),
        "the log says where media is: {media_line}"
    );
    drop(s);

    // The environment over the file (the file named by SLUICE_CONFIG this time).
    let env = [
        ("SLUICE_CONFIG", file.display().to_string()),
        ("SLUICE_HTTP", local(env_http)),
        ("SLUICE_WORKERS", "2".to_string()),
        ("SLUICE_IO", "uring".to_string()),
        ("SLUICE_MEDIA_PORT", "0".to_string()),
        ("SLUICE_RTC_PORTS", format!("{}-{}", env_rtc.0, env_rtc.1)),
    ];
    let s = Server::start_with(manual(&[], &env));
    assert_eq!(s.addr, local(env_http).parse::<SocketAddr>().expect("addr"));
    assert_eq!(workers_of(&s), 2);
    assert_eq!(io_of(&s), "uring");
    let p = transport_port(&s);
    assert!((env_rtc.0..=env_rtc.1).contains(&p), "{p} in {env_rtc:?}");
    drop(s);

    // Flags over the environment.
    let flags: Vec<String> = [
        "--http",
        &local(flag_http),
        "--workers",
        "1",
        "--io",
        "mmsg",
        "--rtc-ports",
        &format!("{}-{}", flag_rtc.0, flag_rtc.1),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let s = Server::start_with(manual(&flags, &env));
    assert_eq!(
        s.addr,
        local(flag_http).parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(workers_of(&s), 1);
    assert_eq!(io_of(&s), "mmsg");
    let p = transport_port(&s);
    assert!(
        (flag_rtc.0..=flag_rtc.1).contains(&p),
        "{p} in {flag_rtc:?}"
    );
}

#[test]
fn default_workers_is_one_per_core() {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as u64;
    let mut o = ServerOptions::default();
    o.args.clear();
    let s = Server::start_with(o);
    assert_eq!(workers_of(&s), cores);
    let w = s.http().get("/v1/workers").ok();
    let ids: Vec<u64> = w
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, (0..cores).collect::<Vec<_>>());
}

/// Pinned by default (the helper starts two workers): each worker reports its own core. `--pin-workers false` leaves placement to the
/// scheduler and the workers report no core.
#[test]
fn pin_workers_setting() {
    let cores_of = |s: &Server| -> Vec<Value> {
        let w = s.http().get("/v1/workers").ok();
        w.as_array()
            .expect("workers")
            .iter()
            .map(|w| w["core"].clone())
            .collect()
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let pinned = Server::start();
    let got = cores_of(&pinned);
    assert!(
        got.iter().all(|c| c.is_u64()),
        "every worker pinned: {got:?}"
    );
    if cores >= 2 {
        assert_ne!(got[0], got[1], "two workers on two cores: {got:?}");
    }
    let floating = Server::start_with(ServerOptions::with_args(&["--pin-workers", "false"]));
    assert_eq!(cores_of(&floating), vec![Value::Null, Value::Null]);
}

#[test]
fn media_ip_announced_ip_and_token_settings() {
    // --media-ip binds plain transports there; --announced-ip replaces it in tuples; a token from
    // the file is enforced.
    let file = temp_file("token.toml", "token = \"from-file\"\n");
    let mut o = ServerOptions::with_args(&[
        "--config",
        file.to_str().expect("utf-8 path"),
        "--media-ip",
        "127.0.0.2",
    ]);
    o.token = Some("from-file".into());
    let s = Server::start_with(o);
    s.http_anonymous()
        .get("/v1/health")
        .assert_error(401, "unauthorized", "Bearer");
    let h = s.http();
    let r = h.create_router(None);
    let t = h.create_plain_transport(str_of(&r, "id"), &json!({}));
    assert_eq!(t["tuple"]["localAddress"], "127.0.0.2", "{t}");
    // Media really is on that address: a packet from a peer there is accepted and forwarded.
    let sender = Peer::new();
    h.connect(str_of(&t, "id"), sender.addr()).ok();
    let p = h.produce_opus(str_of(&t, "id"), 111, 31);
    let receiver = Peer::new();
    let ct = h.create_plain_transport(str_of(&r, "id"), &json!({}));
    h.connect(str_of(&ct, "id"), receiver.addr()).ok();
    h.consume_opus(str_of(&ct, "id"), str_of(&p, "id"), 111)
        .ok();
    sender.send_to(
        &rtp_packet(111, 1, 0, 31, false, &[], b"hi"),
        local_addr_of(&t),
    );
    let (b, from) = receiver.recv().expect("forwarded from 127.0.0.2");
    assert_eq!(from.ip().to_string(), "127.0.0.2");
    assert_eq!(RtpView::parse(&b).expect("RTP").payload, b"hi");
    drop(s);

    // The same two through the environment, with a token from SLUICE_TOKEN.
    let mut o = ServerOptions::default()
        .env("SLUICE_ANNOUNCED_IP", "192.0.2.7")
        .env("SLUICE_MEDIA_IP", "127.0.0.3")
        .env("SLUICE_TOKEN", "from-env");
    o.token = Some("from-env".into());
    let s = Server::start_with(o);
    s.http_anonymous()
        .get("/v1/workers")
        .assert_error(401, "unauthorized", "Bearer");
    let media = s.log.wait_for("media plane ready").expect("media line");
    assert!(media.contains("127.0.0.3:"), "{media}");
    let h = s.http();
    let r = h.create_router(None);
    let t = h.create_plain_transport(str_of(&r, "id"), &json!({}));
    assert_eq!(t["tuple"]["localAddress"], "192.0.2.7", "{t}");
}

#[test]
fn logs_where_it_listens() {
    let http = free_tcp_port();
    let mut o = ServerOptions::with_args(&["--http", &local(http)]);
    o.auto_http = false;
    let s = Server::start_with(o);
    let line = s
        .log
        .wait_for("control API and demo page on")
        .expect("listen log line");
    assert!(line.contains(&format!("http://127.0.0.1:{http}")), "{line}");
    assert!(
        line.contains("no token"),
        "says the API has no token: {line}"
    );
    let media = s.log.wait_for("media plane ready").expect("media line");
    assert!(media.contains("workers=2"), "{media}");
    assert!(media.contains("rtc_ports="), "{media}");
    // The demo page is served where the log says.
    let page = s.http().get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap_or("")
            .contains("text/html")
    );
}

fn stops_cleanly_on(signal: i32) {
    let mut s = Server::start();
    // An open event stream must not hold up a graceful stop.
    let events = EventStream::open(&s.http());
    let r = s.http().create_router(None);
    assert!(r["id"].is_string());
    let status = s.stop_with(signal).expect("sluice exits after the signal");
    assert!(
        status.success(),
        "exit status {status:?} after signal {signal}"
    );
    assert_eq!(status.code(), Some(0));
    let stopped = s.log.wait_for("stopped");
    assert!(stopped.is_some(), "logs that it stopped:\n{}", s.log.text());
    drop(events);
}

#[test]
fn sigterm_stops_cleanly() {
    stops_cleanly_on(SIGTERM);
}

#[test]
fn sigint_stops_cleanly() {
    stops_cleanly_on(SIGINT);
}

#[test]
fn bad_configuration_is_refused_with_a_message() {
    let file = temp_file("bad.toml", "workers = 2\nno_such_setting = true\n");
    for (args, env, needle) in [
        (
            vec!["--config".to_string(), file.display().to_string()],
            vec![],
            "no_such_setting",
        ),
        (
            vec!["--rtc-ports".into(), "9000-10".into()],
            vec![],
            "9000-10",
        ),
        (
            vec![],
            vec![("SLUICE_IO".to_string(), "epoll".to_string())],
            "epoll",
        ),
        (vec!["--workers".into(), "0".into()], vec![], "workers"),
        (
            vec!["--config".to_string(), "/nonexistent/sluice.toml".into()],
            vec![],
            "/nonexistent/sluice.toml",
        ),
    ] {
        let mut args = args;
        args.extend(["--http".into(), "127.0.0.1:0".into()]);
        let (mut child, log) = spawn_raw(&args, &env);
        let status = wait_exit(&mut child).expect("exits");
        assert!(!status.success(), "{args:?} {env:?} refused");
        let text = wait_until(|| {
            let t = log.text();
            t.contains(needle).then_some(t)
        });
        assert!(
            text.is_some(),
            "the message names {needle:?}: {}",
            log.text()
        );
    }
}
