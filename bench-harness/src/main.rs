//! `sluice-bench`: load generator and benchmarks of Sluice (DESIGN.md §6).
//!
//! `sluice-bench plain` starts the release `sluice` binary on loopback, builds P producers with
//! C consumers each through the v1 API, sends stamped plain RTP at a fixed rate and size, and
//! reports forwarded packets/s, loss, one-way latency and Sluice's CPU per forwarded packet;
//! in the same run it measures the floor, a forwarder that only receives and re-sends on the
//! engine's own I/O backends, and gives Sluice's CPU per packet as a ratio to it. Numbers and
//! their reading live in docs/BENCHMARKS.md, never in tests.
//!
//! `sluice-bench audio-match | video-room | join-storm` simulate many WebRTC clients in one
//! thread (ICE, DTLS, SRTP, RTCP receiver reports) against `--target sluice,mediasoup,janus`,
//! and report per target and the ratios between them (`rtc_client`, `rtc_load`, `rtc_run`,
//! `mediasoup`; `janus` drives Janus's videoroom over its HTTP API with the SDP of `sdp`).
//!
//! `sluice-bench knee` raises one size of `audio-match` or `video-room` until loss or p99 passes
//! its limit and reports per target the most consumers one core carried (`knee`).
//!
//! Files: `cli` (flags), `stamp` (packet format), `load` (sender and receiver threads), `cpu`
//! (`/proc` accounting), `sluice` (starting Sluice, driving its API), `floor` (the minimal
//! forwarder), `target` (child processes, free ports), `run` (one run's sequence), `report`
//! (arithmetic, table, JSON).

use std::process::ExitCode;

use clap::Parser;

mod chart;
mod cli;
mod cpu;
mod error;
mod floor;
mod janus;
mod kdrops;
mod knee;
mod load;
mod mediasoup;
mod report;
mod rr;
mod rtc_client;
mod rtc_load;
mod rtc_run;
mod run;
mod sdp;
mod sluice;
mod srtp;
mod stamp;
mod target;

use cli::{Cli, Command};
use error::BenchError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Plain(a) => plain(a),
        Command::AudioMatch(a) => webrtc(rtc_run::Shape::audio_match(a), &a.rtc, None),
        Command::VideoRoom(a) => webrtc(rtc_run::Shape::video_room(a), &a.rtc, None),
        Command::JoinStorm(a) => webrtc(rtc_run::Shape::join_storm(a), &a.rtc, Some(a)),
        Command::Chart(a) => chart::run(&a.inputs, &a.out),
        Command::Knee(a) => knee(a),
        Command::Floor(a) => floor::serve(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn webrtc(
    shape: rtc_run::Shape,
    a: &cli::RtcArgs,
    storm: Option<&cli::JoinStormArgs>,
) -> Result<(), BenchError> {
    let report = rtc_run::run(shape, a, storm)?;
    print!("{}", rtc_run::markdown(&report));
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| BenchError::Target(format!("JSON: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| BenchError::io(path.display().to_string(), e))?;
    }
    Ok(())
}

fn knee(a: &cli::KneeArgs) -> Result<(), BenchError> {
    let report = knee::run(a)?;
    let md = knee::markdown(&report);
    print!("{md}");
    let write = |path: &std::path::Path, text: String| {
        std::fs::write(path, text).map_err(|e| BenchError::io(path.display().to_string(), e))
    };
    if let Some(path) = &a.markdown {
        write(path, md)?;
    }
    if let Some(path) = &a.rtc.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| BenchError::Target(format!("JSON: {e}")))?;
        write(path, text + "\n")?;
    }
    if let Some(path) = &a.svg {
        knee::render(&report, path)?;
    }
    Ok(())
}

fn plain(a: &cli::PlainArgs) -> Result<(), BenchError> {
    let report = run::plain(a)?;
    print!("{}", report::markdown(&report));
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| BenchError::Target(format!("JSON: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| BenchError::io(path.display().to_string(), e))?;
    }
    Ok(())
}
