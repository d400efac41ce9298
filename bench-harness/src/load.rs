//! The RTP load: a paced sender for P producers and a receiver for their P × C consumers.
//!
//! Both run on the engine's own `mmsg` backend (`sluice_engine::io`), so the harness batches
//! exactly as a Sluice worker does, with no `unsafe` of its own: the sender queues every packet
//! due in a tick into the backend's send pool and flushes them with one `sendmmsg` per socket;
//! the receiver waits in `epoll` and drains each readable socket with `recvmmsg` (64 a call).
//!
//! Pacing: every `tick` the sender computes how many packets each producer owes since the
//! start (`rate × elapsed`) and sends them in one batch, so a producer's packets leave in bursts
//! of `rate × tick` (10 at 10 000 pkt/s and 1 ms) rather than evenly spaced; the forwarder sees
//! the same bursts, which is what lets it batch.
//!
//! Counting: the main thread raises [`LoadControl::measuring`] for the measurement window; the
//! sender marks the packets it sends meanwhile (the stamp's flag) and counts them per producer,
//! and the receiver counts marked packets per consumer socket and records their one-way latency
//! (receive instant − stamp) in an HdrHistogram. Late packets of the window are still counted
//! during the drain that follows it.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sluice_engine::crypto::srtp::SrtpContext;
use sluice_engine::io::{Backend, BackendConfig, Handler, IoKind, TxQueue};
use sluice_engine::net::{SockId, Transmit};

use crate::cpu;
use crate::error::BenchError;
use crate::srtp::{self, SdesKey};
use crate::stamp::{self, RtpFields, Stamp};

/// Highest latency the histogram tracks (10 s, in ns); above is clamped.
const MAX_LATENCY_NS: u64 = 10_000_000_000;

/// Flags shared between the main thread and the load threads.
#[derive(Debug, Default)]
pub struct LoadControl {
    pub measuring: AtomicBool,
    pub stop_sending: AtomicBool,
    pub stop_receiving: AtomicBool,
}

/// What the sender sends.
#[derive(Clone, Debug)]
pub struct SendPlan {
    /// Where each producer's packets go (the forwarder's receiving address per producer).
    pub dests: Vec<SocketAddr>,
    /// Packets per second per producer.
    pub rate: u32,
    /// Datagram size in bytes (RTP header included).
    pub size: usize,
    pub tick: Duration,
    pub payload_type: u8,
    pub clock_rate: u32,
    /// With `--srtp`, each producer's key: every packet is protected after it is written.
    pub srtp: Option<Vec<SdesKey>>,
}

/// SSRC of producer `p` (also given to Sluice in `produce`).
pub fn producer_ssrc(p: usize) -> u32 {
    0x5100_0000 + p as u32
}

/// What the sender did.
#[derive(Clone, Debug, Default)]
pub struct SendReport {
    /// Marked packets sent per producer.
    pub measured: Vec<u64>,
    /// All packets sent.
    pub total: u64,
    /// Packets the kernel refused or that found no free send slot.
    pub errors: u64,
    /// Largest number of packets one producer sent in one tick (shows catch-up bursts).
    pub max_burst: u64,
}

/// What the receiver saw.
#[derive(Debug)]
pub struct RecvReport {
    /// Marked packets received per consumer socket (index `p × C + c`).
    pub measured: Vec<u64>,
    /// One-way latency of the marked packets, ns.
    pub latency: Histogram<u64>,
    /// Datagrams without our stamp.
    pub foreign: u64,
    /// Marked packets that arrived on a socket of another producer's consumers.
    pub misrouted: u64,
    /// Packets truncated or dropped by the receiver's own backend.
    pub rx_errors: u64,
    /// With `--srtp`, RTP datagrams that failed to unprotect (authentication or replay):
    /// never counted as received, so they are loss.
    pub srtp_failures: u64,
}

/// A running load thread: its thread id (for its CPU time) and its result.
pub struct LoadThread<T> {
    pub tid: u32,
    handle: JoinHandle<Result<T, BenchError>>,
}

impl<T> LoadThread<T> {
    pub fn join(self) -> Result<T, BenchError> {
        self.handle
            .join()
            .map_err(|_| BenchError::Target("a load thread panicked".into()))?
    }
}

pub fn spawn_load<T: Send + 'static>(
    name: &str,
    core: Option<core_affinity::CoreId>,
    body: impl FnOnce() -> Result<T, BenchError> + Send + 'static,
) -> Result<LoadThread<T>, BenchError> {
    let (tid_tx, tid_rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Some(c) = core {
                core_affinity::set_for_current(c);
            }
            let _ = tid_tx.send(cpu::current_tid());
            body()
        })
        .map_err(|e| BenchError::io("spawn load thread", e))?;
    let tid = tid_rx
        .recv()
        .map_err(|_| BenchError::Target(format!("{name} thread died at start")))??;
    Ok(LoadThread { tid, handle })
}

/// Ignores whatever arrives on the sender's sockets (e.g. RTCP from the forwarder).
struct Discard;

impl Handler for Discard {
    fn on_datagram(&mut self, _: SockId, _: SocketAddr, _: &mut [u8], _: &mut TxQueue) {}
    fn on_wake(&mut self, _: &mut TxQueue) {}
}

/// Starts the sender: one socket per producer, `plan.dests[p]` its destination.
pub fn spawn_sender(
    sockets: Vec<UdpSocket>,
    plan: SendPlan,
    epoch: Instant,
    ctl: Arc<LoadControl>,
    core: Option<core_affinity::CoreId>,
) -> Result<LoadThread<SendReport>, BenchError> {
    spawn_load("bench-send", core, move || {
        send_loop(sockets, &plan, epoch, &ctl)
    })
}

fn send_loop(
    sockets: Vec<UdpSocket>,
    plan: &SendPlan,
    epoch: Instant,
    ctl: &LoadControl,
) -> Result<SendReport, BenchError> {
    let producers = sockets.len();
    let per_tick = (f64::from(plan.rate) * plan.tick.as_secs_f64()).ceil() as u32;
    let config = BackendConfig::default()
        .tx_slots((per_tick.max(64) * producers as u32 * 4).max(4096))
        .mmsg_batch(64);
    let mut backend =
        Backend::with_config(IoKind::Mmsg, config).map_err(|e| BenchError::io("sender", e))?;
    let mut ids = Vec::with_capacity(producers);
    for s in sockets {
        ids.push(
            backend
                .add_socket(s)
                .map_err(|e| BenchError::io("sender socket", e))?,
        );
    }
    let mut contexts: Vec<SrtpContext> = match &plan.srtp {
        Some(keys) if keys.len() == producers => keys
            .iter()
            .map(SdesKey::context)
            .collect::<Result<_, _>>()?,
        Some(keys) => {
            return Err(BenchError::Target(format!(
                "{} SRTP keys for {producers} producers",
                keys.len()
            )));
        }
        None => Vec::new(),
    };
    let mut srtp_errors = 0u64;
    let ts_step = (plan.clock_rate / plan.rate.max(1)).max(1);
    let mut report = SendReport {
        measured: vec![0; producers],
        ..SendReport::default()
    };
    let mut sent_each: u64 = 0;
    let start = Instant::now();
    let mut tick_no: u32 = 0;
    while !ctl.stop_sending.load(Ordering::Relaxed) {
        let now = Instant::now();
        let due = (now.duration_since(start).as_secs_f64() * f64::from(plan.rate)) as u64;
        let room = (backend.tx().available() / producers.max(1)) as u64;
        let n = due.saturating_sub(sent_each).min(room);
        let measured = ctl.measuring.load(Ordering::Relaxed);
        let sent_ns = now.duration_since(epoch).as_nanos() as u64;
        for (p, &sock) in ids.iter().enumerate() {
            for k in 0..n {
                let seq = sent_each + k;
                let rtp = RtpFields {
                    payload_type: plan.payload_type,
                    ssrc: producer_ssrc(p),
                    seq: seq as u16,
                    timestamp: (seq as u32).wrapping_mul(ts_step),
                };
                let st = Stamp {
                    producer: p as u16,
                    measured,
                    seq,
                    sent_ns,
                };
                let ctx = contexts.get_mut(p);
                let queued = backend.tx().send_with(sock, plan.dests[p], |buf| {
                    let n = stamp::write_packet(buf, plan.size, rtp, st);
                    match ctx.map(|c| c.protect_rtp(buf, n)) {
                        Some(Ok(m)) => m,
                        Some(Err(_)) => {
                            // Cannot happen with a validated --size; sent plain, Sluice drops it.
                            srtp_errors += 1;
                            n
                        }
                        None => n,
                    }
                });
                if queued && measured {
                    report.measured[p] += 1;
                }
            }
        }
        sent_each += n;
        report.total += n * producers as u64;
        report.max_burst = report.max_burst.max(n);
        // Flushes the queue (sendmmsg per socket) and reads anything sent back, without waiting.
        backend
            .poll(Some(Duration::ZERO), &mut Discard)
            .map_err(|e| BenchError::io("sender poll", e))?;
        tick_no = tick_no.wrapping_add(1);
        let next = start + plan.tick * tick_no;
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        } else {
            // Behind schedule: re-anchor the tick count so sleeping resumes from here.
            tick_no = (now.duration_since(start).as_nanos() / plan.tick.as_nanos().max(1)) as u32;
        }
    }
    let st = backend.stats();
    report.errors = st.tx_errors + st.tx_no_buffer + srtp_errors;
    Ok(report)
}

/// Counts and times what arrives on the consumers' sockets.
struct Receiver {
    epoch: Instant,
    consumers: usize,
    /// Stream index (`p × C + c`) of each registered socket, indexed by `SockId.0`.
    stream_of: Vec<Option<usize>>,
    measured: Vec<u64>,
    latency: Histogram<u64>,
    foreign: u64,
    misrouted: u64,
    /// With `--srtp`, each stream's context (keys Sluice answered), by stream index.
    srtp: Vec<SrtpContext>,
    srtp_failures: u64,
}

impl Handler for Receiver {
    fn on_datagram(&mut self, sock: SockId, _: SocketAddr, data: &mut [u8], _: &mut TxQueue) {
        let now_ns = self.epoch.elapsed().as_nanos() as u64;
        let stream = self.stream_of.get(sock.0 as usize).copied().flatten();
        let data = match stream.and_then(|i| self.srtp.get_mut(i)) {
            // SRTCP (sender reports) shares the socket; it is not ours to count.
            Some(_) if srtp::is_rtcp(data) => {
                self.foreign += 1;
                return;
            }
            Some(ctx) => match ctx.unprotect_rtp(data) {
                Ok(n) => &data[..n],
                Err(_) => {
                    self.srtp_failures += 1;
                    return;
                }
            },
            None => &data[..],
        };
        let (Some(stream), Some(st)) = (stream, stamp::decode_packet(data)) else {
            self.foreign += 1;
            return;
        };
        if !st.measured {
            return;
        }
        if usize::from(st.producer) != stream / self.consumers {
            self.misrouted += 1;
            return;
        }
        self.measured[stream] += 1;
        self.latency
            .saturating_record(now_ns.saturating_sub(st.sent_ns).clamp(1, MAX_LATENCY_NS));
    }
    fn on_wake(&mut self, _: &mut TxQueue) {}
}

/// Starts the receiver on the consumers' sockets, ordered `p × C + c`.
/// With `srtp`, stream `i` unprotects with `srtp[i]`.
pub fn spawn_receiver(
    sockets: Vec<UdpSocket>,
    consumers: usize,
    srtp: Option<Vec<SdesKey>>,
    epoch: Instant,
    ctl: Arc<LoadControl>,
    core: Option<core_affinity::CoreId>,
) -> Result<LoadThread<RecvReport>, BenchError> {
    spawn_load("bench-recv", core, move || {
        recv_loop(sockets, consumers, srtp, epoch, &ctl)
    })
}

fn recv_loop(
    sockets: Vec<UdpSocket>,
    consumers: usize,
    srtp: Option<Vec<SdesKey>>,
    epoch: Instant,
    ctl: &LoadControl,
) -> Result<RecvReport, BenchError> {
    let streams = sockets.len();
    let srtp = match srtp {
        Some(keys) if keys.len() == streams => keys
            .iter()
            .map(SdesKey::context)
            .collect::<Result<_, _>>()?,
        Some(keys) => {
            return Err(BenchError::Target(format!(
                "{} SRTP keys for {streams} streams",
                keys.len()
            )));
        }
        None => Vec::new(),
    };
    let config = BackendConfig::default().mmsg_batch(64).tx_slots(1);
    let mut backend =
        Backend::with_config(IoKind::Mmsg, config).map_err(|e| BenchError::io("receiver", e))?;
    let mut rx = Receiver {
        epoch,
        consumers: consumers.max(1),
        stream_of: Vec::new(),
        measured: vec![0; streams],
        latency: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
            .map_err(|e| BenchError::Target(format!("histogram: {e}")))?,
        foreign: 0,
        misrouted: 0,
        srtp,
        srtp_failures: 0,
    };
    for (i, s) in sockets.into_iter().enumerate() {
        let id = backend
            .add_socket(s)
            .map_err(|e| BenchError::io("receiver socket", e))?;
        let slot = id.0 as usize;
        if slot > 1 << 20 {
            return Err(BenchError::Target(format!("unexpected socket id {slot}")));
        }
        if rx.stream_of.len() <= slot {
            rx.stream_of.resize(slot + 1, None);
        }
        rx.stream_of[slot] = Some(i);
    }
    while !ctl.stop_receiving.load(Ordering::Relaxed) {
        backend
            .poll(Some(Duration::from_millis(10)), &mut rx)
            .map_err(|e| BenchError::io("receiver poll", e))?;
    }
    let st = backend.stats();
    Ok(RecvReport {
        measured: rx.measured,
        latency: rx.latency,
        foreign: rx.foreign,
        misrouted: rx.misrouted,
        rx_errors: st.rx_truncated + st.rx_no_buffer,
        srtp_failures: rx.srtp_failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(consumers: usize, streams: usize, epoch: Instant) -> Receiver {
        Receiver {
            epoch,
            consumers,
            // SockId(i) is stream i.
            stream_of: (0..streams).map(Some).collect(),
            measured: vec![0; streams],
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).unwrap(),
            foreign: 0,
            misrouted: 0,
            srtp: Vec::new(),
            srtp_failures: 0,
        }
    }

    fn packet(producer: u16, measured: bool, sent_ns: u64) -> Vec<u8> {
        let mut buf = vec![0u8; 200];
        let rtp = RtpFields {
            payload_type: 111,
            ssrc: producer_ssrc(producer.into()),
            seq: 1,
            timestamp: 0,
        };
        let st = Stamp {
            producer,
            measured,
            seq: 1,
            sent_ns,
        };
        let n = stamp::write_packet(&mut buf, 200, rtp, st);
        buf.truncate(n);
        buf
    }

    #[test]
    fn receiver_counts_marked_packets_per_stream_and_flags_the_rest() {
        // A backend only to lend its send queue to the handler; nothing is sent.
        let mut backend = Backend::new(IoKind::Mmsg).unwrap();
        let epoch = Instant::now();
        // Two producers with two consumers each: streams 0,1 are producer 0's; 2,3 producer 1's.
        let mut rx = receiver(2, 4, epoch);
        let from: SocketAddr = ([127, 0, 0, 1], 9).into();
        let sent_ns = epoch.elapsed().as_nanos() as u64;
        for (sock, producer, measured) in [
            (0, 0, true),
            (1, 0, true),
            (1, 0, true),
            (2, 1, true),
            (3, 1, false), // outside the window: ignored
            (3, 0, true),  // producer 0's packet on producer 1's consumer
        ] {
            let mut p = packet(producer, measured, sent_ns);
            rx.on_datagram(SockId(sock), from, &mut p, backend.tx());
        }
        rx.on_datagram(SockId(0), from, &mut [0x80u8; 40], backend.tx());
        rx.on_datagram(SockId(7), from, &mut packet(0, true, 0), backend.tx());
        assert_eq!(rx.measured, vec![1, 2, 1, 0]);
        assert_eq!(rx.misrouted, 1);
        assert_eq!(rx.foreign, 2, "no stamp, and an unknown socket");
        assert_eq!(rx.latency.len(), 4);
    }

    #[test]
    fn with_srtp_the_receiver_unprotects_and_counts_failures_as_not_received() {
        use sluice_engine::crypto::srtp::SrtpProfile;
        let mut backend = Backend::new(IoKind::Mmsg).unwrap();
        let epoch = Instant::now();
        let profile = SrtpProfile::AeadAes128Gcm;
        let (k0, k1) = (SdesKey::harness(profile, 0), SdesKey::harness(profile, 1));
        let mut rx = receiver(1, 2, epoch);
        rx.srtp = vec![k0.context().unwrap(), k1.context().unwrap()];
        let from: SocketAddr = ([127, 0, 0, 1], 9).into();
        let protect = |key: &SdesKey, producer: u16| {
            let mut p = packet(producer, true, 1);
            let n = p.len();
            p.resize(n + profile.rtp_overhead(), 0);
            let m = key.context().unwrap().protect_rtp(&mut p, n).unwrap();
            p.truncate(m);
            p
        };
        rx.on_datagram(SockId(0), from, &mut protect(&k0, 0), backend.tx());
        // Stream 1 is producer 1's consumer; a packet under stream 0's key fails there.
        rx.on_datagram(SockId(1), from, &mut protect(&k0, 1), backend.tx());
        // Plain RTP where SRTP is expected fails too.
        rx.on_datagram(SockId(1), from, &mut packet(1, true, 1), backend.tx());
        rx.on_datagram(SockId(1), from, &mut protect(&k1, 1), backend.tx());
        // An SRTCP sender report is neither a packet nor a failure.
        let mut sr = vec![0x80, 200, 0, 6];
        sr.resize(44, 0);
        rx.on_datagram(SockId(0), from, &mut sr, backend.tx());
        assert_eq!(rx.measured, vec![1, 1]);
        assert_eq!(rx.srtp_failures, 2);
        assert_eq!(rx.foreign, 1);
    }
}
