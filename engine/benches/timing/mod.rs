//! The timing loop both cargo bench mains (`srtp.rs`, `rtp_rewrite.rs`) use, and the load
//! average they print beside their figures.
//!
//! Each figure is the fastest of `RUNS` timed runs of many iterations, in nanoseconds per call:
//! on a machine shared with other builds the fastest run is the one least disturbed, so it is
//! the best estimate of the code's own cost. Compare rows of one run only (DESIGN.md §6).

use std::time::{Duration, Instant};

pub const RUNS: usize = 7;
const RUN_TIME: Duration = Duration::from_millis(60);

/// Fastest ns per call of `f` over `RUNS` runs, each as long as about `RUN_TIME`. `f` gets
/// the iteration's index (for sequence numbers and the like).
pub fn measure(mut f: impl FnMut(u64)) -> f64 {
    fastest(1_000, 1.0, |iters| {
        let t = Instant::now();
        for i in 0..iters {
            f(i);
        }
        t.elapsed()
    })
}

/// The loop under [`measure`], for a caller that times only part of each repetition:
/// `run(reps)` does `reps` repetitions of `units` units each and returns the time it counts.
/// `reps` starts at `first` and doubles until a run takes a quarter of `RUN_TIME`, then is
/// four times that; returns the fastest of `RUNS` such runs in ns per unit.
pub fn fastest(first: u64, units: f64, mut run: impl FnMut(u64) -> Duration) -> f64 {
    let mut reps = first.max(1);
    while run(reps) < RUN_TIME / 4 {
        reps *= 2;
    }
    let reps = reps * 4;
    (0..RUNS)
        .map(|_| run(reps).as_nanos() as f64 / (reps as f64 * units))
        .fold(f64::INFINITY, f64::min)
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
