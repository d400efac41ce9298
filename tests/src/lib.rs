//! Helpers for the integration tests that start the real `sluice` binary on loopback.
//!
//! - [`Server`]: starts `sluice serve` on free ports (control API on `127.0.0.1:0`, read back from
//!   the log line that says where it listens), waits until `/v1/health` answers, and kills the
//!   process when dropped.
//! - [`Http`]: a minimal HTTP/1.1 client over `std::net::TcpStream` (one request per connection),
//!   enough for a JSON API; [`EventStream`]: a Server-Sent Events reader of `/v1/events`.
//! - RTP: [`rtp_packet`] builds packets, [`RtpView`] parses what receivers get, independently of
//!   the engine's own parser so that the tests check it rather than trust it.
//!
//! Waits are bounded (a packet that never arrives fails the test after [`WAIT`]) but no test
//! asserts how long anything took.

pub mod str0m_client;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use serde_json::{Value, json};

/// Upper bound of every wait for something that should happen (a packet, an event, a start-up).
pub const WAIT: Duration = Duration::from_secs(20);

/// The `sluice` binary: `$SLUICE_BIN`, else `target/<profile>/sluice` found from this test
/// executable's path (`target/<profile>/deps/<test>-<hash>`), whatever `CARGO_TARGET_DIR` is.
pub fn sluice_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    let deps = exe
        .parent()
        .expect("test executable in target/<profile>/deps");
    let bin = deps
        .parent()
        .expect("deps has a parent")
        .join(format!("sluice{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build --workspace --bins` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// A range of 40 UDP ports for `--rtc-ports`, distinct for every server this process starts and
/// below the kernel's ephemeral range (where port-0 binds land), with its first port free.
pub fn rtc_port_range() -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const SPAN: u16 = 40;
    const LO: u16 = 20_000;
    const SLOTS: u16 = (32_000 - LO) / SPAN;
    // Different test binaries run one after another, but start from a per-process offset anyway.
    let base = (std::process::id() % u32::from(SLOTS)) as u16;
    loop {
        let slot = (base + NEXT.fetch_add(1, Ordering::Relaxed)) % SLOTS;
        let lo = LO + slot * SPAN;
        if UdpSocket::bind(("127.0.0.1", lo)).is_ok() {
            return (lo, lo + SPAN - 1);
        }
    }
}

/// A TCP port that was free a moment ago (for tests that must name the port up front).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a TCP port")
        .port()
}

/// A UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind a UDP port")
        .port()
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Arguments after `serve`.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Pass `--http 127.0.0.1:0` (and read the port from the log).
    pub auto_http: bool,
    /// Pass `--media-port 0`.
    pub auto_media_port: bool,
    /// Pass `--rtc-ports` with a fresh range.
    pub auto_rtc_ports: bool,
    /// Token to send with every request of [`Server::http`].
    pub token: Option<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            args: vec!["--workers".into(), "2".into()],
            env: Vec::new(),
            auto_http: true,
            auto_media_port: true,
            auto_rtc_ports: true,
            token: None,
        }
    }
}

impl ServerOptions {
    /// Defaults plus `args`.
    pub fn with_args(args: &[&str]) -> Self {
        let mut o = Self::default();
        o.args.extend(args.iter().map(|s| s.to_string()));
        o
    }

    /// Adds an environment variable.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
}

/// The stderr lines of a server, collected by a reader thread.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Every line so far, ANSI colours removed.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// All lines joined.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits (bounded) for a line containing `needle` and returns it.
    pub fn wait_for(&self, needle: &str) -> Option<String> {
        wait_until(|| self.lines().into_iter().find(|l| l.contains(needle)))
    }
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Polls `f` until it returns `Some`, for at most [`WAIT`].
pub fn wait_until<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `sluice serve`, killed when dropped.
pub struct Server {
    child: Option<Child>,
    /// The control API address.
    pub addr: SocketAddr,
    /// Its stderr.
    pub log: Log,
    /// Token sent by [`Server::http`].
    pub token: Option<String>,
}

/// Why a server did not come up.
#[derive(Debug)]
pub struct StartError {
    /// Exit status, if it exited.
    pub status: Option<ExitStatus>,
    /// Its stderr.
    pub log: String,
}

/// Starts `sluice serve` with `args` and `env` as given, without waiting for anything.
pub fn spawn_raw(args: &[String], env: &[(String, String)]) -> (Child, Log) {
    let mut cmd = Command::new(sluice_bin());
    cmd.arg("serve").args(args);
    // A clean environment as far as Sluice is concerned: no SLUICE_* from the caller's shell.
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") && k != "SLUICE_BIN" {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1").env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the sluice binary");
    let log = Log::default();
    let stderr = child.stderr.take().expect("stderr is piped");
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            sink.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(strip_ansi(&line));
        }
    });
    (child, log)
}

/// Waits for `child` to exit (bounded); `None` if it is still running after [`WAIT`].
pub fn wait_exit(child: &mut Child) -> Option<ExitStatus> {
    wait_until(|| child.try_wait().ok().flatten())
}

/// The address in the log line `control API and demo page on http://ADDR`.
pub fn listen_addr_from_log(log: &Log) -> Option<SocketAddr> {
    let line = log.wait_for("control API and demo page on http://")?;
    let rest = line.split("http://").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

impl Server {
    /// Starts a server with the default options (two workers, free ports).
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server; panics with its log if it does not become healthy.
    pub fn start_with(o: ServerOptions) -> Self {
        match Self::try_start(o) {
            Ok(s) => s,
            Err(e) => panic!("sluice did not start ({:?}):\n{}", e.status, e.log),
        }
    }

    /// Starts a server and waits until `/v1/health` answers 200.
    pub fn try_start(o: ServerOptions) -> Result<Self, StartError> {
        let mut args = o.args.clone();
        if o.auto_http {
            args.extend(["--http".into(), "127.0.0.1:0".into()]);
        }
        if o.auto_media_port {
            args.extend(["--media-port".into(), "0".into()]);
        }
        if o.auto_rtc_ports {
            let (lo, hi) = rtc_port_range();
            args.extend(["--rtc-ports".into(), format!("{lo}-{hi}")]);
        }
        let (mut child, log) = spawn_raw(&args, &o.env);
        let addr = wait_until(|| {
            if child.try_wait().ok().flatten().is_some() {
                return Some(None);
            }
            log.lines()
                .iter()
                .any(|l| l.contains("control API and demo page on http://"))
                .then(|| listen_addr_from_log(&log))
        })
        .flatten();
        let fail = |mut child: Child, log: &Log| {
            let _ = child.kill();
            let status = child.wait().ok();
            // Let the reader thread take the last lines.
            std::thread::sleep(Duration::from_millis(50));
            StartError {
                status,
                log: log.text(),
            }
        };
        let Some(addr) = addr else {
            return Err(fail(child, &log));
        };
        let http = Http {
            addr,
            token: o.token.clone(),
        };
        let healthy = wait_until(|| {
            http.try_request("GET", "/v1/health", None)
                .ok()
                .filter(|r| r.status == 200)
        });
        if healthy.is_none() {
            return Err(fail(child, &log));
        }
        Ok(Self {
            child: Some(child),
            addr,
            log,
            token: o.token,
        })
    }

    /// A client of this server's API (with its token, if any).
    pub fn http(&self) -> Http {
        Http {
            addr: self.addr,
            token: self.token.clone(),
        }
    }

    /// A client without any token.
    pub fn http_anonymous(&self) -> Http {
        Http {
            addr: self.addr,
            token: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) and waits (bounded) for the exit status.
    pub fn stop_with(&mut self, signal: i32) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {} failed", child.id());
        let status = wait_exit(&mut child);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// SIGINT.
pub const SIGINT: i32 = 2;
/// SIGTERM.
pub const SIGTERM: i32 = 15;

// -------------------------------------------------------------------------------- HTTP

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status and the §4 error body: `{"error":{"code","message"}}` with that code,
    /// and a message containing `mentions`. Returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, mentions: &str) -> String {
        assert_eq!(self.status, status, "status of {:?}", self.body);
        let v = self.json();
        let obj = v.as_object().expect("error body is an object");
        assert_eq!(obj.len(), 1, "only `error` at top level: {v}");
        let e = &v["error"];
        assert_eq!(
            e.as_object().map(|o| o.len()),
            Some(2),
            "error has code and message only: {v}"
        );
        assert_eq!(e["code"], code, "error code in {v}");
        let msg = e["message"].as_str().expect("message is a string");
        assert!(
            msg.contains(mentions),
            "error message {msg:?} should mention {mentions:?}"
        );
        msg.to_string()
    }

    /// Asserts a 2xx status and returns the JSON body (`null` for an empty body).
    #[track_caller]
    pub fn ok(&self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "expected success, got {}: {}",
            self.status,
            self.body
        );
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// A minimal HTTP/1.1 client: one request per connection (`Connection: close`).
#[derive(Clone, Debug)]
pub struct Http {
    /// Server address.
    pub addr: SocketAddr,
    /// Bearer token to send.
    pub token: Option<String>,
}

impl Http {
    /// Sends a request; panics on I/O errors.
    #[track_caller]
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Sends a request with extra raw header lines.
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> std::io::Result<HttpResponse> {
        let mut s = TcpStream::connect(self.addr)?;
        s.set_read_timeout(Some(WAIT))?;
        s.set_write_timeout(Some(WAIT))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(t) = &self.token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method != "GET" {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        parse_response(&raw)
    }

    /// Sends a request; an I/O error is returned.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<HttpResponse> {
        self.request_with_headers(method, path, body, &[])
    }

    /// GET.
    #[track_caller]
    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, None)
    }

    /// POST a JSON value.
    #[track_caller]
    pub fn post(&self, path: &str, body: &Value) -> HttpResponse {
        self.request("POST", path, Some(&body.to_string()))
    }

    /// POST raw text.
    #[track_caller]
    pub fn post_raw(&self, path: &str, body: &str) -> HttpResponse {
        self.request("POST", path, Some(body))
    }

    /// DELETE.
    #[track_caller]
    pub fn delete(&self, path: &str) -> HttpResponse {
        self.request("DELETE", path, None)
    }
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn parse_response(raw: &[u8]) -> std::io::Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body)?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).map_err(|_| bad("body not UTF-8"))?,
    })
}

fn dechunk(mut b: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("chunk size line"))?;
        let size_text = std::str::from_utf8(&b[..eol]).map_err(|_| bad("chunk size"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad("chunk size"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err(bad("short chunk"));
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

// ------------------------------------------------------------------------- event stream

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The `event:` field.
    pub name: String,
    /// The `data:` field as JSON.
    pub data: Value,
}

/// A reader of `GET /v1/events`, subscribed once [`EventStream::open`] returns.
pub struct EventStream {
    rx: Receiver<SseEvent>,
    stream: TcpStream,
}

impl EventStream {
    /// Opens the stream and waits for the response headers (the subscription exists then).
    pub fn open(http: &Http) -> Self {
        let mut s = TcpStream::connect(http.addr).expect("connect for /v1/events");
        let mut req = format!(
            "GET /v1/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n",
            http.addr
        );
        if let Some(t) = &http.token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())
            .expect("send /v1/events request");
        s.set_read_timeout(Some(WAIT)).expect("set timeout");
        let mut reader = BufReader::new(s.try_clone().expect("clone stream"));
        let mut status = String::new();
        reader.read_line(&mut status).expect("status line");
        assert!(status.contains(" 200 "), "/v1/events answered {status:?}");
        let mut chunked = false;
        loop {
            let mut l = String::new();
            reader.read_line(&mut l).expect("header line");
            if l.trim().is_empty() {
                break;
            }
            if l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked") {
                chunked = true;
            }
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = reader.get_ref().set_read_timeout(None);
            let (mut name, mut data) = (String::new(), String::new());
            for line in reader.lines() {
                let Ok(line) = line else { break };
                // With chunked framing the size lines are interleaved; SSE lines never look like
                // bare hex numbers, so skip those.
                if chunked && !line.is_empty() && line.chars().all(|c| c.is_ascii_hexdigit()) {
                    continue;
                }
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                } else if line.is_empty() && !data.is_empty() {
                    let d = serde_json::from_str(&data).unwrap_or(Value::String(data.clone()));
                    if tx
                        .send(SseEvent {
                            name: std::mem::take(&mut name),
                            data: d,
                        })
                        .is_err()
                    {
                        break;
                    }
                    data.clear();
                }
            }
        });
        Self { rx, stream: s }
    }

    /// Waits (bounded) for an event matching `pred`, skipping others.
    pub fn wait_for(&self, pred: impl Fn(&SseEvent) -> bool) -> Option<SseEvent> {
        let end = Instant::now() + WAIT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(e) if pred(&e) => return Some(e),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Waits (bounded) until every `(name, key, value)` has been seen, in any order, as an event
    /// `name` whose data has `key` equal to `value`. Returns the ones not seen (empty on success).
    pub fn wait_all(&self, wanted: &[(&str, &str, &str)]) -> Vec<String> {
        let mut missing: Vec<(&str, &str, &str)> = wanted.to_vec();
        let end = Instant::now() + WAIT;
        while !missing.is_empty() {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(e) => missing.retain(|(n, k, v)| !(e.name == *n && e.data[*k] == *v)),
                Err(_) => break,
            }
        }
        missing
            .iter()
            .map(|(n, k, v)| format!("{n} with {k}={v}"))
            .collect()
    }

    /// Every event received so far, without waiting.
    pub fn drain(&self) -> Vec<SseEvent> {
        self.rx.try_iter().collect()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

// ----------------------------------------------------------------------------------- RTP

/// Builds an RTP packet (RFC 3550 §5.1), version 2, no CSRC, with an optional one-byte-header
/// extension block (RFC 8285 §4.2) of `(id, data)` elements.
pub fn rtp_packet(
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    marker: bool,
    extensions: &[(u8, &[u8])],
    payload: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len() + 32);
    let x = if extensions.is_empty() { 0 } else { 0x10 };
    p.push(0x80 | x);
    p.push((u8::from(marker) << 7) | (pt & 0x7f));
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    if !extensions.is_empty() {
        let mut body = Vec::new();
        for (id, data) in extensions {
            assert!((1..=14).contains(id) && (1..=16).contains(&data.len()));
            body.push((id << 4) | (data.len() as u8 - 1));
            body.extend_from_slice(data);
        }
        while body.len() % 4 != 0 {
            body.push(0);
        }
        p.extend_from_slice(&0xBEDEu16.to_be_bytes());
        p.extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
        p.extend_from_slice(&body);
    }
    p.extend_from_slice(payload);
    p
}

/// Whether a datagram is RTCP (RFC 5761 §4: version 2, packet type 192–223).
pub fn is_rtcp(b: &[u8]) -> bool {
    b.len() >= 8 && b[0] >> 6 == 2 && (192..=223).contains(&b[1])
}

/// A received RTP packet, parsed by the test's own code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpView {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// SSRC.
    pub ssrc: u32,
    /// One-byte-header extensions `(id, data)`.
    pub extensions: Vec<(u8, Vec<u8>)>,
    /// Payload (padding removed).
    pub payload: Vec<u8>,
}

impl RtpView {
    /// Parses an RTP packet; `None` if it is not one (RTCP included: RFC 5761 §4 tells them
    /// apart by the second byte, 192–223 for RTCP).
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 12 || b[0] >> 6 != 2 || is_rtcp(b) {
            return None;
        }
        let cc = usize::from(b[0] & 0x0f);
        let mut off = 12 + 4 * cc;
        let mut extensions = Vec::new();
        if b[0] & 0x10 != 0 {
            let profile = u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]);
            let words = usize::from(u16::from_be_bytes([*b.get(off + 2)?, *b.get(off + 3)?]));
            let body = b.get(off + 4..off + 4 + 4 * words)?;
            if profile == 0xBEDE {
                let mut i = 0;
                while i < body.len() {
                    let id = body[i] >> 4;
                    if id == 0 {
                        i += 1;
                        continue;
                    }
                    if id == 15 {
                        break;
                    }
                    let len = usize::from(body[i] & 0x0f) + 1;
                    extensions.push((id, body.get(i + 1..i + 1 + len)?.to_vec()));
                    i += 1 + len;
                }
            }
            off += 4 + 4 * words;
        }
        let mut end = b.len();
        if b[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*b.last()?))?;
        }
        Some(Self {
            marker: b[1] & 0x80 != 0,
            pt: b[1] & 0x7f,
            seq: u16::from_be_bytes([b[2], b[3]]),
            ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            extensions,
            payload: b.get(off..end)?.to_vec(),
        })
    }
}

/// A UDP endpoint on loopback for sending or receiving media.
pub struct Peer {
    /// The socket.
    pub sock: UdpSocket,
}

impl Default for Peer {
    fn default() -> Self {
        Self::new()
    }
}

impl Peer {
    /// Binds `127.0.0.1:0`.
    pub fn new() -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
        Self { sock }
    }

    /// The local address.
    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("local address")
    }

    /// Sends one datagram.
    pub fn send_to(&self, data: &[u8], to: SocketAddr) {
        self.sock.send_to(data, to).expect("send a datagram");
    }

    /// Receives one datagram that is not RTCP, waiting at most `wait`. Sluice sends its own
    /// RTCP (sender reports to consumers, receiver reports and key frame requests to
    /// producers) on the same ports; media tests skip it. [`Self::recv_any_within`] keeps it.
    pub fn recv_within(&self, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        let end = Instant::now() + wait;
        loop {
            let (b, from) = self.recv_any_within(end.saturating_duration_since(Instant::now()))?;
            if !is_rtcp(&b) {
                return Some((b, from));
            }
        }
    }

    /// Receives one datagram, RTCP included, waiting at most `wait`.
    pub fn recv_any_within(&self, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        self.sock
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .ok()?;
        let mut buf = [0u8; 2048];
        match self.sock.recv_from(&mut buf) {
            Ok((n, from)) => Some((buf[..n].to_vec(), from)),
            Err(_) => None,
        }
    }

    /// Receives one datagram that is not RTCP, waiting at most [`WAIT`].
    pub fn recv(&self) -> Option<(Vec<u8>, SocketAddr)> {
        self.recv_within(WAIT)
    }

    /// Receives RTP packets until one satisfies `last` (inclusive), bounded by [`WAIT`].
    pub fn recv_rtp_until(&self, last: impl Fn(&RtpView) -> bool) -> Vec<RtpView> {
        let end = Instant::now() + WAIT;
        let mut got = Vec::new();
        while let Some((b, _)) = self.recv_within(end.saturating_duration_since(Instant::now())) {
            let Some(p) = RtpView::parse(&b) else {
                continue;
            };
            let done = last(&p);
            got.push(p);
            if done {
                break;
            }
        }
        got
    }

    /// Whatever is already queued on the socket, without waiting.
    pub fn drain(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.sock.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.sock.recv_from(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        self.sock.set_nonblocking(false).expect("blocking");
        out
    }
}

// ---------------------------------------------------------------------- API shortcuts

/// Opus at 48 kHz stereo and VP8: the router codecs most tests use.
pub fn media_codecs() -> Value {
    json!([
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
        {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
    ])
}

/// Producer `rtpParameters` for Opus with payload type `pt` and `ssrc`.
pub fn opus_parameters(pt: u8, ssrc: u32) -> Value {
    json!({
        "codecs": [{
            "mimeType": "audio/opus", "payloadType": pt, "clockRate": 48000, "channels": 2,
            "parameters": {}, "rtcpFeedback": []
        }],
        "headerExtensions": [],
        "encodings": [{"ssrc": ssrc}],
        "rtcp": {"cname": "integration", "reducedSize": true, "mux": true}
    })
}

/// Consumer `rtpCapabilities` asking for Opus on payload type `pt`.
pub fn opus_capabilities(pt: u8) -> Value {
    json!({
        "codecs": [{
            "kind": "audio", "mimeType": "audio/opus", "preferredPayloadType": pt,
            "clockRate": 48000, "channels": 2, "parameters": {}, "rtcpFeedback": []
        }],
        "headerExtensions": []
    })
}

impl Http {
    /// Creates a router (optionally on a given worker); returns its JSON.
    #[track_caller]
    pub fn create_router(&self, worker: Option<usize>) -> Value {
        let mut body = json!({ "mediaCodecs": media_codecs() });
        if let Some(w) = worker {
            body["workerId"] = json!(w);
        }
        self.post("/v1/routers", &body).ok()
    }

    /// Creates a plain transport with `body`; returns its JSON.
    #[track_caller]
    pub fn create_plain_transport(&self, router: &str, body: &Value) -> Value {
        self.post(&format!("/v1/routers/{router}/plain-transports"), body)
            .ok()
    }

    /// Connects a plain transport to `remote`.
    #[track_caller]
    pub fn connect(&self, transport: &str, remote: SocketAddr) -> HttpResponse {
        self.post(
            &format!("/v1/transports/{transport}/connect"),
            &json!({ "ip": remote.ip().to_string(), "port": remote.port() }),
        )
    }

    /// Creates an Opus producer; returns its JSON.
    #[track_caller]
    pub fn produce_opus(&self, transport: &str, pt: u8, ssrc: u32) -> Value {
        self.post(
            &format!("/v1/transports/{transport}/producers"),
            &json!({ "kind": "audio", "rtpParameters": opus_parameters(pt, ssrc) }),
        )
        .ok()
    }

    /// Creates a consumer asking for Opus on `pt`; returns the raw answer.
    #[track_caller]
    pub fn consume_opus(&self, transport: &str, producer: &str, pt: u8) -> HttpResponse {
        self.post(
            &format!("/v1/transports/{transport}/consumers"),
            &json!({ "producerId": producer, "rtpCapabilities": opus_capabilities(pt) }),
        )
    }
}

/// The transport tuple's local address of a created plain transport.
pub fn local_addr_of(transport: &Value) -> SocketAddr {
    let ip = transport["tuple"]["localAddress"]
        .as_str()
        .expect("tuple.localAddress");
    let port = transport["tuple"]["localPort"]
        .as_u64()
        .expect("tuple.localPort");
    SocketAddr::new(ip.parse().expect("an IP"), port as u16)
}

/// `v[key]` as a string (panics with the document otherwise).
#[track_caller]
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}
