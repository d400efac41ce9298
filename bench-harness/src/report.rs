//! The figures of a run, their arithmetic, and their two outputs: a Markdown table on stdout
//! and JSON (`--json`).
//!
//! Per measurement: forwarded packets/s (marked packets the receivers got ÷ window), loss
//! (1 − received ÷ (sent × C)), one-way latency percentiles, and the forwarder's CPU per
//! forwarded packet (`schedstat` ns ÷ received packets: what the forwarder spent per packet
//! that reached a consumer). Ratios to the floor are taken within one repetition, never
//! across repetitions, because the machine is shared and its load drifts.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cpu::CpuDelta;

/// One-way latency percentiles, microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl LatencySummary {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Self {
            samples: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// CPU of the harness's own load threads over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct HarnessCpu {
    pub sender_ns: u64,
    pub receiver_ns: u64,
    /// Share of one core used by the sender thread, %.
    pub sender_util_pct: f64,
    pub receiver_util_pct: f64,
    /// (sender + receiver) ns ÷ forwarded packets.
    pub ns_per_pkt: Option<f64>,
}

/// Everything measured for one forwarder in one repetition.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    /// `sluice` or `floor`.
    pub forwarder: String,
    /// Its process id (names a `--wrapper`'s output files, e.g. `callgrind.out.<pid>`).
    pub pid: u32,
    /// `uring` or `mmsg`.
    pub io: String,
    pub repeat: usize,
    pub window_s: f64,
    /// `/proc/loadavg` when the window closed: how busy the shared machine was.
    pub loadavg: String,
    /// Marked packets sent, all producers.
    pub sent: u64,
    /// `sent × consumers`.
    pub expected: u64,
    /// Marked packets received, all consumers.
    pub received: u64,
    pub loss_pct: f64,
    pub forwarded_pps: f64,
    pub latency: LatencySummary,
    pub cpu: CpuDelta,
    /// `cpu.sched_ns ÷ received`: the headline figure.
    pub cpu_ns_per_pkt: Option<f64>,
    /// `cpu.stat_ns ÷ received` (10 ms tick resolution), and its user and system parts.
    pub stat_ns_per_pkt: Option<f64>,
    pub user_ns_per_pkt: Option<f64>,
    pub sys_ns_per_pkt: Option<f64>,
    /// Share of one core the forwarder used, %.
    pub core_util_pct: f64,
    /// Forwarded packets per time a forwarder thread was scheduled in: the batch it served per
    /// wake-up (what amortises each wake-up's fixed cost).
    pub packets_per_wakeup: Option<f64>,
    pub harness: HarnessCpu,
    pub sender_errors: u64,
    /// Datagrams the kernel dropped machine-wide in the window because a UDP socket's queue
    /// was full (`/proc/net/snmp` `RcvbufErrors`).
    pub udp_rcvbuf_errors: u64,
    /// Datagrams the forwarder itself dropped over its whole run (warm-up included): the sum
    /// of Sluice's drop counters, or the floor's no-send-slot and send-error count.
    pub forwarder_drops: Option<u64>,
    pub max_burst: u64,
    pub foreign: u64,
    pub misrouted: u64,
    pub rx_errors: u64,
    /// With `--srtp`, received datagrams that failed to unprotect (counted as loss).
    pub srtp_failures: u64,
    /// Sluice's `/v1/workers` counters after the run (warm-up included); `null` for the floor.
    pub sluice_counters: Option<serde_json::Value>,
}

/// `num ÷ den` when both make sense.
pub fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    match (num, den) {
        (Some(n), Some(d)) if d > 0.0 && n.is_finite() && d.is_finite() => Some(n / d),
        _ => None,
    }
}

/// Nanoseconds per packet, `None` without packets.
pub fn per_packet(ns: u64, packets: u64) -> Option<f64> {
    (packets > 0).then(|| ns as f64 / packets as f64)
}

/// Lost share of what should have arrived, %; duplicates never make it negative.
pub fn loss_pct(expected: u64, received: u64) -> f64 {
    if expected == 0 {
        return 0.0;
    }
    (expected - received.min(expected)) as f64 * 100.0 / expected as f64
}

/// `part` as a share of `whole` ns, %.
pub fn util_pct(part_ns: u64, whole_s: f64) -> f64 {
    if whole_s <= 0.0 {
        return 0.0;
    }
    part_ns as f64 / (whole_s * 1e9) * 100.0
}

/// Smallest, median and largest of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for an empty sample. The median of an even count is the mean of the middle two.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            min: v[0],
            median,
            max: v[n - 1],
        })
    }
}

/// Sluice against the floors and its two backends against each other, within one repetition.
#[derive(Clone, Debug, Serialize)]
pub struct Ratios {
    pub repeat: usize,
    /// Sluice `uring` ÷ floor `uring`, and so on (CPU ns per forwarded packet).
    pub sluice_uring_vs_floor_uring: Option<f64>,
    pub sluice_uring_vs_floor_mmsg: Option<f64>,
    pub sluice_mmsg_vs_floor_uring: Option<f64>,
    pub sluice_mmsg_vs_floor_mmsg: Option<f64>,
    pub sluice_uring_vs_sluice_mmsg: Option<f64>,
    pub floor_uring_vs_floor_mmsg: Option<f64>,
}

fn cpu_of(ms: &[Measurement], repeat: usize, forwarder: &str, io: &str) -> Option<f64> {
    ms.iter()
        .find(|m| m.repeat == repeat && m.forwarder == forwarder && m.io == io)
        .and_then(|m| m.cpu_ns_per_pkt)
}

impl Ratios {
    pub fn of(ms: &[Measurement], repeat: usize) -> Self {
        let c = |f, io| cpu_of(ms, repeat, f, io);
        Self {
            repeat,
            sluice_uring_vs_floor_uring: ratio(c("sluice", "uring"), c("floor", "uring")),
            sluice_uring_vs_floor_mmsg: ratio(c("sluice", "uring"), c("floor", "mmsg")),
            sluice_mmsg_vs_floor_uring: ratio(c("sluice", "mmsg"), c("floor", "uring")),
            sluice_mmsg_vs_floor_mmsg: ratio(c("sluice", "mmsg"), c("floor", "mmsg")),
            sluice_uring_vs_sluice_mmsg: ratio(c("sluice", "uring"), c("sluice", "mmsg")),
            floor_uring_vs_floor_mmsg: ratio(c("floor", "uring"), c("floor", "mmsg")),
        }
    }
}

/// The whole run, as written to `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub scenario: &'static str,
    pub config: serde_json::Value,
    pub machine: serde_json::Value,
    pub measurements: Vec<Measurement>,
    pub ratios: Vec<Ratios>,
    /// Spread over repetitions of each ratio (`None` where it could not be taken).
    pub ratio_spread: serde_json::Value,
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{x:.decimals$}"))
}

fn spread_cell(s: Option<Spread>, decimals: usize) -> String {
    s.map_or_else(
        || "–".into(),
        |s| {
            format!(
                "{:.d$} ({:.d$}–{:.d$})",
                s.median,
                s.min,
                s.max,
                d = decimals
            )
        },
    )
}

/// The Markdown tables for stdout and docs/BENCHMARKS.md.
pub fn markdown(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| rep | forwarder | io | fwd pkt/s | loss % (fwd drops, rcvbuf drops) | p50 µs | p99 µs | p99.9 µs | CPU ns/pkt | \
         stat ns/pkt (user+sys) | fwd core % | pkt/wake | × floor uring | × floor mmsg | harness ns/pkt | \
         send/recv core % |"
    );
    let _ = writeln!(out, "|{}", "---|".repeat(16));
    for m in &report.measurements {
        let r = report.ratios.iter().find(|r| r.repeat == m.repeat);
        let (vs_u, vs_m) = match (m.forwarder.as_str(), m.io.as_str(), r) {
            ("sluice", "uring", Some(r)) => {
                (r.sluice_uring_vs_floor_uring, r.sluice_uring_vs_floor_mmsg)
            }
            ("sluice", "mmsg", Some(r)) => {
                (r.sluice_mmsg_vs_floor_uring, r.sluice_mmsg_vs_floor_mmsg)
            }
            _ => (None, None),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.3} ({}, {}) | {:.0} | {:.0} | {:.0} | {} | {} ({}+{}) | {:.1} | {} | {} | {} | {} | {:.0}/{:.0} |",
            m.repeat,
            m.forwarder,
            m.io,
            m.forwarded_pps,
            m.loss_pct,
            m.forwarder_drops
                .map_or_else(|| "–".to_string(), |d| d.to_string()),
            m.udp_rcvbuf_errors,
            m.latency.p50_us,
            m.latency.p99_us,
            m.latency.p999_us,
            opt(m.cpu_ns_per_pkt, 0),
            opt(m.stat_ns_per_pkt, 0),
            opt(m.user_ns_per_pkt, 0),
            opt(m.sys_ns_per_pkt, 0),
            m.core_util_pct,
            opt(m.packets_per_wakeup, 0),
            opt(vs_u, 2),
            opt(vs_m, 2),
            opt(m.harness.ns_per_pkt, 0),
            m.harness.sender_util_pct,
            m.harness.receiver_util_pct,
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| CPU ns per forwarded packet, median (min–max) over {} repetition(s) | uring | mmsg |",
        report.ratios.len()
    );
    let _ = writeln!(out, "|---|---|---|");
    for f in ["sluice", "floor"] {
        let cell = |io: &str| {
            let v: Vec<f64> = report
                .measurements
                .iter()
                .filter(|m| m.forwarder == f && m.io == io)
                .filter_map(|m| m.cpu_ns_per_pkt)
                .collect();
            spread_cell(Spread::of(&v), 0)
        };
        let _ = writeln!(out, "| {f} | {} | {} |", cell("uring"), cell("mmsg"));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| ratio (CPU per packet, same repetition) | median (min–max) |"
    );
    let _ = writeln!(out, "|---|---|");
    for (name, get) in ratio_getters() {
        let v: Vec<f64> = report.ratios.iter().filter_map(get).collect();
        let _ = writeln!(out, "| {name} | {} |", spread_cell(Spread::of(&v), 2));
    }
    out
}

type RatioGetter = fn(&Ratios) -> Option<f64>;

/// The ratios by display name, for the summary table and the JSON spread.
pub fn ratio_getters() -> [(&'static str, RatioGetter); 6] {
    [
        ("Sluice uring ÷ floor uring", |r| {
            r.sluice_uring_vs_floor_uring
        }),
        ("Sluice uring ÷ floor mmsg", |r| {
            r.sluice_uring_vs_floor_mmsg
        }),
        ("Sluice mmsg ÷ floor uring", |r| {
            r.sluice_mmsg_vs_floor_uring
        }),
        ("Sluice mmsg ÷ floor mmsg", |r| r.sluice_mmsg_vs_floor_mmsg),
        ("Sluice uring ÷ Sluice mmsg", |r| {
            r.sluice_uring_vs_sluice_mmsg
        }),
        ("floor uring ÷ floor mmsg", |r| r.floor_uring_vs_floor_mmsg),
    ]
}

/// `{name: Spread}` of every ratio over the repetitions.
pub fn ratio_spread(ratios: &[Ratios]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (name, get) in ratio_getters() {
        let v: Vec<f64> = ratios.iter().filter_map(get).collect();
        m.insert(
            name.to_string(),
            serde_json::to_value(Spread::of(&v)).unwrap_or(serde_json::Value::Null),
        );
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
        // 1 µs .. 1000 µs, one sample each.
        for us in 1..=1000u64 {
            h.record(us * 1_000).unwrap();
        }
        let s = LatencySummary::from_histogram(&h);
        assert_eq!(s.samples, 1000);
        // Three significant digits: within 0.1 % of the exact rank.
        assert!((s.p50_us - 500.0).abs() <= 0.5 + 1.0, "{}", s.p50_us);
        assert!((s.p99_us - 990.0).abs() <= 1.0 + 1.0, "{}", s.p99_us);
        assert!((s.p999_us - 999.0).abs() <= 1.0 + 1.0, "{}", s.p999_us);
        assert!((s.max_us - 1000.0).abs() <= 1.0, "{}", s.max_us);
        assert_eq!(
            LatencySummary::from_histogram(&Histogram::<u64>::new(3).unwrap()),
            LatencySummary::default()
        );
    }

    #[test]
    fn per_packet_loss_and_utilisation() {
        assert_eq!(per_packet(1_500_000, 1_000), Some(1_500.0));
        assert_eq!(per_packet(5, 0), None);
        assert_eq!(loss_pct(1_000, 990), 1.0);
        assert_eq!(
            loss_pct(1_000, 1_005),
            0.0,
            "duplicates are not negative loss"
        );
        assert_eq!(loss_pct(0, 0), 0.0);
        assert_eq!(util_pct(500_000_000, 2.0), 25.0);
        assert_eq!(util_pct(1, 0.0), 0.0);
    }

    #[test]
    fn ratios_guard_against_missing_or_zero() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(f64::NAN), Some(2.0)), None);
    }

    #[test]
    fn spread_min_median_max() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN]), None);
    }

    fn m(forwarder: &str, io: &str, repeat: usize, cpu: f64) -> Measurement {
        Measurement {
            forwarder: forwarder.into(),
            pid: 0,
            io: io.into(),
            repeat,
            window_s: 1.0,
            loadavg: String::new(),
            sent: 10,
            expected: 100,
            received: 100,
            loss_pct: 0.0,
            forwarded_pps: 100.0,
            latency: LatencySummary::default(),
            cpu: CpuDelta::default(),
            cpu_ns_per_pkt: Some(cpu),
            stat_ns_per_pkt: None,
            user_ns_per_pkt: None,
            sys_ns_per_pkt: None,
            core_util_pct: 0.0,
            packets_per_wakeup: None,
            harness: HarnessCpu::default(),
            sender_errors: 0,
            udp_rcvbuf_errors: 0,
            forwarder_drops: None,
            max_burst: 0,
            foreign: 0,
            misrouted: 0,
            rx_errors: 0,
            srtp_failures: 0,
            sluice_counters: None,
        }
    }

    #[test]
    fn ratios_pair_measurements_of_the_same_repetition() {
        let ms = vec![
            m("sluice", "uring", 0, 1500.0),
            m("sluice", "mmsg", 0, 2000.0),
            m("floor", "uring", 0, 1000.0),
            m("floor", "mmsg", 0, 1250.0),
            m("floor", "uring", 1, 10.0),
        ];
        let r = Ratios::of(&ms, 0);
        assert_eq!(r.sluice_uring_vs_floor_uring, Some(1.5));
        assert_eq!(r.sluice_uring_vs_floor_mmsg, Some(1.2));
        assert_eq!(r.sluice_mmsg_vs_floor_uring, Some(2.0));
        assert_eq!(r.sluice_mmsg_vs_floor_mmsg, Some(1.6));
        assert_eq!(r.sluice_uring_vs_sluice_mmsg, Some(0.75));
        assert_eq!(r.floor_uring_vs_floor_mmsg, Some(0.8));
        let r1 = Ratios::of(&ms, 1);
        assert_eq!(
            r1.sluice_uring_vs_floor_uring, None,
            "no Sluice in repetition 1"
        );
    }

    #[test]
    fn table_has_a_row_per_measurement() {
        let ms = vec![
            m("sluice", "uring", 0, 1500.0),
            m("floor", "uring", 0, 1000.0),
        ];
        let ratios = vec![Ratios::of(&ms, 0)];
        let report = RunReport {
            scenario: "plain",
            config: serde_json::json!({}),
            machine: serde_json::json!({}),
            ratio_spread: ratio_spread(&ratios),
            measurements: ms,
            ratios,
        };
        let md = markdown(&report);
        assert!(md.contains("| 0 | sluice | uring |"));
        assert!(md.contains("| 1.50 |"));
        assert!(md.contains("| Sluice uring ÷ floor uring | 1.50 (1.50–1.50) |"));
        assert_eq!(
            report.ratio_spread["Sluice uring ÷ floor uring"]["median"],
            1.5
        );
    }
}
