//! The WebRTC load: every simulated client of a run in one thread, multiplexed over the
//! engine's `mmsg` backend (one UDP socket per client, `recvmmsg`/`sendmmsg` batches), as the
//! `plain` scenario's sender and receiver are.
//!
//! Each client is an [`rtc_client::Client`] (ICE, DTLS, SRTP). A producing client sends one
//! stamped packet every `1/rate` on a phase of its own (clients are spread evenly over the
//! interval, so the SFU sees a steady flow, not one burst per period); the stamp (`stamp.rs`)
//! carries the producer's index, its sequence and the send time. Video packets start with a VP8
//! payload descriptor with the X bit (`0x90 0x00`) and a payload header byte whose P bit marks
//! key frames (RFC 7741 §4.2, §4.3): mediasoup's consumers forward nothing before a key frame.
//!
//! Every receiving client counts marked packets per consumer and records one-way latency in an
//! HdrHistogram per phase (before/during a join storm), and sends a receiver report (RFC 3550
//! §6.4.2) for its consumers' SSRCs every second over SRTCP, with fraction lost, cumulative
//! lost, extended highest sequence number and interarrival jitter computed as RFC 3550's
//! appendices do (`rr.rs`; the clock rate is the codec's, 48 kHz for the audio and 90 kHz for
//! the video a packet's VP8 descriptor marks).
//!
//! Pacing is checked: the largest lateness of a due packet inside the window is reported, and
//! the run refuses figures when more than [`MAX_LATE_PCT`] % of the packets left later than
//! [`MAX_LAG`] (the generator, not the SFU, was slow).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sluice_engine::crypto::dtls::DtlsCertificate;
use sluice_engine::io::{Backend, BackendConfig, Handler, IoKind, TxQueue};
use sluice_engine::net::{SockId, Transmit};

use crate::error::BenchError;
use crate::load::{LoadThread, spawn_load};
use crate::rr::{self, MAX_BLOCKS, Reception, ReportBlock};
use crate::rtc_client::{Client, Input, Offer, Phase};
use crate::stamp::{self, STAMP_LEN, Stamp};

/// Highest latency the histograms track (10 s, in ns).
const MAX_LATENCY_NS: u64 = 10_000_000_000;
/// A packet sent later than this after its due time is late (one audio packet interval).
pub const MAX_LAG: Duration = Duration::from_millis(20);
/// Share of the window's packets that may be late before the generator counts as saturated (a
/// single descheduling of its thread by the machine's other work is not saturation).
pub const MAX_LATE_PCT: f64 = 1.0;
/// Receiver report interval (RFC 3550 §6.2 allows a fixed interval for a benchmark's fixed load).
const RR_INTERVAL: Duration = Duration::from_secs(1);
/// The VP8 payload descriptor written before the stamp.
pub const VP8_PREFIX: usize = 3;

/// Phases of a run, as the receiver files latencies (0, the default, is the warm-up).
pub const PHASE_WINDOW: u8 = 1;
pub const PHASE_STORM: u8 = 2;
pub const PHASE_DRAIN: u8 = 3;

/// Flags shared with the main thread.
#[derive(Debug, Default)]
pub struct RtcControl {
    /// One of the `PHASE_*` values; packets sent in `WINDOW` and `STORM` are marked.
    pub phase: AtomicU8,
    pub stop_sending: AtomicBool,
    pub stop: AtomicBool,
}

/// Media kind of a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    /// Opus-shaped: `size` bytes at `rate` packets/s, no codec prefix.
    Audio,
    /// VP8-shaped: descriptor prefix, key frame every `key_every` packets, `frame_packets` a frame.
    Video,
}

/// What a producing client sends.
#[derive(Clone, Copy, Debug)]
pub struct Produce {
    /// Global index of the producer (in the stamp).
    pub index: u16,
    pub ssrc: u32,
    pub payload_type: u8,
    pub media: Media,
}

/// One consumer on a client's transport.
#[derive(Clone, Copy, Debug)]
pub struct Consume {
    /// The SSRC the SFU sends it with.
    pub ssrc: u32,
    /// Global index of its producer.
    pub producer: u16,
}

/// A client to run: its socket, the API's answer, what it sends and receives.
pub struct ClientSpec {
    pub index: usize,
    pub sock: UdpSocket,
    pub offer: Offer,
    pub produce: Option<Produce>,
    pub consumes: Vec<Consume>,
    /// Joined during the storm (counted apart from the running flows).
    pub joiner: bool,
}

/// Rates and sizes.
#[derive(Clone, Copy, Debug)]
pub struct MediaPlan {
    pub audio_rate: u32,
    pub audio_size: usize,
    pub video_rate: u32,
    pub video_size: usize,
    pub key_every: u64,
    pub frame_packets: u64,
    pub consent: Duration,
}

/// Per consumer counts.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ConsumerCount {
    pub client: usize,
    pub producer: u16,
    /// Marked packets received.
    pub measured: u64,
    /// All packets received.
    pub total: u64,
}

/// Per client outcome.
#[derive(Clone, Debug)]
pub struct ClientOutcome {
    pub index: usize,
    pub joiner: bool,
    pub phase: Phase,
    /// When DTLS finished and when the first media packet arrived.
    pub connected_at: Option<Instant>,
    pub first_media: Option<Instant>,
    pub checks_answered: u64,
}

/// What the load thread saw.
pub struct RtcReport {
    /// Marked packets sent per producer index.
    pub sent_measured: Vec<u64>,
    pub consumers: Vec<ConsumerCount>,
    /// Latency of the running flows' marked packets in the window (before a storm).
    pub latency_window: Histogram<u64>,
    /// Latency of the running flows' packets while a storm ran.
    pub latency_storm: Histogram<u64>,
    pub clients: Vec<ClientOutcome>,
    /// Largest lateness of a due packet in the window, and packets later than [`MAX_LAG`].
    pub max_lag: Duration,
    pub late: u64,
    pub rr_sent: u64,
    pub rtcp_in: u64,
    pub bad_in: u64,
    pub misrouted: u64,
    pub foreign: u64,
    pub tx_errors: u64,
}

impl RtcReport {
    /// Adds the clients and counts of another load thread of the same run (the joiners').
    pub fn absorb(&mut self, o: RtcReport) {
        for (i, n) in o.sent_measured.iter().enumerate() {
            if let Some(s) = self.sent_measured.get_mut(i) {
                *s += n;
            }
        }
        self.consumers.extend(o.consumers);
        self.clients.extend(o.clients);
        self.max_lag = self.max_lag.max(o.max_lag);
        self.late += o.late;
        self.rr_sent += o.rr_sent;
        self.rtcp_in += o.rtcp_in;
        self.bad_in += o.bad_in;
        self.misrouted += o.misrouted;
        self.foreign += o.foreign;
        self.tx_errors += o.tx_errors;
    }
}

/// A running client.
struct Live {
    client: Client,
    index: usize,
    joiner: bool,
    produce: Option<Produce>,
    /// Next packet's due time, and the packet counter.
    due: Instant,
    seq: u64,
    slots: Vec<Slot>,
    by_ssrc: HashMap<u32, usize>,
    next_rr: Instant,
    connected_at: Option<Instant>,
    first_media: Option<Instant>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    ssrc: u32,
    producer: u16,
    measured: u64,
    total: u64,
    /// Sequence, loss and jitter state for the receiver reports.
    rx: Reception,
}

/// Where in its packet interval producer `index` of `producers` sends, as a fraction in [0, 1).
pub fn phase_of(index: u16, producers: usize) -> f64 {
    (f64::from(index) / producers.max(1) as f64).fract()
}

/// Writes a stamped RTP packet of `size` bytes; VP8 gets its descriptor before the stamp.
pub fn write_media(buf: &mut [u8], p: &Produce, plan: &MediaPlan, seq: u64, st: Stamp) -> usize {
    let (size, rate, clock, prefix) = match p.media {
        Media::Audio => (plan.audio_size, plan.audio_rate, 48_000, 0),
        Media::Video => (plan.video_size, plan.video_rate, 90_000, VP8_PREFIX),
    };
    let min = stamp::RTP_HEADER + prefix + STAMP_LEN;
    let len = size.max(min).min(buf.len());
    if len < min {
        return 0;
    }
    let (ts, marker, key) = match p.media {
        Media::Audio => ((seq as u32).wrapping_mul(clock / rate.max(1)), false, false),
        Media::Video => {
            let fp = plan.frame_packets.max(1);
            let frame = seq / fp;
            let frames_per_s = (u64::from(rate) / fp).max(1);
            let ts = (frame as u32).wrapping_mul(clock / frames_per_s as u32);
            let key = (seq % plan.key_every.max(1)) < fp;
            (ts, seq % fp == fp - 1, key)
        }
    };
    buf[0] = 0x80;
    buf[1] = (p.payload_type & 0x7f) | if marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&p.ssrc.to_be_bytes());
    let mut off = stamp::RTP_HEADER;
    if prefix > 0 {
        // X=1, S=1 (start of partition) only on a frame's first packet, PID 0; no I/L/T/K;
        // then the VP8 payload header's first byte: P=0 for a key frame (RFC 7741 §4.3).
        let first = seq.is_multiple_of(plan.frame_packets.max(1));
        buf[off] = 0x80 | if first { 0x10 } else { 0 };
        buf[off + 1] = 0;
        buf[off + 2] = if key { 0x00 } else { 0x01 };
        off += prefix;
    }
    stamp::encode(&mut buf[off..off + STAMP_LEN], st);
    buf[off + STAMP_LEN..len].fill(0);
    len
}

struct Loop {
    epoch: Instant,
    plan: MediaPlan,
    ctl: Arc<RtcControl>,
    cert: DtlsCertificate,
    live: Vec<Live>,
    /// Client index in `live` by `SockId.0`.
    by_sock: Vec<Option<usize>>,
    sent_measured: Vec<u64>,
    latency_window: Histogram<u64>,
    latency_storm: Histogram<u64>,
    max_lag: Duration,
    late: u64,
    rr_sent: u64,
    rtcp_in: u64,
    bad_in: u64,
    misrouted: u64,
    foreign: u64,
    /// When [`Loop::run_due`] next has work: the clients' timers, media and reports only move
    /// in it, or when a Binding or DTLS datagram arrives (which may start a handshake step or
    /// connect a client). Receiving media does not visit every client.
    next_due: Instant,
}

impl Handler for Loop {
    fn on_datagram(&mut self, sock: SockId, _: SocketAddr, data: &mut [u8], tx: &mut TxQueue) {
        let Some(i) = self.by_sock.get(sock.0 as usize).copied().flatten() else {
            self.foreign += 1;
            return;
        };
        let now = Instant::now();
        let l = &mut self.live[i];
        let remote = l.client.remote;
        let was_connected = l.client.phase == Phase::Connected;
        let input = l.client.handle(now, data, &mut |d: &[u8]| {
            tx.send_with(sock, remote, |b| {
                b[..d.len()].copy_from_slice(d);
                d.len()
            });
        });
        if !was_connected && l.client.phase == Phase::Connected {
            l.connected_at = Some(now);
        }
        match input {
            Input::Rtp(n) => {
                let pkt = &data[..n];
                let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
                let Some(&s) = l.by_ssrc.get(&ssrc) else {
                    // mediasoup's probation packets (SSRC 1234) and anything else unasked.
                    self.foreign += 1;
                    return;
                };
                let slot = &mut l.slots[s];
                // Audio carries the stamp right after the RTP header, video after its VP8
                // descriptor: which one matched names the clock rate.
                let (st, clock_rate) = match stamp::decode_packet(pkt) {
                    Some(st) => (Some(st), 48_000),
                    None => (stamp::decode_packet_after(pkt, VP8_PREFIX), 90_000),
                };
                let Some(st) = st else {
                    self.foreign += 1;
                    return;
                };
                if st.producer != slot.producer {
                    self.misrouted += 1;
                    return;
                }
                slot.rx.on_packet(
                    u16::from_be_bytes([pkt[2], pkt[3]]),
                    u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]),
                    rr::arrival_units(now.duration_since(self.epoch), clock_rate),
                );
                slot.total += 1;
                if l.first_media.is_none() {
                    l.first_media = Some(now);
                }
                if st.measured {
                    slot.measured += 1;
                    if !l.joiner {
                        let lat = (now.duration_since(self.epoch).as_nanos() as u64)
                            .saturating_sub(st.sent_ns)
                            .clamp(1, MAX_LATENCY_NS);
                        match self.ctl.phase.load(Ordering::Relaxed) {
                            PHASE_STORM => self.latency_storm.saturating_record(lat),
                            _ => self.latency_window.saturating_record(lat),
                        }
                    }
                }
            }
            Input::Rtcp => self.rtcp_in += 1,
            Input::Bad => self.bad_in += 1,
            Input::Binding | Input::Check | Input::Dtls => self.next_due = now,
        }
    }

    fn on_wake(&mut self, _: &mut TxQueue) {}
}

impl Loop {
    fn add(
        &mut self,
        backend: &mut Backend,
        spec: ClientSpec,
        now: Instant,
    ) -> Result<(), BenchError> {
        let sock = backend
            .add_socket(spec.sock)
            .map_err(|e| BenchError::io("client socket", e))?;
        let client = Client::new(
            sock,
            &spec.offer,
            &self.cert,
            self.plan.consent,
            spec.index,
            now,
        )
        .map_err(|e| BenchError::Target(format!("client {}: {e}", spec.index)))?;
        let slot = sock.0 as usize;
        if slot > 1 << 20 {
            return Err(BenchError::Target(format!("unexpected socket id {slot}")));
        }
        if self.by_sock.len() <= slot {
            self.by_sock.resize(slot + 1, None);
        }
        self.by_sock[slot] = Some(self.live.len());
        let slots: Vec<Slot> = spec
            .consumes
            .iter()
            .map(|c| Slot {
                ssrc: c.ssrc,
                producer: c.producer,
                ..Slot::default()
            })
            .collect();
        let by_ssrc = slots.iter().enumerate().map(|(i, s)| (s.ssrc, i)).collect();
        // Producers are spread evenly over their packet interval by index (the runs of
        // 2026-12-01 used `index % 97 / 97`, which bunched small rooms into the first part of
        // the interval).
        let producers = self.sent_measured.len().max(1);
        let due = spec.produce.map_or(now, |p| {
            let rate = match p.media {
                Media::Audio => self.plan.audio_rate,
                Media::Video => self.plan.video_rate,
            };
            let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
            now + interval.mul_f64(phase_of(p.index, producers))
        });
        if let Some(p) = spec.produce {
            let i = usize::from(p.index);
            if self.sent_measured.len() <= i {
                self.sent_measured.resize(i + 1, 0);
            }
        }
        self.live.push(Live {
            client,
            index: spec.index,
            joiner: spec.joiner,
            produce: spec.produce,
            due,
            seq: 0,
            slots,
            by_ssrc,
            next_rr: now + RR_INTERVAL,
            connected_at: None,
            first_media: None,
        });
        Ok(())
    }

    /// Timers, media and reports of every client due by `now`; the next instant with work.
    fn run_due(&mut self, tx: &mut TxQueue, now: Instant) -> Instant {
        let phase = self.ctl.phase.load(Ordering::Relaxed);
        let measured = phase == PHASE_WINDOW || phase == PHASE_STORM;
        let sending = !self.ctl.stop_sending.load(Ordering::Relaxed);
        let mut next = now + Duration::from_millis(5);
        let sent_ns = now.duration_since(self.epoch).as_nanos() as u64;
        for l in &mut self.live {
            let (sock, remote) = (l.client.sock, l.client.remote);
            if now >= l.client.next_timeout() {
                let was = l.client.phase;
                l.client.poll(now, &mut |d: &[u8]| {
                    tx.send_with(sock, remote, |b| {
                        b[..d.len()].copy_from_slice(d);
                        d.len()
                    });
                });
                if was != Phase::Connected && l.client.phase == Phase::Connected {
                    l.connected_at = Some(now);
                }
            }
            // A timer the client did not move on (a failed client's, a DTLS timer already
            // served) must not make the loop spin: it is looked at again in a millisecond.
            let t = l.client.next_timeout();
            next = next.min(if t <= now {
                now + Duration::from_millis(1)
            } else {
                t
            });
            if l.client.phase != Phase::Connected {
                continue;
            }
            if let (Some(p), true) = (l.produce, sending) {
                let rate = match p.media {
                    Media::Audio => self.plan.audio_rate,
                    Media::Video => self.plan.video_rate,
                };
                let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
                // At most a second of catch-up: a stall is reported, not replayed as a burst.
                let mut budget = rate.max(1);
                while l.due <= now && budget > 0 {
                    if measured {
                        let lag = now - l.due;
                        self.max_lag = self.max_lag.max(lag);
                        self.late += u64::from(lag > MAX_LAG);
                    }
                    let st = Stamp {
                        producer: p.index,
                        measured,
                        seq: l.seq,
                        sent_ns,
                    };
                    let (client, plan, seq) = (&mut l.client, &self.plan, l.seq);
                    let queued = tx.send_with(sock, remote, |b| {
                        let n = write_media(b, &p, plan, seq, st);
                        client.protect_rtp(b, n).unwrap_or(0)
                    });
                    if queued && measured {
                        self.sent_measured[usize::from(p.index)] += 1;
                    }
                    l.seq += 1;
                    l.due += interval;
                    budget -= 1;
                }
                if l.due <= now {
                    l.due = now + interval;
                }
                next = next.min(l.due);
            }
            if !l.slots.is_empty() && now >= l.next_rr {
                let own = l.produce.map_or(0x5200_0000 | l.index as u32, |p| p.ssrc);
                for chunk in l.slots.chunks_mut(MAX_BLOCKS) {
                    let blocks: Vec<ReportBlock> = chunk
                        .iter_mut()
                        .filter_map(|s| s.rx.report(s.ssrc))
                        .collect();
                    if blocks.is_empty() {
                        continue;
                    }
                    let client = &mut l.client;
                    if tx.send_with(sock, remote, |b| {
                        let n = rr::write_rr(b, own, &blocks);
                        client.protect_rtcp(b, n).unwrap_or(0)
                    }) {
                        self.rr_sent += 1;
                    }
                }
                l.next_rr = now + RR_INTERVAL;
            }
            if !l.slots.is_empty() {
                next = next.min(l.next_rr);
            }
        }
        next
    }
}

/// What the load thread starts with.
pub struct LoadSetup {
    /// The clients of the running topology.
    pub clients: Vec<ClientSpec>,
    /// Clients that join later (join-storm).
    pub joiners: mpsc::Receiver<ClientSpec>,
    pub producers: usize,
    pub plan: MediaPlan,
    /// The certificate whose fingerprint every `connect` announced.
    pub cert: DtlsCertificate,
    /// The clock the stamps count from.
    pub epoch: Instant,
}

/// Starts the load thread.
pub fn spawn(
    setup: LoadSetup,
    ctl: Arc<RtcControl>,
    core: Option<core_affinity::CoreId>,
) -> Result<LoadThread<RtcReport>, BenchError> {
    spawn_load("bench-rtc", core, move || run(setup, &ctl))
}

fn run(setup: LoadSetup, ctl: &Arc<RtcControl>) -> Result<RtcReport, BenchError> {
    let LoadSetup {
        clients,
        joiners,
        producers,
        plan,
        cert,
        epoch,
    } = setup;
    let config = BackendConfig::default().mmsg_batch(64).tx_slots(8192);
    let mut backend =
        Backend::with_config(IoKind::Mmsg, config).map_err(|e| BenchError::io("rtc load", e))?;
    let hist = || {
        Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
            .map_err(|e| BenchError::Target(format!("histogram: {e}")))
    };
    let mut lp = Loop {
        epoch,
        plan,
        ctl: ctl.clone(),
        cert,
        live: Vec::new(),
        by_sock: Vec::new(),
        sent_measured: vec![0; producers],
        latency_window: hist()?,
        latency_storm: hist()?,
        max_lag: Duration::ZERO,
        late: 0,
        rr_sent: 0,
        rtcp_in: 0,
        bad_in: 0,
        misrouted: 0,
        foreign: 0,
        next_due: Instant::now(),
    };
    let now = Instant::now();
    for c in clients {
        lp.add(&mut backend, c, now)?;
    }
    while !ctl.stop.load(Ordering::Relaxed) {
        while let Ok(c) = joiners.try_recv() {
            let now = Instant::now();
            lp.add(&mut backend, c, now)?;
            lp.next_due = now;
        }
        let now = Instant::now();
        if now >= lp.next_due {
            lp.next_due = lp.run_due(backend.tx(), now);
        }
        let wait = lp
            .next_due
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(2));
        backend
            .poll(Some(wait), &mut lp)
            .map_err(|e| BenchError::io("rtc load poll", e))?;
    }
    let st = backend.stats();
    let mut consumers = Vec::new();
    let mut outcomes = Vec::new();
    for l in &lp.live {
        for s in &l.slots {
            consumers.push(ConsumerCount {
                client: l.index,
                producer: s.producer,
                measured: s.measured,
                total: s.total,
            });
        }
        outcomes.push(ClientOutcome {
            index: l.index,
            joiner: l.joiner,
            phase: l.client.phase,
            connected_at: l.connected_at,
            first_media: l.first_media,
            checks_answered: l.client.checks_answered,
        });
    }
    Ok(RtcReport {
        sent_measured: lp.sent_measured,
        consumers,
        latency_window: lp.latency_window,
        latency_storm: lp.latency_storm,
        clients: outcomes,
        max_lag: lp.max_lag,
        late: lp.late,
        rr_sent: lp.rr_sent,
        rtcp_in: lp.rtcp_in,
        bad_in: lp.bad_in,
        misrouted: lp.misrouted,
        foreign: lp.foreign,
        tx_errors: st.tx_errors + st.tx_no_buffer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: MediaPlan = MediaPlan {
        audio_rate: 50,
        audio_size: 120,
        video_rate: 110,
        video_size: 1100,
        key_every: 220,
        frame_packets: 4,
        consent: Duration::from_secs(5),
    };

    fn stamp(seq: u64) -> Stamp {
        Stamp {
            producer: 7,
            measured: true,
            seq,
            sent_ns: 42,
        }
    }

    #[test]
    fn audio_packet_is_stamped_rtp_of_the_asked_size() {
        let p = Produce {
            index: 7,
            ssrc: 0xabcd,
            payload_type: 100,
            media: Media::Audio,
        };
        let mut buf = [0u8; 1500];
        let n = write_media(&mut buf, &p, &PLAN, 3, stamp(3));
        assert_eq!(n, 120);
        assert_eq!(buf[1], 100);
        assert_eq!(u32::from_be_bytes(buf[4..8].try_into().unwrap()), 3 * 960);
        assert_eq!(stamp::decode_packet(&buf[..n]), Some(stamp(3)));
    }

    #[test]
    fn video_packets_carry_vp8_descriptor_key_frames_and_markers() {
        let p = Produce {
            index: 7,
            ssrc: 1,
            payload_type: 101,
            media: Media::Video,
        };
        let mut buf = [0u8; 1500];
        let mut keys = Vec::new();
        for seq in 0..440u64 {
            let n = write_media(&mut buf, &p, &PLAN, seq, stamp(seq));
            assert_eq!(n, 1100);
            assert_eq!(buf[12] & 0x80, 0x80, "X bit always set");
            assert_eq!(
                buf[12] & 0x10 != 0,
                seq % 4 == 0,
                "S on a frame's first packet"
            );
            assert_eq!(
                buf[1] & 0x80 != 0,
                seq % 4 == 3,
                "marker on a frame's last packet"
            );
            if buf[14] & 1 == 0 {
                keys.push(seq);
            }
            assert_eq!(
                stamp::decode_packet_after(&buf[..n], VP8_PREFIX),
                Some(stamp(seq))
            );
            // Frames of 4 packets share a timestamp; 110/4 = 27 frames/s → 3333 ticks a frame.
            let ts = u32::from_be_bytes(buf[4..8].try_into().unwrap());
            assert_eq!(ts, (seq / 4) as u32 * (90_000 / 27));
        }
        assert_eq!(
            keys,
            vec![0, 1, 2, 3, 220, 221, 222, 223],
            "one key frame per 2 s"
        );
    }

    #[test]
    fn producers_are_spread_over_the_whole_interval() {
        let phases: Vec<f64> = (0..4).map(|i| phase_of(i, 4)).collect();
        assert_eq!(phases, vec![0.0, 0.25, 0.5, 0.75]);
        assert_eq!(phase_of(3, 0), 0.0);
    }
}
