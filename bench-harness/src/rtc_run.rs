//! One WebRTC scenario run (`audio-match`, `video-room`, `join-storm`): for each repetition,
//! each target in turn under the same load, measured the same way.
//!
//! Per target: start it, read its processes' resident memory, build the topology through the
//! v1 API (routers, a WebRTC transport per client, `connect` with the client's fingerprint,
//! producers, consumers), start the load thread (ICE, DTLS, then media), let the warm-up pass,
//! then measure the window: CPU of every SFU process from `/proc` (`cpu.rs`), the load thread's
//! own CPU, and what every receiver got. A join storm opens a second window in which K more
//! clients join at once.
//!
//! Janus has no v1 API: per group a videoroom room, per producer a publisher PeerConnection
//! whose SDP offer the harness writes, and — only once every publisher's PeerConnection is up
//! (`webrtcup`; Janus refuses subscriptions to a feed before that) — per receiving client one
//! subscriber PeerConnection for all the feeds it consumes (Janus 1.x multistream), answering
//! Janus's offer; those subscriber clients join the running load thread through its channel.
//! See `janus.rs`, `sdp.rs` and docs/PEERS.md.
//!
//! The load generator's saturation (its thread above
//! [`MAX_HARNESS_UTIL`] % of a core, or pacing late by more than [`rtc_load::MAX_LAG`]) stops
//! the run: the figures would then describe the generator, not the SFU.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use sluice_engine::crypto::dtls::{DtlsCertificate, DtlsFingerprint, DtlsParameters, DtlsRole};
use sluice_engine::io::socket;

use crate::cli::{AudioMatchArgs, JoinStormArgs, RtcArgs, TargetKind, VideoRoomArgs};
use crate::cpu::{self, CpuDelta, ProcSnapshot};
use crate::error::BenchError;
use crate::kdrops::{DropSnapshot, KernelDrops};
use crate::report::{LatencySummary, Spread, loss_pct, per_packet, util_pct};
use crate::rtc_client::{Offer, Phase, local_ufrag};
use crate::rtc_load::{
    self, ClientSpec, Consume, Media, MediaPlan, PHASE_DRAIN, PHASE_STORM, PHASE_WINDOW, Produce,
    RtcControl, RtcReport,
};
use crate::sdp::{self, Local, Track};
use crate::sluice::{self, Api, io_flag};
use crate::target::TargetProcess;
use crate::{floor, janus, mediasoup};

/// Load thread CPU above which its figures are refused.
pub const MAX_HARNESS_UTIL: f64 = 90.0;

/// The scenario's shape: groups (a router each) of producing and consuming clients.
#[derive(Clone, Debug, Serialize)]
pub struct Shape {
    pub scenario: &'static str,
    /// Per group: clients that produce (and consume the other producers when `mesh`).
    pub producers_per_group: usize,
    /// Per group: clients that only consume every producer of the group.
    pub listeners_per_group: usize,
    pub groups: usize,
    /// Producers also consume every other producer of their group (audio-match).
    pub mesh: bool,
    pub media: &'static str,
    /// Joiners (join-storm only).
    pub joiners: usize,
}

impl Shape {
    pub fn audio_match(a: &AudioMatchArgs) -> Self {
        Self {
            scenario: "audio-match",
            producers_per_group: a.players,
            listeners_per_group: 0,
            groups: a.matches,
            mesh: true,
            media: "audio",
            joiners: 0,
        }
    }
    pub fn video_room(a: &VideoRoomArgs) -> Self {
        Self {
            scenario: "video-room",
            producers_per_group: a.publishers,
            listeners_per_group: a.subscribers,
            groups: a.rooms,
            mesh: false,
            media: "video",
            joiners: 0,
        }
    }
    pub fn join_storm(a: &JoinStormArgs) -> Self {
        Self {
            joiners: a.joiners,
            scenario: "join-storm",
            ..Self::audio_match(&AudioMatchArgs {
                players: a.players,
                matches: a.matches,
                rtc: a.rtc.clone(),
            })
        }
    }
    pub fn producers(&self) -> usize {
        self.producers_per_group * self.groups
    }
    pub fn clients(&self) -> usize {
        (self.producers_per_group + self.listeners_per_group) * self.groups
    }
    /// Consumers of the running topology (joiners not counted).
    pub fn consumers(&self) -> usize {
        let p = self.producers_per_group;
        let mesh = if self.mesh {
            p * p.saturating_sub(1)
        } else {
            0
        };
        (mesh + self.listeners_per_group * p) * self.groups
    }
}

/// One target's figures in one repetition.
#[derive(Clone, Debug, Serialize)]
pub struct RtcMeasurement {
    pub target: String,
    /// The generator was late without being busy: the machine's other work took its core.
    pub disturbed: bool,
    pub repeat: usize,
    pub pids: Vec<u32>,
    pub clients: usize,
    pub producers: usize,
    pub consumers: usize,
    pub window_s: f64,
    pub loadavg: String,
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub loss_pct: f64,
    /// The worst consumer's loss, and how many consumers got nothing in the window.
    pub worst_consumer_loss_pct: f64,
    pub silent_consumers: usize,
    pub forwarded_pps: f64,
    pub latency: LatencySummary,
    pub cpu_ns_per_pkt: Option<f64>,
    pub stat_ns_per_pkt: Option<f64>,
    pub core_util_pct: f64,
    pub cpu: CpuDelta,
    pub peak_rss_kib: u64,
    /// Resident memory the topology added (after the run minus before building), per consumer.
    pub rss_per_consumer_kib: Option<f64>,
    pub harness_util_pct: f64,
    /// Share of the window the SFU's threads (summed) and the load thread were runnable but
    /// waited for a CPU: the shared machine's other work, not load, held them back.
    pub sfu_wait_pct: f64,
    pub harness_wait_pct: f64,
    pub harness_ns_per_pkt: Option<f64>,
    pub harness_max_lag_ms: f64,
    /// Packets the generator sent later than `rtc_load::MAX_LAG`, % of the window's.
    pub harness_late_pct: f64,
    pub failed_clients: usize,
    pub unconnected_clients: usize,
    /// Running clients whose DTLS handshake ended only after the window opened (the warm-up
    /// was too short for them): their consumers miss the window's first packets.
    pub connected_late: usize,
    /// Fewest verified Binding responses (first check + consent checks) of any client.
    pub min_checks_answered: u64,
    pub rr_sent: u64,
    pub rtcp_in: u64,
    pub bad_in: u64,
    pub foreign: u64,
    pub misrouted: u64,
    pub tx_errors: u64,
    /// UDP drops in the kernel's socket queues, window start to drain end, and the loss they
    /// explain (`kdrops.rs`).
    pub kernel: KernelDrops,
    /// The SFU's own counters after the run (`GET /v1/workers` summed: packets in and out,
    /// drops by reason), where "lost elsewhere" shows up. Over the whole run, warm-up included.
    pub sfu_counters: Option<Value>,
    pub storm: Option<StormFigures>,
}

/// What a join storm adds.
#[derive(Clone, Debug, Serialize)]
pub struct StormFigures {
    pub joiners: usize,
    pub window_s: f64,
    /// Latency of the running flows during the storm (compare `latency`, before it).
    pub latency: LatencySummary,
    /// Time from a joiner's first API call to its first media packet, ms.
    pub ttfm_ms: Option<Spread>,
    pub ttfm_p99_ms: Option<f64>,
    /// Time from a joiner's first API call to its DTLS handshake's end, ms.
    pub connect_ms: Option<Spread>,
    pub joiners_without_media: usize,
    pub cpu_ns: u64,
    pub core_util_pct: f64,
    pub api_errors: Vec<String>,
}

/// Ratios of the other targets to Sluice within one repetition (> 1: Sluice is better).
#[derive(Clone, Debug, Serialize)]
pub struct RtcRatios {
    pub repeat: usize,
    pub target: String,
    /// Their CPU per forwarded packet over Sluice's.
    pub cpu_per_pkt: Option<f64>,
    pub p99: Option<f64>,
    pub rss_per_consumer: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct RtcReportOut {
    pub scenario: &'static str,
    pub shape: Shape,
    pub config: Value,
    pub machine: Value,
    pub measurements: Vec<RtcMeasurement>,
    pub ratios: Vec<RtcRatios>,
    pub ratio_spread: Value,
}

/// How the harness builds a target's topology.
enum Control {
    /// The v1 API (Sluice, the mediasoup peer).
    V1(Api),
    /// Janus's HTTP API and the address it announces (`janus.rs`).
    Janus { http: janus::Http, media_ip: IpAddr },
}

/// A started target: its process (stopped on drop), API, and the pids to account.
struct Running {
    process: TargetProcess,
    control: Control,
    pids: Vec<u32>,
}

fn start_target(kind: TargetKind, a: &RtcArgs, clients: usize) -> Result<Running, BenchError> {
    match kind {
        TargetKind::Sluice => {
            let bin = match &a.sluice_bin {
                Some(p) => p.clone(),
                None => floor::default_sluice_bin().ok_or_else(|| {
                    BenchError::Args("cannot locate sluice; pass --sluice-bin".into())
                })?,
            };
            if !bin.is_file() {
                return Err(BenchError::Args(format!("{} not found", bin.display())));
            }
            let s = sluice::start(&bin, a.io.kind(), a.workers, 8, None)?;
            let pid = s.process.pid();
            Ok(Running {
                process: s.process,
                control: Control::V1(s.api),
                pids: vec![pid],
            })
        }
        TargetKind::Mediasoup => {
            let dir = a
                .mediasoup_dir
                .clone()
                .unwrap_or_else(mediasoup::default_dir);
            let m = mediasoup::start(&dir, a.workers, (clients + 16) as u16)?;
            Ok(Running {
                process: m.process,
                control: Control::V1(m.api),
                pids: m.pids,
            })
        }
        TargetKind::Janus => {
            let dir = a.janus_dir.clone().unwrap_or_else(janus::default_dir);
            let j = janus::start(&dir, (clients * 2 + 16) as u16)?;
            let pid = j.process.pid();
            Ok(Running {
                process: j.process,
                control: Control::Janus {
                    http: j.http,
                    media_ip: j.media_ip,
                },
                pids: vec![pid],
            })
        }
    }
}

/// `VmHWM` and `VmRSS` of `/proc/<pid>/status`, KiB.
pub fn parse_status_mem(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_ascii_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mem(pids: &[u32]) -> (u64, u64) {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .map(|t| parse_status_mem(&t))
        .fold((0, 0), |(h, r), (h1, r1)| (h + h1, r + r1))
}

fn snapshots(pids: &[u32]) -> Result<Vec<ProcSnapshot>, BenchError> {
    pids.iter().map(|&p| ProcSnapshot::read(p)).collect()
}

fn delta(a: &[ProcSnapshot], b: &[ProcSnapshot]) -> CpuDelta {
    let mut total = CpuDelta::default();
    for (x, y) in a.iter().zip(b) {
        let d = CpuDelta::between(x, y);
        total.sched_ns += d.sched_ns;
        total.slices += d.slices;
        total.wait_ns += d.wait_ns;
        total.stat_ns += d.stat_ns;
        total.user_ns += d.user_ns;
        total.sys_ns += d.sys_ns;
        total.tasks_exited += d.tasks_exited;
        total.tasks_born += d.tasks_born;
        total.by_thread.extend(d.by_thread);
    }
    total.by_thread.sort_by_key(|t| std::cmp::Reverse(t.1));
    total.by_thread.truncate(8);
    total
}

fn str_field(v: &Value, key: &str) -> Result<String, BenchError> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BenchError::Target(format!("no \"{key}\" in {v}")))
}

/// A router's codec and payload type for `media`.
struct Group {
    router: String,
    caps: Value,
    payload_type: u8,
}

fn router(api: &Api, media: &str) -> Result<Group, BenchError> {
    let cap = if media == "video" {
        json!({"kind":"video","mimeType":"video/VP8","clockRate":90000})
    } else {
        json!({"kind":"audio","mimeType":"audio/opus","clockRate":48000,"channels":2})
    };
    let r = api.post("/v1/routers", json!({"mediaCodecs": [cap.clone()]}))?;
    let caps = r["rtpCapabilities"].clone();
    let pt = caps["codecs"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["mimeType"] == cap["mimeType"]))
        .and_then(|c| c["preferredPayloadType"].as_u64())
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(|| BenchError::Target(format!("router offers no codec: {caps}")))?;
    Ok(Group {
        router: str_field(&r, "id")?,
        caps,
        payload_type: pt,
    })
}

/// A client's socket and connected transport.
fn transport(
    api: &Api,
    group: &Group,
    dtls: &DtlsParameters,
) -> Result<(UdpSocket, Offer), BenchError> {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let sock = socket::bind_udp(lo, false).map_err(|e| BenchError::io("bind", e))?;
    let t = api.post(
        &format!("/v1/routers/{}/webrtc-transports", group.router),
        json!({"enableUdp": true, "enableTcp": false}),
    )?;
    let offer = Offer::from_json(&t)
        .ok_or_else(|| BenchError::Target(format!("unusable WebRTC transport answer: {t}")))?;
    api.post(
        &format!("/v1/transports/{}/connect", offer.id),
        json!({ "dtlsParameters": dtls }),
    )?;
    Ok((sock, offer))
}

fn produce(
    api: &Api,
    tid: &str,
    media: &str,
    pt: u8,
    ssrc: u32,
    index: usize,
) -> Result<String, BenchError> {
    let codec = if media == "video" {
        json!({"mimeType":"video/VP8","payloadType":pt,"clockRate":90000})
    } else {
        json!({"mimeType":"audio/opus","payloadType":pt,"clockRate":48000,"channels":2})
    };
    let p = api.post(
        &format!("/v1/transports/{tid}/producers"),
        json!({"kind": media, "rtpParameters": {
            "codecs": [codec], "encodings": [{"ssrc": ssrc}],
            "rtcp": {"cname": format!("bench-{index}"), "reducedSize": true}}}),
    )?;
    str_field(&p, "id")
}

fn consume(api: &Api, tid: &str, producer_id: &str, caps: &Value) -> Result<u32, BenchError> {
    let c = api.post(
        &format!("/v1/transports/{tid}/consumers"),
        json!({"producerId": producer_id, "rtpCapabilities": caps}),
    )?;
    if c["paused"] == true || c["producerPaused"] == true {
        return Err(BenchError::Target(format!("consumer starts paused: {c}")));
    }
    c["rtpParameters"]["encodings"][0]["ssrc"]
        .as_u64()
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| BenchError::Target(format!("consumer without ssrc: {c}")))
}

/// SSRC of producer `p`.
fn ssrc_of(p: usize) -> u32 {
    0x5300_0000 + p as u32
}

/// The running topology, and per group what a joiner needs.
struct Built {
    clients: Vec<ClientSpec>,
    groups: Vec<(Group, Vec<(u16, String)>)>,
}

fn build(api: &Api, shape: &Shape, dtls: &DtlsParameters) -> Result<Built, BenchError> {
    let media = if shape.media == "video" {
        Media::Video
    } else {
        Media::Audio
    };
    let mut clients = Vec::new();
    let mut groups = Vec::new();
    for g in 0..shape.groups {
        let group = router(api, shape.media)?;
        let mut members = Vec::new();
        for _ in 0..shape.producers_per_group + shape.listeners_per_group {
            let (sock, offer) = transport(api, &group, dtls)?;
            members.push((sock, offer));
        }
        let mut producer_ids = Vec::new();
        for (k, (_, offer)) in members.iter().take(shape.producers_per_group).enumerate() {
            let index = g * shape.producers_per_group + k;
            let id = produce(
                api,
                &offer.id,
                shape.media,
                group.payload_type,
                ssrc_of(index),
                index,
            )?;
            producer_ids.push((index as u16, id));
        }
        for (k, (sock, offer)) in members.into_iter().enumerate() {
            let is_producer = k < shape.producers_per_group;
            let mut consumes = Vec::new();
            for (pi, (index, pid)) in producer_ids.iter().enumerate() {
                if is_producer && (!shape.mesh || pi == k) {
                    continue;
                }
                let ssrc = consume(api, &offer.id, pid, &group.caps)?;
                consumes.push(Consume {
                    ssrc,
                    producer: *index,
                });
            }
            let produce = is_producer.then(|| Produce {
                index: producer_ids[k].0,
                ssrc: ssrc_of(usize::from(producer_ids[k].0)),
                payload_type: group.payload_type,
                media,
            });
            clients.push(ClientSpec {
                index: clients.len(),
                sock,
                offer,
                produce,
                consumes,
                joiner: false,
            });
        }
        groups.push((group, producer_ids));
    }
    Ok(Built { clients, groups })
}

/// Runs one joiner: transport, connect, consume the group's producers; hands it to the loop.
fn join(
    api: &Api,
    dtls: &DtlsParameters,
    group: &(Group, Vec<(u16, String)>),
    index: usize,
    tx: &mpsc::Sender<ClientSpec>,
) -> Result<Instant, BenchError> {
    let start = Instant::now();
    let (sock, offer) = transport(api, &group.0, dtls)?;
    let mut consumes = Vec::new();
    for (p, pid) in &group.1 {
        let ssrc = consume(api, &offer.id, pid, &group.0.caps)?;
        consumes.push(Consume { ssrc, producer: *p });
    }
    tx.send(ClientSpec {
        index,
        sock,
        offer,
        produce: None,
        consumes,
        joiner: true,
    })
    .map_err(|_| BenchError::Target("load thread gone".into()))?;
    Ok(start)
}

/// Index of the subscriber PeerConnection of the client numbered `client` (Janus: a player has
/// a publisher PC and a subscriber PC, two ICE agents with ufrags of their own).
const JANUS_SUBSCRIBER_BASE: usize = 1_000_000;
/// Payload types of the publishers' offers (Janus answers with the same).
const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;

/// What every Janus PeerConnection of a run shares.
#[derive(Clone)]
struct JanusCtx {
    http: janus::Http,
    media_ip: IpAddr,
    fingerprint: DtlsFingerprint,
    media: Media,
}

/// A room and its publishers: (producer index, Janus feed id).
#[derive(Clone, Debug)]
struct JanusRoom {
    room: u64,
    feeds: Vec<(u16, u64)>,
}

/// A client socket on Janus's media address, and our side of its SDP.
fn janus_socket(jc: &JanusCtx, index: usize) -> Result<(UdpSocket, Local), BenchError> {
    let sock = socket::bind_udp(janus::client_addr(jc.media_ip), false)
        .map_err(|e| BenchError::io(format!("bind {}", jc.media_ip), e))?;
    let candidate = sock
        .local_addr()
        .map_err(|e| BenchError::io("local address", e))?;
    let local = Local {
        ufrag: local_ufrag(index),
        pwd: crate::rtc_client::local_password(index),
        fingerprint: jc.fingerprint.clone(),
        candidate,
        session_id: index as u64 + 1,
    };
    Ok((sock, local))
}

/// The publishers' clients, their handles (whose `webrtcup` comes before any subscriber), and
/// the rooms.
type JanusPublished = (Vec<ClientSpec>, Vec<u64>, Vec<JanusRoom>);

/// Rooms and publishers: per group a room, per producer a handle that joins as publisher and
/// publishes our offer. Subscribers come later ([`janus_subscriber`]): Janus offers a feed only
/// once its publisher's PeerConnection is up. Returns the publishers' clients and handles.
fn janus_publishers(
    s: &mut janus::Session,
    jc: &JanusCtx,
    shape: &Shape,
) -> Result<JanusPublished, BenchError> {
    let (video, pt) = match jc.media {
        Media::Video => (true, VP8_PT),
        Media::Audio => (false, OPUS_PT),
    };
    let per_group = shape.producers_per_group + shape.listeners_per_group;
    let mut clients = Vec::new();
    let mut handles = Vec::new();
    let mut rooms = Vec::new();
    let admin = s.attach()?;
    for g in 0..shape.groups {
        let room = (u64::from(std::process::id()) << 20) + (g as u64) + 1;
        s.message_sync(
            admin,
            janus::create_room_body(room, shape.producers_per_group + 1, video),
        )?;
        let mut feeds = Vec::new();
        for k in 0..shape.producers_per_group {
            let index = g * shape.producers_per_group + k;
            let client = g * per_group + k;
            let (sock, local) = janus_socket(jc, client)?;
            let handle = s.attach()?;
            let ev = s.message_async(
                handle,
                json!({"request": "join", "ptype": "publisher", "room": room,
                       "display": format!("bench-{index}")}),
                None,
            )?;
            let feed = ev["plugindata"]["data"]["id"]
                .as_u64()
                .ok_or_else(|| BenchError::Target(format!("join without a feed id: {ev}")))?;
            let ssrc = ssrc_of(index);
            let offer = sdp::publisher_offer(
                &local,
                Track {
                    video,
                    payload_type: pt,
                    ssrc,
                },
            );
            let ev = s.message_async(
                handle,
                json!({"request": "publish"}),
                Some(json!({"type": "offer", "sdp": offer})),
            )?;
            let answer = janus::jsep_sdp(&ev, "answer")?;
            let answered_pt = answer
                .sections
                .first()
                .and_then(|m| m.payload_types.first().copied())
                .filter(|_| answer.sections.first().is_some_and(|m| m.port != 0))
                .ok_or_else(|| BenchError::Target(format!("Janus rejected the track: {ev}")))?;
            clients.push(ClientSpec {
                index: client,
                sock,
                offer: janus::offer_of(&answer, handle)?,
                produce: Some(Produce {
                    index: index as u16,
                    ssrc,
                    payload_type: answered_pt,
                    media: jc.media,
                }),
                consumes: Vec::new(),
                joiner: false,
            });
            handles.push(handle);
            feeds.push((index as u16, feed));
        }
        rooms.push(JanusRoom { room, feeds });
    }
    Ok((clients, handles, rooms))
}

/// One subscriber PeerConnection for every stream of `feeds` (Janus 1.x multistream): join,
/// read Janus's offer and which feed each mid carries, answer, `start`.
fn janus_subscriber(
    s: &mut janus::Session,
    jc: &JanusCtx,
    room: u64,
    feeds: &[(u16, u64)],
    index: usize,
    joiner: bool,
) -> Result<ClientSpec, BenchError> {
    let (sock, local) = janus_socket(jc, index)?;
    let handle = s.attach()?;
    let ids: Vec<u64> = feeds.iter().map(|f| f.1).collect();
    let ev = s.message_async(handle, janus::subscribe_body(room, &ids), None)?;
    let offer = janus::jsep_sdp(&ev, "offer")?;
    let by_mid = janus::feeds_by_mid(&ev["plugindata"]["data"]);
    let consumes = janus_consumes(&offer, &by_mid, feeds);
    if consumes.len() != feeds.len() {
        return Err(BenchError::Target(format!(
            "Janus offered {} of {} streams to subscriber {index}: {ev}",
            consumes.len(),
            feeds.len()
        )));
    }
    let answer = sdp::subscriber_answer(&local, &offer);
    s.message_async(
        handle,
        json!({"request": "start"}),
        Some(json!({"type": "answer", "sdp": answer})),
    )?;
    Ok(ClientSpec {
        index,
        sock,
        offer: janus::offer_of(&offer, handle)?,
        produce: None,
        consumes,
        joiner,
    })
}

/// The consumers of a subscriber PC: each live m-section's SSRC (Janus's, from its offer),
/// and the producer whose feed its mid carries (the `attached` event's `streams`).
fn janus_consumes(
    offer: &sdp::Description,
    by_mid: &[(String, u64)],
    feeds: &[(u16, u64)],
) -> Vec<Consume> {
    let mut consumes = Vec::new();
    for sec in offer.sections.iter().filter(|m| m.port != 0) {
        let feed = sec
            .mid
            .as_deref()
            .and_then(|mid| by_mid.iter().find(|(m, _)| m == mid))
            .map(|(_, f)| *f);
        let producer = feed.and_then(|f| feeds.iter().find(|(_, id)| *id == f).map(|p| p.0));
        if let (Some(producer), Some(ssrc)) = (producer, sec.ssrc) {
            consumes.push(Consume { ssrc, producer });
        }
    }
    consumes
}

/// Every consumer of the running topology, once the publishers are up: in a mesh each player's
/// subscriber PC takes the other players' feeds, else each listener takes them all.
fn janus_subscribers(
    s: &mut janus::Session,
    jc: &JanusCtx,
    shape: &Shape,
    rooms: &[JanusRoom],
    tx: &mpsc::Sender<ClientSpec>,
) -> Result<(), BenchError> {
    let per_group = shape.producers_per_group + shape.listeners_per_group;
    for (g, r) in rooms.iter().enumerate() {
        for m in 0..per_group {
            let client = g * per_group + m;
            let (index, feeds): (usize, Vec<(u16, u64)>) = if m < shape.producers_per_group {
                if !shape.mesh {
                    continue;
                }
                let own = r.feeds[m].0;
                (
                    JANUS_SUBSCRIBER_BASE + client,
                    r.feeds.iter().copied().filter(|f| f.0 != own).collect(),
                )
            } else {
                (client, r.feeds.clone())
            };
            let spec = janus_subscriber(s, jc, r.room, &feeds, index, false)?;
            tx.send(spec)
                .map_err(|_| BenchError::Target("load thread gone".into()))?;
        }
    }
    Ok(())
}

/// A joiner of a join storm against Janus: one subscriber PC for all of a room's feeds, on the
/// storm thread's own session.
fn join_janus(
    session: &mut Option<janus::Session>,
    jc: &JanusCtx,
    room: &JanusRoom,
    index: usize,
    tx: &mpsc::Sender<ClientSpec>,
) -> Result<Instant, BenchError> {
    let start = Instant::now();
    let s = match session {
        Some(s) => s,
        None => session.insert(janus::Session::create(&jc.http)?),
    };
    let spec = janus_subscriber(s, jc, room.room, &room.feeds, index, true)?;
    tx.send(spec)
        .map_err(|_| BenchError::Target("load thread gone".into()))?;
    Ok(start)
}

fn media_plan(a: &RtcArgs) -> MediaPlan {
    MediaPlan {
        audio_rate: a.audio_rate,
        audio_size: a.audio_size,
        video_rate: a.video_rate,
        video_size: a.video_size,
        key_every: a.key_every,
        frame_packets: a.frame_packets,
        consent: Duration::from_secs_f64(a.consent_s),
    }
}

fn validate(shape: &Shape, a: &RtcArgs) -> Result<(), BenchError> {
    let bad = |m: &str| Err(BenchError::Args(m.into()));
    if shape.groups == 0 || shape.producers_per_group == 0 {
        return bad("every size must be at least 1");
    }
    if shape.mesh && shape.producers_per_group < 2 {
        return bad("--players must be at least 2");
    }
    if !shape.mesh && shape.listeners_per_group == 0 {
        return bad("--subscribers must be at least 1");
    }
    if shape.producers() > usize::from(u16::MAX) {
        return bad("at most 65535 producers");
    }
    if !(a.duration > 0.0 && a.warmup >= 0.0 && a.consent_s > 0.0) {
        return bad("--duration and --consent-s must be positive, --warmup not negative");
    }
    if a.repeat == 0 || a.workers == 0 || a.audio_rate == 0 || a.video_rate == 0 {
        return bad("--repeat, --workers and the rates must be at least 1");
    }
    if a.target.is_empty() {
        return bad("--target names no SFU");
    }
    Ok(())
}

fn harness_core(a: &RtcArgs) -> Option<core_affinity::CoreId> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    match a.harness_core {
        Some(i) => cores.into_iter().find(|c| c.id == i),
        None if cores.len() > a.workers => cores.last().copied(),
        None => None,
    }
}

/// Per consumer loss from the load thread's counts; (expected, received, worst %, silent).
pub fn consumer_loss(r: &RtcReport, joiners: bool) -> (u64, u64, f64, usize) {
    let mut expected = 0;
    let mut received = 0;
    let mut worst: f64 = 0.0;
    let mut silent = 0;
    let joiner_of: BTreeMap<usize, bool> = r.clients.iter().map(|c| (c.index, c.joiner)).collect();
    for c in &r.consumers {
        if joiner_of.get(&c.client).copied().unwrap_or(false) != joiners {
            continue;
        }
        let e = r
            .sent_measured
            .get(usize::from(c.producer))
            .copied()
            .unwrap_or(0);
        expected += e;
        received += c.measured.min(e);
        worst = worst.max(loss_pct(e, c.measured.min(e)));
        if c.measured == 0 && e > 0 {
            silent += 1;
        }
    }
    (expected, received, worst, silent)
}

/// Runs a scenario over every target.
pub fn run(
    shape: Shape,
    a: &RtcArgs,
    storm: Option<&JoinStormArgs>,
) -> Result<RtcReportOut, BenchError> {
    validate(&shape, a)?;
    let cert = DtlsCertificate::generate()
        .map_err(|e| BenchError::Target(format!("client certificate: {e}")))?;
    let dtls = DtlsParameters {
        role: DtlsRole::Client,
        ..cert.local_parameters()
    };
    let core = harness_core(a);
    let cx = Ctx {
        shape: &shape,
        a,
        storm,
        dtls: &dtls,
        cert: &cert,
        core,
    };
    let mut measurements = Vec::new();
    for repeat in 0..a.repeat {
        for &kind in &a.target {
            let m = measure(kind, repeat, &cx)?;
            eprintln!(
                "sluice-bench: rep {repeat} {}: {:.0} pkt/s, loss {:.3} %, p99 {:.0} µs, {} ns/pkt, \
                 core {:.0} %, harness {:.0} %",
                m.target,
                m.forwarded_pps,
                m.loss_pct,
                m.latency.p99_us,
                m.cpu_ns_per_pkt.map_or("–".into(), |v| format!("{v:.0}")),
                m.core_util_pct,
                m.harness_util_pct
            );
            measurements.push(m);
        }
    }
    let ratios = ratios(&measurements);
    let ratio_spread = spread_of(&ratios);
    Ok(RtcReportOut {
        scenario: shape.scenario,
        config: json!({
            "targets": a.target, "duration_s": a.duration, "warmup_s": a.warmup,
            "workers": a.workers, "io": io_flag(a.io.kind()), "repeat": a.repeat,
            "consent_s": a.consent_s, "audio": {"rate": a.audio_rate, "size": a.audio_size},
            "video": {"rate": a.video_rate, "size": a.video_size, "frame_packets": a.frame_packets,
                      "key_every": a.key_every},
            "harness_core": core.map(|c| c.id),
            "storm": storm.map(|s| json!({"joiners": s.joiners, "parallel": s.parallel, "storm_s": s.storm_s})),
            "cpu_source": "sum over the SFU's processes of /proc/<pid>/task/*/schedstat run time",
            "mediasoup": "3.8.4",
            "janus": "Debian package janus (1.1.2 here), videoroom plugin, ICE-lite, HTTP API; see docs/PEERS.md",
        }),
        shape,
        machine: crate::run::machine(),
        measurements,
        ratios,
        ratio_spread,
    })
}

fn ratios(ms: &[RtcMeasurement]) -> Vec<RtcRatios> {
    let mut out = Vec::new();
    // A disturbed repetition (see `Verdict`) gives no ratio.
    for s in ms.iter().filter(|m| m.target == "sluice" && !m.disturbed) {
        for o in ms
            .iter()
            .filter(|m| m.repeat == s.repeat && m.target != "sluice" && !m.disturbed)
        {
            out.push(RtcRatios {
                repeat: s.repeat,
                target: o.target.clone(),
                cpu_per_pkt: crate::report::ratio(o.cpu_ns_per_pkt, s.cpu_ns_per_pkt),
                p99: crate::report::ratio(Some(o.latency.p99_us), Some(s.latency.p99_us)),
                rss_per_consumer: crate::report::ratio(
                    o.rss_per_consumer_kib,
                    s.rss_per_consumer_kib,
                ),
            });
        }
    }
    out
}

fn spread_of(r: &[RtcRatios]) -> Value {
    let mut targets: Vec<&str> = r.iter().map(|x| x.target.as_str()).collect();
    targets.dedup();
    let mut out = serde_json::Map::new();
    for t in targets {
        let of = |f: fn(&RtcRatios) -> Option<f64>| {
            let v: Vec<f64> = r.iter().filter(|x| x.target == t).filter_map(f).collect();
            Spread::of(&v)
        };
        out.insert(
            t.to_string(),
            json!({"cpu_per_pkt": of(|x| x.cpu_per_pkt), "p99": of(|x| x.p99),
                   "rss_per_consumer": of(|x| x.rss_per_consumer)}),
        );
    }
    Value::Object(out)
}

/// What a joiner needs of the running topology.
enum Topo {
    V1 {
        api: Api,
        groups: Vec<(Group, Vec<(u16, String)>)>,
    },
    Janus {
        jc: JanusCtx,
        rooms: Vec<JanusRoom>,
    },
}

/// What stays the same for every target of a run.
struct Ctx<'a> {
    shape: &'a Shape,
    a: &'a RtcArgs,
    storm: Option<&'a JoinStormArgs>,
    dtls: &'a DtlsParameters,
    cert: &'a DtlsCertificate,
    core: Option<core_affinity::CoreId>,
}

fn measure(kind: TargetKind, repeat: usize, cx: &Ctx<'_>) -> Result<RtcMeasurement, BenchError> {
    let (shape, a, storm, dtls, core) = (cx.shape, cx.a, cx.storm, cx.dtls, cx.core);
    let mut t = start_target(kind, a, shape.clients() + shape.joiners)?;
    let (_, rss0) = mem(&t.pids);
    let media = if shape.media == "video" {
        Media::Video
    } else {
        Media::Audio
    };
    // Janus: its build session, and the publishers' handles whose `webrtcup` comes first.
    let mut janus_build = None;
    let (clients, topo) = match &t.control {
        Control::V1(api) => {
            let b = build(api, shape, dtls)?;
            (
                b.clients,
                Topo::V1 {
                    api: api.clone(),
                    groups: b.groups,
                },
            )
        }
        Control::Janus { http, media_ip } => {
            let jc = JanusCtx {
                http: http.clone(),
                media_ip: *media_ip,
                fingerprint: cx.cert.local_parameters().fingerprints[0].clone(),
                media,
            };
            let mut s = janus::Session::create(http)?;
            let (clients, handles, rooms) = janus_publishers(&mut s, &jc, shape)?;
            janus_build = Some((s, handles));
            (clients, Topo::Janus { jc, rooms })
        }
    };
    let epoch = Instant::now();
    let ctl = Arc::new(RtcControl::default());
    let (join_tx, join_rx) = mpsc::channel();
    // Joiners run in a load thread of their own: their DTLS handshakes (ECDHE, signatures) would
    // otherwise hold up the running flows' pacing in the base thread.
    // The base thread's own late arrivals: Janus's subscribers, made once the publishers are up.
    let (late_tx, late_rx) = mpsc::channel();
    let joiner_thread = match storm {
        Some(_) => Some(rtc_load::spawn(
            rtc_load::LoadSetup {
                clients: Vec::new(),
                joiners: join_rx,
                producers: shape.producers(),
                plan: media_plan(a),
                cert: cx.cert.clone(),
                epoch,
            },
            ctl.clone(),
            core,
        )?),
        None => None,
    };
    let setup = rtc_load::LoadSetup {
        clients,
        joiners: late_rx,
        producers: shape.producers(),
        plan: media_plan(a),
        cert: cx.cert.clone(),
        epoch,
    };
    let lt = rtc_load::spawn(setup, ctl.clone(), core)?;
    if let (Some((s, handles)), Topo::Janus { jc, rooms }) = (&mut janus_build, &topo) {
        let subscribed = s
            .wait_webrtcup(handles)
            .and_then(|()| janus_subscribers(s, jc, shape, rooms, &late_tx));
        if let Err(e) = subscribed {
            ctl.stop.store(true, Ordering::Relaxed);
            let _ = lt.join();
            return Err(e);
        }
    }
    thread::sleep(Duration::from_secs_f64(a.warmup));
    t.process.check_alive()?;
    ctl.phase.store(PHASE_WINDOW, Ordering::Relaxed);
    let t0 = Instant::now();
    let p0 = snapshots(&t.pids)?;
    let k0 = DropSnapshot::read(&t.pids);
    let h0 = cpu::thread_schedstat(lt.tid)?;
    thread::sleep(Duration::from_secs_f64(a.duration));
    let p1 = snapshots(&t.pids)?;
    let h1 = cpu::thread_schedstat(lt.tid)?;
    let window_s = t0.elapsed().as_secs_f64();
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();

    let mut storm_parts = None;
    if let Some(s) = storm {
        ctl.phase.store(PHASE_STORM, Ordering::Relaxed);
        let ts0 = Instant::now();
        let q0 = snapshots(&t.pids)?;
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let topo = Arc::new(topo);
        let base = shape.clients();
        let workers: Vec<_> = (0..s.parallel.clamp(1, s.joiners.max(1)))
            .map(|_| {
                let (topo, dtls, next, tx) =
                    (topo.clone(), dtls.clone(), next.clone(), join_tx.clone());
                let joiners = s.joiners;
                thread::spawn(move || {
                    let mut starts = Vec::new();
                    let mut errors = Vec::new();
                    let mut session = None;
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= joiners {
                            break;
                        }
                        let joined = match &*topo {
                            Topo::V1 { api, groups } => {
                                join(api, &dtls, &groups[k % groups.len()], base + k, &tx)
                            }
                            Topo::Janus { jc, rooms } => {
                                join_janus(&mut session, jc, &rooms[k % rooms.len()], base + k, &tx)
                            }
                        };
                        match joined {
                            Ok(at) => starts.push((base + k, at)),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                    (starts, errors)
                })
            })
            .collect();
        let mut starts = BTreeMap::new();
        let mut errors = Vec::new();
        for w in workers {
            let (s, e) = w
                .join()
                .map_err(|_| BenchError::Target("a joiner thread panicked".into()))?;
            starts.extend(s);
            errors.extend(e);
        }
        let left = Duration::from_secs_f64(s.storm_s).saturating_sub(ts0.elapsed());
        thread::sleep(left);
        let q1 = snapshots(&t.pids)?;
        storm_parts = Some((
            s.joiners,
            ts0.elapsed().as_secs_f64(),
            q0,
            q1,
            starts,
            errors,
        ));
    }
    t.process.check_alive()?;
    ctl.phase.store(PHASE_DRAIN, Ordering::Relaxed);
    ctl.stop_sending.store(true, Ordering::Relaxed);
    thread::sleep(Duration::from_millis(a.drain_ms));
    // Before the load thread closes the clients' sockets.
    let k1 = DropSnapshot::read(&t.pids);
    let sfu_counters = match &t.control {
        Control::V1(api) => sluice::worker_totals(api).ok(),
        Control::Janus { .. } => None,
    };
    ctl.stop.store(true, Ordering::Relaxed);
    let mut r = lt.join()?;
    if let Some(j) = joiner_thread {
        r.absorb(j.join()?);
    }
    let (hwm, rss1) = mem(&t.pids);
    drop(join_tx);

    let cpu = delta(&p0, &p1);
    let (expected, received, worst, silent) = consumer_loss(&r, false);
    let sent: u64 = r.sent_measured.iter().sum();
    let harness_ns = h1.run_ns.saturating_sub(h0.run_ns);
    let sfu_wait_ns = cpu.wait_ns;
    let consumers = shape.consumers();
    // Packets received in the window itself (the storm's are counted in `received` too).
    let window_received = if storm_parts.is_some() {
        r.latency_window.len()
    } else {
        received
    };
    let mut m = RtcMeasurement {
        disturbed: false,
        target: kind.name().into(),
        repeat,
        pids: t.pids.clone(),
        clients: shape.clients(),
        producers: shape.producers(),
        consumers,
        window_s,
        loadavg,
        sent,
        expected,
        received,
        loss_pct: loss_pct(expected, received),
        worst_consumer_loss_pct: worst,
        silent_consumers: silent,
        forwarded_pps: window_received as f64 / window_s,
        latency: LatencySummary::from_histogram(&r.latency_window),
        cpu_ns_per_pkt: per_packet(cpu.sched_ns, window_received),
        stat_ns_per_pkt: per_packet(cpu.stat_ns, window_received),
        core_util_pct: util_pct(cpu.sched_ns, window_s),
        cpu,
        peak_rss_kib: hwm,
        rss_per_consumer_kib: (consumers > 0)
            .then(|| rss1.saturating_sub(rss0) as f64 / consumers as f64),
        harness_util_pct: util_pct(harness_ns, window_s),
        sfu_wait_pct: util_pct(sfu_wait_ns, window_s),
        harness_wait_pct: util_pct(h1.wait_ns.saturating_sub(h0.wait_ns), window_s),
        harness_ns_per_pkt: per_packet(harness_ns, window_received),
        harness_max_lag_ms: r.max_lag.as_secs_f64() * 1e3,
        harness_late_pct: late_pct(r.late, sent),
        failed_clients: r
            .clients
            .iter()
            .filter(|c| c.phase == Phase::Failed)
            .count(),
        min_checks_answered: r
            .clients
            .iter()
            .map(|c| c.checks_answered)
            .min()
            .unwrap_or(0),
        connected_late: r
            .clients
            .iter()
            .filter(|c| !c.joiner && c.connected_at.is_some_and(|at| at > t0))
            .count(),
        unconnected_clients: r
            .clients
            .iter()
            .filter(|c| c.phase != Phase::Connected)
            .count(),
        rr_sent: r.rr_sent,
        rtcp_in: r.rtcp_in,
        bad_in: r.bad_in,
        foreign: r.foreign,
        misrouted: r.misrouted,
        tx_errors: r.tx_errors,
        kernel: KernelDrops::between(
            &k0,
            &k1,
            expected - received,
            consumers as f64 / shape.producers().max(1) as f64,
        ),
        sfu_counters,
        storm: storm_parts.map(|(joiners, ws, q0, q1, starts, api_errors)| {
            let d = delta(&q0, &q1);
            let ttfm: Vec<f64> = r
                .clients
                .iter()
                .filter(|c| c.joiner)
                .filter_map(|c| {
                    let s = starts.get(&c.index)?;
                    Some(c.first_media?.saturating_duration_since(*s).as_secs_f64() * 1e3)
                })
                .collect();
            let connect: Vec<f64> = r
                .clients
                .iter()
                .filter(|c| c.joiner)
                .filter_map(|c| {
                    let s = starts.get(&c.index)?;
                    Some(c.connected_at?.saturating_duration_since(*s).as_secs_f64() * 1e3)
                })
                .collect();
            StormFigures {
                connect_ms: Spread::of(&connect),
                joiners,
                window_s: ws,
                latency: LatencySummary::from_histogram(&r.latency_storm),
                ttfm_ms: Spread::of(&ttfm),
                ttfm_p99_ms: percentile(&ttfm, 99.0),
                joiners_without_media: joiners - ttfm.len(),
                cpu_ns: d.sched_ns,
                core_util_pct: util_pct(d.sched_ns, ws),
                api_errors,
            }
        }),
    };
    match verdict(m.harness_util_pct, m.harness_late_pct) {
        Verdict::Saturated => {
            return Err(BenchError::Saturated(format!(
                "the load generator saturated before {} did: its thread used {:.0} % of a core \
                 (limit {MAX_HARNESS_UTIL:.0} %; {:.2} % of its packets left more than {} ms \
                 late, worst {:.1} ms); the figures would measure sluice-bench, not the SFU. \
                 Lower the load, or give the generator a core of its own (--harness-core)",
                m.target,
                m.harness_util_pct,
                m.harness_late_pct,
                rtc_load::MAX_LAG.as_millis(),
                m.harness_max_lag_ms,
            )));
        }
        Verdict::Disturbed => {
            m.disturbed = true;
            eprintln!(
                "sluice-bench: rep {repeat} {}: DISTURBED — {:.2} % of the generator's packets \
                 left more than {} ms late (worst {:.1} ms) while its thread used only {:.0} % \
                 of a core: the machine held it off its core (load average {}); this \
                 repetition is kept but marked",
                m.target,
                m.harness_late_pct,
                rtc_load::MAX_LAG.as_millis(),
                m.harness_max_lag_ms,
                m.harness_util_pct,
                m.loadavg
            );
        }
        Verdict::Valid => {}
    }
    Ok(m)
}

/// Late packets as a share of those sent in the window, %.
pub fn late_pct(late: u64, sent: u64) -> f64 {
    if sent == 0 {
        0.0
    } else {
        late as f64 * 100.0 / sent as f64
    }
}

/// What the generator's own figures say about a repetition.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// Late while busy (or simply too busy): the generator is the bottleneck; stop.
    Saturated,
    /// Late while mostly idle: descheduled by the machine's other work; keep, marked.
    Disturbed,
}

/// Busy means above [`MAX_HARNESS_UTIL`], or late with more than half a core in use.
pub fn verdict(util_pct: f64, late_pct: f64) -> Verdict {
    let late = late_pct > rtc_load::MAX_LATE_PCT;
    if util_pct > MAX_HARNESS_UTIL || (late && util_pct > MAX_HARNESS_UTIL / 2.0) {
        Verdict::Saturated
    } else if late {
        Verdict::Disturbed
    } else {
        Verdict::Valid
    }
}

/// The `q`th percentile (nearest rank) of a sample.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// Where the lost packets went: the kernel's socket queues (SFU's, harness's) or elsewhere.
pub fn loss_split_table(ms: &[RtcMeasurement]) -> String {
    use std::fmt::Write;
    let mut s = String::from(
        "\n| rep | target | consumers | loss % | lost pkts | in kernel queues | elsewhere | \
         drops at SFU sockets | drops at harness sockets | machine RcvbufErrors |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for m in ms {
        let k = &m.kernel;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {} | {} | {} | {} | {} | {} |",
            m.repeat,
            m.target,
            m.consumers,
            m.loss_pct,
            k.lost,
            k.lost_in_kernel,
            k.lost_elsewhere,
            k.sfu_socket_drops,
            k.harness_socket_drops,
            k.machine
                .map_or("–".into(), |x| x.rcvbuf_errors.to_string()),
        );
    }
    s
}

/// The Markdown table of a run, then the ratios.
pub fn markdown(r: &RtcReportOut) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let sh = &r.shape;
    let _ = writeln!(
        s,
        "{}: {} groups × ({} producers + {} listeners), {} clients, {} consumers{}\n",
        r.scenario,
        sh.groups,
        sh.producers_per_group,
        sh.listeners_per_group,
        sh.clients(),
        sh.consumers(),
        if sh.joiners > 0 {
            format!(", {} joiners", sh.joiners)
        } else {
            String::new()
        }
    );
    s.push_str(
        "| rep | target | fwd pkt/s | loss % | worst consumer loss % | p50 µs | p99 µs | p99.9 µs | \
         CPU ns/pkt | SFU core % | peak RSS MiB | RSS KiB/consumer | harness core % |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for m in &r.measurements {
        let _ = writeln!(
            s,
            "| {} | {}{} | {:.0} | {:.3} | {:.3} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.1} | {} | {:.0} |",
            m.repeat,
            m.target,
            if m.disturbed { " (disturbed)" } else { "" },
            m.forwarded_pps,
            m.loss_pct,
            m.worst_consumer_loss_pct,
            m.latency.p50_us,
            m.latency.p99_us,
            m.latency.p999_us,
            m.cpu_ns_per_pkt.map_or("–".into(), |v| format!("{v:.0}")),
            m.core_util_pct,
            m.peak_rss_kib as f64 / 1024.0,
            m.rss_per_consumer_kib
                .map_or("–".into(), |v| format!("{v:.1}")),
            m.harness_util_pct,
        );
    }
    if r.measurements.iter().any(|m| m.loss_pct > 0.0) {
        s.push_str(&loss_split_table(&r.measurements));
    }
    if r.measurements.iter().any(|m| m.storm.is_some()) {
        s.push_str(
            "\n| rep | target | p99 µs before | p99 µs during storm | p99.9 µs during | \
             time to first media ms (min / median / max) | p99 ms | joiners without media | \
             SFU core % in storm |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for m in &r.measurements {
            let Some(st) = &m.storm else { continue };
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {:.0} |",
                m.repeat,
                m.target,
                m.latency.p99_us,
                st.latency.p99_us,
                st.latency.p999_us,
                st.ttfm_ms.map_or("–".into(), |t| format!(
                    "{:.0} / {:.0} / {:.0}",
                    t.min, t.median, t.max
                )),
                st.ttfm_p99_ms.map_or("–".into(), |v| format!("{v:.0}")),
                st.joiners_without_media,
                st.core_util_pct,
            );
        }
    }
    if !r.ratios.is_empty() {
        s.push_str(
            "\n| rep | vs | CPU/pkt ratio (them ÷ sluice) | p99 ratio | RSS/consumer ratio |\n\
             | --- | --- | --- | --- | --- |\n",
        );
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
        for x in &r.ratios {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                x.repeat,
                x.target,
                f(x.cpu_per_pkt),
                f(x.p99),
                f(x.rss_per_consumer)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtc_load::{ClientOutcome, ConsumerCount};
    use hdrhistogram::Histogram;

    #[test]
    fn shapes_count_clients_and_consumers() {
        let rtc = RtcArgs {
            target: vec![TargetKind::Sluice],
            duration: 1.0,
            warmup: 0.0,
            workers: 1,
            io: crate::cli::IoChoice::Mmsg,
            sluice_bin: None,
            mediasoup_dir: None,
            janus_dir: None,
            json: None,
            repeat: 1,
            drain_ms: 0,
            harness_core: None,
            consent_s: 5.0,
            audio_size: 100,
            audio_rate: 50,
            video_size: 1100,
            video_rate: 110,
            frame_packets: 4,
            key_every: 220,
        };
        let am = Shape::audio_match(&AudioMatchArgs {
            players: 5,
            matches: 3,
            rtc: rtc.clone(),
        });
        assert_eq!((am.clients(), am.producers(), am.consumers()), (15, 15, 60));
        let vr = Shape::video_room(&VideoRoomArgs {
            publishers: 2,
            subscribers: 10,
            rooms: 2,
            rtc: rtc.clone(),
        });
        assert_eq!((vr.clients(), vr.producers(), vr.consumers()), (24, 4, 40));
        let js = Shape::join_storm(&JoinStormArgs {
            players: 4,
            matches: 2,
            joiners: 7,
            parallel: 2,
            storm_s: 1.0,
            rtc: rtc.clone(),
        });
        assert_eq!((js.clients(), js.consumers(), js.joiners), (8, 24, 7));
        assert!(validate(&am, &rtc).is_ok());
        let lonely = Shape::audio_match(&AudioMatchArgs {
            players: 1,
            matches: 1,
            rtc: rtc.clone(),
        });
        assert!(validate(&lonely, &rtc).is_err());
    }

    #[test]
    fn janus_streams_map_to_producers_by_mid_and_rejected_sections_are_skipped() {
        let offer = sdp::Description {
            sections: vec![
                sdp::Section {
                    port: 9,
                    mid: Some("0".into()),
                    ssrc: Some(111),
                    ..Default::default()
                },
                sdp::Section {
                    port: 9,
                    mid: Some("1".into()),
                    ssrc: Some(222),
                    ..Default::default()
                },
                sdp::Section {
                    port: 0,
                    mid: Some("2".into()),
                    ssrc: Some(333),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        // mid 0 carries feed 70 (producer 4), mid 1 feed 80 (producer 9); mid 2 is rejected.
        let by_mid = vec![("1".into(), 80), ("0".into(), 70), ("2".into(), 70)];
        let feeds = [(4u16, 70u64), (9, 80)];
        let c = janus_consumes(&offer, &by_mid, &feeds);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].ssrc, c[0].producer), (111, 4));
        assert_eq!((c[1].ssrc, c[1].producer), (222, 9));
        // A feed that was not asked for gives no consumer.
        assert!(janus_consumes(&offer, &by_mid, &[(4, 71)]).is_empty());
    }

    #[test]
    fn saturation_is_cpu_or_lateness_while_busy_not_one_stall() {
        assert_eq!(verdict(50.0, 0.0), Verdict::Valid);
        assert_eq!(verdict(91.0, 0.0), Verdict::Saturated);
        assert_eq!(verdict(60.0, 1.5), Verdict::Saturated);
        assert_eq!(verdict(10.0, 9.0), Verdict::Disturbed, "late but idle");
        assert_eq!(late_pct(1, 1000), 0.1);
        assert_eq!(
            verdict(10.0, late_pct(1, 1000)),
            Verdict::Valid,
            "one late in 1000"
        );
        assert_eq!(late_pct(5, 0), 0.0);
    }

    #[test]
    fn status_memory_fields() {
        let t = "Name:\tsluice\nVmPeak:\t  900 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   50000 kB\n";
        assert_eq!(parse_status_mem(t), (51_234, 50_000));
        assert_eq!(parse_status_mem("Name: x\n"), (0, 0));
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 99.0), None);
    }

    fn report(consumers: Vec<ConsumerCount>, sent: Vec<u64>, joiners: &[usize]) -> RtcReport {
        let clients = (0..4)
            .map(|i| ClientOutcome {
                index: i,
                joiner: joiners.contains(&i),
                phase: Phase::Connected,
                connected_at: None,
                first_media: None,
                checks_answered: 1,
            })
            .collect();
        RtcReport {
            sent_measured: sent,
            consumers,
            latency_window: Histogram::new(3).unwrap(),
            latency_storm: Histogram::new(3).unwrap(),
            clients,
            max_lag: Duration::ZERO,
            late: 0,
            rr_sent: 0,
            rtcp_in: 0,
            bad_in: 0,
            misrouted: 0,
            foreign: 0,
            tx_errors: 0,
        }
    }

    fn cc(client: usize, producer: u16, measured: u64) -> ConsumerCount {
        ConsumerCount {
            client,
            producer,
            measured,
            total: measured,
        }
    }

    #[test]
    fn loss_is_per_consumer_against_its_producer_and_joiners_apart() {
        // Producer 0 sent 100, producer 1 sent 50. Client 3 is a joiner.
        let r = report(
            vec![cc(0, 1, 50), cc(1, 0, 90), cc(2, 0, 0), cc(3, 0, 100)],
            vec![100, 50],
            &[3],
        );
        let (expected, received, worst, silent) = consumer_loss(&r, false);
        assert_eq!((expected, received), (250, 140));
        assert_eq!(worst, 100.0);
        assert_eq!(silent, 1);
        let (e, rcv, w, s) = consumer_loss(&r, true);
        assert_eq!((e, rcv, w, s), (100, 100, 0.0, 0));
        // Duplicates never count above what was sent.
        let dup = report(vec![cc(0, 0, 130)], vec![100], &[]);
        assert_eq!(consumer_loss(&dup, false).1, 100);
    }

    #[test]
    fn ratios_pair_targets_within_a_repetition() {
        let m = |target: &str, repeat: usize, cpu: f64, p99: f64| RtcMeasurement {
            disturbed: false,
            target: target.into(),
            repeat,
            pids: vec![],
            clients: 0,
            producers: 0,
            consumers: 0,
            window_s: 1.0,
            loadavg: String::new(),
            sent: 0,
            expected: 0,
            received: 0,
            loss_pct: 0.0,
            worst_consumer_loss_pct: 0.0,
            silent_consumers: 0,
            forwarded_pps: 0.0,
            latency: LatencySummary {
                samples: 1,
                p50_us: 0.0,
                p99_us: p99,
                p999_us: 0.0,
                max_us: 0.0,
            },
            cpu_ns_per_pkt: Some(cpu),
            stat_ns_per_pkt: None,
            core_util_pct: 0.0,
            cpu: CpuDelta::default(),
            peak_rss_kib: 0,
            rss_per_consumer_kib: Some(10.0),
            harness_util_pct: 0.0,
            sfu_wait_pct: 0.0,
            harness_wait_pct: 0.0,
            harness_ns_per_pkt: None,
            harness_max_lag_ms: 0.0,
            harness_late_pct: 0.0,
            failed_clients: 0,
            unconnected_clients: 0,
            connected_late: 0,
            min_checks_answered: 0,
            rr_sent: 0,
            rtcp_in: 0,
            bad_in: 0,
            foreign: 0,
            misrouted: 0,
            tx_errors: 0,
            kernel: KernelDrops::default(),
            sfu_counters: None,
            storm: None,
        };
        let ms = vec![
            m("sluice", 0, 1000.0, 200.0),
            m("mediasoup", 0, 3000.0, 500.0),
            m("sluice", 1, 2000.0, 100.0),
            m("mediasoup", 1, 3000.0, 100.0),
        ];
        let r = ratios(&ms);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].cpu_per_pkt, Some(3.0));
        assert_eq!(r[0].p99, Some(2.5));
        assert_eq!(r[1].cpu_per_pkt, Some(1.5));
        assert_eq!(r[1].rss_per_consumer, Some(1.0));
        let sp = spread_of(&r);
        assert_eq!(sp["mediasoup"]["cpu_per_pkt"]["median"], 2.25);
    }
}
