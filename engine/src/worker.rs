//! Workers: one pinned thread per core, each owning an I/O [`Backend`] and a [`WorkerCore`].
//!
//! The control plane talks to a worker only through its [`Inbox`]: a bounded lock-free queue of
//! [`Command`]s plus the backend's eventfd [`Waker`]. A command's reply goes back through the
//! closure it carries (the control plane wraps a oneshot channel in it). Commands run between
//! batches of datagrams, never in the middle of one.
//!
//! **Shared media port and hand-off.** Every worker binds its own socket on the shared media
//! port with `SO_REUSEPORT`, so the kernel spreads flows over the group by hash and a datagram
//! may land on a worker that does not own its flow. Each worker keeps its own copy of the flow
//! owner table (updated through the command queues, never shared), and hands such a datagram to
//! the owner's hand-off queue: a bounded lock-free queue of preallocated slots, drained when the
//! owner wakes. Wake-ups are batched: one eventfd write per peer per batch, not per datagram.
//! Hand-offs are counted on both sides.
//!
//! **WebRTC.** STUN, DTLS and SRTP on the shared port go to [`WorkerCore::handle_shared`]
//! (module docs of [`crate::rtc::webrtc_transport`]): a STUN check whose ufrag names another
//! worker, or a datagram from a tuple another worker's ICE agent validated (learned through
//! `SetFlowOwner` commands that the owner sends its peers when the tuple is added or removed),
//! is handed over. DTLS records leave the worker through the [`DtlsSink`] (the control plane's
//! slow path); its answers come back as `SendDtls` commands and its keys as `SetDtlsState`.
//! When a datagram of a validated tuple reaches its owner by hand-off, the owner steers that
//! flow to itself (`steer_flow`), so the kernel delivers it there from then on.
//! ICE consent timers run every [`TICK`] at most, from the loop.
//!
//! **Failure.** A worker whose loop panics marks itself dead, drops every queued command (so
//! their callers get an error instead of waiting forever) and exits; the control plane reports
//! it in `/v1/health` and answers its routers' requests with 503.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use rustc_hash::FxHashMap;
use serde_json::Value;
use uuid::Uuid;

use crate::io::{Backend, Handler, IoKind, TxQueue, Waker};
use crate::net::{MAX_DATAGRAM, SockId, Transmit};
use crate::rtc::rtp_parameters::RtpCodecCapability;
use crate::rtc::webrtc_transport::{
    DtlsStateName, IceParameters, WebRtcSrtp, WebRtcTransportOptions, WebRtcTransportReply,
};
use crate::rtc::{
    ConsumeOptions, ConsumeReply, DropReason, Event, PlainTransportOptions, PlainTransportReply,
    ProduceOptions, ProduceReply, RouterReply, RtcError, SharedOutcome, WorkerCore, WorkerCounters,
};

/// Capacity of each worker's command queue.
const COMMAND_QUEUE: usize = 1024;
/// Capacity of each worker's hand-off queue (datagrams).
const HANDOFF_QUEUE: usize = 4096;
/// Most flows steered at once on the shared media port, over all workers (each worker may
/// steer its share). Every connected flow socket lengthens the kernel's socket chain for the
/// port, which the lookup of each *unsteered* datagram walks: measured here (6.18) about +7 ns
/// per flow socket up to ~2 000 (+7 µs per unsteered datagram at 1 000), and ~+28 ns each
/// beyond, once the chain leaves the cache (+71 µs at 4 000). Steered datagrams are found by
/// the 4-tuple hash and do not pay it. 1 024 keeps an unsteered datagram (a new flow's STUN and
/// DTLS, or junk sent at the port) under ~3× what it costs with no flow socket; flows beyond it
/// keep working through hand-offs.
pub const MAX_STEERED_FLOWS: usize = 1024;
/// Longest sleep of an idle worker (stats publication and future timers).
const TICK: Duration = Duration::from_millis(100);

/// How workers are set up.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Number of workers.
    pub workers: usize,
    /// Pin each worker to a core.
    pub pin: bool,
    /// I/O backend.
    pub io: IoKind,
    /// The shared WebRTC media address (`SO_REUSEPORT` group); port 0 picks one.
    pub media_addr: SocketAddr,
    /// IP on which plain transports bind.
    pub rtc_ip: IpAddr,
    /// Announced IP for transport tuples, when the listen address is not reachable as is.
    pub announced_ip: Option<IpAddr>,
    /// Port range for plain transports.
    pub rtc_ports: (u16, u16),
}

/// A request to a worker. Ids are chosen by the caller.
#[derive(Debug)]
#[non_exhaustive]
pub enum Request {
    /// Create a router.
    CreateRouter {
        id: Uuid,
        media_codecs: Vec<RtpCodecCapability>,
    },
    /// Close a router and everything in it.
    CloseRouter { id: Uuid },
    /// A router's dump.
    DumpRouter { id: Uuid },
    /// A router's stats.
    RouterStats { id: Uuid },
    /// Create a plain transport in a router: binds its port(s) from `--rtc-ports`.
    CreatePlainTransport {
        router_id: Uuid,
        id: Uuid,
        options: PlainTransportOptions,
    },
    /// Create a WebRTC transport on the shared media port.
    CreateWebRtcTransport {
        router_id: Uuid,
        id: Uuid,
        options: WebRtcTransportOptions,
    },
    /// New ICE credentials for a WebRTC transport.
    RestartIce { id: Uuid },
    /// The DTLS driver's state for a WebRTC transport, with its SRTP contexts on `connected`.
    SetDtlsState {
        id: Uuid,
        state: DtlsStateName,
        srtp: Option<Box<WebRtcSrtp>>,
    },
    /// Send a DTLS record to a WebRTC transport's selected tuple.
    SendDtls { id: Uuid, data: Vec<u8> },
    /// SDES-SRTP on a plain transport: draw our key for `profile` (answers `SrtpKey`).
    EnablePlainSrtp {
        id: Uuid,
        profile: crate::crypto::srtp::SrtpProfile,
    },
    /// SDES-SRTP on a plain transport: the remote's suite and `key ‖ salt`.
    SetPlainSrtpRemote {
        id: Uuid,
        profile: crate::crypto::srtp::SrtpProfile,
        key: Vec<u8>,
    },
    /// Give a plain transport its remote.
    ConnectPlainTransport {
        id: Uuid,
        ip: IpAddr,
        port: u16,
        rtcp_port: Option<u16>,
    },
    /// Close a transport with its producers and consumers.
    CloseTransport { id: Uuid },
    /// A transport's dump.
    DumpTransport { id: Uuid },
    /// A transport's stats.
    TransportStats { id: Uuid },
    /// Create a producer.
    Produce {
        transport_id: Uuid,
        options: ProduceOptions,
    },
    /// Close a producer (and its consumers).
    CloseProducer { id: Uuid },
    /// Pause or resume a producer.
    PauseProducer { id: Uuid, paused: bool },
    /// A producer's dump.
    DumpProducer { id: Uuid },
    /// A producer's stats.
    ProducerStats { id: Uuid },
    /// Create a consumer.
    Consume {
        transport_id: Uuid,
        options: ConsumeOptions,
    },
    /// Close a consumer.
    CloseConsumer { id: Uuid },
    /// Pause or resume a consumer.
    PauseConsumer { id: Uuid, paused: bool },
    /// Ask the producer for a key frame on behalf of a consumer.
    RequestKeyFrame { id: Uuid },
    /// Set a simulcast consumer's preferred layers (a simple consumer ignores them).
    SetPreferredLayers {
        id: Uuid,
        spatial_layer: u8,
        temporal_layer: Option<u8>,
    },
    /// A consumer's dump.
    DumpConsumer { id: Uuid },
    /// A consumer's stats.
    ConsumerStats { id: Uuid },
    /// Record which worker owns the flow from `addr` on the shared port (`None`: forget it).
    SetFlowOwner {
        addr: SocketAddr,
        owner: Option<usize>,
    },
    /// Steer the flow from `remote` on the shared port to this worker, its owner, with a
    /// connected `SO_REUSEPORT` socket the kernel prefers over the group (`Worker::steer_flow`).
    /// Sent to the owner once ICE has bound `remote` to a transport. Idempotent; refused (503)
    /// past [`MAX_STEERED_FLOWS`] or at the fd limit, which is never fatal: the flow keeps
    /// working through hand-offs.
    SteerFlow { remote: SocketAddr },
    /// Undo [`Request::SteerFlow`] when the flow ends or moves; unknown flows are ignored.
    UnsteerFlow { remote: SocketAddr },
    /// Test hook: own the flow from `addr` on the shared port and echo its datagrams.
    #[doc(hidden)]
    OwnEchoFlow { addr: SocketAddr },
    /// Test hook: panic the worker's loop.
    #[doc(hidden)]
    Panic,
}

/// A worker's answer.
#[derive(Debug)]
pub enum Response {
    /// Nothing to return.
    Done,
    /// A router was created.
    Router(RouterReply),
    /// A plain transport was created.
    PlainTransport(PlainTransportReply),
    /// A WebRTC transport was created.
    WebRtcTransport(WebRtcTransportReply),
    /// ICE was restarted.
    IceParameters(IceParameters),
    /// Our SRTP master key and salt (SDES on a plain transport).
    SrtpKey(Vec<u8>),
    /// A producer was created.
    Produce(ProduceReply),
    /// A consumer was created.
    Consume(ConsumeReply),
    /// A dump or stats document.
    Json(Value),
}

/// The reply callback of a [`Command`]: called exactly once on the worker thread, or dropped
/// unanswered when the worker is gone.
pub type Reply = Box<dyn FnOnce(Result<Response, RtcError>) + Send>;

/// A request with its reply callback.
pub struct Command {
    /// What to do.
    pub request: Request,
    /// Where the answer goes.
    pub reply: Reply,
}

/// Why a command could not be queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The worker has stopped (panicked or shut down).
    #[error("worker {0} is not running")]
    Dead(usize),
    /// The worker's queue is full.
    #[error("worker {0} is overloaded")]
    Full(usize),
}

struct Handoff {
    from: SocketAddr,
    len: u16,
    data: [u8; MAX_DATAGRAM],
}

/// Published counters of one worker, readable from any thread.
pub struct WorkerStats {
    counters: [AtomicU64; STAT_FIELDS],
    routers: AtomicUsize,
}

// By hand: `Default` is derived for arrays of at most 32 elements.
impl Default for WorkerStats {
    fn default() -> Self {
        Self {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            routers: AtomicUsize::new(0),
        }
    }
}

const STAT_FIELDS: usize = 22 + DropReason::ALL.len();

/// A snapshot of a worker's published stats.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatsSnapshot {
    /// The RTC core's counters.
    pub rtc: WorkerCounters,
    /// The I/O backend's counters.
    pub io: crate::io::IoStats,
    /// Routers on the worker.
    pub routers: usize,
}

impl WorkerStats {
    fn publish(&self, c: &WorkerCounters, io: &crate::io::IoStats, routers: usize) {
        let fixed = [
            c.packets_in,
            c.bytes_in,
            c.packets_out,
            c.bytes_out,
            c.rtp_forwarded,
            c.rtcp_in,
            c.handoffs_out,
            c.handoffs_in,
            io.rx_packets,
            io.tx_packets,
            io.tx_errors,
            io.tx_no_buffer,
            io.rx_no_buffer,
            io.rx_truncated,
            c.rtcp_out,
            c.key_frame_requests_sent,
            c.key_frame_requests_suppressed,
            c.nacks_received,
            c.rtp_retransmitted,
            c.retransmissions_not_found,
            c.nacks_sent,
            c.transport_cc_feedback_sent,
        ];
        for (slot, v) in self.counters.iter().zip(fixed.iter().chain(c.drops.iter())) {
            slot.store(*v, Ordering::Relaxed);
        }
        self.routers.store(routers, Ordering::Relaxed);
    }

    /// Reads the published counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let v: Vec<u64> = self
            .counters
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        let mut rtc = WorkerCounters {
            packets_in: v[0],
            bytes_in: v[1],
            packets_out: v[2],
            bytes_out: v[3],
            rtp_forwarded: v[4],
            rtcp_in: v[5],
            handoffs_out: v[6],
            handoffs_in: v[7],
            rtcp_out: v[14],
            key_frame_requests_sent: v[15],
            key_frame_requests_suppressed: v[16],
            nacks_received: v[17],
            rtp_retransmitted: v[18],
            retransmissions_not_found: v[19],
            nacks_sent: v[20],
            transport_cc_feedback_sent: v[21],
            ..Default::default()
        };
        rtc.drops.copy_from_slice(&v[22..]);
        let io = crate::io::IoStats {
            rx_packets: v[8],
            tx_packets: v[9],
            tx_errors: v[10],
            tx_no_buffer: v[11],
            rx_no_buffer: v[12],
            rx_truncated: v[13],
            syscalls: 0,
        };
        StatsSnapshot {
            rtc,
            io,
            routers: self.routers.load(Ordering::Relaxed),
        }
    }
}

/// What the control plane and the other workers hold of one worker.
pub struct Inbox {
    commands: ArrayQueue<Command>,
    handoff: ArrayQueue<Box<Handoff>>,
    /// Empty hand-off slots, recycled so that a hand-off never allocates after start-up.
    handoff_free: ArrayQueue<Box<Handoff>>,
    waker: std::sync::OnceLock<Waker>,
    alive: AtomicBool,
    stop: AtomicBool,
    stats: WorkerStats,
}

impl Inbox {
    fn new() -> Self {
        let handoff_free = ArrayQueue::new(HANDOFF_QUEUE);
        for _ in 0..HANDOFF_QUEUE {
            let _ = handoff_free.push(Box::new(Handoff {
                from: ([0, 0, 0, 0], 0).into(),
                len: 0,
                data: [0; MAX_DATAGRAM],
            }));
        }
        Self {
            commands: ArrayQueue::new(COMMAND_QUEUE),
            handoff: ArrayQueue::new(HANDOFF_QUEUE),
            handoff_free,
            waker: std::sync::OnceLock::new(),
            alive: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            stats: WorkerStats::default(),
        }
    }

    fn wake(&self) {
        if let Some(w) = self.waker.get() {
            w.wake();
        }
    }

    /// Drops every queued command unanswered (their callers see the reply channel close).
    fn drain_commands(&self) {
        while self.commands.pop().is_some() {}
    }
}

/// A running worker, as the control plane holds it.
pub struct WorkerHandle {
    index: usize,
    core: Option<usize>,
    io: IoKind,
    inbox: Arc<Inbox>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    /// The worker's index (its id in the API).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The core it is pinned to.
    pub fn core(&self) -> Option<usize> {
        self.core
    }

    /// The I/O backend it runs.
    pub fn io_kind(&self) -> IoKind {
        self.io
    }

    /// Whether its loop is running.
    pub fn is_alive(&self) -> bool {
        self.inbox.alive.load(Ordering::SeqCst)
    }

    /// Its published counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.inbox.stats.snapshot()
    }

    /// Queues a command and wakes the worker. When the worker is dead the command is dropped
    /// (its reply callback with it) and an error returned.
    pub fn send(&self, request: Request, reply: Reply) -> Result<(), SendError> {
        if !self.is_alive() {
            return Err(SendError::Dead(self.index));
        }
        if self
            .inbox
            .commands
            .push(Command { request, reply })
            .is_err()
        {
            return Err(SendError::Full(self.index));
        }
        // The worker marks itself dead before its final drain, so either that drain sees our
        // command or we see the mark here and drain ourselves: no command is left waiting.
        if !self.is_alive() {
            self.inbox.drain_commands();
            return Err(SendError::Dead(self.index));
        }
        self.inbox.wake();
        Ok(())
    }
}

/// All workers of the process.
pub struct Workers {
    handles: Vec<WorkerHandle>,
    media_addr: SocketAddr,
}

/// Receives the events of every worker: `(worker index, event)`.
pub type EventSink = Arc<dyn Fn(usize, Event) + Send + Sync>;

/// A DTLS record a worker received for one of its WebRTC transports.
#[derive(Debug)]
pub struct DtlsRecord {
    /// The worker that owns the transport.
    pub worker: usize,
    /// The transport.
    pub transport_id: Uuid,
    /// The datagram.
    pub data: Vec<u8>,
}

/// Receives DTLS records for the control plane's DTLS driver. Called on the worker thread:
/// it must only queue and wake.
pub type DtlsSink = Arc<dyn Fn(DtlsRecord) + Send + Sync>;

impl Workers {
    /// Starts `config.workers` workers and waits until each has bound its shared-port socket.
    /// DTLS records are dropped: use [`Workers::spawn_with_dtls`] where WebRTC transports run.
    pub fn spawn(config: &WorkerConfig, events: EventSink) -> io::Result<Self> {
        Self::spawn_with_dtls(config, events, Arc::new(|_| {}))
    }

    /// As [`Workers::spawn`], with DTLS records going to `dtls`.
    pub fn spawn_with_dtls(
        config: &WorkerConfig,
        events: EventSink,
        dtls: DtlsSink,
    ) -> io::Result<Self> {
        let n = config.workers.max(1);
        let cores = if config.pin {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let inboxes: Vec<Arc<Inbox>> = (0..n).map(|_| Arc::new(Inbox::new())).collect();
        let mut media_addr = claim_media_addr(config.media_addr)?;
        let mut handles = Vec::with_capacity(n);
        for index in 0..n {
            let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let mut cfg = config.clone();
            cfg.media_addr = media_addr;
            let inboxes2 = inboxes.clone();
            let events = events.clone();
            let dtls = dtls.clone();
            let thread = std::thread::Builder::new()
                .name(format!("sluice-worker-{index}"))
                .spawn(move || {
                    if let Some(core) = core
                        && !core_affinity::set_for_current(core)
                    {
                        tracing::warn!(
                            worker = index,
                            core = core.id,
                            "could not pin worker to its core"
                        );
                    }
                    run(index, cfg, inboxes2, events, dtls, ready_tx)
                })?;
            let (io, bound) = ready_rx
                .recv()
                .map_err(|_| io::Error::other(format!("worker {index} died while starting")))??;
            debug_assert_eq!(bound, media_addr);
            media_addr = bound;
            handles.push(WorkerHandle {
                index,
                core: core.map(|c| c.id),
                io,
                inbox: inboxes[index].clone(),
                thread: Some(thread),
            });
        }
        Ok(Self {
            handles,
            media_addr,
        })
    }

    /// The workers, by index.
    pub fn handles(&self) -> &[WorkerHandle] {
        &self.handles
    }

    /// One worker.
    pub fn get(&self, index: usize) -> Option<&WorkerHandle> {
        self.handles.get(index)
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether there are none (never, once spawned).
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The shared media address the workers bound.
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// Test hook: makes `owner` own (and echo) the flow from `addr` on the shared port and tells
    /// every other worker to hand that flow's datagrams to it. Returns once every worker applied it.
    #[doc(hidden)]
    pub fn own_echo_flow(&self, addr: SocketAddr, owner: usize) -> Result<(), SendError> {
        let (tx, rx) = std::sync::mpsc::channel();
        for h in &self.handles {
            let req = if h.index == owner {
                Request::OwnEchoFlow { addr }
            } else {
                Request::SetFlowOwner {
                    addr,
                    owner: Some(owner),
                }
            };
            let tx = tx.clone();
            h.send(
                req,
                Box::new(move |_| {
                    let _ = tx.send(());
                }),
            )?;
        }
        for h in &self.handles {
            rx.recv().map_err(|_| SendError::Dead(h.index))?;
        }
        Ok(())
    }

    /// Stops every worker and joins their threads.
    pub fn shutdown(&mut self) {
        for h in &self.handles {
            h.inbox.stop.store(true, Ordering::SeqCst);
            h.inbox.wake();
        }
        for h in &mut self.handles {
            if let Some(t) = h.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Checks that nobody holds the shared media address and resolves port 0 to a concrete port.
///
/// A `SO_REUSEPORT` bind succeeds on a port another reuseport socket of the same user already
/// holds (for UDP the kernel even picks such a port for port 0), which would silently merge two
/// processes (or two test instances) into one group and split their traffic. A plain bind
/// without the option fails with `EADDRINUSE` instead; it is released before the group binds.
fn claim_media_addr(addr: SocketAddr) -> io::Result<SocketAddr> {
    let probe = std::net::UdpSocket::bind(addr).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            io::Error::new(
                e.kind(),
                format!("{addr} is already in use (another Sluice running?)"),
            )
        } else {
            e
        }
    })?;
    probe.local_addr()
}

type Ready = std::sync::mpsc::Sender<io::Result<(IoKind, SocketAddr)>>;

/// The worker thread's body.
fn run(
    index: usize,
    config: WorkerConfig,
    inboxes: Vec<Arc<Inbox>>,
    events: EventSink,
    dtls: DtlsSink,
    ready: Ready,
) {
    let inbox = inboxes[index].clone();
    let setup = (|| -> io::Result<(Backend, SockId, SocketAddr)> {
        let mut backend = Backend::new(config.io)?;
        let sock = crate::io::socket::bind_udp(config.media_addr, true)?;
        let bound = sock.local_addr()?;
        let shared = backend.add_socket(sock)?;
        Ok((backend, shared, bound))
    })();
    let (backend, shared, bound) = match setup {
        Ok(x) => x,
        Err(e) => {
            inbox.alive.store(false, Ordering::SeqCst);
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = inbox.waker.set(backend.waker());
    let _ = ready.send(Ok((backend.kind(), bound)));
    tracing::info!(worker = index, io = ?backend.kind(), media = %bound, "worker started");

    let mut core = WorkerCore::new();
    core.set_worker_index(index);
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    core.set_wall_clock(Instant::now(), unix);
    let mut worker = Worker {
        index,
        config,
        backend,
        last_tick: Instant::now(),
        state: State {
            index,
            core,
            shared,
            shared_addr: bound,
            dtls,
            now: None,
            inboxes,
            flow_owner: FxHashMap::default(),
            to_steer: Vec::new(),
            echo_flows: FxHashMap::default(),
            wake_peers: 0,
            commands_pending: true,
        },
        events,
        steered: FxHashMap::default(),
    };
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| worker.run_loop()));
    inbox.alive.store(false, Ordering::SeqCst);
    inbox.drain_commands();
    match result {
        Ok(Ok(())) => tracing::info!(worker = index, "worker stopped"),
        Ok(Err(e)) => tracing::error!(worker = index, error = %e, "worker stopped on an I/O error"),
        Err(_) => tracing::error!(
            worker = index,
            "worker panicked; its routers are unavailable"
        ),
    }
}

struct Worker {
    index: usize,
    config: WorkerConfig,
    backend: Backend,
    /// When the ICE timers last ran.
    last_tick: Instant,
    state: State,
    events: EventSink,
    /// Connected flow sockets on the shared port, by remote ([`Worker::steer_flow`]).
    steered: FxHashMap<SocketAddr, SockId>,
}

/// What the I/O handler needs while the backend is borrowed by `poll`.
struct State {
    index: usize,
    core: WorkerCore,
    /// This worker's socket on the shared media port.
    shared: SockId,
    /// Its bound address.
    shared_addr: SocketAddr,
    dtls: DtlsSink,
    now: Option<Instant>,
    inboxes: Vec<Arc<Inbox>>,
    /// Owner of each known flow on the shared port that another worker owns. Looked up per
    /// datagram of a flow this worker does not know, so Fx, not SipHash: filled only with
    /// tuples another worker's ICE agent validated (`SetFlowOwner`), never by a remote alone.
    flow_owner: FxHashMap<SocketAddr, usize>,
    /// Remotes of validated tuples whose datagrams came by hand-off: to steer after the batch.
    to_steer: Vec<SocketAddr>,
    /// Flows this worker owns on the shared port (test hook until WebRTC transports own them).
    echo_flows: FxHashMap<SocketAddr, ()>,
    /// Bit i set: wake worker i after this batch (hand-offs queued for it).
    wake_peers: u64,
    commands_pending: bool,
}

impl State {
    #[inline]
    fn now(&mut self) -> Instant {
        *self.now.get_or_insert_with(Instant::now)
    }

    #[inline]
    fn on_shared(&mut self, from: SocketAddr, data: &mut [u8], tx: &mut TxQueue) {
        if self.echo_flows.contains_key(&from) {
            if !tx.send(self.shared, from, data) {
                self.core.counters_mut().drop(DropReason::NoSendBuffer);
            }
            return;
        }
        if !self.core.knows_remote(from)
            && let Some(&owner) = self.flow_owner.get(&from)
            && owner != self.index
        {
            self.hand_off(owner, from, data);
            return;
        }
        self.on_mine(from, data, tx, true);
    }

    /// A shared-port datagram this worker handles itself (or, for a STUN check of another
    /// worker's ufrag, hands over when `may_hand_off`).
    #[inline]
    fn on_mine(&mut self, from: SocketAddr, data: &mut [u8], tx: &mut TxQueue, may_hand_off: bool) {
        let now = self.now();
        match self.core.handle_shared(now, from, data, tx) {
            SharedOutcome::Done => {}
            SharedOutcome::Handoff(owner) if may_hand_off && owner < self.inboxes.len() => {
                self.hand_off(owner, from, data)
            }
            SharedOutcome::Handoff(_) => self.core.counters_mut().drop(DropReason::UnknownUfrag),
            SharedOutcome::Dtls(transport_id) => (self.dtls)(DtlsRecord {
                worker: self.index,
                transport_id,
                data: data.to_vec(),
            }),
        }
    }

    #[inline]
    fn hand_off(&mut self, owner: usize, from: SocketAddr, data: &[u8]) {
        let peer = &self.inboxes[owner];
        let Some(mut slot) = peer.handoff_free.pop() else {
            self.core.counters_mut().drop(DropReason::HandoffQueueFull);
            return;
        };
        slot.from = from;
        slot.len = data.len() as u16;
        slot.data[..data.len()].copy_from_slice(data);
        if let Err(slot) = peer.handoff.push(slot) {
            let _ = peer.handoff_free.push(slot);
            self.core.counters_mut().drop(DropReason::HandoffQueueFull);
            return;
        }
        self.core.counters_mut().handoffs_out += 1;
        self.wake_peers |= 1 << (owner % 64);
    }
}

impl Handler for State {
    #[inline]
    fn on_datagram(&mut self, sock: SockId, from: SocketAddr, data: &mut [u8], tx: &mut TxQueue) {
        if sock == self.shared {
            self.core.counters_mut().packets_in += 1;
            self.core.counters_mut().bytes_in += data.len() as u64;
            self.on_shared(from, data, tx);
        } else {
            let now = self.now();
            self.core.handle_datagram(now, sock, from, data, tx);
        }
    }

    fn on_wake(&mut self, tx: &mut TxQueue) {
        self.commands_pending = true;
        let inbox = self.inboxes[self.index].clone();
        while let Some(mut h) = inbox.handoff.pop() {
            self.core.counters_mut().handoffs_in += 1;
            let len = h.len as usize;
            let from = h.from;
            if self.echo_flows.contains_key(&from) {
                if !tx.send(self.shared, from, &h.data[..len]) {
                    self.core.counters_mut().drop(DropReason::NoSendBuffer);
                }
            } else {
                // Never handed on again: a datagram travels at most one hop.
                self.on_mine(from, &mut h.data[..len], tx, false);
                if self.core.knows_remote(from) && !self.to_steer.contains(&from) {
                    self.to_steer.push(from);
                }
            }
            let _ = inbox.handoff_free.push(h);
        }
    }
}

impl Worker {
    fn run_loop(&mut self) -> io::Result<()> {
        let inbox = self.state.inboxes[self.index].clone();
        loop {
            if inbox.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            if self.state.commands_pending {
                self.state.commands_pending = false;
                while let Some(cmd) = inbox.commands.pop() {
                    self.handle_command(cmd);
                }
            }
            self.state.now = None;
            // RTCP timers (a no-op unless due); the wait ends at the next one.
            let now = Instant::now();
            self.state.core.handle_timeout(now, self.backend.tx());
            let wait = self
                .state
                .core
                .poll_timeout()
                .map_or(TICK, |t| t.saturating_duration_since(now).min(TICK));
            self.backend.poll(Some(wait), &mut self.state)?;
            // Wake peers we handed datagrams to: one eventfd write per peer per batch.
            let mut peers = std::mem::take(&mut self.state.wake_peers);
            while peers != 0 {
                let i = peers.trailing_zeros() as usize;
                peers &= peers - 1;
                for (j, peer) in self.state.inboxes.iter().enumerate() {
                    if j % 64 == i {
                        peer.wake();
                    }
                }
            }
            let now = Instant::now();
            if now >= self.last_tick + TICK {
                self.last_tick = now;
                self.state.core.handle_ice_timeouts(now);
            }
            // Validated tuples of this worker's transports whose datagrams the kernel hashes to
            // another worker (they came by hand-off): steer them here (`steer_flow`). Cleared,
            // not taken, so the vector keeps its capacity.
            for i in 0..self.state.to_steer.len() {
                let remote = self.state.to_steer[i];
                if self.state.core.knows_remote(remote) {
                    // Refused past MAX_STEERED_FLOWS: the flow stays on the hand-off path.
                    let _ = self.steer_flow(remote);
                }
            }
            self.state.to_steer.clear();
            self.flush_events();
            inbox.stats.publish(
                self.state.core.counters(),
                &self.backend.stats(),
                self.state.core.router_count(),
            );
        }
    }

    fn handle_command(&mut self, cmd: Command) {
        let Command { request, reply } = cmd;
        let result = match std::panic::catch_unwind(AssertUnwindSafe(|| self.execute(request))) {
            Ok(r) => r,
            Err(panic) => {
                // Unwinding would drop the reply, and the caller would hear of the failure,
                // before `run` marks the worker dead: mark it first, so that whoever learns the
                // command failed also finds the worker reported dead in /v1/health.
                self.state.inboxes[self.index]
                    .alive
                    .store(false, Ordering::SeqCst);
                drop(reply);
                std::panic::resume_unwind(panic);
            }
        };
        self.flush_events();
        reply(result);
    }

    /// Emits the core's events and tells the other workers about flows this one gained or lost.
    fn flush_events(&mut self) {
        if self.state.core.has_events() {
            for e in self.state.core.take_events() {
                (self.events)(self.index, e);
            }
        }
        if self.state.core.has_flow_changes() {
            for (addr, owned) in self.state.core.take_flow_changes() {
                if !owned {
                    self.unsteer_flow(addr);
                }
                for (j, peer) in self.state.inboxes.iter().enumerate() {
                    if j == self.index {
                        continue;
                    }
                    let cmd = Command {
                        request: Request::SetFlowOwner {
                            addr,
                            owner: owned.then_some(self.index),
                        },
                        reply: Box::new(|_| {}),
                    };
                    // A full queue loses the update: that flow's datagrams landing on the peer
                    // are then dropped as unknown until the next change. Counted.
                    if peer.commands.push(cmd).is_err() {
                        self.state
                            .core
                            .counters_mut()
                            .drop(DropReason::HandoffQueueFull);
                    } else {
                        peer.wake();
                    }
                }
            }
        }
    }

    fn remove_sockets(&mut self, sockets: Vec<SockId>) {
        for s in sockets {
            self.backend.remove_socket(s);
        }
    }

    fn bind_transport_socket(&mut self) -> Result<(SockId, SocketAddr), RtcError> {
        let (lo, hi) = self.config.rtc_ports;
        let sock = crate::io::socket::bind_in_range(self.config.rtc_ip, lo, hi)
            .map_err(|e| RtcError::Capacity(format!("no free port in {lo}-{hi}: {e}")))?;
        let mut local = sock
            .local_addr()
            .map_err(|e| RtcError::Capacity(e.to_string()))?;
        let id = self
            .backend
            .add_socket(sock)
            .map_err(|e| RtcError::Capacity(format!("cannot register socket: {e}")))?;
        if let Some(ip) = self.config.announced_ip {
            local.set_ip(ip);
        }
        Ok((id, local))
    }

    /// Steers the flow from `remote` on the shared media port to this worker: a socket bound
    /// with `SO_REUSEPORT` on the shared address and connected to `remote`
    /// ([`Backend::add_connected_flow`]), which the kernel prefers over the group, so the
    /// flow's datagrams arrive here instead of wherever the group's hash puts them, and stop
    /// costing a hand-off. They reach the handler as the shared socket's (same `SockId`), so
    /// the routing of `on_shared` by source address applies unchanged. Call it on the owning
    /// worker once ICE has bound `remote` to a transport; undo it with [`Self::unsteer_flow`]
    /// when the transport closes or its tuple moves. Idempotent.
    ///
    /// Steer only flows whose datagrams reach this worker by hand-off: one the kernel already
    /// hashes here gains nothing (its hash pick is stable: connected sockets joining the group
    /// do not move unconnected flows, checked on 6.18) and would cost a little more per packet
    /// on a socket of its own (measured ~+0.2 µs with `uring`, ~+0.7 µs with `mmsg`).
    ///
    /// Costs one file descriptor per flow (and one multishot receive, or one epoll entry).
    /// When it fails (`EMFILE` at `ulimit -n`, or [`MAX_STEERED_FLOWS`] reached) the flow
    /// keeps working through hand-offs, so the error is never fatal: it is only reported (503)
    /// and, for I/O errors, logged.
    pub(crate) fn steer_flow(&mut self, remote: SocketAddr) -> Result<(), RtcError> {
        if self.steered.contains_key(&remote) {
            return Ok(());
        }
        let share = (MAX_STEERED_FLOWS / self.config.workers.max(1)).max(1);
        if self.steered.len() >= share {
            return Err(RtcError::Capacity(format!(
                "worker {} already steers {share} flows (MAX_STEERED_FLOWS); {remote} stays on \
                 the hand-off path",
                self.index
            )));
        }
        match self.backend.add_connected_flow(self.state.shared, remote) {
            Ok(sock) => {
                self.steered.insert(remote, sock);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(worker = self.index, %remote, error = %e,
                    "cannot steer flow; it stays on the hand-off path");
                Err(RtcError::Capacity(format!(
                    "cannot steer flow {remote}: {e}"
                )))
            }
        }
    }

    /// Stops steering the flow from `remote` (closes its connected socket; what it still holds
    /// is delivered first). Returns whether it was steered.
    pub(crate) fn unsteer_flow(&mut self, remote: SocketAddr) -> bool {
        match self.steered.remove(&remote) {
            Some(sock) => {
                self.backend.remove_socket(sock);
                true
            }
            None => false,
        }
    }

    fn execute(&mut self, request: Request) -> Result<Response, RtcError> {
        let core = &mut self.state.core;
        Ok(match request {
            Request::CreateRouter { id, media_codecs } => {
                Response::Router(core.create_router(id, &media_codecs)?)
            }
            Request::CloseRouter { id } => {
                let s = core.close_router(id)?;
                self.remove_sockets(s);
                Response::Done
            }
            Request::DumpRouter { id } => Response::Json(core.dump_router(id)?),
            Request::RouterStats { id } => Response::Json(core.router_stats(id)?),
            Request::CreatePlainTransport {
                router_id,
                id,
                options,
            } => {
                core.router_capabilities(router_id)?;
                let rtp = self.bind_transport_socket()?;
                let rtcp = if options.rtcp_mux {
                    None
                } else {
                    match self.bind_transport_socket() {
                        Ok(x) => Some(x),
                        Err(e) => {
                            self.remove_sockets(vec![rtp.0]);
                            return Err(e);
                        }
                    }
                };
                match self
                    .state
                    .core
                    .create_plain_transport(router_id, id, rtp, rtcp, options)
                {
                    Ok(r) => Response::PlainTransport(r),
                    Err(e) => {
                        let mut s = vec![rtp.0];
                        s.extend(rtcp.map(|x| x.0));
                        self.remove_sockets(s);
                        return Err(e);
                    }
                }
            }
            Request::CreateWebRtcTransport {
                router_id,
                id,
                options,
            } => {
                let mut local = self.state.shared_addr;
                if let Some(ip) = self.config.announced_ip {
                    local.set_ip(ip);
                }
                let sock = self.state.shared;
                Response::WebRtcTransport(
                    core.create_webrtc_transport(router_id, id, sock, local, options)?,
                )
            }
            Request::RestartIce { id } => {
                Response::IceParameters(core.restart_ice(Instant::now(), id)?)
            }
            Request::SetDtlsState { id, state, srtp } => {
                core.set_dtls_state(id, state, srtp)?;
                Response::Done
            }
            Request::SendDtls { id, data } => {
                self.state.core.send_dtls(id, &data, self.backend.tx())?;
                Response::Done
            }
            Request::EnablePlainSrtp { id, profile } => {
                Response::SrtpKey(core.enable_plain_srtp(id, profile)?)
            }
            Request::SetPlainSrtpRemote { id, profile, key } => {
                core.set_plain_srtp_remote(id, profile, &key)?;
                Response::Done
            }
            Request::ConnectPlainTransport {
                id,
                ip,
                port,
                rtcp_port,
            } => {
                core.connect_plain_transport(id, ip, port, rtcp_port)?;
                Response::Done
            }
            Request::CloseTransport { id } => {
                let s = core.close_transport(id)?;
                self.remove_sockets(s);
                Response::Done
            }
            Request::DumpTransport { id } => Response::Json(core.dump_transport(id)?),
            Request::TransportStats { id } => Response::Json(core.transport_stats(id)?),
            Request::Produce {
                transport_id,
                options,
            } => Response::Produce(core.produce(transport_id, options)?),
            Request::CloseProducer { id } => {
                core.close_producer(id)?;
                Response::Done
            }
            Request::PauseProducer { id, paused } => {
                core.set_producer_paused(id, paused)?;
                Response::Done
            }
            Request::DumpProducer { id } => Response::Json(core.dump_producer(id)?),
            Request::ProducerStats { id } => Response::Json(core.producer_stats(id)?),
            Request::Consume {
                transport_id,
                options,
            } => Response::Consume(core.consume(transport_id, options)?),
            Request::CloseConsumer { id } => {
                core.close_consumer(id)?;
                Response::Done
            }
            Request::PauseConsumer { id, paused } => {
                core.set_consumer_paused(id, paused)?;
                Response::Done
            }
            Request::RequestKeyFrame { id } => {
                core.request_key_frame(id)?;
                Response::Done
            }
            Request::SetPreferredLayers {
                id,
                spatial_layer,
                temporal_layer,
            } => {
                core.set_consumer_preferred_layers(id, spatial_layer, temporal_layer)?;
                Response::Done
            }
            Request::DumpConsumer { id } => Response::Json(core.dump_consumer(id)?),
            Request::ConsumerStats { id } => Response::Json(core.consumer_stats(id)?),
            Request::SetFlowOwner { addr, owner } => {
                match owner {
                    Some(o) => self.state.flow_owner.insert(addr, o),
                    None => self.state.flow_owner.remove(&addr),
                };
                Response::Done
            }
            Request::SteerFlow { remote } => {
                self.steer_flow(remote)?;
                Response::Done
            }
            Request::UnsteerFlow { remote } => {
                self.unsteer_flow(remote);
                Response::Done
            }
            Request::OwnEchoFlow { addr } => {
                self.state.echo_flows.insert(addr, ());
                Response::Done
            }
            Request::Panic => panic!("worker {} was asked to panic (test hook)", self.index),
        })
    }
}
