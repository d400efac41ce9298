//! The Janus target: Janus 1.1.2 (Debian) with only its videoroom plugin and HTTP transport,
//! started by `bench-harness/peers/janus/start.sh` (docs/PEERS.md), driven over the Janus HTTP
//! API the way `janus.js` drives it from a browser:
//!
//! - `POST /janus {"janus":"create"}` makes a session, `POST /janus/<session> {"janus":"attach",
//!   "plugin":"janus.plugin.videoroom"}` a handle (one per PeerConnection);
//! - `POST /janus/<session>/<handle> {"janus":"message","body":{…},"jsep":{…}}` sends a request to
//!   the plugin. Synchronous requests (`create`, `exists`) answer `success` with `plugindata`;
//!   asynchronous ones (`join`, `publish`, `start`) answer `ack`, and their result, with Janus's
//!   SDP as `jsep`, comes later as an `event` carrying the same `transaction`;
//! - `GET /janus/<session>?maxev=N` long-polls the session's events (plugin events, `webrtcup`
//!   when a PeerConnection's DTLS finished, `hangup`), up to 30 s, else a `keepalive`.
//!
//! [`Session`] keeps events that arrived while it waited for another one, so a single-threaded
//! caller can interleave requests on many handles. The SDP on both sides is `sdp.rs`'s.
//!
//! Janus's CPU is its one process (every thread: by default one per handle's event loop), read
//! from `/proc` as Sluice's is.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::BenchError;
use crate::sdp::Description;
use crate::target::{self, TargetProcess};

const START_TIMEOUT: Duration = Duration::from_secs(30);
/// A long poll waits up to 30 s on Janus's side; the HTTP client a little longer.
const HTTP_TIMEOUT: Duration = Duration::from_secs(40);
/// How long an asynchronous plugin reply or a `webrtcup` may take.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
/// The videoroom plugin's package name.
pub const PLUGIN: &str = "janus.plugin.videoroom";

/// The peer's directory in this source tree.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/janus")
}

/// A blocking client of Janus's HTTP transport.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: reqwest::blocking::Client,
}

impl Http {
    pub fn new(port: u16) -> Result<Self, BenchError> {
        let client = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| BenchError::Target(format!("HTTP client: {e}")))?;
        Ok(Self {
            base: format!("http://127.0.0.1:{port}/janus"),
            client,
        })
    }

    fn call(&self, path: &str, body: Option<&Value>) -> Result<Value, BenchError> {
        let url = format!("{}{path}", self.base);
        let method = if body.is_some() { "POST" } else { "GET" };
        let err = |message: String| BenchError::Api {
            method,
            path: format!("/janus{path}"),
            message,
        };
        let req = match body {
            Some(b) => self.client.post(&url).json(b),
            None => self.client.get(&url),
        };
        let resp = req.send().map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        let text = resp.text().map_err(|e| err(e.to_string()))?;
        if !status.is_success() {
            return Err(err(format!("{status}: {text}")));
        }
        let v: Value =
            serde_json::from_str(&text).map_err(|e| err(format!("bad JSON ({e}): {text}")))?;
        if let Some(reason) = janus_error(&v) {
            return Err(err(reason));
        }
        Ok(v)
    }

    pub fn get(&self, path: &str) -> Result<Value, BenchError> {
        self.call(path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, BenchError> {
        self.call(path, Some(body))
    }
}

/// The reason of a Janus core error (`{"janus":"error","error":{"code","reason"}}`) or of a
/// videoroom error (`plugindata.data.error_code`).
pub fn janus_error(v: &Value) -> Option<String> {
    if v["janus"] == "error" {
        return Some(format!(
            "Janus error {}: {}",
            v["error"]["code"], v["error"]["reason"]
        ));
    }
    let d = &v["plugindata"]["data"];
    d.get("error_code")
        .map(|code| format!("videoroom error {code}: {}", d["error"]))
}

/// The events of one long-poll answer (`maxev` > 1 gives an array, else one object).
pub fn poll_events(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}

/// Plugin notifications nobody waits for (another publisher joined or left): dropped rather
/// than kept, so the buffer of a room with many publishers does not grow by P² events.
fn is_notification(e: &Value) -> bool {
    e["janus"] == "event" && e.get("transaction").is_none() && e.get("jsep").is_none()
}

/// One Janus session and the events that arrived for it but were not yet asked for.
pub struct Session {
    http: Http,
    pub id: u64,
    pending: Vec<Value>,
    next_tx: u64,
}

impl Session {
    pub fn create(http: &Http) -> Result<Self, BenchError> {
        let mut s = Self {
            http: http.clone(),
            id: 0,
            pending: Vec::new(),
            next_tx: 0,
        };
        let r = s.request("", "create", json!({}))?;
        s.id = r["data"]["id"]
            .as_u64()
            .ok_or_else(|| BenchError::Target(format!("no session id in {r}")))?;
        Ok(s)
    }

    fn transaction(&mut self) -> String {
        self.next_tx += 1;
        format!("sb{}-{}", self.id, self.next_tx)
    }

    /// A core request with `fields`; the answer (an error answer is an `Err`).
    fn request(&mut self, path: &str, janus: &str, fields: Value) -> Result<Value, BenchError> {
        let body = request_body(janus, &self.transaction(), fields);
        self.http.post(path, &body)
    }

    /// A videoroom handle (one per PeerConnection, plus one for room requests).
    pub fn attach(&mut self) -> Result<u64, BenchError> {
        let path = format!("/{}", self.id);
        let r = self.request(&path, "attach", json!({ "plugin": PLUGIN }))?;
        r["data"]["id"]
            .as_u64()
            .ok_or_else(|| BenchError::Target(format!("no handle id in {r}")))
    }

    /// A synchronous plugin request: its `plugindata.data`.
    pub fn message_sync(&mut self, handle: u64, body: Value) -> Result<Value, BenchError> {
        let path = format!("/{}/{handle}", self.id);
        let r = self.request(&path, "message", json!({ "body": body }))?;
        if r["janus"] != "success" {
            return Err(BenchError::Target(format!("expected success, got {r}")));
        }
        Ok(r["plugindata"]["data"].clone())
    }

    /// An asynchronous plugin request: `ack`, then the event with its transaction.
    pub fn message_async(
        &mut self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<Value, BenchError> {
        let path = format!("/{}/{handle}", self.id);
        let tx = self.transaction();
        let body_name = body["request"].as_str().unwrap_or("a request").to_string();
        let mut fields = json!({ "body": body });
        if let Some(j) = jsep {
            fields["jsep"] = j;
        }
        let r = self
            .http
            .post(&path, &request_body("message", &tx, fields))?;
        match r["janus"].as_str() {
            Some("ack") => {}
            // A plugin may answer at once instead of acking.
            Some("event") | Some("success") => return Ok(r),
            _ => return Err(BenchError::Target(format!("expected ack, got {r}"))),
        }
        let ev = self.wait(
            &format!("the reply to {body_name} on handle {handle}"),
            |e| e["transaction"] == tx.as_str() && e["janus"] == "event",
        )?;
        match janus_error(&ev) {
            Some(reason) => Err(BenchError::Target(format!("handle {handle}: {reason}"))),
            None => Ok(ev),
        }
    }

    /// Waits for `webrtcup` of every handle of `handles` (a `hangup` of one is an error).
    pub fn wait_webrtcup(&mut self, handles: &[u64]) -> Result<(), BenchError> {
        let mut left: Vec<u64> = handles.to_vec();
        while !left.is_empty() {
            let ev = self.wait(&format!("webrtcup of handles {left:?}"), |e| {
                matches!(e["janus"].as_str(), Some("webrtcup" | "hangup"))
                    && e["sender"].as_u64().is_some_and(|s| left.contains(&s))
            })?;
            if ev["janus"] == "hangup" {
                return Err(BenchError::Target(format!(
                    "Janus hung up handle {} before its PeerConnection was up: {}",
                    ev["sender"], ev["reason"]
                )));
            }
            left.retain(|&h| Some(h) != ev["sender"].as_u64());
        }
        Ok(())
    }

    /// The first event (kept or new) that `want` accepts.
    fn wait(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Result<Value, BenchError> {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            if let Some(i) = self.pending.iter().position(&want) {
                return Ok(self.pending.remove(i));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Target(format!(
                    "Janus session {}: no {what} in {EVENT_TIMEOUT:?}",
                    self.id
                )));
            }
            let v = self.http.get(&format!(
                "/{}?maxev=64&rid={}",
                self.id,
                self.next_tx.wrapping_add(1)
            ))?;
            self.pending.extend(
                poll_events(v)
                    .into_iter()
                    .filter(|e| e["janus"] != "keepalive" && (want(e) || !is_notification(e))),
            );
        }
    }
}

fn request_body(janus: &str, transaction: &str, fields: Value) -> Value {
    let mut body = json!({ "janus": janus, "transaction": transaction });
    if let (Some(b), Value::Object(f)) = (body.as_object_mut(), fields) {
        b.extend(f);
    }
    body
}

/// The `create` request of a room for `publishers` publishers (no recording, no periodic key
/// frame requests, no audio-level events: nothing beyond forwarding).
pub fn create_room_body(room: u64, publishers: usize, video: bool) -> Value {
    json!({
        "request": "create", "room": room, "publishers": publishers,
        "audiocodec": "opus", "videocodec": "vp8",
        "bitrate": if video { 2_000_000 } else { 64_000 },
        "fir_freq": 0, "record": false, "permanent": false,
        "notify_joining": false, "audiolevel_event": false,
    })
}

/// The subscriber `join` asking for every stream of `feeds` on one PeerConnection (Janus 1.x
/// multistream).
pub fn subscribe_body(room: u64, feeds: &[u64]) -> Value {
    let streams: Vec<Value> = feeds.iter().map(|f| json!({ "feed": f })).collect();
    json!({ "request": "join", "ptype": "subscriber", "room": room, "streams": streams,
            "use_msid": false })
}

/// Which feed each mid of a subscriber PeerConnection carries: the `streams` of the `attached`
/// (or `updated`) event.
pub fn feeds_by_mid(data: &Value) -> Vec<(String, u64)> {
    data["streams"]
        .as_array()
        .map(|ss| {
            ss.iter()
                .filter_map(|s| Some((s["mid"].as_str()?.to_string(), s["feed_id"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The SDP of an event's `jsep`.
pub fn jsep_sdp(ev: &Value, kind: &str) -> Result<Description, BenchError> {
    let j = &ev["jsep"];
    if j["type"] != kind {
        return Err(BenchError::Target(format!(
            "expected a jsep {kind} in {ev}"
        )));
    }
    j["sdp"]
        .as_str()
        .and_then(crate::sdp::parse)
        .ok_or_else(|| BenchError::Target(format!("unreadable SDP in {ev}")))
}

/// The client-side view of Janus's SDP: its candidate, ICE credentials and fingerprints.
pub fn offer_of(d: &Description, handle: u64) -> Result<crate::rtc_client::Offer, BenchError> {
    let missing = |what: &str| BenchError::Target(format!("Janus's SDP has no {what}"));
    if d.fingerprints.is_empty() {
        return Err(missing("fingerprint"));
    }
    Ok(crate::rtc_client::Offer {
        id: handle.to_string(),
        remote: d.candidate.ok_or_else(|| missing("UDP candidate"))?,
        ufrag: d.ufrag.clone().ok_or_else(|| missing("ice-ufrag"))?,
        password: d.pwd.clone().ok_or_else(|| missing("ice-pwd"))?,
        fingerprints: d.fingerprints.clone(),
        // Janus `active` is the DTLS client; we answer (RFC 5763 §5).
        dtls_server: d.setup.as_deref() == Some("active"),
    })
}

/// A running Janus.
pub struct Janus {
    pub process: TargetProcess,
    pub http: Http,
    /// The address Janus announces (the veth of `netns.sh`): the clients bind it too.
    pub media_ip: IpAddr,
}

/// Reads start.sh's first line: Janus's PID and media address.
pub fn parse_starting(line: &str) -> Option<(u32, IpAddr)> {
    let v: Value = serde_json::from_str(line).ok()?;
    if v["event"] != "starting" || v["sfu"] != "janus" {
        return None;
    }
    Some((
        u32::try_from(v["pid"].as_u64()?).ok()?,
        v["mediaIp"].as_str()?.parse().ok()?,
    ))
}

/// Brings up the veth (`netns.sh up`, needs root), then runs `start.sh` on a free HTTP port
/// and `ports` free RTP ports, and waits for `GET /janus/info`.
pub fn start(dir: &Path, ports: u16) -> Result<Janus, BenchError> {
    let start_sh = dir.join("start.sh");
    if !start_sh.is_file() {
        return Err(BenchError::Args(format!(
            "{} not found",
            start_sh.display()
        )));
    }
    let (log, log_file) = target::log_file("janus")?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| BenchError::io("janus log", e))?;
    let up = Command::new(dir.join("netns.sh"))
        .arg("up")
        .stdout(Stdio::null())
        .stderr(err_file)
        .status()
        .map_err(|e| BenchError::io("netns.sh up", e))?;
    if !up.success() {
        return Err(BenchError::Target(format!(
            "netns.sh up failed (it needs root for `ip netns`); see {}",
            log.display()
        )));
    }
    let http_port = target::free_tcp_port()?;
    // The range is probed on loopback (Janus binds the veth address, whose ports are the same
    // kernel's); another process's burst of sockets can fill every probe for a moment, so the
    // probe is repeated before giving up (seen once on this machine, during a join storm).
    let mut range = target::free_udp_range(ports.max(16));
    for _ in 0..5 {
        if range.is_ok() {
            break;
        }
        thread::sleep(Duration::from_millis(500));
        range = target::free_udp_range(ports.max(16));
    }
    let (lo, hi) = range?;
    // Janus's log level: 3 (warnings) unless SLUICE_BENCH_JANUS_DEBUG says otherwise (4 is
    // Janus's usual verbosity, 5+ shows ICE and DTLS); its log goes to the log file.
    let debug_level = std::env::var("SLUICE_BENCH_JANUS_DEBUG")
        .ok()
        .filter(|v| v.parse::<u8>().is_ok())
        .unwrap_or_else(|| "3".into());
    let run_dir = std::env::temp_dir().join(format!("sluice-bench-{}-janus", std::process::id()));
    let mut child = Command::new(&start_sh)
        .args(["--http", &http_port.to_string()])
        .args(["--rtp-ports", &format!("{lo}-{hi}")])
        .arg("--dir")
        .arg(&run_dir)
        .args(["--session-timeout", "0"])
        .args(["--debug-level", &debug_level])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| BenchError::io("start janus start.sh", e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError::Target("no stdout of start.sh".into()))?;
    let (tx, rx) = mpsc::channel();
    let mut out_log = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .map_err(|e| BenchError::io("janus log", e))?;
    // Janus logs to stdout: drain it into the log (a full pipe would stop Janus), and pass on
    // start.sh's first line.
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(p) = parse_starting(&line) {
                let _ = tx.send(p);
            }
            let _ = writeln!(out_log, "{line}");
        }
    });
    let mut process = TargetProcess {
        name: "janus".into(),
        child,
        log,
        dests: Vec::new(),
        drops: None,
    };
    let Ok((pid, media_ip)) = rx.recv_timeout(START_TIMEOUT) else {
        process.check_alive()?;
        return Err(BenchError::Target(format!(
            "start.sh printed no starting line; see {}",
            process.log.display()
        )));
    };
    if pid != process.pid() {
        return Err(BenchError::Target(format!(
            "start.sh reports pid {pid}, started {}",
            process.pid()
        )));
    }
    let http = Http::new(http_port)?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match http.get("/info") {
            Ok(info) if info["plugins"].get(PLUGIN).is_some() => {
                eprintln!(
                    "sluice-bench: janus {} (pid {pid}, media address {media_ip})",
                    info["version_string"].as_str().unwrap_or("?")
                );
                break;
            }
            Ok(info) => {
                return Err(BenchError::Target(format!(
                    "Janus has no videoroom plugin: {info}"
                )));
            }
            Err(e) if Instant::now() > deadline => {
                process.check_alive()?;
                return Err(BenchError::Target(format!("Janus did not answer: {e}")));
            }
            Err(_) => {
                process.check_alive()?;
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(Janus {
        process,
        http,
        media_ip,
    })
}

/// A client socket's address on the media interface.
pub fn client_addr(media_ip: IpAddr) -> SocketAddr {
    SocketAddr::new(media_ip, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_line_gives_pid_and_media_address() {
        let l = r#"{"event":"starting","sfu":"janus","pid":4242,"http":"127.0.0.1:8088","mediaIp":"10.77.77.1","config":"/x"}"#;
        assert_eq!(
            parse_starting(l),
            Some((4242, "10.77.77.1".parse().unwrap()))
        );
        assert_eq!(parse_starting(r#"{"event":"ready"}"#), None);
        assert_eq!(parse_starting("[WARN] something"), None);
    }

    #[test]
    fn core_and_plugin_errors_are_errors() {
        let core = json!({"janus":"error","error":{"code":458,"reason":"No such session"}});
        assert!(janus_error(&core).unwrap().contains("458"));
        let plugin = json!({"janus":"event","plugindata":{"plugin":PLUGIN,
            "data":{"videoroom":"event","error_code":428,"error":"No such feed"}}});
        assert!(janus_error(&plugin).unwrap().contains("428"));
        let ok = json!({"janus":"event","plugindata":{"data":{"videoroom":"joined","id":7}}});
        assert_eq!(janus_error(&ok), None);
    }

    #[test]
    fn long_poll_answers_are_one_event_or_an_array() {
        assert_eq!(poll_events(json!({"janus":"keepalive"})).len(), 1);
        assert_eq!(
            poll_events(json!([{"janus":"webrtcup"}, {"janus":"media"}])).len(),
            2
        );
        assert!(poll_events(json!(null)).is_empty());
    }

    #[test]
    fn requests_carry_janus_transaction_and_fields() {
        let b = request_body("message", "t1", json!({"body": {"request": "start"}}));
        assert_eq!(b["janus"], "message");
        assert_eq!(b["transaction"], "t1");
        assert_eq!(b["body"]["request"], "start");
        let r = create_room_body(5, 11, false);
        assert_eq!(
            (r["room"].as_u64(), r["publishers"].as_u64()),
            (Some(5), Some(11))
        );
        assert_eq!(r["record"], false);
        assert_eq!(r["audiocodec"], "opus");
        let s = subscribe_body(5, &[7, 8]);
        assert_eq!(s["ptype"], "subscriber");
        assert_eq!(s["streams"], json!([{"feed": 7}, {"feed": 8}]));
    }

    #[test]
    fn only_unasked_notifications_are_dropped() {
        assert!(is_notification(
            &json!({"janus":"event","sender":1,"plugindata":{"data":{"publishers":[]}}})
        ));
        assert!(!is_notification(
            &json!({"janus":"event","transaction":"t"})
        ));
        assert!(!is_notification(&json!({"janus":"webrtcup","sender":1})));
    }

    #[test]
    fn attached_streams_map_mids_to_feeds() {
        let d = json!({"videoroom":"attached","streams":[
            {"type":"audio","mindex":0,"mid":"0","feed_id":11,"feed_mid":"0"},
            {"type":"audio","mindex":1,"mid":"1","feed_id":12,"feed_mid":"0"},
            {"type":"data","mindex":2,"mid":"2"}]});
        assert_eq!(
            feeds_by_mid(&d),
            vec![("0".to_string(), 11), ("1".to_string(), 12)]
        );
    }

    #[test]
    fn janus_active_makes_the_client_the_dtls_server() {
        let mut d = crate::sdp::Description {
            ufrag: Some("u".into()),
            pwd: Some("p".into()),
            fingerprints: vec![sluice_engine::crypto::dtls::DtlsFingerprint {
                algorithm: "sha-256".into(),
                value: "AA".into(),
            }],
            setup: Some("active".into()),
            candidate: Some("10.77.77.1:20000".parse().unwrap()),
            ..Default::default()
        };
        let o = offer_of(&d, 9).unwrap();
        assert!(o.dtls_server);
        assert_eq!((o.id.as_str(), o.ufrag.as_str()), ("9", "u"));
        d.setup = Some("actpass".into());
        assert!(!offer_of(&d, 9).unwrap().dtls_server);
        d.candidate = None;
        assert!(offer_of(&d, 9).is_err());
    }
}
