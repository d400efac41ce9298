//! One `plain` run: for each repetition, Sluice once per backend and the floor once per
//! backend, one after the other, each under the same load and measured the same way.
//!
//! Per forwarder: start it, build its topology, start the receiver and the sender, let the
//! warm-up pass, then open the window (mark packets, snapshot CPU), close it after `duration`,
//! stop sending, drain late packets, and collect. The harness's sockets are created once and
//! shared by all forwarders (each load thread gets duplicated descriptors), so every forwarder
//! sends to the very same receivers.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_engine::io::{IoKind, socket};

use crate::cli::PlainArgs;
use crate::cpu::{self, CpuDelta, ProcSnapshot};
use crate::error::BenchError;
use crate::floor;
use crate::load::{self, LoadControl, SendPlan};
use crate::report::{
    self, HarnessCpu, LatencySummary, Measurement, Ratios, RunReport, loss_pct, per_packet,
    util_pct,
};
use crate::sluice::{self, SrtpKeys, io_flag};
use crate::stamp::MIN_PACKET;
use crate::target::TargetProcess;

/// The harness's sockets, shared by every forwarder of the run.
struct Sockets {
    senders: Vec<UdpSocket>,
    receivers: Vec<UdpSocket>,
    receiver_addrs: Vec<SocketAddr>,
}

impl Sockets {
    fn bind(producers: usize, consumers: usize) -> Result<Self, BenchError> {
        let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
        let bind = || socket::bind_udp(lo, false).map_err(|e| BenchError::io("bind", e));
        let senders = (0..producers)
            .map(|_| bind())
            .collect::<Result<Vec<_>, _>>()?;
        let receivers = (0..producers * consumers)
            .map(|_| bind())
            .collect::<Result<Vec<_>, _>>()?;
        let receiver_addrs = receivers
            .iter()
            .map(|s| s.local_addr().map_err(|e| BenchError::io("local_addr", e)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            senders,
            receivers,
            receiver_addrs,
        })
    }
}

fn dup(sockets: &[UdpSocket]) -> Result<Vec<UdpSocket>, BenchError> {
    sockets
        .iter()
        .map(|s| s.try_clone().map_err(|e| BenchError::io("dup socket", e)))
        .collect()
}

fn validate(a: &PlainArgs) -> Result<(), BenchError> {
    let bad = |m: &str| Err(BenchError::Args(m.into()));
    if a.producers == 0 || a.consumers == 0 {
        return bad("--producers and --consumers must be at least 1");
    }
    if a.producers > usize::from(u16::MAX) {
        return bad("--producers is at most 65535");
    }
    if a.rate == 0 {
        return bad("--rate must be at least 1");
    }
    // With SRTP the tag follows the --size bytes of RTP, and must fit the datagram too.
    let max_size =
        sluice_engine::net::MAX_DATAGRAM - a.srtp.map_or(0, |s| s.profile().rtp_overhead());
    if a.size < MIN_PACKET || a.size > max_size {
        return Err(BenchError::Args(format!(
            "--size must be in {MIN_PACKET}..={max_size}"
        )));
    }
    if !(a.duration > 0.0 && a.warmup >= 0.0) {
        return bad("--duration must be positive and --warmup not negative");
    }
    if a.tick_us == 0 || a.repeat == 0 || a.workers == 0 {
        return bad("--tick-us, --repeat and --workers must be at least 1");
    }
    Ok(())
}

/// The core the load threads are pinned to.
fn harness_core(a: &PlainArgs) -> Option<core_affinity::CoreId> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    match a.harness_core {
        Some(i) => cores.into_iter().find(|c| c.id == i),
        None if cores.len() > a.workers => cores.last().copied(),
        None => None,
    }
}

/// Runs the whole `plain` benchmark.
pub fn plain(a: &PlainArgs) -> Result<RunReport, BenchError> {
    validate(a)?;
    let bin = match &a.sluice_bin {
        Some(p) => p.clone(),
        None => floor::default_sluice_bin()
            .ok_or_else(|| BenchError::Args("cannot locate sluice; pass --sluice-bin".into()))?,
    };
    if !bin.is_file() {
        return Err(BenchError::Args(format!(
            "{} not found (cargo build --release -p sluice-control)",
            bin.display()
        )));
    }
    let bench = Bench {
        a,
        sockets: Sockets::bind(a.producers, a.consumers)?,
        core: harness_core(a),
    };
    let receivers = &bench.sockets.receiver_addrs;
    let mut measurements = Vec::new();
    for repeat in 0..a.repeat {
        for io in a.io.kinds() {
            let mut s = sluice::start(
                &bin,
                io,
                a.workers,
                a.producers * (a.consumers + 1),
                a.wrapper.as_deref(),
            )?;
            let topo = sluice::build_topology(
                &mut s,
                a.codec,
                receivers,
                a.consumers,
                a.srtp.map(|s| s.profile()),
            )?;
            let mut m = bench.measure(
                &mut s.process,
                topo.payload_type,
                topo.srtp,
                repeat,
                "sluice",
                io,
            )?;
            let counters = sluice::worker_totals(&s.api)?;
            m.forwarder_drops = counters["drops"]
                .as_object()
                .map(|d| d.values().filter_map(serde_json::Value::as_u64).sum());
            m.sluice_counters = Some(counters);
            eprintln!("{}", progress(&m));
            measurements.push(m);
        }
        for io in a.floor_io.kinds() {
            let mut f = floor::start(io, a.workers, a.consumers, receivers, a.wrapper.as_deref())?;
            // The floor forwards bytes as they come: any payload type will do.
            let pt = 100;
            // And it stays plain: the floor is forwarding without any RTP or SRTP work.
            let m = bench.measure(&mut f, pt, None, repeat, "floor", io)?;
            eprintln!("{}", progress(&m));
            measurements.push(m);
        }
    }
    let ratios: Vec<Ratios> = (0..a.repeat)
        .map(|r| Ratios::of(&measurements, r))
        .collect();
    Ok(RunReport {
        scenario: "plain",
        config: json!({
            "producers": a.producers, "consumers": a.consumers, "rate": a.rate,
            "size": a.size, "duration_s": a.duration, "warmup_s": a.warmup,
            "workers": a.workers, "codec": a.codec, "io": a.io.kinds().into_iter().map(io_flag).collect::<Vec<_>>(),
            "floor_io": a.floor_io.kinds().into_iter().map(io_flag).collect::<Vec<_>>(), "tick_us": a.tick_us,
            "repeat": a.repeat, "drain_ms": a.drain_ms,
            "srtp": a.srtp.map(|s| s.profile().name()),
            "harness_core": bench.core.map(|c| c.id), "wrapper": a.wrapper, "sluice_bin": bin.display().to_string(),
            "cpu_source": "sum of /proc/<pid>/task/*/schedstat run time (ns); \
                           /proc/<pid>/stat utime+stime as cross-check",
        }),
        machine: machine(),
        ratio_spread: report::ratio_spread(&ratios),
        measurements,
        ratios,
    })
}

fn progress(m: &Measurement) -> String {
    format!(
        "sluice-bench: rep {} {} {}: {:.0} pkt/s, loss {:.3} % (srtp failures {}), {} ns/pkt, \
         core {:.0} %, harness send/recv core {:.0}/{:.0} %",
        m.repeat,
        m.forwarder,
        m.io,
        m.forwarded_pps,
        m.loss_pct,
        m.srtp_failures,
        m.cpu_ns_per_pkt.map_or("–".into(), |v| format!("{v:.0}")),
        m.core_util_pct,
        m.harness.sender_util_pct,
        m.harness.receiver_util_pct,
    )
}

/// What stays the same for every forwarder of a run.
struct Bench<'a> {
    a: &'a PlainArgs,
    sockets: Sockets,
    core: Option<core_affinity::CoreId>,
}

impl Bench<'_> {
    fn measure(
        &self,
        target: &mut TargetProcess,
        payload_type: u8,
        srtp: Option<SrtpKeys>,
        repeat: usize,
        forwarder: &str,
        io: IoKind,
    ) -> Result<Measurement, BenchError> {
        let (a, sockets, core) = (self.a, &self.sockets, self.core);
        let epoch = Instant::now();
        let ctl = Arc::new(LoadControl::default());
        let plan = SendPlan {
            dests: target.dests.clone(),
            rate: a.rate,
            size: a.size,
            tick: Duration::from_micros(a.tick_us),
            payload_type,
            clock_rate: sluice::clock_rate(a.codec),
            srtp: srtp.as_ref().map(|k| k.producers.clone()),
        };
        if plan.dests.len() != a.producers {
            return Err(BenchError::Target(format!(
                "{} gave {} producer addresses, want {}",
                target.name,
                plan.dests.len(),
                a.producers
            )));
        }
        let receiver = load::spawn_receiver(
            dup(&sockets.receivers)?,
            a.consumers,
            srtp.map(|k| k.consumers),
            epoch,
            ctl.clone(),
            core,
        )?;
        let sender = load::spawn_sender(dup(&sockets.senders)?, plan, epoch, ctl.clone(), core)?;

        thread::sleep(Duration::from_secs_f64(a.warmup));
        target.check_alive()?;
        ctl.measuring.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        let p0 = ProcSnapshot::read(target.pid())?;
        let udp0 = cpu::udp_rcvbuf_errors()?;
        let (s0, r0) = (
            cpu::thread_schedstat(sender.tid)?.run_ns,
            cpu::thread_schedstat(receiver.tid)?.run_ns,
        );
        thread::sleep(Duration::from_secs_f64(a.duration));
        ctl.measuring.store(false, Ordering::Relaxed);
        let p1 = ProcSnapshot::read(target.pid())?;
        let udp1 = cpu::udp_rcvbuf_errors()?;
        let (s1, r1) = (
            cpu::thread_schedstat(sender.tid)?.run_ns,
            cpu::thread_schedstat(receiver.tid)?.run_ns,
        );
        let window_s = t0.elapsed().as_secs_f64();
        let loadavg = std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        target.check_alive()?;

        ctl.stop_sending.store(true, Ordering::Relaxed);
        let sent = sender.join()?;
        thread::sleep(Duration::from_millis(a.drain_ms));
        ctl.stop_receiving.store(true, Ordering::Relaxed);
        let recv = receiver.join()?;

        let cpu = CpuDelta::between(&p0, &p1);
        let sent_measured: u64 = sent.measured.iter().sum();
        let expected = sent_measured * a.consumers as u64;
        let received: u64 = recv.measured.iter().sum();
        let (sender_ns, receiver_ns) = (s1.saturating_sub(s0), r1.saturating_sub(r0));
        Ok(Measurement {
            forwarder: forwarder.into(),
            pid: target.pid(),
            io: io_flag(io).into(),
            repeat,
            window_s,
            loadavg,
            sent: sent_measured,
            expected,
            received,
            loss_pct: loss_pct(expected, received),
            forwarded_pps: received as f64 / window_s,
            latency: LatencySummary::from_histogram(&recv.latency),
            cpu_ns_per_pkt: per_packet(cpu.sched_ns, received),
            stat_ns_per_pkt: per_packet(cpu.stat_ns, received),
            user_ns_per_pkt: per_packet(cpu.user_ns, received),
            sys_ns_per_pkt: per_packet(cpu.sys_ns, received),
            core_util_pct: util_pct(cpu.sched_ns, window_s),
            packets_per_wakeup: per_packet(received, cpu.slices),
            cpu,
            harness: HarnessCpu {
                sender_ns,
                receiver_ns,
                sender_util_pct: util_pct(sender_ns, window_s),
                receiver_util_pct: util_pct(receiver_ns, window_s),
                ns_per_pkt: per_packet(sender_ns + receiver_ns, received),
            },
            sender_errors: sent.errors,
            udp_rcvbuf_errors: udp1.saturating_sub(udp0),
            forwarder_drops: target.latest_drops(),
            max_burst: sent.max_burst,
            foreign: recv.foreign,
            misrouted: recv.misrouted,
            rx_errors: recv.rx_errors,
            srtp_failures: recv.srtp_failures,
            sluice_counters: None,
        })
    }
}

/// `nproc`, kernel release, CPU model and the time of the run.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .ok();
    let unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "nproc": thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "kernel": kernel,
        "cpu_model": model,
        "unix_time_s": unix_s,
    })
}
