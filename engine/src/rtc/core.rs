//! [`WorkerCore`]: every router, transport, producer and consumer of one worker, and the
//! forwarding path between them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::RtcError;
use super::consumer::{Consumer, HeaderExtensions, PT_NONE, Stamps};
use super::counters::{DropReason, WorkerCounters};
use super::events::Event;
use super::ortc;
use super::producer::Producer;
use super::router::Router;
use super::rtp_parameters::{
    MediaKind, RtpCapabilities, RtpCodecCapability, RtpCodecParameters, RtpParameters,
};
use super::rtp_stream::starts_key_frame;
use super::seq_manager::SeqManager;
use super::simulcast_consumer::{Admit, switch_layer};
use super::slab::Slab;
use super::transport::{PlainTransport, Transport, TransportKind, TransportTuple};
use crate::net::{MAX_DATAGRAM, SockId, Transmit};
use crate::wire::demux::{PacketKind, classify};
use crate::wire::rtcp;
use crate::wire::rtp::{self, RtpPacket};

#[path = "core_plain_srtp.rs"]
mod plain_srtp;
#[path = "core_webrtc.rs"]
mod webrtc;
pub use webrtc::SharedOutcome;
#[path = "nack.rs"]
mod nack;
#[path = "core_rtcp.rs"]
mod rtcp_io;
#[path = "core_simulcast.rs"]
mod simulcast;
#[path = "core_twcc.rs"]
mod twcc_io;

/// The longest SRTP authentication tag a send buffer keeps room for (AEAD_AES_128_GCM and
/// AEAD_AES_256_GCM, RFC 7714 §7.1).
const SRTP_MAX_TAG: usize = 16;

#[derive(Copy, Clone, Debug)]
enum Obj {
    Router(usize),
    Transport(usize),
    Producer(usize),
    Consumer(usize),
}

/// Answer to `create_router`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterReply {
    /// The router's id.
    pub id: Uuid,
    /// Its RTP capabilities (mediasoup's shape).
    pub rtp_capabilities: RtpCapabilities,
}

/// Options of a plain transport, as the API takes them.
#[derive(Debug, Clone)]
pub struct PlainTransportOptions {
    /// Learn the remote from the first datagram.
    pub comedia: bool,
    /// RTP and RTCP on one port.
    pub rtcp_mux: bool,
    /// Opaque application data kept with the transport.
    pub app_data: Value,
}

/// Answer to `create_plain_transport`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlainTransportReply {
    /// The transport's id.
    pub id: Uuid,
    /// Local (and, once known, remote) RTP tuple.
    pub tuple: TransportTuple,
    /// The RTCP tuple when `rtcpMux` is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtcp_tuple: Option<TransportTuple>,
}

/// Options of `produce`.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// The new producer's id.
    pub id: Uuid,
    /// Audio or video.
    pub kind: MediaKind,
    /// What the endpoint sends.
    pub rtp_parameters: RtpParameters,
    /// Start paused.
    pub paused: bool,
    /// Opaque application data.
    pub app_data: Value,
}

/// Answer to `produce`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProduceReply {
    /// The producer's id.
    pub id: Uuid,
    /// Audio or video.
    pub kind: MediaKind,
    /// "simple" or "simulcast".
    #[serde(rename = "type")]
    pub type_: &'static str,
}

/// Options of `consume`.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// The new consumer's id.
    pub id: Uuid,
    /// The producer to consume.
    pub producer_id: Uuid,
    /// What the consuming endpoint can receive.
    pub rtp_capabilities: RtpCapabilities,
    /// Start paused.
    pub paused: bool,
    /// Opaque application data.
    pub app_data: Value,
}

/// Answer to `consume`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeReply {
    /// The consumer's id.
    pub id: Uuid,
    /// Its producer.
    pub producer_id: Uuid,
    /// Audio or video.
    pub kind: MediaKind,
    /// What the consumer sends.
    pub rtp_parameters: RtpParameters,
    /// "simple".
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Whether the consumer itself is paused.
    pub paused: bool,
    /// Whether its producer is paused.
    pub producer_paused: bool,
}

/// All RTC state of one worker. See the module docs of [`crate::rtc`].
#[derive(Default)]
pub struct WorkerCore {
    routers: Slab<Router>,
    transports: Slab<Transport>,
    producers: Slab<Producer>,
    consumers: Slab<Consumer>,
    ids: HashMap<Uuid, Obj>,
    /// Transport slab index and "is the RTCP socket" for every socket a transport owns. Looked
    /// up per datagram, so hashed with Fx, not SipHash: the keys are ids the worker assigns.
    by_sock: FxHashMap<SockId, (usize, bool)>,
    /// WebRTC transport for every remote address its ICE agent validated (shared port). Fx as
    /// `by_sock`: only tuples that passed ICE are inserted, at most `MAX_TUPLES` per transport,
    /// so a remote cannot fill it with colliding keys (HashDoS needs the inserts).
    by_remote: FxHashMap<SocketAddr, usize>,
    /// WebRTC transport for every ufrag it accepts.
    by_ufrag: HashMap<Box<[u8]>, usize>,
    /// Slab indices of the WebRTC transports (for their timers).
    webrtc: Vec<usize>,
    /// Ownership changes of remote addresses, for the other workers' flow tables.
    flow_changes: Vec<(SocketAddr, bool)>,
    /// Index of the worker this core runs on (prefix of its ufrags).
    index: usize,
    counters: WorkerCounters,
    events: Vec<Event>,
    /// RTCP timers and clock (`core_rtcp.rs`).
    rtcp: rtcp_io::RtcpState,
    /// abs-send-time (6.18 fixed-point seconds of the NTP clock) at an instant: the worker
    /// passes one `now` per batch of datagrams, so it is computed once per batch.
    abs_send_time: Option<(Instant, u32)>,
}

fn not_found(kind: &'static str, id: Uuid) -> RtcError {
    RtcError::NotFound { kind, id }
}

impl WorkerCore {
    /// An empty worker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters since start.
    pub fn counters(&self) -> &WorkerCounters {
        &self.counters
    }

    /// Mutable counters, for the worker's own accounting (hand-offs, I/O drops).
    pub fn counters_mut(&mut self) -> &mut WorkerCounters {
        &mut self.counters
    }

    /// State changes since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Whether any state change is waiting.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Number of routers.
    pub fn router_count(&self) -> usize {
        self.routers.len()
    }

    fn router_idx(&self, id: Uuid) -> Result<usize, RtcError> {
        match self.ids.get(&id) {
            Some(Obj::Router(i)) => Ok(*i),
            _ => Err(not_found("router", id)),
        }
    }

    fn transport_idx(&self, id: Uuid) -> Result<usize, RtcError> {
        match self.ids.get(&id) {
            Some(Obj::Transport(i)) => Ok(*i),
            _ => Err(not_found("transport", id)),
        }
    }

    fn producer_idx(&self, id: Uuid) -> Result<usize, RtcError> {
        match self.ids.get(&id) {
            Some(Obj::Producer(i)) => Ok(*i),
            _ => Err(not_found("producer", id)),
        }
    }

    fn consumer_idx(&self, id: Uuid) -> Result<usize, RtcError> {
        match self.ids.get(&id) {
            Some(Obj::Consumer(i)) => Ok(*i),
            _ => Err(not_found("consumer", id)),
        }
    }

    // ---------------------------------------------------------------- routers

    /// Creates a router whose capabilities are generated from `media_codecs`.
    pub fn create_router(
        &mut self,
        id: Uuid,
        media_codecs: &[RtpCodecCapability],
    ) -> Result<RouterReply, RtcError> {
        let rtp_capabilities = ortc::generate_router_rtp_capabilities(media_codecs)?;
        let idx = self.routers.insert(Router {
            id,
            rtp_capabilities: rtp_capabilities.clone(),
            transports: Vec::new(),
        });
        self.ids.insert(id, Obj::Router(idx));
        Ok(RouterReply {
            id,
            rtp_capabilities,
        })
    }

    /// Closes a router and everything in it; returns the sockets to unregister.
    pub fn close_router(&mut self, id: Uuid) -> Result<Vec<SockId>, RtcError> {
        let r = self.router_idx(id)?;
        let mut sockets = Vec::new();
        for t in self.routers[r].transports.clone() {
            sockets.extend(self.close_transport_idx(t));
        }
        self.routers.remove(r);
        self.ids.remove(&id);
        self.events.push(Event::RouterClose { router_id: id });
        Ok(sockets)
    }

    /// The router's dump: its id, capabilities and the ids of what it holds.
    pub fn dump_router(&self, id: Uuid) -> Result<Value, RtcError> {
        let r = &self.routers[self.router_idx(id)?];
        let mut producer_ids = Vec::new();
        let mut consumer_ids = Vec::new();
        let mut transport_ids = Vec::new();
        for &t in &r.transports {
            let t = &self.transports[t];
            transport_ids.push(t.id);
            producer_ids.extend(t.producers.iter().map(|&p| self.producers[p].id));
            consumer_ids.extend(t.consumers.iter().map(|&c| self.consumers[c].id));
        }
        Ok(serde_json::json!({
            "id": r.id,
            "rtpCapabilities": r.rtp_capabilities,
            "transportIds": transport_ids,
            "producerIds": producer_ids,
            "consumerIds": consumer_ids,
        }))
    }

    /// Router statistics: object counts and traffic summed over its transports.
    pub fn router_stats(&self, id: Uuid) -> Result<Value, RtcError> {
        let r = &self.routers[self.router_idx(id)?];
        let (mut bytes_in, mut bytes_out, mut producers, mut consumers) = (0u64, 0u64, 0, 0);
        for &t in &r.transports {
            let t = &self.transports[t];
            bytes_in += t.counters.bytes_received;
            bytes_out += t.counters.bytes_sent;
            producers += t.producers.len();
            consumers += t.consumers.len();
        }
        Ok(serde_json::json!([{
            "type": "router",
            "routerId": r.id,
            "transports": r.transports.len(),
            "producers": producers,
            "consumers": consumers,
            "bytesReceived": bytes_in,
            "bytesSent": bytes_out,
        }]))
    }

    /// The router's capabilities (for the API's dump and for consumers on other workers later).
    pub fn router_capabilities(&self, id: Uuid) -> Result<&RtpCapabilities, RtcError> {
        Ok(&self.routers[self.router_idx(id)?].rtp_capabilities)
    }

    // ------------------------------------------------------------- transports

    /// Creates a plain transport on sockets the worker bound for it.
    pub fn create_plain_transport(
        &mut self,
        router_id: Uuid,
        id: Uuid,
        rtp: (SockId, SocketAddr),
        rtcp: Option<(SockId, SocketAddr)>,
        options: PlainTransportOptions,
    ) -> Result<PlainTransportReply, RtcError> {
        let router = self.router_idx(router_id)?;
        let idx = self.transports.insert(Transport {
            id,
            router,
            kind: TransportKind::Plain(PlainTransport {
                sock: rtp.0,
                local: rtp.1,
                rtcp,
                remote: None,
                rtcp_remote: None,
                comedia: options.comedia,
                connected: false,
                srtp_local: None,
                srtp: None,
            }),
            producers: Vec::new(),
            consumers: Vec::new(),
            ssrc_table: Default::default(),
            listener: Default::default(),
            counters: Default::default(),
            app_data: options.app_data,
        });
        self.routers[router].transports.push(idx);
        self.rtcp_transport_added(idx);
        self.ids.insert(id, Obj::Transport(idx));
        self.by_sock.insert(rtp.0, (idx, false));
        if let Some((s, _)) = rtcp {
            self.by_sock.insert(s, (idx, true));
        }
        Ok(PlainTransportReply {
            id,
            tuple: TransportTuple::new(rtp.1, None),
            rtcp_tuple: rtcp.map(|(_, a)| TransportTuple::new(a, None)),
        })
    }

    /// Gives a plain transport its remote address (mediasoup's `PlainTransport.connect`).
    pub fn connect_plain_transport(
        &mut self,
        id: Uuid,
        ip: IpAddr,
        port: u16,
        rtcp_port: Option<u16>,
    ) -> Result<(), RtcError> {
        let t = self.transport_idx(id)?;
        let transport = &mut self.transports[t];
        let Some(p) = transport.plain_mut() else {
            return Err(RtcError::Conflict(format!(
                "transport {id} is a WebRTC transport: connect it with dtlsParameters"
            )));
        };
        if p.connected {
            return Err(RtcError::Conflict(format!(
                "transport {id} is already connected"
            )));
        }
        if p.comedia {
            return Err(RtcError::Conflict(format!(
                "transport {id} uses comedia: its remote is learned from the first packet"
            )));
        }
        if port == 0 {
            return Err(RtcError::Unacceptable {
                field: "port".into(),
                message: "must be 1-65535".into(),
            });
        }
        let remote = SocketAddr::new(ip, port);
        p.remote = Some(remote);
        p.rtcp_remote = if p.rtcp_mux() {
            Some(remote)
        } else {
            match rtcp_port {
                Some(rp) if rp != 0 => Some(SocketAddr::new(ip, rp)),
                _ => {
                    p.remote = None;
                    return Err(RtcError::Unacceptable {
                        field: "rtcpPort".into(),
                        message: "required when rtcpMux is false".into(),
                    });
                }
            }
        };
        p.connected = true;
        let tuple = transport.tuple();
        self.events.push(Event::TransportTuple {
            transport_id: id,
            tuple,
        });
        Ok(())
    }

    /// Closes a transport with its producers and consumers; returns its sockets.
    pub fn close_transport(&mut self, id: Uuid) -> Result<Vec<SockId>, RtcError> {
        let t = self.transport_idx(id)?;
        let router = self.transports[t].router;
        self.routers[router].transports.retain(|&x| x != t);
        Ok(self.close_transport_idx(t))
    }

    fn close_transport_idx(&mut self, t: usize) -> Vec<SockId> {
        self.close_webrtc(t);
        for c in self.transports[t].consumers.clone() {
            let consumer_id = self.consumers[c].id;
            self.close_consumer_idx(c);
            // Told, as mediasoup's consumer "transportclose": the control plane forgets the id
            // on this event (without it every consumer of a closed transport stayed in its
            // owner table for the life of the process).
            self.events.push(Event::ConsumerClose { consumer_id });
        }
        for p in self.transports[t].producers.clone() {
            self.close_producer_idx(p);
        }
        let transport = self.transports.remove(t).expect("transport index is live");
        let sockets = match &transport.kind {
            TransportKind::Plain(p) => p.sockets(),
            // The shared media port's socket belongs to the worker.
            TransportKind::WebRtc(_) => Vec::new(),
        };
        for s in &sockets {
            self.by_sock.remove(s);
        }
        self.ids.remove(&transport.id);
        self.events.push(Event::TransportClose {
            transport_id: transport.id,
        });
        sockets
    }

    /// A transport's dump.
    pub fn dump_transport(&self, id: Uuid) -> Result<Value, RtcError> {
        let t = &self.transports[self.transport_idx(id)?];
        let p = match &t.kind {
            TransportKind::Plain(p) => p,
            TransportKind::WebRtc(w) => return Ok(self.dump_webrtc(t, w)),
        };
        Ok(serde_json::json!({
            "id": t.id,
            "type": "plain",
            "routerId": self.routers[t.router].id,
            "tuple": t.tuple(),
            "rtcpTuple": p.rtcp.map(|(_, a)| TransportTuple::new(a, p.rtcp_remote)),
            "comedia": p.comedia,
            "rtcpMux": p.rtcp_mux(),
            "producerIds": t.producers.iter().map(|&i| self.producers[i].id).collect::<Vec<_>>(),
            "consumerIds": t.consumers.iter().map(|&i| self.consumers[i].id).collect::<Vec<_>>(),
            "appData": t.app_data,
        }))
    }

    /// mediasoup-like transport stats.
    pub fn transport_stats(&self, id: Uuid) -> Result<Value, RtcError> {
        let t = &self.transports[self.transport_idx(id)?];
        let p = match &t.kind {
            TransportKind::Plain(p) => p,
            TransportKind::WebRtc(w) => return Ok(Self::webrtc_stats(t, w)),
        };
        let c = &t.counters;
        Ok(serde_json::json!([{
            "type": "plain-rtp-transport",
            "transportId": t.id,
            "tuple": t.tuple(),
            "bytesReceived": c.bytes_received,
            "bytesSent": c.bytes_sent,
            "rtpPacketsReceived": c.rtp_packets_received,
            "rtpPacketsSent": c.rtp_packets_sent,
            "rtcpPacketsReceived": c.rtcp_packets_received,
            "rtcpMux": p.rtcp_mux(),
            "comedia": p.comedia,
        }]))
    }

    // -------------------------------------------------------------- producers

    /// Creates a producer on a transport.
    pub fn produce(
        &mut self,
        transport_id: Uuid,
        mut o: ProduceOptions,
    ) -> Result<ProduceReply, RtcError> {
        let t = self.transport_idx(transport_id)?;
        self.fill_producer_cname(t, &mut o.rtp_parameters);
        if self.ids.contains_key(&o.id) {
            return Err(RtcError::Conflict(format!("id {} already exists", o.id)));
        }
        ortc::validate_rtp_parameters(&o.rtp_parameters)?;
        let router_caps = &self.routers[self.transports[t].router].rtp_capabilities;
        let mapping = ortc::get_producer_rtp_parameters_mapping(&o.rtp_parameters, router_caps)?;
        let consumable =
            ortc::get_consumable_rtp_parameters(o.kind, &o.rtp_parameters, router_caps, &mapping);
        let streams = self.producer_streams(t, &o.rtp_parameters)?;
        if streams.is_empty() {
            return Err(RtcError::Unacceptable {
                field: "rtpParameters.encodings".into(),
                message: "at least one encoding is required".into(),
            });
        }
        let reply = ProduceReply {
            id: o.id,
            kind: o.kind,
            type_: if streams.len() > 1 {
                "simulcast"
            } else {
                "simple"
            },
        };
        let ssrcs: Vec<u32> = streams
            .iter()
            .flat_map(|s| [s.bound.then_some(s.ssrc), s.rtx_ssrc])
            .flatten()
            .collect();
        let idx = self.producers.insert(Producer {
            id: o.id,
            transport: t,
            kind: o.kind,
            paused: o.paused,
            rtp_parameters: o.rtp_parameters,
            consumable,
            mapping,
            streams,
            consumers: Vec::new(),
            app_data: o.app_data,
        });
        self.producers[idx].init_key_frame_feedback();
        nack::init_producer(&mut self.producers[idx]);
        let transport = &mut self.transports[t];
        if let Err(e) = transport
            .listener
            .add_producer(idx, &self.producers[idx].rtp_parameters)
        {
            self.producers.remove(idx);
            return Err(e);
        }
        transport.producers.push(idx);
        self.transport_cc_producer_added(t, idx);
        let transport = &mut self.transports[t];
        for s in ssrcs {
            transport.ssrc_table.insert(s, idx);
        }
        self.ids.insert(o.id, Obj::Producer(idx));
        Ok(reply)
    }

    /// Closes a producer and its consumers (each gets `consumer.producerclose`).
    pub fn close_producer(&mut self, id: Uuid) -> Result<(), RtcError> {
        let p = self.producer_idx(id)?;
        self.close_producer_idx(p);
        Ok(())
    }

    fn close_producer_idx(&mut self, p: usize) {
        let producer_id = self.producers[p].id;
        for c in self.producers[p].consumers.clone() {
            let consumer_id = self.consumers[c].id;
            self.close_consumer_idx(c);
            self.events.push(Event::ConsumerProducerClose {
                consumer_id,
                producer_id,
            });
        }
        let producer = self.producers.remove(p).expect("producer index is live");
        if let Some(t) = self.transports.get_mut(producer.transport) {
            t.producers.retain(|&x| x != p);
            t.ssrc_table.retain(|_, &mut x| x != p);
            t.listener.remove_producer(p);
        }
        self.ids.remove(&producer_id);
        self.events.push(Event::ProducerClose { producer_id });
    }

    /// Pauses or resumes a producer; its consumers are told and resync on resume.
    pub fn set_producer_paused(&mut self, id: Uuid, paused: bool) -> Result<(), RtcError> {
        let p = self.producer_idx(id)?;
        if self.producers[p].paused == paused {
            return Ok(());
        }
        self.producers[p].paused = paused;
        for &c in &self.producers[p].consumers {
            let consumer = &mut self.consumers[c];
            if consumer.set_producer_paused(paused) {
                let consumer_id = consumer.id;
                self.events.push(if paused {
                    Event::ConsumerProducerPause { consumer_id }
                } else {
                    Event::ConsumerProducerResume { consumer_id }
                });
            }
        }
        for i in 0..self.producers[p].consumers.len() {
            let c = self.producers[p].consumers[i];
            self.update_layers(c);
        }
        if !paused {
            self.key_frame_on_producer_resume(p);
        }
        Ok(())
    }

    /// A producer's dump.
    pub fn dump_producer(&self, id: Uuid) -> Result<Value, RtcError> {
        let p = &self.producers[self.producer_idx(id)?];
        Ok(serde_json::json!({
            "id": p.id,
            "kind": p.kind,
            "type": p.type_name(),
            "paused": p.paused,
            "transportId": self.transports[p.transport].id,
            "rtpParameters": p.rtp_parameters,
            "consumableRtpParameters": p.consumable,
            "consumerIds": p.consumers.iter().map(|&c| self.consumers[c].id).collect::<Vec<_>>(),
            "appData": p.app_data,
        }))
    }

    /// mediasoup-like producer stats: one `inbound-rtp` entry per stream.
    pub fn producer_stats(&self, id: Uuid) -> Result<Value, RtcError> {
        let p = &self.producers[self.producer_idx(id)?];
        let mime = media_codec(&p.rtp_parameters.codecs)
            .map(|c| c.mime_type.clone())
            .unwrap_or_default();
        Ok(Value::Array(
            p.streams
                .iter()
                .filter(|s| s.bound)
                .map(|s| {
                    serde_json::json!({
                        "type": "inbound-rtp",
                        "kind": p.kind,
                        "mimeType": mime,
                        "ssrc": s.ssrc,
                        "rid": s.rid.as_deref().map(String::from_utf8_lossy),
                        "rtxSsrc": s.rtx_ssrc,
                        "rtxPacketCount": s.rtx_packets,
                        "nackCount": s.nack_generator.as_ref().map_or(0, |g| g.nacks),
                        "nackPacketCount": s.nack_generator.as_ref().map_or(0, |g| g.requested),
                        "packetCount": s.packets,
                        "byteCount": s.bytes,
                        "packetsLost": s.lost(),
                        "jitter": s.jitter(),
                        "pliCount": s.key_frames.pli_sent,
                        "firCount": s.key_frames.fir_sent,
                    })
                })
                .collect(),
        ))
    }

    // -------------------------------------------------------------- consumers

    /// Creates a consumer of `producer_id` on a transport of the same router.
    pub fn consume(
        &mut self,
        transport_id: Uuid,
        o: ConsumeOptions,
    ) -> Result<ConsumeReply, RtcError> {
        let t = self.transport_idx(transport_id)?;
        if self.ids.contains_key(&o.id) {
            return Err(RtcError::Conflict(format!("id {} already exists", o.id)));
        }
        let p = match self.ids.get(&o.producer_id) {
            Some(Obj::Producer(p)) => *p,
            _ => {
                return Err(RtcError::NotFound {
                    kind: "producer",
                    id: o.producer_id,
                });
            }
        };
        let producer = &self.producers[p];
        if self.transports[producer.transport].router != self.transports[t].router {
            return Err(RtcError::Unacceptable {
                field: "producerId".into(),
                message: "the producer belongs to another router".into(),
            });
        }
        ortc::validate_rtp_capabilities(&o.rtp_capabilities)?;
        if !ortc::can_consume(&producer.consumable, &o.rtp_capabilities) {
            return Err(RtcError::Unacceptable {
                field: "rtpCapabilities".into(),
                message: format!("cannot consume producer {}: no common codec", o.producer_id),
            });
        }
        let mut rtp_parameters =
            ortc::get_consumer_rtp_parameters(&producer.consumable, &o.rtp_capabilities, false)?;
        let ssrc = rtp_parameters
            .encodings
            .first()
            .and_then(|e| e.ssrc)
            .ok_or_else(|| RtcError::Conflict("consumer parameters have no SSRC".into()))?;
        let pt_map = payload_type_map(producer, &rtp_parameters);
        let clock_rate = media_codec(&rtp_parameters.codecs)
            .map(|c| c.clock_rate)
            .unwrap_or(90_000);
        let simulcast = simulcast::layers_for(producer, &rtp_parameters);
        let kind = producer.kind;
        let producer_paused = producer.paused;
        // mediasoup gives every consumer of a WebRTC transport a mid of its own, which the
        // browser's SDP uses, and rewrites the MID header extension to it (RFC 8843 §15).
        if let Some(mid) = self.next_consumer_mid(t) {
            rtp_parameters.mid = Some(mid);
        }
        let extensions =
            HeaderExtensions::new(kind, &self.producers[p].rtp_parameters, &rtp_parameters);
        let idx = self.consumers.insert(Consumer {
            id: o.id,
            producer: p,
            transport: t,
            kind,
            paused: o.paused,
            producer_paused,
            rtp_parameters: rtp_parameters.clone(),
            ssrc,
            source_stream: if simulcast.is_some() { None } else { Some(0) },
            simulcast,
            pt_map,
            extensions,
            seq: SeqManager::new(clock_rate, rand::random(), rand::random()),
            packets: 0,
            bytes: 0,
            rtp_stream: Default::default(),
            app_data: o.app_data,
        });
        if kind == MediaKind::Video {
            let rtx = nack::rtx_send(&rtp_parameters);
            self.consumers[idx].rtp_stream.enable_retransmission(rtx);
        }
        self.producers[p].consumers.push(idx);
        self.update_layers(idx);
        self.key_frame_on_activate(idx);
        self.transports[t].consumers.push(idx);
        self.ids.insert(o.id, Obj::Consumer(idx));
        Ok(ConsumeReply {
            id: o.id,
            producer_id: o.producer_id,
            kind,
            rtp_parameters,
            type_: self.consumers[idx].type_name(),
            paused: o.paused,
            producer_paused,
        })
    }

    /// Closes a consumer.
    pub fn close_consumer(&mut self, id: Uuid) -> Result<(), RtcError> {
        let c = self.consumer_idx(id)?;
        self.close_consumer_idx(c);
        self.events.push(Event::ConsumerClose { consumer_id: id });
        Ok(())
    }

    fn close_consumer_idx(&mut self, c: usize) {
        let consumer = self.consumers.remove(c).expect("consumer index is live");
        if let Some(p) = self.producers.get_mut(consumer.producer) {
            p.consumers.retain(|&x| x != c);
        }
        if let Some(t) = self.transports.get_mut(consumer.transport) {
            t.consumers.retain(|&x| x != c);
        }
        self.ids.remove(&consumer.id);
    }

    /// Pauses or resumes a consumer. On resume its stream continues without a sequence gap.
    pub fn set_consumer_paused(&mut self, id: Uuid, paused: bool) -> Result<(), RtcError> {
        let c = self.consumer_idx(id)?;
        if self.consumers[c].set_paused(paused) {
            self.update_layers(c);
            if !paused {
                self.key_frame_on_activate(c);
            }
        }
        Ok(())
    }

    /// A consumer's dump.
    pub fn dump_consumer(&self, id: Uuid) -> Result<Value, RtcError> {
        let c = &self.consumers[self.consumer_idx(id)?];
        let mut dump = serde_json::json!({
            "id": c.id,
            "producerId": self.producers[c.producer].id,
            "transportId": self.transports[c.transport].id,
            "kind": c.kind,
            "type": c.type_name(),
            "paused": c.paused,
            "producerPaused": c.producer_paused,
            "rtpParameters": c.rtp_parameters,
            "appData": c.app_data,
        });
        simulcast::add_layers(c, &mut dump);
        Ok(dump)
    }

    /// mediasoup-like consumer stats: its `outbound-rtp` entry, then its producer's `inbound-rtp`.
    pub fn consumer_stats(&self, id: Uuid) -> Result<Value, RtcError> {
        let c = &self.consumers[self.consumer_idx(id)?];
        let mime = media_codec(&c.rtp_parameters.codecs)
            .map(|x| x.mime_type.clone())
            .unwrap_or_default();
        let mut entry = serde_json::json!({
            "type": "outbound-rtp",
            "kind": c.kind,
            "mimeType": mime,
            "ssrc": c.ssrc,
            "packetCount": c.packets,
            "byteCount": c.bytes,
            "packetsLost": c.rtp_stream.packets_lost,
            "fractionLost": c.rtp_stream.fraction_lost,
            "roundTripTime": c.rtp_stream.rtt.map(|d| d.as_secs_f64() * 1000.0),
            "pliCount": c.rtp_stream.pli_received,
            "firCount": c.rtp_stream.fir_received,
            "nackCount": c.rtp_stream.nack.nacks,
            "nackPacketCount": c.rtp_stream.nack.nacked_packets,
            "retransmittedPacketCount": c.rtp_stream.nack.retransmitted,
            "retransmissionNotFoundCount": c.rtp_stream.nack.not_found,
        });
        simulcast::add_layers(c, &mut entry);
        let mut out = vec![entry];
        if let Value::Array(inbound) = self.producer_stats(self.producers[c.producer].id)? {
            out.extend(inbound);
        }
        Ok(Value::Array(out))
    }

    // --------------------------------------------------------- the data path

    /// Handles one datagram received on `sock` from `from`: RTP is forwarded to the consumers
    /// of its producer, each rewritten to the consumer's SSRC, payload type, sequence number,
    /// timestamp and header extension block (its own mid, transport-wide sequence number and
    /// abs-send-time; see [`super::consumer`]). Never allocates; every drop is counted.
    #[inline]
    pub fn handle_datagram<T: Transmit>(
        &mut self,
        now: Instant,
        sock: SockId,
        from: SocketAddr,
        data: &mut [u8],
        tx: &mut T,
    ) {
        self.counters.packets_in += 1;
        self.counters.bytes_in += data.len() as u64;
        // Send buffers hold MAX_DATAGRAM bytes, so a longer packet could not be forwarded (the
        // copy into a consumer's buffer would overrun it). The I/O layer never delivers one;
        // callers of this sans-IO API might (the fuzzer did).
        if data.len() > MAX_DATAGRAM {
            self.counters.drop(DropReason::Malformed);
            return;
        }
        let Some(&(t, is_rtcp_sock)) = self.by_sock.get(&sock) else {
            self.counters.drop(DropReason::UnknownSocket);
            return;
        };
        let transport = &mut self.transports[t];
        let Some(p) = transport.plain_mut() else {
            self.counters.drop(DropReason::UnknownSocket);
            return;
        };
        let expected = if is_rtcp_sock {
            p.rtcp_remote
        } else {
            p.remote
        };
        match expected {
            Some(r) if r == from => {}
            Some(_) => {
                self.counters.drop(DropReason::UnknownSource);
                return;
            }
            None if p.comedia => {
                // RFC 4145's "comedia": the first datagram tells where the remote is.
                if is_rtcp_sock {
                    p.rtcp_remote = Some(from);
                } else {
                    p.remote = Some(from);
                    if p.rtcp_mux() {
                        p.rtcp_remote = Some(from);
                    }
                }
                let (transport_id, tuple) = (transport.id, transport.tuple());
                self.events.push(Event::TransportTuple {
                    transport_id,
                    tuple,
                });
            }
            None => {
                self.counters.drop(DropReason::NotConnected);
                return;
            }
        }
        let transport = &mut self.transports[t];
        transport.counters.bytes_received += data.len() as u64;
        let kind = classify(data);
        let p = transport.plain_mut().expect("checked above");
        let data = if p.srtp_local.is_none() {
            data
        } else {
            let Some(srtp) = p.srtp.as_mut() else {
                self.counters.drop(DropReason::NoSrtp);
                return;
            };
            let opened = match kind {
                PacketKind::Rtp => srtp.inbound.unprotect_rtp(data),
                PacketKind::Rtcp => srtp.inbound.unprotect_rtcp(data),
                _ => Ok(data.len()),
            };
            match opened {
                Ok(n) => &mut data[..n],
                Err(_) => {
                    self.counters.drop(DropReason::SrtpUnprotect);
                    return;
                }
            }
        };
        match kind {
            PacketKind::Rtp if !is_rtcp_sock => self.on_rtp(now, t, data, tx),
            PacketKind::Rtcp => self.on_rtcp(now, t, data, tx),
            PacketKind::Stun | PacketKind::Dtls => self.counters.drop(DropReason::Unsupported),
            _ => self.counters.drop(DropReason::Malformed),
        }
    }

    #[inline]
    fn on_rtp<T: Transmit>(&mut self, now: Instant, t: usize, data: &mut [u8], tx: &mut T) {
        let Ok(pkt) = RtpPacket::parse(data) else {
            self.counters.drop(DropReason::Malformed);
            return;
        };
        let (ssrc, seq, ts, pt) = (
            pkt.ssrc(),
            pkt.sequence(),
            pkt.timestamp(),
            pkt.payload_type(),
        );
        let len = data.len();
        let payload_len = pkt.payload().len() as u64;
        let Self {
            transports,
            producers,
            consumers,
            counters,
            rtcp,
            abs_send_time,
            events,
            ..
        } = self;
        let transport = &mut transports[t];
        transport.counters.rtp_packets_received += 1;
        // Transport-cc counts every packet of the transport, known SSRC or not (mediasoup).
        if rtcp.twcc.incoming(t, now, &pkt) {
            rtcp.wake();
        }
        let p = match transport.ssrc_table.get(&ssrc) {
            Some(&p) => p,
            None => match transport.listener.learn(producers, &pkt) {
                Some(p) => {
                    transport.ssrc_table.insert(ssrc, p);
                    p
                }
                None => {
                    counters.drop(DropReason::UnknownSsrc);
                    return;
                }
            },
        };
        let producer = &mut producers[p];
        let Some((si, is_rtx)) = producer.stream_index(ssrc) else {
            counters.drop(DropReason::UnknownSsrc);
            return;
        };
        let stream = &mut producer.streams[si];
        if is_rtx {
            stream.rtx_packets += 1;
            // A retransmission Sluice asked for: taken in as the packet it repairs.
            if let Some(at) = nack::unwrap_rtx(producer, si, data) {
                transport.counters.rtp_packets_received -= 1;
                return self.on_rtp(now, t, &mut data[at..], tx);
            }
            counters.drop(DropReason::Rtx);
            return;
        }
        let woke = stream.receive(now, seq, ts, len);
        stream.detect_key_frame(pt, pkt.payload());
        if let Some(b) = &mut stream.retransmission {
            b.insert(now, seq, pkt.as_bytes());
        }
        nack::track_loss(stream, rtcp, now, seq, pt, pkt.payload());
        let key_codec = stream.feedback.codec;
        if woke && producer.streams.len() > 1 {
            let key = starts_key_frame(key_codec, pt, pkt.payload());
            simulcast::stream_woke(producer, si, key, consumers, events, rtcp);
        }
        if producer.paused {
            counters.drop(DropReason::ProducerPaused);
            return;
        }
        let producer = &producers[p];
        // Whether this packet starts a key frame: asked only by a simulcast consumer waiting
        // to switch to this stream, computed at most once.
        let mut key_frame = None;
        let mut is_key_frame =
            || *key_frame.get_or_insert_with(|| starts_key_frame(key_codec, pt, pkt.payload()));
        // The producer's extension elements, read once for all consumers. More than
        // MAX_ELEMENTS: every consumer rewrites in place instead.
        let src_ext = rtp::ExtensionElements::read(&pkt);
        for &c in &producer.consumers {
            let consumer = &mut consumers[c];
            if !consumer.active() {
                continue;
            }
            match consumer.admit(si, &mut is_key_frame) {
                Admit::Forward => {}
                Admit::Drop => continue,
                Admit::Switch => switch_layer(consumer, &producer.streams, si, events),
            }
            let out_pt = consumer.pt_map[(pt & 0x7F) as usize];
            if out_pt == PT_NONE {
                continue;
            }
            let Some((out_seq, out_ts)) = consumer.seq.rewrite(now, seq, ts) else {
                counters.drop(DropReason::Stale);
                continue;
            };
            let ct = &mut transports[consumer.transport];
            let Some((sock, dest)) = ct.rtp_destination() else {
                continue;
            };
            let fixed = rtp::FixedFields {
                payload_type: out_pt,
                sequence: out_seq,
                timestamp: out_ts,
                ssrc: consumer.ssrc,
            };
            let extensions = &consumer.extensions;
            let stamps = Stamps {
                transport_cc: ct.counters.transport_cc_seq.wrapping_add(1),
                abs_send_time: if extensions.wants_abs_send_time() {
                    match *abs_send_time {
                        Some((at, v)) if at == now => v,
                        _ => {
                            let v = (rtcp.ntp(now) >> 14) as u32 & 0xFF_FFFF;
                            *abs_send_time = Some((now, v));
                            v
                        }
                    }
                } else {
                    0
                },
            };
            let srtp = ct.srtp_outbound();
            // Room left after the packet for the SRTP tag (RFC 3711 §3.1, RFC 7714 §7.1: at
            // most 16 bytes).
            let tail_room = if srtp.is_some() { SRTP_MAX_TAG } else { 0 };
            let mut out_len = len;
            let mut used_transport_cc = false;
            let sent = tx.send_with(sock, dest, |buf| {
                let room = buf.len() - tail_room;
                let written = match &src_ext {
                    Ok(src_ext) if !extensions.is_identity() => extensions
                        .write(&mut buf[..room], &pkt, src_ext, &fixed, stamps)
                        .ok(),
                    _ => None,
                };
                match written {
                    Some((n, used)) => (out_len, used_transport_cc) = (n, used),
                    None => {
                        let out = &mut buf[..len];
                        out.copy_from_slice(pkt.as_bytes());
                        rtp::rewrite_fixed_header(out, out_pt, out_seq, out_ts, fixed.ssrc);
                        if !extensions.is_identity() {
                            used_transport_cc = extensions.rewrite_in_place(out, stamps);
                        }
                    }
                }
                if let Some(ctx) = srtp {
                    // A failure (no SSRC slot left) leaves nothing worth sending: an empty
                    // datagram, counted below.
                    out_len = ctx.protect_rtp(buf, out_len).unwrap_or(0);
                }
                out_len
            });
            if sent && out_len > 0 {
                if used_transport_cc {
                    ct.counters.transport_cc_seq = stamps.transport_cc;
                }
                consumer.packets += 1;
                consumer.bytes += out_len as u64;
                consumer.rtp_stream.payload_bytes += payload_len;
                ct.counters.rtp_packets_sent += 1;
                ct.counters.bytes_sent += out_len as u64;
                counters.rtp_forwarded += 1;
                counters.packets_out += 1;
                counters.bytes_out += out_len as u64;
            } else if sent {
                counters.drop(DropReason::SrtpProtect);
            } else {
                counters.drop(DropReason::NoSendBuffer);
            }
        }
    }

    fn on_rtcp<T: Transmit>(&mut self, now: Instant, t: usize, data: &[u8], tx: &mut T) {
        if rtcp::validate_compound(data).is_err() {
            self.counters.drop(DropReason::Malformed);
            return;
        }
        self.counters.rtcp_in += 1;
        self.transports[t].counters.rtcp_packets_received += 1;
        self.receive_rtcp(now, t, data, tx);
    }
}

/// The first non-RTX codec: the media codec of a stream.
fn media_codec(codecs: &[RtpCodecParameters]) -> Option<&RtpCodecParameters> {
    codecs
        .iter()
        .find(|c| !c.mime_type.to_ascii_lowercase().ends_with("/rtx"))
}

fn same_codec(a: &RtpCodecParameters, b: &RtpCodecParameters) -> bool {
    a.mime_type.eq_ignore_ascii_case(&b.mime_type)
        && a.clock_rate == b.clock_rate
        && a.channels.unwrap_or(1) == b.channels.unwrap_or(1)
}

/// Consumer payload type for each producer payload type: producer PT → router PT (the
/// producer's mapping) → the consumer codec matching the router's codec.
fn payload_type_map(producer: &Producer, consumer: &RtpParameters) -> [u8; 128] {
    let mut map = [PT_NONE; 128];
    for m in &producer.mapping.codecs {
        let (producer_pt, router_pt) = (m.payload_type, m.mapped_payload_type);
        let Some(router_codec) = producer
            .consumable
            .codecs
            .iter()
            .find(|c| c.payload_type == router_pt)
        else {
            continue;
        };
        if let Some(cc) = consumer.codecs.iter().find(|c| same_codec(c, router_codec)) {
            map[(producer_pt & 0x7F) as usize] = cc.payload_type;
        }
    }
    map
}
