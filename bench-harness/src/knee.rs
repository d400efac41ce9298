//! `sluice-bench knee`: the most consumers one SFU core carries (DESIGN.md §6).
//!
//! One size of `audio-match` or `video-room` (`--vary`: matches or players, rooms, subscribers
//! or publishers) is raised step by step; every step is a full run of that scenario
//! (`rtc_run::run`: a fresh SFU process, the topology built through the API, ICE and DTLS in
//! the warm-up, then a window of `--duration`). A step **holds** when the loss is at most
//! `--max-loss-pct` (0.1 %), the p99 one-way latency at most `--max-p99-ms` (5 ms) and every
//! client connected; the knee is the largest size that held, given in consumers.
//!
//! The search is coarse then fine, so that its length grows with the logarithm of the knee:
//! the size is multiplied by `--factor` (2) after each step that holds, and once a step fails
//! the interval between the last size that held and the first that failed is bisected until it
//! is within `--precision` (10 %) of the former. A failing step is run `--confirm` (1) more
//! times and fails only if every attempt does: on a shared machine one stall is not a knee.
//!
//! **The generator must not be the limit.** A step is *harness-bound* when
//! - `rtc_run` refused its figures (the load thread above 90 % of its core or pacing late:
//!   `BenchError::Saturated`), or a harness system call failed;
//! - it failed while the load thread used more than `--harness-busy-pct` (70 %) of its core
//!   and the SFU less than `--sfu-saturated-pct` (90 %) of its: the generator's own queueing
//!   is then in the latency and loss (with the SFU's core full, the SFU is the limit);
//! - most of its loss was in the harness's own socket queues (`kdrops.rs`): the clients did
//!   not read fast enough.
//!
//! A harness-bound size is searched below like a failing one; when the smallest size that did
//! not hold was harness-bound, the knee is given as "≥ N (harness-bound)", N the largest size
//! that held: the SFU carried N, and how much more it would carry was not measurable.
//!
//! **Nor the machine.** This machine is shared: other work can take the SFU's or the
//! generator's core. A failing step is *contended* when the SFU's threads or the load thread
//! waited for a CPU (the scheduler's `run_delay`, `cpu.rs`) for more than `--max-wait-pct`
//! (10 %) of the window, or the generator was late while idle (`disturbed`). A contended
//! attempt is run again after `--contended-pause-s`, up to `--contended-retries` times; when
//! those run out the size counts as not holding, and as the bound it gives "≥ N
//! (machine-bound)". `--nice -10` lowers the nice
//! value of sluice-bench before anything starts, so that the SFU processes and the load thread
//! (which inherit it) win their cores from the other users' work; both targets alike.
//! `--fifo P` goes further: `SCHED_FIFO` at priority P (sched(7)), inherited the same way, so
//! that a wake-up of the SFU or of the generator preempts other work at once instead of
//! queueing behind it; the kernel's RT throttling (`sched_rt_runtime_us`, 95 % by default)
//! still leaves the other users a share of each core.
//!
//! The SFU runs with `--workers` (1) worker: Sluice's worker thread is pinned to core 0 by
//! Sluice itself, mediasoup's worker process by `server.js` (`taskset`); the load thread is
//! pinned to the last core (`--harness-core`). Each target's steps interleave with the other's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::{
    AudioMatchArgs, KneeArgs, KneeDim, KneeScenario, RtcArgs, TargetKind, VideoRoomArgs,
};
use crate::error::BenchError;
use crate::rtc_run::{self, RtcMeasurement, Shape};

/// What decides a step.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Thresholds {
    pub max_loss_pct: f64,
    pub max_p99_us: f64,
    pub harness_busy_pct: f64,
    pub sfu_saturated_pct: f64,
    pub max_wait_pct: f64,
}

/// A step's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Holds,
    Fails,
    HarnessBound,
    /// Failed while the machine's other work held the SFU or the generator off its core.
    Contended,
}

/// Judges one measurement: the verdict and why.
pub fn judge(m: &RtcMeasurement, th: &Thresholds) -> (Outcome, Vec<String>) {
    let mut why = Vec::new();
    if m.loss_pct > th.max_loss_pct {
        why.push(format!(
            "loss {:.3} % > {} % ({} of {} lost: {} in kernel queues, {} elsewhere)",
            m.loss_pct,
            th.max_loss_pct,
            m.kernel.lost,
            m.expected,
            m.kernel.lost_in_kernel,
            m.kernel.lost_elsewhere
        ));
    }
    if m.latency.p99_us > th.max_p99_us {
        why.push(format!(
            "p99 {:.1} ms > {} ms",
            m.latency.p99_us / 1e3,
            th.max_p99_us / 1e3
        ));
    }
    if m.unconnected_clients > 0 {
        why.push(format!(
            "{} of {} clients not connected after the run",
            m.unconnected_clients, m.clients
        ));
    }
    if !why.is_empty() && m.connected_late > 0 {
        why.push(format!(
            "{} clients connected only after the window opened (--warmup too short for them)",
            m.connected_late
        ));
    }
    if why.is_empty() {
        return (Outcome::Holds, why);
    }
    if m.harness_util_pct > th.harness_busy_pct {
        if m.core_util_pct < th.sfu_saturated_pct {
            why.push(format!(
                "the load generator used {:.0} % of its core (> {:.0} %), the SFU {:.0} % of its",
                m.harness_util_pct, th.harness_busy_pct, m.core_util_pct
            ));
            return (Outcome::HarnessBound, why);
        }
        why.push(format!(
            "the SFU used {:.0} % of its core (the generator {:.0} % of its)",
            m.core_util_pct, m.harness_util_pct
        ));
    }
    let lost = m.kernel.lost.max(1);
    if m.loss_pct > th.max_loss_pct && m.kernel.harness_socket_drops * 2 > lost {
        why.push(format!(
            "{} datagrams dropped in the harness's own socket queues",
            m.kernel.harness_socket_drops
        ));
        return (Outcome::HarnessBound, why);
    }
    if m.sfu_wait_pct > th.max_wait_pct || m.harness_wait_pct > th.max_wait_pct || m.disturbed {
        why.push(format!(
            "CPU contention: the SFU waited for a CPU {:.0} % of the window, the generator {:.0} %{}",
            m.sfu_wait_pct,
            m.harness_wait_pct,
            if m.disturbed {
                ", and the generator was late while idle"
            } else {
                ""
            }
        ));
        return (Outcome::Contended, why);
    }
    (Outcome::Fails, why)
}

/// Coarse-then-fine search over one size.
#[derive(Clone, Debug, Serialize)]
pub struct Search {
    pub from: usize,
    /// Smallest valid size (2 players, else 1).
    pub min: usize,
    pub max: usize,
    pub factor: f64,
    pub precision: f64,
    /// Largest size that held, smallest that failed.
    pub holds: Option<usize>,
    pub fails: Option<usize>,
}

impl Search {
    /// The next size to try, `None` when the search is done.
    pub fn next(&self) -> Option<usize> {
        match (self.holds, self.fails) {
            (None, None) => Some(self.from.clamp(self.min, self.max.max(self.min))),
            (Some(l), None) if l >= self.max => None,
            (Some(l), None) => {
                let up = (l as f64 * self.factor.max(1.0)).ceil() as usize;
                Some(up.max(l + 1).min(self.max))
            }
            (l, Some(h)) => {
                // With nothing held yet, the size below the smallest holds by definition.
                let l = l.unwrap_or(self.min - 1);
                let gap = ((l as f64 * self.precision).floor() as usize).max(1);
                (h > l + gap).then(|| l + (h - l) / 2)
            }
        }
    }

    pub fn record(&mut self, size: usize, holds: bool) {
        if holds {
            self.holds = Some(self.holds.map_or(size, |l| l.max(size)));
        } else {
            self.fails = Some(self.fails.map_or(size, |h| h.min(size)));
        }
    }
}

/// One attempt of one step.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub target: String,
    pub size: usize,
    pub clients: usize,
    pub consumers: usize,
    pub attempt: usize,
    pub outcome: Outcome,
    pub why: Vec<String>,
    /// The run's figures (none when it was refused or failed).
    pub measurement: Option<RtcMeasurement>,
    pub error: Option<String>,
}

/// How a target's search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    /// A step failed with the generator not the limit: the knee is the SFU's.
    Sfu,
    /// The generator became the limit first: the knee is at least the figure.
    Harness,
    /// `--max` held.
    MaxReached,
    /// `--max-steps` ran out before the search converged.
    StepLimit,
    /// Every attempt of a failing step was contended: the machine, not the SFU, gave out.
    Machine,
}

/// A target's knee.
#[derive(Clone, Debug, Serialize)]
pub struct Knee {
    pub target: String,
    pub bound: Bound,
    /// Largest size that held, and its consumers and clients (0 when none held).
    pub size: usize,
    pub consumers: usize,
    pub clients: usize,
    /// Smallest size that failed (the SFU's knee lies below it).
    pub first_failing_size: Option<usize>,
    pub text: String,
    /// The step that held at `size` (its last attempt).
    pub at_knee: Option<RtcMeasurement>,
    pub why_stopped: Vec<String>,
}

/// Shape of the scenario with the varied size at `size`.
pub fn shape_at(a: &KneeArgs, dim: KneeDim, size: usize) -> Shape {
    let rtc = a.rtc.clone();
    match a.scenario {
        KneeScenario::AudioMatch => {
            let (mut players, mut matches) = (a.players, a.matches);
            match dim {
                KneeDim::Players => players = size,
                _ => matches = size,
            }
            Shape::audio_match(&AudioMatchArgs {
                players,
                matches,
                rtc,
            })
        }
        KneeScenario::VideoRoom => {
            let (mut publishers, mut subscribers, mut rooms) =
                (a.publishers, a.subscribers, a.rooms);
            match dim {
                KneeDim::Publishers => publishers = size,
                KneeDim::Rooms => rooms = size,
                _ => subscribers = size,
            }
            Shape::video_room(&VideoRoomArgs {
                publishers,
                subscribers,
                rooms,
                rtc,
            })
        }
    }
}

/// The varied size, checked against the scenario.
pub fn dimension(a: &KneeArgs) -> Result<KneeDim, BenchError> {
    let dim = a.vary.unwrap_or(match a.scenario {
        KneeScenario::AudioMatch => KneeDim::Matches,
        KneeScenario::VideoRoom => KneeDim::Subscribers,
    });
    let ok = match a.scenario {
        KneeScenario::AudioMatch => matches!(dim, KneeDim::Matches | KneeDim::Players),
        KneeScenario::VideoRoom => matches!(
            dim,
            KneeDim::Rooms | KneeDim::Subscribers | KneeDim::Publishers
        ),
    };
    if !ok {
        return Err(BenchError::Args(format!(
            "--vary {dim:?} does not belong to {:?}",
            a.scenario
        )));
    }
    Ok(dim)
}

fn start_size(a: &KneeArgs, dim: KneeDim) -> usize {
    a.from.unwrap_or(match dim {
        KneeDim::Matches => a.matches,
        KneeDim::Players => a.players,
        KneeDim::Rooms => a.rooms,
        KneeDim::Subscribers => a.subscribers,
        KneeDim::Publishers => a.publishers,
    })
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct KneeReport {
    pub scenario: KneeScenario,
    pub vary: KneeDim,
    pub thresholds: Thresholds,
    pub config: Value,
    pub machine: Value,
    pub knees: Vec<Knee>,
    /// Sluice's knee in consumers ÷ each other target's, and whether it is only a lower or
    /// upper bound (a harness-bound knee on either side).
    pub ratios: Vec<Value>,
    pub steps: Vec<Step>,
}

/// A step's warm-up: `--warmup`, or longer for many clients, whose DTLS handshakes the one
/// load thread runs one after another (1 026 clients needed more than 3 s on 2026-12-01).
pub fn step_warmup(base_s: f64, per_client_ms: f64, clients: usize) -> f64 {
    base_s.max(per_client_ms.max(0.0) * clients as f64 / 1e3)
}

/// Runs one attempt of one step.
fn attempt(
    a: &KneeArgs,
    dim: KneeDim,
    kind: TargetKind,
    size: usize,
    n: usize,
    th: &Thresholds,
) -> Step {
    let shape = shape_at(a, dim, size);
    let (clients, consumers) = (shape.clients(), shape.consumers());
    let rtc = RtcArgs {
        target: vec![kind],
        repeat: 1,
        json: None,
        warmup: step_warmup(a.rtc.warmup, a.warmup_per_client_ms, clients),
        ..a.rtc.clone()
    };
    let mut step = Step {
        target: kind.name().into(),
        size,
        clients,
        consumers,
        attempt: n,
        outcome: Outcome::Fails,
        why: Vec::new(),
        measurement: None,
        error: None,
    };
    match rtc_run::run(shape, &rtc, None) {
        Ok(mut r) => match r.measurements.pop() {
            Some(m) => {
                let (o, why) = judge(&m, th);
                step.outcome = o;
                step.why = why;
                step.measurement = Some(m);
            }
            None => step.error = Some("no measurement".into()),
        },
        Err(e) => {
            // The generator's refusal or its own system calls: the harness is the limit.
            // Anything else (the API refusing, the SFU dying) is the target's failure.
            step.outcome = match e {
                BenchError::Saturated(_) | BenchError::Io { .. } => Outcome::HarnessBound,
                _ => Outcome::Fails,
            };
            step.error = Some(e.to_string());
            step.why.push(e.to_string());
        }
    }
    step
}

/// Runs the knee search for every target.
pub fn run(a: &KneeArgs) -> Result<KneeReport, BenchError> {
    let dim = dimension(a)?;
    if let Some(n) = a.nice {
        run_tool(
            "renice",
            &["-n", &n.to_string(), "-p", &std::process::id().to_string()],
        )?;
    }
    if let Some(p) = a.fifo {
        run_tool(
            "chrt",
            &["-f", "-p", &p.to_string(), &std::process::id().to_string()],
        )?;
    }
    if !(a.factor > 1.0 && a.precision >= 0.0 && a.max >= 1 && a.max_steps >= 1) {
        return Err(BenchError::Args(
            "--factor must exceed 1, --precision not be negative, --max and --max-steps at least 1"
                .into(),
        ));
    }
    let th = Thresholds {
        max_loss_pct: a.max_loss_pct,
        max_p99_us: a.max_p99_ms * 1e3,
        harness_busy_pct: a.harness_busy_pct,
        sfu_saturated_pct: a.sfu_saturated_pct,
        max_wait_pct: a.max_wait_pct,
    };
    let min = if dim == KneeDim::Players { 2 } else { 1 };
    let mut searches: Vec<(TargetKind, Search, Option<Bound>, usize)> = a
        .rtc
        .target
        .iter()
        .map(|&k| {
            let s = Search {
                from: start_size(a, dim),
                min,
                max: a.max,
                factor: a.factor,
                precision: a.precision,
                holds: None,
                fails: None,
            };
            (k, s, None, 0)
        })
        .collect();
    let mut steps: Vec<Step> = Vec::new();
    // Per target, each failing size's verdict and why: the smallest one decides the bound.
    let mut failed: Vec<BTreeMap<usize, (Outcome, Vec<String>)>> =
        vec![BTreeMap::new(); searches.len()];
    loop {
        let mut ran = false;
        for (ti, (kind, search, bound, count)) in searches.iter_mut().enumerate() {
            if bound.is_some() {
                continue;
            }
            let Some(size) = search.next() else {
                *bound = Some(
                    match search.fails.and_then(|f| failed[ti].get(&f)).map(|x| x.0) {
                        None => Bound::MaxReached,
                        Some(Outcome::HarnessBound) => Bound::Harness,
                        Some(Outcome::Contended) => Bound::Machine,
                        Some(_) => Bound::Sfu,
                    },
                );
                continue;
            };
            if *count >= a.max_steps {
                *bound = Some(Bound::StepLimit);
                continue;
            }
            *count += 1;
            ran = true;
            let mut verdict = Outcome::Fails;
            let (mut fails, mut contended) = (0, 0);
            for n in 0.. {
                let s = attempt(a, dim, *kind, size, n, &th);
                eprintln!(
                    "sluice-bench knee: {} {:?}={} ({} consumers) attempt {}: {:?}{}",
                    s.target,
                    dim,
                    size,
                    s.consumers,
                    n,
                    s.outcome,
                    if s.why.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", s.why.join("; "))
                    }
                );
                verdict = s.outcome;
                // A target that fails to run before any step held cannot be searched (a
                // missing binary or module, not a knee).
                if let (Some(e), None, Outcome::Fails) = (&s.error, search.holds, verdict) {
                    return Err(BenchError::Target(format!(
                        "{} failed at its first sizes: {e}",
                        s.target
                    )));
                }
                if verdict != Outcome::Holds {
                    failed[ti].insert(size, (verdict, s.why.clone()));
                }
                steps.push(s);
                match verdict {
                    Outcome::Fails if fails < a.confirm => fails += 1,
                    Outcome::Contended if contended < a.contended_retries => {
                        contended += 1;
                        std::thread::sleep(std::time::Duration::from_secs_f64(
                            a.contended_pause_s.max(0.0),
                        ));
                    }
                    _ => break,
                }
            }
            // A harness-bound or contended size is searched below like a failing one: the
            // knee reported is then the largest size that could be measured.
            search.record(size, verdict == Outcome::Holds);
        }
        if !ran && searches.iter().all(|s| s.2.is_some()) {
            break;
        }
    }
    let knees: Vec<Knee> = searches
        .iter()
        .zip(&failed)
        .map(|((kind, search, bound, _), failed)| {
            let bound = bound.unwrap_or(Bound::StepLimit);
            let why = search
                .fails
                .and_then(|f| failed.get(&f))
                .map(|x| x.1.clone())
                .unwrap_or_default();
            knee_of(a, dim, kind.name(), search, bound, &steps, why)
        })
        .collect();
    let ratios = ratios(&knees);
    Ok(KneeReport {
        scenario: a.scenario,
        vary: dim,
        thresholds: th,
        config: json!({
            "targets": a.rtc.target, "duration_s": a.rtc.duration, "warmup_s": a.rtc.warmup,
            "workers": a.rtc.workers, "io": crate::sluice::io_flag(a.rtc.io.kind()),
            "players": a.players, "matches": a.matches, "publishers": a.publishers,
            "subscribers": a.subscribers, "rooms": a.rooms, "from": start_size(a, dim),
            "max": a.max, "factor": a.factor, "precision": a.precision, "confirm": a.confirm,
            "max_steps": a.max_steps, "warmup_per_client_ms": a.warmup_per_client_ms, "nice": a.nice, "fifo": a.fifo,
            "contended_retries": a.contended_retries, "contended_pause_s": a.contended_pause_s,
            "audio": {"rate": a.rtc.audio_rate, "size": a.rtc.audio_size},
            "video": {"rate": a.rtc.video_rate, "size": a.rtc.video_size},
            "pinning": "Sluice pins its worker threads (worker i on core i); server.js pins each mediasoup worker process the same way (taskset); the load thread is on --harness-core or the last core",
        }),
        machine: crate::run::machine(),
        knees,
        ratios,
        steps,
    })
}

/// Runs `renice` or `chrt` on this process's main thread: its nice value and scheduling policy
/// are inherited by every thread and child process started later (both are per thread on
/// Linux, and the main thread's id is the pid).
fn run_tool(tool: &str, args: &[&str]) -> Result<(), BenchError> {
    let out = std::process::Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| BenchError::io(tool, e))?;
    if !out.status.success() {
        return Err(BenchError::Args(format!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn knee_of(
    a: &KneeArgs,
    dim: KneeDim,
    target: &str,
    search: &Search,
    bound: Bound,
    steps: &[Step],
    why: Vec<String>,
) -> Knee {
    let size = search.holds.unwrap_or(0);
    let shape = (size > 0).then(|| shape_at(a, dim, size));
    let consumers = shape.as_ref().map_or(0, Shape::consumers);
    let clients = shape.as_ref().map_or(0, Shape::clients);
    let at_knee = steps
        .iter()
        .rev()
        .find(|s| s.target == target && s.size == size && s.outcome == Outcome::Holds)
        .and_then(|s| s.measurement.clone());
    let text = match bound {
        Bound::Sfu if size == 0 => format!(
            "< {} (the first step failed)",
            shape_at(a, dim, search.fails.unwrap_or(search.min)).consumers()
        ),
        Bound::Sfu => consumers.to_string(),
        Bound::Harness => format!("≥ {consumers} (harness-bound)"),
        Bound::MaxReached => format!("≥ {consumers} (--max reached)"),
        Bound::StepLimit => format!("≥ {consumers} (--max-steps reached)"),
        Bound::Machine => format!("≥ {consumers} (machine-bound: CPU contention)"),
    };
    Knee {
        target: target.into(),
        bound,
        size,
        consumers,
        clients,
        first_failing_size: search.fails,
        text,
        at_knee,
        why_stopped: if bound == Bound::MaxReached {
            Vec::new()
        } else {
            why
        },
    }
}

/// Sluice's knee ÷ each other target's, with what kind of figure it is.
pub fn ratios(knees: &[Knee]) -> Vec<Value> {
    let Some(s) = knees.iter().find(|k| k.target == "sluice") else {
        return Vec::new();
    };
    knees
        .iter()
        .filter(|k| k.target != "sluice")
        .map(|o| {
            let exact = |k: &Knee| k.bound == Bound::Sfu;
            let kind = match (exact(s), exact(o)) {
                (true, true) => "exact",
                // Sluice's figure can only grow, theirs is exact: a lower bound.
                (false, true) => "lower bound",
                (true, false) => "upper bound",
                (false, false) => "unknown (neither knee reached)",
            };
            let ratio = (o.consumers > 0).then(|| s.consumers as f64 / o.consumers as f64);
            json!({"vs": o.target, "sluice_over_them": ratio, "kind": kind})
        })
        .collect()
}

fn dim_name(d: KneeDim) -> &'static str {
    match d {
        KneeDim::Matches => "matches",
        KneeDim::Players => "players",
        KneeDim::Rooms => "rooms",
        KneeDim::Subscribers => "subscribers",
        KneeDim::Publishers => "publishers",
    }
}

/// The Markdown report: the knees, the ratio, every step.
pub fn markdown(r: &KneeReport) -> String {
    let mut s = String::new();
    let c = &r.config;
    let fixed = match r.scenario {
        KneeScenario::AudioMatch => format!(
            "audio-match, {} players per match × {} matches",
            c["players"], c["matches"]
        ),
        KneeScenario::VideoRoom => format!(
            "video-room, {} publishers × {} subscribers × {} rooms",
            c["publishers"], c["subscribers"], c["rooms"]
        ),
    };
    let _ = writeln!(
        s,
        "knee: {fixed}, raising {} (×{} then bisection to {} %); a step fails at loss > {} % or \
         p99 > {} ms; {} SFU worker(s), each pinned to one core; {} s windows\n",
        dim_name(r.vary),
        c["factor"],
        r.config["precision"].as_f64().unwrap_or(0.0) * 100.0,
        r.thresholds.max_loss_pct,
        r.thresholds.max_p99_us / 1e3,
        c["workers"],
        c["duration_s"],
    );
    s.push_str(
        "| target | most consumers carried | at | clients | fwd pkt/s there | SFU core % there | \
         p99 µs there | harness core % there | first failing | why it stopped |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for k in &r.knees {
        let m = k.at_knee.as_ref();
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.0}"));
        let _ = writeln!(
            s,
            "| {} | **{}** | {} {} | {} | {} | {} | {} | {} | {} | {} |",
            k.target,
            k.text,
            dim_name(r.vary),
            k.size,
            k.clients,
            f(m.map(|m| m.forwarded_pps)),
            f(m.map(|m| m.core_util_pct)),
            f(m.map(|m| m.latency.p99_us)),
            f(m.map(|m| m.harness_util_pct)),
            k.first_failing_size
                .map_or("–".into(), |v| format!("{} {v}", dim_name(r.vary))),
            if k.why_stopped.is_empty() {
                "–".into()
            } else {
                k.why_stopped.join("; ")
            },
        );
    }
    for x in &r.ratios {
        let _ = writeln!(
            s,
            "\nKnee ratio sluice ÷ {}: {} ({})",
            x["vs"].as_str().unwrap_or("?"),
            x["sluice_over_them"]
                .as_f64()
                .map_or("–".into(), |v| format!("{v:.2}")),
            x["kind"].as_str().unwrap_or("?"),
        );
    }
    s.push_str(
        "\n| target | size | clients | consumers | attempt | outcome | fwd pkt/s | loss % | \
         lost in kernel queues / elsewhere | p50 µs | p99 µs | SFU core % | CPU ns/pkt | \
         harness core % | CPU wait % SFU / harness | load average |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for st in &r.steps {
        let outcome = match st.outcome {
            Outcome::Holds => "holds",
            Outcome::Fails => "fails",
            Outcome::HarnessBound => "harness-bound",
            Outcome::Contended => "contended",
        };
        match &st.measurement {
            Some(m) => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {}{} | {:.0} | {:.3} | {} / {} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.0} / {:.0} | {} |",
                    st.target,
                    st.size,
                    st.clients,
                    st.consumers,
                    st.attempt,
                    outcome,
                    if m.disturbed { " (disturbed)" } else { "" },
                    m.forwarded_pps,
                    m.loss_pct,
                    m.kernel.lost_in_kernel,
                    m.kernel.lost_elsewhere,
                    m.latency.p50_us,
                    m.latency.p99_us,
                    m.core_util_pct,
                    m.cpu_ns_per_pkt.map_or("–".into(), |v| format!("{v:.0}")),
                    m.harness_util_pct,
                    m.sfu_wait_pct,
                    m.harness_wait_pct,
                    m.loadavg.split(' ').take(3).collect::<Vec<_>>().join(" "),
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} |  |  |  |  |  |  |  |  |  |",
                    st.target,
                    st.size,
                    st.clients,
                    st.consumers,
                    st.attempt,
                    outcome,
                    st.error.as_deref().unwrap_or("").replace('|', "/"),
                );
            }
        }
    }
    s
}

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Target(format!("chart: {e}"))
}

/// One figure of a step's measurement, as charted.
pub type Metric = fn(&RtcMeasurement) -> f64;

/// Per target, (consumers, metric) of every attempt with figures.
pub fn series(r: &KneeReport, metric: Metric) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for st in &r.steps {
        let Some(m) = &st.measurement else { continue };
        let p = (st.consumers as f64, metric(m));
        match out.iter_mut().find(|(t, _)| *t == st.target) {
            Some((_, v)) => v.push(p),
            None => out.push((st.target.clone(), vec![p])),
        }
    }
    for (_, v) in &mut out {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// An SVG of loss % and p99 against consumers, per target, log scales, the limits dashed.
pub fn render(r: &KneeReport, out: &Path) -> Result<(), BenchError> {
    let root = SVGBackend::new(out, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (left, right) = root.split_horizontally(500);
    let panels: [(_, Metric, &str, f64, f64); 2] = [
        (
            left,
            |m| m.loss_pct.max(1e-3),
            "loss % (0 drawn at 0.001)",
            r.thresholds.max_loss_pct,
            1e-3,
        ),
        (
            right,
            |m| (m.latency.p99_us / 1e3).max(0.01),
            "p99 one-way latency, ms",
            r.thresholds.max_p99_us / 1e3,
            0.01,
        ),
    ];
    for (area, metric, label, limit, floor) in panels {
        let data = series(r, metric);
        let xmax = data
            .iter()
            .flat_map(|(_, v)| v.iter().map(|p| p.0))
            .fold(10.0, f64::max);
        let ymax = data
            .iter()
            .flat_map(|(_, v)| v.iter().map(|p| p.1))
            .fold(limit * 10.0, f64::max);
        let mut chart = ChartBuilder::on(&area)
            .caption(label, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (1f64..xmax * 1.5).log_scale(),
                (floor..ymax * 2.0).log_scale(),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("consumers")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(1.0, limit), (xmax * 1.5, limit)],
                6,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
        for (target, pts) in data.iter() {
            let c = crate::chart::target_color(target);
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(err)?
                .label(target.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::CpuDelta;
    use crate::kdrops::KernelDrops;
    use crate::report::LatencySummary;

    fn search(from: usize, max: usize) -> Search {
        Search {
            from,
            min: 1,
            max,
            factor: 2.0,
            precision: 0.1,
            holds: None,
            fails: None,
        }
    }

    /// Runs a search against an SFU that holds up to `knee`; the sizes tried.
    fn drive(mut s: Search, knee: usize) -> (Vec<usize>, Search) {
        let mut tried = Vec::new();
        while let Some(n) = s.next() {
            assert!(!tried.contains(&n), "{n} tried twice: {tried:?}");
            tried.push(n);
            s.record(n, n <= knee);
            assert!(tried.len() < 64, "no end: {tried:?}");
        }
        (tried, s)
    }

    #[test]
    fn search_doubles_then_bisects_to_the_precision() {
        let (tried, s) = drive(search(1, 4096), 100);
        // 1, 2, …, 64 hold, 128 fails.
        assert_eq!(tried[..8], [1, 2, 4, 8, 16, 32, 64, 128]);
        // 64..128: 96 holds; 96..128: 112 fails; 96..112: 104 fails; 96..104 is within 10 %.
        assert_eq!(tried[8..], [96, 112, 104]);
        assert_eq!((s.holds, s.fails), (Some(96), Some(104)));
    }

    #[test]
    fn search_stops_at_max_and_handles_a_failing_first_step() {
        let (tried, s) = drive(search(3, 20), 1000);
        assert_eq!(tried, [3, 6, 12, 20]);
        assert_eq!((s.holds, s.fails), (Some(20), None));
        // The first step fails: bisect down towards the minimum.
        let (tried, s) = drive(search(8, 100), 2);
        assert_eq!(tried, [8, 4, 2, 3]);
        assert_eq!((s.holds, s.fails), (Some(2), Some(3)));
        let (tried, s) = drive(search(8, 100), 0);
        assert_eq!(tried, [8, 4, 2, 1]);
        assert_eq!((s.holds, s.fails), (None, Some(1)));
        // Small sizes bisect to a gap of 1.
        let (_, s) = drive(search(1, 100), 5);
        assert_eq!((s.holds, s.fails), (Some(5), Some(6)));
    }

    fn measurement(loss_pct: f64, p99_us: f64, harness_pct: f64) -> RtcMeasurement {
        let expected = 100_000u64;
        let lost = (expected as f64 * loss_pct / 100.0) as u64;
        RtcMeasurement {
            disturbed: false,
            target: "sluice".into(),
            repeat: 0,
            pids: vec![],
            clients: 40,
            producers: 40,
            consumers: 120,
            window_s: 4.0,
            loadavg: "1.0 1.0 1.0 1/100 5".into(),
            sent: 1,
            expected,
            received: expected - lost,
            loss_pct,
            worst_consumer_loss_pct: loss_pct,
            silent_consumers: 0,
            forwarded_pps: 6000.0,
            latency: LatencySummary {
                samples: 1,
                p50_us: 100.0,
                p99_us,
                p999_us: p99_us,
                max_us: p99_us,
            },
            cpu_ns_per_pkt: Some(3000.0),
            stat_ns_per_pkt: None,
            core_util_pct: 50.0,
            cpu: CpuDelta::default(),
            peak_rss_kib: 0,
            rss_per_consumer_kib: None,
            harness_util_pct: harness_pct,
            sfu_wait_pct: 1.0,
            harness_wait_pct: 1.0,
            harness_ns_per_pkt: None,
            harness_max_lag_ms: 0.0,
            harness_late_pct: 0.0,
            failed_clients: 0,
            unconnected_clients: 0,
            connected_late: 0,
            min_checks_answered: 1,
            rr_sent: 0,
            rtcp_in: 0,
            bad_in: 0,
            foreign: 0,
            misrouted: 0,
            tx_errors: 0,
            kernel: KernelDrops {
                lost,
                lost_elsewhere: lost,
                ..KernelDrops::default()
            },
            sfu_counters: None,
            storm: None,
        }
    }

    const TH: Thresholds = Thresholds {
        max_loss_pct: 0.1,
        max_p99_us: 5_000.0,
        harness_busy_pct: 70.0,
        sfu_saturated_pct: 90.0,
        max_wait_pct: 10.0,
    };

    #[test]
    fn a_step_holds_fails_or_is_the_harness_s_limit() {
        assert_eq!(
            judge(&measurement(0.1, 5_000.0, 30.0), &TH).0,
            Outcome::Holds
        );
        let (o, why) = judge(&measurement(0.5, 1_000.0, 30.0), &TH);
        assert_eq!(o, Outcome::Fails);
        assert!(why[0].starts_with("loss 0.500 %"), "{why:?}");
        let (o, why) = judge(&measurement(0.0, 5_001.0, 30.0), &TH);
        assert_eq!(o, Outcome::Fails);
        assert!(why[0].starts_with("p99 5.0 ms"), "{why:?}");
        // The same failure with a busy generator is not the SFU's knee.
        assert_eq!(
            judge(&measurement(0.5, 9_000.0, 71.0), &TH).0,
            Outcome::HarnessBound
        );
        // …unless the SFU's core was full: then the SFU is the limit.
        let mut m = measurement(0.0, 55_000.0, 87.0);
        m.core_util_pct = 93.0;
        assert_eq!(judge(&m, &TH).0, Outcome::Fails);
        // A busy generator at a step that holds is fine.
        assert_eq!(judge(&measurement(0.0, 900.0, 85.0), &TH).0, Outcome::Holds);
        // Loss mostly in the harness's own socket queues.
        let mut m = measurement(1.0, 900.0, 30.0);
        m.kernel.harness_socket_drops = 600;
        m.kernel.lost_in_kernel = 600;
        assert_eq!(judge(&m, &TH).0, Outcome::HarnessBound);
        m.kernel.harness_socket_drops = 100;
        assert_eq!(judge(&m, &TH).0, Outcome::Fails, "mostly the SFU's loss");
        let mut m = measurement(0.0, 900.0, 30.0);
        m.unconnected_clients = 3;
        assert_eq!(judge(&m, &TH).0, Outcome::Fails);
        // A failure while the SFU or the generator waited for a CPU is the machine's.
        let mut m = measurement(0.0, 9_000.0, 30.0);
        m.sfu_wait_pct = 25.0;
        let (o, why) = judge(&m, &TH);
        assert_eq!(o, Outcome::Contended);
        assert!(why[1].contains("waited for a CPU 25 %"), "{why:?}");
        m.sfu_wait_pct = 1.0;
        m.disturbed = true;
        assert_eq!(judge(&m, &TH).0, Outcome::Contended);
        // Waiting while holding is fine.
        let mut m = measurement(0.0, 900.0, 30.0);
        m.harness_wait_pct = 40.0;
        assert_eq!(judge(&m, &TH).0, Outcome::Holds);
    }

    fn knee(target: &str, bound: Bound, consumers: usize) -> Knee {
        Knee {
            target: target.into(),
            bound,
            size: 1,
            consumers,
            clients: 0,
            first_failing_size: None,
            text: String::new(),
            at_knee: None,
            why_stopped: vec![],
        }
    }

    #[test]
    fn warm_up_grows_with_the_clients() {
        assert_eq!(step_warmup(3.0, 5.0, 100), 3.0);
        assert_eq!(step_warmup(3.0, 5.0, 1000), 5.0);
        assert_eq!(step_warmup(3.0, 0.0, 1000), 3.0);
        assert_eq!(step_warmup(3.0, -1.0, 1000), 3.0);
    }

    #[test]
    fn knee_ratio_says_whether_it_is_a_bound() {
        let r = ratios(&[
            knee("sluice", Bound::Harness, 1200),
            knee("mediasoup", Bound::Sfu, 400),
        ]);
        assert_eq!(r[0]["sluice_over_them"], 3.0);
        assert_eq!(r[0]["kind"], "lower bound");
        let r = ratios(&[
            knee("sluice", Bound::Sfu, 600),
            knee("mediasoup", Bound::Sfu, 400),
        ]);
        assert_eq!(
            (r[0]["sluice_over_them"].as_f64(), r[0]["kind"].as_str()),
            (Some(1.5), Some("exact"))
        );
        assert!(ratios(&[knee("mediasoup", Bound::Sfu, 1)]).is_empty());
    }

    #[test]
    fn sizes_map_to_the_scenario_shapes() {
        use clap::Parser;
        let cli =
            crate::cli::Cli::try_parse_from(["sluice-bench", "knee", "--players", "5"]).unwrap();
        let crate::cli::Command::Knee(a) = cli.command else {
            panic!("knee");
        };
        assert_eq!(dimension(&a).unwrap(), KneeDim::Matches);
        assert_eq!(shape_at(&a, KneeDim::Matches, 3).consumers(), 3 * 5 * 4);
        assert_eq!(shape_at(&a, KneeDim::Players, 7).consumers(), 7 * 6);
        let mut v = a.clone();
        v.scenario = KneeScenario::VideoRoom;
        assert_eq!(dimension(&v).unwrap(), KneeDim::Subscribers);
        assert_eq!(shape_at(&v, KneeDim::Subscribers, 30).consumers(), 2 * 30);
        assert_eq!(shape_at(&v, KneeDim::Rooms, 3).consumers(), 3 * 2 * 10);
        v.vary = Some(KneeDim::Players);
        assert!(dimension(&v).is_err(), "players is not a video-room size");
    }

    #[test]
    fn report_renders_markdown_and_svg() {
        let m = measurement(0.0, 800.0, 20.0);
        let step = |target: &str, size: usize, outcome: Outcome| Step {
            target: target.into(),
            size,
            clients: size * 4,
            consumers: size * 12,
            attempt: 0,
            outcome,
            why: vec![],
            measurement: Some(m.clone()),
            error: None,
        };
        let r = KneeReport {
            scenario: KneeScenario::AudioMatch,
            vary: KneeDim::Matches,
            thresholds: TH,
            config: json!({"players": 4, "matches": 1, "factor": 2.0, "precision": 0.1,
                           "workers": 1, "duration_s": 4.0}),
            machine: json!({}),
            knees: vec![
                knee("sluice", Bound::Harness, 96),
                knee("mediasoup", Bound::Sfu, 48),
            ],
            ratios: ratios(&[
                knee("sluice", Bound::Harness, 96),
                knee("mediasoup", Bound::Sfu, 48),
            ]),
            steps: vec![
                step("sluice", 4, Outcome::Holds),
                step("mediasoup", 4, Outcome::Holds),
                step("sluice", 8, Outcome::HarnessBound),
                step("mediasoup", 8, Outcome::Fails),
            ],
        };
        let md = markdown(&r);
        assert!(md.contains("raising matches"), "{md}");
        assert!(
            md.contains("Knee ratio sluice ÷ mediasoup: 2.00 (lower bound)"),
            "{md}"
        );
        assert_eq!(md.matches("| harness-bound |").count(), 1, "{md}");
        let s = series(&r, |m| m.latency.p99_us);
        assert_eq!(
            s[0],
            ("sluice".to_string(), vec![(48.0, 800.0), (96.0, 800.0)])
        );
        let out = std::env::temp_dir().join(format!("knee-test-{}.svg", std::process::id()));
        render(&r, &out).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        assert!(svg.starts_with("<svg") && svg.contains("consumers") && svg.contains("mediasoup"));
    }
}
