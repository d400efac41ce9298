//! Starting the release `sluice` binary and building the benchmark's topology through the v1
//! HTTP API (docs/API.md).
//!
//! Topology per producer p: a router of its own (so `--workers N` spreads producers over the
//! workers, the API placing each router on the worker with the fewest), a plain transport with
//! `comedia` for the producer (Sluice learns the sender's address from its first packet), and C
//! plain transports connected to the harness's receiving sockets, each with one consumer.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_engine::crypto::srtp::SrtpProfile;
use sluice_engine::io::IoKind;

use crate::cli::Codec;
use crate::error::BenchError;
use crate::load::producer_ssrc;
use crate::srtp::SdesKey;
use crate::target::{self, TargetProcess};

/// How long `sluice serve` may take to answer `/v1/health`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A blocking client of one Sluice's control API (or the mediasoup peer's same API).
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::blocking::Client,
}

impl Api {
    pub fn new(http_port: u16) -> Result<Self, BenchError> {
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BenchError::Target(format!("HTTP client: {e}")))?;
        Ok(Self {
            base: format!("http://127.0.0.1:{http_port}"),
            http,
        })
    }

    fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, BenchError> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let err = |message: String| BenchError::Api {
            method,
            path: path.to_string(),
            message,
        };
        let resp = req.send().map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        let text = resp.text().map_err(|e| err(e.to_string()))?;
        if !status.is_success() {
            return Err(err(format!("{status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| err(format!("bad JSON ({e}): {text}")))
    }

    pub fn get(&self, path: &str) -> Result<Value, BenchError> {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> Result<Value, BenchError> {
        self.call("POST", path, Some(body))
    }
}

/// A running Sluice and its API client.
pub struct Sluice {
    pub process: TargetProcess,
    pub api: Api,
}

/// Which backend `--io` asks for.
pub fn io_flag(io: IoKind) -> &'static str {
    match io {
        IoKind::Auto => "auto",
        IoKind::Uring => "uring",
        IoKind::Mmsg => "mmsg",
    }
}

/// Starts `bin serve` on free loopback ports and waits until its API answers.
pub fn start(
    bin: &Path,
    io: IoKind,
    workers: usize,
    transports: usize,
    wrapper: Option<&str>,
) -> Result<Sluice, BenchError> {
    let http_port = target::free_tcp_port()?;
    let media_port = target::free_udp_port()?;
    let (lo, hi) = target::free_udp_range((transports + 8) as u16)?;
    let name = format!("sluice-{}", io_flag(io));
    let (log, log_file) = target::log_file(&name)?;
    let child = target::command(wrapper, bin)
        .args(["serve", "--http"])
        .arg(format!("127.0.0.1:{http_port}"))
        .args(["--media-ip", "127.0.0.1", "--media-port"])
        .arg(media_port.to_string())
        .arg("--rtc-ports")
        .arg(format!("{lo}-{hi}"))
        .arg("--workers")
        .arg(workers.to_string())
        .args(["--io", io_flag(io)])
        .env_remove("SLUICE_CONFIG")
        .env_remove("SLUICE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| BenchError::io(format!("start {}", bin.display()), e))?;
    let mut process = TargetProcess {
        name,
        child,
        log,
        dests: Vec::new(),
        drops: None,
    };
    let api = Api::new(http_port)?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        process.check_alive()?;
        match api.get("/v1/health") {
            Ok(h) if h["status"] == "ok" => break,
            _ if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            other => {
                return Err(BenchError::Target(format!(
                    "sluice did not become healthy: {other:?}; see {}",
                    process.log.display()
                )));
            }
        }
    }
    Ok(Sluice { process, api })
}

/// The codec capability offered in `mediaCodecs`, and the produced codec's kind.
fn codec_capability(codec: Codec) -> (Value, &'static str) {
    match codec {
        Codec::Opus => (
            json!({"kind":"audio","mimeType":"audio/opus","clockRate":48000,"channels":2}),
            "audio",
        ),
        Codec::Vp8 => (
            json!({"kind":"video","mimeType":"video/VP8","clockRate":90000}),
            "video",
        ),
    }
}

/// Clock rate of the codec (for the RTP timestamps the sender writes).
pub fn clock_rate(codec: Codec) -> u32 {
    match codec {
        Codec::Opus => 48_000,
        Codec::Vp8 => 90_000,
    }
}

/// The SRTP keys of a topology built with `--srtp`.
#[derive(Clone, Debug)]
pub struct SrtpKeys {
    /// What each producer's packets are protected with (given to Sluice in `connect`).
    pub producers: Vec<SdesKey>,
    /// What Sluice answered for each consumer's transport, `p × C + c`.
    pub consumers: Vec<SdesKey>,
}

/// A built topology: the payload type to send, and the keys when SRTP is on.
pub struct Topology {
    pub payload_type: u8,
    pub srtp: Option<SrtpKeys>,
}

/// Builds the topology (with SDES-SRTP on every transport when `srtp` names a profile) and
/// records each producer's destination address in the process.
pub fn build_topology(
    sluice: &mut Sluice,
    codec: Codec,
    receivers: &[SocketAddr],
    consumers: usize,
    srtp: Option<SrtpProfile>,
) -> Result<Topology, BenchError> {
    let transport_body = |comedia: bool| {
        let mut b = json!({"comedia": comedia, "rtcpMux": true});
        if let Some(p) = srtp {
            b["enableSrtp"] = true.into();
            b["srtpCryptoSuite"] = p.name().into();
        }
        b
    };
    let mut keys = srtp.map(|_| SrtpKeys {
        producers: Vec::new(),
        consumers: Vec::new(),
    });
    let (cap, kind) = codec_capability(codec);
    let mime = cap["mimeType"].clone();
    let producers = receivers.len() / consumers.max(1);
    let mut payload_type = None;
    let mut dests = Vec::with_capacity(producers);
    for p in 0..producers {
        let router = sluice
            .api
            .post("/v1/routers", json!({"mediaCodecs": [cap.clone()]}))?;
        let rid = str_field(&router, "id")?;
        let caps = router["rtpCapabilities"].clone();
        let pt = caps["codecs"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["mimeType"] == mime))
            .and_then(|c| c["preferredPayloadType"].as_u64())
            .ok_or_else(|| BenchError::Target(format!("router offers no {mime}: {caps}")))?;
        let pt = u8::try_from(pt).map_err(|_| BenchError::Target(format!("payload type {pt}")))?;
        payload_type = Some(pt);

        let t = sluice.api.post(
            &format!("/v1/routers/{rid}/plain-transports"),
            transport_body(true),
        )?;
        let tid = str_field(&t, "id")?;
        if let (Some(profile), Some(keys)) = (srtp, keys.as_mut()) {
            // Comedia: the remote's key alone, its address comes with its first packet.
            let ours = SdesKey::harness(profile, p);
            sluice.api.post(
                &format!("/v1/transports/{tid}/connect"),
                json!({"srtpParameters": ours.to_json()}),
            )?;
            keys.producers.push(ours);
        }
        let port = t["tuple"]["localPort"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| BenchError::Target(format!("no tuple.localPort in {t}")))?;
        dests.push(SocketAddr::from(([127, 0, 0, 1], port)));
        let mut codec_params = json!({"mimeType": mime, "payloadType": pt,
            "clockRate": cap["clockRate"]});
        if let Some(ch) = cap.get("channels") {
            codec_params["channels"] = ch.clone();
        }
        let producer = sluice.api.post(
            &format!("/v1/transports/{tid}/producers"),
            json!({"kind": kind, "rtpParameters": {
                "codecs": [codec_params],
                "encodings": [{"ssrc": producer_ssrc(p)}],
                "rtcp": {"cname": format!("bench-{p}")}}}),
        )?;
        let producer_id = str_field(&producer, "id")?;

        for (c, r) in receivers[p * consumers..(p + 1) * consumers]
            .iter()
            .enumerate()
        {
            let t = sluice.api.post(
                &format!("/v1/routers/{rid}/plain-transports"),
                transport_body(false),
            )?;
            let tid = str_field(&t, "id")?;
            let mut connect = json!({"ip": r.ip().to_string(), "port": r.port()});
            if let (Some(profile), Some(keys)) = (srtp, keys.as_mut()) {
                keys.consumers
                    .push(SdesKey::from_answer(&t["srtpParameters"], profile)?);
                // Sluice sends nothing until it has our key, though we never send here.
                let stream = p * consumers + c;
                connect["srtpParameters"] = SdesKey::harness(profile, (1 << 20) + stream).to_json();
            }
            sluice
                .api
                .post(&format!("/v1/transports/{tid}/connect"), connect)?;
            let c = sluice.api.post(
                &format!("/v1/transports/{tid}/consumers"),
                json!({"producerId": producer_id, "rtpCapabilities": caps}),
            )?;
            if c["paused"] == true || c["producerPaused"] == true {
                return Err(BenchError::Target(format!("consumer starts paused: {c}")));
            }
        }
    }
    sluice.process.dests = dests;
    let payload_type = payload_type.ok_or_else(|| BenchError::Args("no producers".into()))?;
    Ok(Topology {
        payload_type,
        srtp: keys,
    })
}

fn str_field(v: &Value, key: &str) -> Result<String, BenchError> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BenchError::Target(format!("no \"{key}\" in {v}")))
}

/// Sluice's own counters, summed over workers: packets out and drops by reason.
pub fn worker_totals(api: &Api) -> Result<Value, BenchError> {
    let workers = api.get("/v1/workers")?;
    let mut packets_in = 0;
    let mut packets_out = 0;
    let mut drops = serde_json::Map::new();
    for w in workers.as_array().into_iter().flatten() {
        let st = &w["stats"];
        packets_in += st["packetsIn"].as_u64().unwrap_or(0);
        packets_out += st["packetsOut"].as_u64().unwrap_or(0);
        if let Some(d) = st["drops"].as_object() {
            for (k, v) in d {
                let n = drops.get(k).and_then(Value::as_u64).unwrap_or(0) + v.as_u64().unwrap_or(0);
                drops.insert(k.clone(), n.into());
            }
        }
    }
    Ok(json!({"packetsIn": packets_in, "packetsOut": packets_out, "drops": drops}))
}
