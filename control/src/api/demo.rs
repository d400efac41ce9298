//! The demo room's registry: the page at `/` lets browser tabs join a room by name and see and
//! hear each other. Sluice itself is signaling-agnostic, so this is the smallest application
//! server that makes a room out of the v1 API: it maps a room name to a router (created on the
//! first join, closed when the last peer leaves) and lists each peer's producers. The page
//! (`web/demo/main.js`, bundled to `demo/app.js`) does everything else itself through `/v1`
//! with mediasoup-client: transports, connect, produce, consume.
//!
//! A peer registers the transports and producers it creates, so that leaving (or going silent
//! for [`PEER_TIMEOUT`], as a closed tab does) closes its transports, and with them, by the
//! usual cascade, its producers and the consumers of them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::json;
use sluice_engine::rtc::rtp_parameters::{MediaKind, RtpCodecCapability};
use sluice_engine::worker::{Request, Response};
use uuid::Uuid;

use super::body::Body;
use super::error::ApiError;
use super::handlers::{ApiResult, ok_json};
use super::{Kind, Shared};

/// A peer that has not polled its room for this long has left.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest room name.
const MAX_NAME: usize = 64;

/// Rooms by name.
#[derive(Default)]
pub struct Rooms(tokio::sync::Mutex<HashMap<String, Room>>);

struct Room {
    router_id: Uuid,
    worker: usize,
    peers: HashMap<Uuid, Peer>,
}

struct Peer {
    transports: Vec<Uuid>,
    producers: Vec<(Uuid, MediaKind)>,
    seen: Instant,
}

/// The codecs of a demo router: what every current browser sends.
fn demo_codecs() -> Vec<RtpCodecCapability> {
    serde_json::from_value(json!([
        { "kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2 },
        { "kind": "video", "mimeType": "video/VP8", "clockRate": 90000 },
        { "kind": "video", "mimeType": "video/H264", "clockRate": 90000,
          "parameters": { "packetization-mode": 1, "profile-level-id": "42e01f",
                          "level-asymmetry-allowed": 1 } }
    ]))
    .expect("the demo codec list is valid RtpCodecCapability JSON")
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::unacceptable(format!(
            "room: a name of 1 to {MAX_NAME} printable characters"
        )));
    }
    Ok(())
}

fn unknown_peer(peer: &str) -> ApiError {
    ApiError::not_found("peer", peer)
}

fn parse_peer(peer: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(peer).map_err(|_| unknown_peer(peer))
}

/// Peer `peer_id` (spelled `peer` in the path) of room `name`, marked as seen now.
fn registered_peer<'a>(
    rooms: &'a mut HashMap<String, Room>,
    name: &str,
    peer_id: Uuid,
    peer: &str,
) -> Result<&'a mut Peer, ApiError> {
    let room = rooms
        .get_mut(name)
        .ok_or_else(|| ApiError::not_found("room", name))?;
    let p = room
        .peers
        .get_mut(&peer_id)
        .ok_or_else(|| unknown_peer(peer))?;
    p.seen = Instant::now();
    Ok(p)
}

/// `POST /demo/rooms/{name}/join` → `{peerId, routerId, rtpCapabilities}`.
pub(super) async fn join(State(s): State<Shared>, Path(name): Path<String>) -> ApiResult {
    check_name(&name)?;
    let mut rooms = s.demo.0.lock().await;
    expire(&s, &mut rooms, &name).await;
    let (router_id, worker) = match rooms.get(&name) {
        Some(r) => (r.router_id, r.worker),
        None => {
            let worker = s
                .least_loaded_worker()
                .ok_or_else(|| ApiError::unavailable("no worker is running"))?;
            let id = Uuid::new_v4();
            s.call(
                worker,
                Request::CreateRouter {
                    id,
                    media_codecs: demo_codecs(),
                },
            )
            .await?;
            s.register(id, worker, Kind::Router);
            rooms.insert(
                name.clone(),
                Room {
                    router_id: id,
                    worker,
                    peers: HashMap::new(),
                },
            );
            tracing::info!(room = %name, router = %id, "demo room opened");
            (id, worker)
        }
    };
    let caps = match s
        .call(worker, Request::DumpRouter { id: router_id })
        .await?
    {
        Response::Json(dump) => dump.get("rtpCapabilities").cloned(),
        _ => None,
    }
    .ok_or_else(|| ApiError::unavailable("the room's router did not report its capabilities"))?;
    let peer_id = Uuid::new_v4();
    let room = rooms
        .get_mut(&name)
        .expect("the room was found or inserted above");
    room.peers.insert(
        peer_id,
        Peer {
            transports: Vec::new(),
            producers: Vec::new(),
            seen: Instant::now(),
        },
    );
    ok_json(json!({ "peerId": peer_id, "routerId": router_id, "rtpCapabilities": caps }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PeersQuery {
    peer_id: Option<String>,
}

/// `GET /demo/rooms/{name}/peers?peerId=` → `{peers: [{peerId, producers: [{id, kind}]}]}`.
/// Polling with `peerId` keeps that peer in the room.
pub(super) async fn peers(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<PeersQuery>,
) -> ApiResult {
    let mut rooms = s.demo.0.lock().await;
    if let Some(p) = q.peer_id.as_deref().and_then(|p| Uuid::parse_str(p).ok())
        && let Some(peer) = rooms.get_mut(&name).and_then(|r| r.peers.get_mut(&p))
    {
        peer.seen = Instant::now();
    }
    expire(&s, &mut rooms, &name).await;
    let Some(room) = rooms.get(&name) else {
        return Err(ApiError::not_found("room", &name));
    };
    let list: Vec<_> = room
        .peers
        .iter()
        .map(|(id, p)| {
            let producers: Vec<_> = p
                .producers
                .iter()
                // Producers closed since (their transport went, say) drop out of the list.
                .filter(|(pid, _)| s.owner(&pid.to_string(), Kind::Producer).is_ok())
                .map(|(pid, kind)| json!({ "id": pid, "kind": kind }))
                .collect();
            json!({ "peerId": id, "producers": producers })
        })
        .collect();
    ok_json(json!({ "peers": list }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TransportBody {
    transport_id: Uuid,
}

/// `POST /demo/rooms/{name}/peers/{peer}/transports` `{transportId}`: closed when the peer leaves.
pub(super) async fn add_transport(
    State(s): State<Shared>,
    Path((name, peer)): Path<(String, String)>,
    Body(b): Body<TransportBody>,
) -> ApiResult {
    let peer_id = parse_peer(&peer)?;
    let mut rooms = s.demo.0.lock().await;
    registered_peer(&mut rooms, &name, peer_id, &peer)?
        .transports
        .push(b.transport_id);
    ok_json(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProducerBody {
    producer_id: Uuid,
    kind: MediaKind,
}

/// `POST /demo/rooms/{name}/peers/{peer}/producers` `{producerId, kind}`: listed to the others.
pub(super) async fn add_producer(
    State(s): State<Shared>,
    Path((name, peer)): Path<(String, String)>,
    Body(b): Body<ProducerBody>,
) -> ApiResult {
    let peer_id = parse_peer(&peer)?;
    s.owner(&b.producer_id.to_string(), Kind::Producer)
        .map_err(|_| ApiError::not_found("producer", &b.producer_id.to_string()))?;
    let mut rooms = s.demo.0.lock().await;
    registered_peer(&mut rooms, &name, peer_id, &peer)?
        .producers
        .push((b.producer_id, b.kind));
    ok_json(json!({}))
}

/// `POST /demo/rooms/{name}/peers/{peer}/leave`: closes the peer's transports.
pub(super) async fn leave(
    State(s): State<Shared>,
    Path((name, peer)): Path<(String, String)>,
) -> ApiResult {
    let peer_id = parse_peer(&peer)?;
    let mut rooms = s.demo.0.lock().await;
    let gone = rooms
        .get_mut(&name)
        .and_then(|r| r.peers.remove(&peer_id))
        .ok_or_else(|| unknown_peer(&peer))?;
    close_peer(&s, gone).await;
    close_if_empty(&s, &mut rooms, &name).await;
    ok_json(json!({}))
}

/// Drops the peers of `name` that stopped polling, and the room when nobody is left.
async fn expire(s: &Shared, rooms: &mut HashMap<String, Room>, name: &str) {
    let Some(room) = rooms.get_mut(name) else {
        return;
    };
    let now = Instant::now();
    let stale: Vec<Uuid> = room
        .peers
        .iter()
        .filter(|(_, p)| now.duration_since(p.seen) > PEER_TIMEOUT)
        .map(|(id, _)| *id)
        .collect();
    for id in stale {
        if let Some(p) = room.peers.remove(&id) {
            close_peer(s, p).await;
        }
    }
    close_if_empty(s, rooms, name).await;
}

async fn close_peer(s: &Shared, peer: Peer) {
    for t in peer.transports {
        // Already gone (closed by the page itself) is fine.
        if let Ok((id, w)) = s.owner(&t.to_string(), Kind::PlainTransport)
            && s.call(w, Request::CloseTransport { id }).await.is_ok()
        {
            s.forget(&id);
        }
    }
}

async fn close_if_empty(s: &Shared, rooms: &mut HashMap<String, Room>, name: &str) {
    if rooms.get(name).is_some_and(|r| r.peers.is_empty())
        && let Some(room) = rooms.remove(name)
    {
        if s.call(room.worker, Request::CloseRouter { id: room.router_id })
            .await
            .is_ok()
        {
            s.forget(&room.router_id);
        }
        tracing::info!(room = %name, "demo room closed");
    }
}
