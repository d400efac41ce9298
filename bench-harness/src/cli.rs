//! Command line: `sluice-bench <scenario>`. Issue 4's scenarios (`audio-match`, `video-room`,
//! `join-storm`, `knee`) join `plain` as further [`Command`] variants.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sluice_engine::crypto::srtp::SrtpProfile;
use sluice_engine::io::IoKind;

#[derive(Parser, Debug)]
#[command(
    name = "sluice-bench",
    version,
    about = "Load generator and benchmarks of Sluice against a minimal forwarder (the floor)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Plain RTP: P producers, C consumers each, through Sluice and through the floor.
    Plain(PlainArgs),
    /// WebRTC: N players per match, each sends Opus-shaped audio and receives every other player.
    AudioMatch(AudioMatchArgs),
    /// WebRTC: P publishers of VP8-shaped video per room, S subscribers receiving every publisher.
    VideoRoom(VideoRoomArgs),
    /// WebRTC: audio matches run while K clients join at once; latency before vs during, and
    /// the joiners' time to first media.
    JoinStorm(JoinStormArgs),
    /// An SVG chart of WebRTC JSON reports: CPU per packet and p99 against load.
    Chart(ChartArgs),
    /// WebRTC: raise one size of `audio-match` or `video-room` step by step (doubling, then
    /// bisection) until loss or p99 passes its limit; per target, the most consumers its one
    /// worker core carried.
    Knee(KneeArgs),
    /// The floor forwarder (started by `plain`; receives and re-sends, no RTP logic).
    #[command(hide = true)]
    Floor(FloorArgs),
}

/// I/O backends to run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum IoChoice {
    Uring,
    Mmsg,
    Both,
}

impl IoChoice {
    /// The backends in the order they run.
    pub fn kinds(self) -> Vec<IoKind> {
        match self {
            Self::Uring => vec![IoKind::Uring],
            Self::Mmsg => vec![IoKind::Mmsg],
            Self::Both => vec![IoKind::Uring, IoKind::Mmsg],
        }
    }
    /// The one backend of `uring` or `mmsg` (`both` reads as `uring`).
    pub fn kind(self) -> IoKind {
        match self {
            Self::Mmsg => IoKind::Mmsg,
            _ => IoKind::Uring,
        }
    }
}

/// Codec of the produced stream (only its router capability and payload type matter here).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Opus,
    Vp8,
}

/// SDES-SRTP suite of `plain --srtp`, by its SDES name (RFC 4568 §6.2, RFC 7714 §14.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SrtpSuite {
    #[value(name = "AEAD_AES_128_GCM")]
    AeadAes128Gcm,
    #[value(name = "AEAD_AES_256_GCM")]
    AeadAes256Gcm,
    #[value(name = "AES_CM_128_HMAC_SHA1_80")]
    AesCm128HmacSha1_80,
}

impl SrtpSuite {
    pub fn profile(self) -> SrtpProfile {
        match self {
            Self::AeadAes128Gcm => SrtpProfile::AeadAes128Gcm,
            Self::AeadAes256Gcm => SrtpProfile::AeadAes256Gcm,
            Self::AesCm128HmacSha1_80 => SrtpProfile::AesCm128HmacSha1_80,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct PlainArgs {
    /// Producers (each with a router and a plain transport of its own).
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Consumers per producer (each on a plain transport of its own, one receiving socket each).
    #[arg(long, default_value_t = 10)]
    pub consumers: usize,
    /// Packets per second per producer.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u32,
    /// Datagram size in bytes, RTP header included (at least 36).
    #[arg(long, default_value_t = 200)]
    pub size: usize,
    /// Measurement window, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Load before the window opens, seconds (comedia learning, caches, socket buffers).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Worker threads of Sluice (`--workers`) and of the floor.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// I/O backends Sluice runs with, once each.
    #[arg(long, value_enum, default_value_t = IoChoice::Both)]
    pub io: IoChoice,
    /// I/O backends the floor runs with, once each (`both` unless a `--wrapper` cannot run
    /// io_uring: valgrind 3.19 hangs on it).
    #[arg(long, value_enum, default_value_t = IoChoice::Both)]
    pub floor_io: IoChoice,
    /// The `sluice` binary [default: `sluice` next to this executable].
    #[arg(long)]
    pub sluice_bin: Option<PathBuf>,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Codec::Opus)]
    pub codec: Codec,
    /// Sender pacing tick, microseconds: each producer's due packets leave in one batch per tick.
    #[arg(long, default_value_t = 1000)]
    pub tick_us: u64,
    /// Run the whole set (Sluice per backend, floor per backend) this many times, interleaved.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// After the window, how long to keep receiving late packets, milliseconds.
    #[arg(long, default_value_t = 300)]
    pub drain_ms: u64,
    /// Core for the harness's sender and receiver threads [default: the last core, when there
    /// are more cores than workers; else unpinned].
    #[arg(long)]
    pub harness_core: Option<usize>,
    /// Run each forwarder (Sluice and the floor) under this command, e.g.
    /// `"valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p"` for instruction counts.
    /// CPU times are then the wrapper's, not the forwarder's.
    #[arg(long)]
    pub wrapper: Option<String>,
    /// SDES-SRTP on both sides of Sluice with this suite: the harness protects what it sends
    /// and unprotects what it receives (its cost is in the harness columns); `--size` is then
    /// the RTP size before the SRTP tag. The floor stays plain: it is the floor.
    #[arg(long, value_enum)]
    pub srtp: Option<SrtpSuite>,
}

/// An SFU the WebRTC scenarios drive.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Sluice,
    Mediasoup,
    /// Janus 1.1.2's videoroom (`bench-harness/peers/janus/`; needs root for its veth).
    Janus,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sluice => "sluice",
            Self::Mediasoup => "mediasoup",
            Self::Janus => "janus",
        }
    }
}

/// Flags every WebRTC scenario shares.
#[derive(Args, Debug, Clone)]
pub struct RtcArgs {
    /// SFUs to run, in order, each under the same load (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sluice")]
    pub target: Vec<TargetKind>,
    /// Measurement window, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Time for ICE, DTLS and the first key frames before the window opens, seconds.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Worker threads of Sluice (`--workers`) and mediasoup workers (processes).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Sluice's I/O backend.
    #[arg(long, value_enum, default_value_t = IoChoice::Uring)]
    pub io: IoChoice,
    /// The `sluice` binary [default: `sluice` next to this executable].
    #[arg(long)]
    pub sluice_bin: Option<PathBuf>,
    /// Directory of the mediasoup peer's `server.js` [default: bench-harness/peers/mediasoup
    /// of this source tree]. Its `node_modules` (or `NODE_PATH`) and worker binary
    /// (`MEDIASOUP_WORKER_BIN`) come from `setup.sh`.
    #[arg(long)]
    pub mediasoup_dir: Option<PathBuf>,
    /// Directory of the Janus peer's `start.sh` and `netns.sh` [default:
    /// bench-harness/peers/janus of this source tree].
    #[arg(long)]
    pub janus_dir: Option<PathBuf>,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Run the set of targets this many times, interleaved.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// After the window, how long to keep receiving late packets, milliseconds.
    #[arg(long, default_value_t = 500)]
    pub drain_ms: u64,
    /// Core for the load thread [default: the last core when there are more cores than
    /// workers; else unpinned].
    #[arg(long)]
    pub harness_core: Option<usize>,
    /// Interval of the clients' ICE consent checks (RFC 7675), seconds.
    #[arg(long, default_value_t = 5.0)]
    pub consent_s: f64,
    /// Audio datagram size before SRTP (RTP header included): Opus at ~32 kbit/s, 20 ms.
    #[arg(long, default_value_t = 100)]
    pub audio_size: usize,
    /// Audio packets per second per producer (20 ms Opus frames).
    #[arg(long, default_value_t = 50)]
    pub audio_rate: u32,
    /// Video datagram size before SRTP.
    #[arg(long, default_value_t = 1100)]
    pub video_size: usize,
    /// Video packets per second per producer (~1 Mbit/s at 1100 bytes).
    #[arg(long, default_value_t = 110)]
    pub video_rate: u32,
    /// Video packets per frame (the marker bit ends a frame).
    #[arg(long, default_value_t = 4)]
    pub frame_packets: u64,
    /// A key frame every this many video packets (220 ≈ 2 s at 110 pkt/s).
    #[arg(long, default_value_t = 220)]
    pub key_every: u64,
}

#[derive(Args, Debug, Clone)]
pub struct AudioMatchArgs {
    /// Players per match (each produces once and consumes every other player).
    #[arg(long, default_value_t = 4)]
    pub players: usize,
    /// Matches, each in a router of its own.
    #[arg(long, default_value_t = 1)]
    pub matches: usize,
    #[command(flatten)]
    pub rtc: RtcArgs,
}

#[derive(Args, Debug, Clone)]
pub struct VideoRoomArgs {
    /// Publishers per room.
    #[arg(long, default_value_t = 2)]
    pub publishers: usize,
    /// Subscribers per room, each consuming every publisher of the room.
    #[arg(long, default_value_t = 4)]
    pub subscribers: usize,
    /// Rooms, each in a router of its own.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    #[command(flatten)]
    pub rtc: RtcArgs,
}

#[derive(Args, Debug, Clone)]
pub struct JoinStormArgs {
    /// Players per running match.
    #[arg(long, default_value_t = 4)]
    pub players: usize,
    /// Running matches.
    #[arg(long, default_value_t = 4)]
    pub matches: usize,
    /// Clients that join at once; joiner k consumes every player of match k mod matches.
    #[arg(long, default_value_t = 20)]
    pub joiners: usize,
    /// API connections the joiners use in parallel.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
    /// Length of the storm window (from the first join), seconds.
    #[arg(long, default_value_t = 5.0)]
    pub storm_s: f64,
    #[command(flatten)]
    pub rtc: RtcArgs,
}

/// The scenario a knee search raises.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KneeScenario {
    AudioMatch,
    VideoRoom,
}

/// The size a knee search raises.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KneeDim {
    /// audio-match: matches of `--players` each (consumers grow linearly).
    Matches,
    /// audio-match: players of each match (consumers grow as P × (P − 1)).
    Players,
    /// video-room: rooms of `--publishers` × `--subscribers`.
    Rooms,
    /// video-room: subscribers of each room.
    Subscribers,
    /// video-room: publishers of each room.
    Publishers,
}

#[derive(Args, Debug, Clone)]
pub struct KneeArgs {
    #[arg(long, value_enum, default_value_t = KneeScenario::AudioMatch)]
    pub scenario: KneeScenario,
    /// The size raised [default: matches for audio-match, subscribers for video-room].
    #[arg(long, value_enum)]
    pub vary: Option<KneeDim>,
    /// audio-match: players per match.
    #[arg(long, default_value_t = 4)]
    pub players: usize,
    /// audio-match: matches.
    #[arg(long, default_value_t = 1)]
    pub matches: usize,
    /// video-room: publishers per room.
    #[arg(long, default_value_t = 2)]
    pub publishers: usize,
    /// video-room: subscribers per room.
    #[arg(long, default_value_t = 10)]
    pub subscribers: usize,
    /// video-room: rooms.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// First value of the raised size [default: its flag's value].
    #[arg(long)]
    pub from: Option<usize>,
    /// Largest value of the raised size tried.
    #[arg(long, default_value_t = 4096)]
    pub max: usize,
    /// Coarse phase: multiply the size by this after every step that holds.
    #[arg(long, default_value_t = 2.0)]
    pub factor: f64,
    /// Fine phase: bisect until the first failing size is within this fraction of the last
    /// size that held (and at least 1 above it).
    #[arg(long, default_value_t = 0.1)]
    pub precision: f64,
    /// A step fails when the loss exceeds this, %.
    #[arg(long, default_value_t = 0.1)]
    pub max_loss_pct: f64,
    /// A step fails when the p99 one-way latency exceeds this, ms.
    #[arg(long, default_value_t = 5.0)]
    pub max_p99_ms: f64,
    /// A failing step is run again this many times and fails only if every attempt does (a
    /// shared machine's stall is not a knee).
    #[arg(long, default_value_t = 1)]
    pub confirm: usize,
    /// A failing step whose load generator used more than this % of its core counts as
    /// harness-bound, not as the SFU's knee (its own queueing is then in the figures).
    #[arg(long, default_value_t = 70.0)]
    pub harness_busy_pct: f64,
    /// ...unless the SFU's processes used at least this % of a core: then the SFU is the limit.
    #[arg(long, default_value_t = 90.0)]
    pub sfu_saturated_pct: f64,
    /// A failing step during which the SFU's threads or the load thread waited for a CPU
    /// longer than this % of the window counts as contended (the shared machine's doing).
    #[arg(long, default_value_t = 10.0)]
    pub max_wait_pct: f64,
    /// A contended attempt is run again, after a pause, up to this many times per step.
    #[arg(long, default_value_t = 2)]
    pub contended_retries: usize,
    #[arg(long, default_value_t = 5.0)]
    pub contended_pause_s: f64,
    /// Nice value for sluice-bench and everything it starts (the SFUs, the load thread), e.g.
    /// -10 to win the cores from other work on a shared machine (negative needs privilege).
    #[arg(long, allow_hyphen_values = true)]
    pub nice: Option<i32>,
    /// Run sluice-bench and everything it starts under SCHED_FIFO at this priority (1–99; needs
    /// privilege), so that wake-ups preempt the machine's other work.
    #[arg(long)]
    pub fifo: Option<u8>,
    /// Each step's warm-up is at least this many ms per client (the load thread runs the
    /// clients' DTLS handshakes one after another); 0 keeps `--warmup` for every size.
    #[arg(long, default_value_t = 5.0)]
    pub warmup_per_client_ms: f64,
    /// At most this many steps per target.
    #[arg(long, default_value_t = 14)]
    pub max_steps: usize,
    /// Write the Markdown report here too (it always goes to stdout).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Write an SVG chart of loss and p99 against consumers per target.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// `--repeat` is not used: `--confirm` repeats the failing steps. Each step's window is
    /// `--duration` (a few seconds suffice).
    #[command(flatten)]
    pub rtc: RtcArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ChartArgs {
    /// The SVG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// JSON reports of `audio-match`, `video-room` or `join-storm` (`--json`), one point each.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct FloorArgs {
    #[arg(long, value_enum, default_value_t = IoChoice::Uring)]
    pub io: IoChoice,
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Receivers per producer.
    #[arg(long)]
    pub consumers: usize,
    /// Receiver addresses, producer-major (`p × C + c`), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub targets: Vec<SocketAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn plain_defaults_and_flags_parse() {
        let cli = Cli::try_parse_from([
            "sluice-bench",
            "plain",
            "--consumers",
            "4",
            "--io",
            "mmsg",
            "--size",
            "1200",
        ])
        .unwrap();
        let Command::Plain(a) = cli.command else {
            panic!("expected plain");
        };
        assert_eq!((a.producers, a.consumers, a.size), (1, 4, 1200));
        assert_eq!(a.io.kinds(), vec![IoKind::Mmsg]);
        assert_eq!(IoChoice::Both.kinds(), vec![IoKind::Uring, IoKind::Mmsg]);
        assert_eq!(a.srtp, None, "SRTP is off unless asked for");
    }

    #[test]
    fn srtp_takes_the_sdes_suite_names() {
        for (name, profile) in [
            ("AEAD_AES_128_GCM", SrtpProfile::AeadAes128Gcm),
            ("AEAD_AES_256_GCM", SrtpProfile::AeadAes256Gcm),
            ("AES_CM_128_HMAC_SHA1_80", SrtpProfile::AesCm128HmacSha1_80),
        ] {
            let cli = Cli::try_parse_from(["sluice-bench", "plain", "--srtp", name]).unwrap();
            let Command::Plain(a) = cli.command else {
                panic!("expected plain");
            };
            let suite = a.srtp.expect("parsed");
            assert_eq!(suite.profile(), profile);
            assert_eq!(suite.profile().name(), name, "the API gets the same name");
        }
        assert!(Cli::try_parse_from(["sluice-bench", "plain", "--srtp", "ROT13"]).is_err());
    }

    #[test]
    fn webrtc_scenarios_parse_sizes_and_targets() {
        let cli = Cli::try_parse_from([
            "sluice-bench",
            "audio-match",
            "--players",
            "6",
            "--matches",
            "3",
            "--target",
            "sluice,mediasoup",
        ])
        .unwrap();
        let Command::AudioMatch(a) = cli.command else {
            panic!("expected audio-match");
        };
        assert_eq!((a.players, a.matches), (6, 3));
        assert_eq!(
            a.rtc.target,
            vec![TargetKind::Sluice, TargetKind::Mediasoup]
        );
        assert_eq!((a.rtc.audio_rate, a.rtc.video_rate), (50, 110));
        let cli = Cli::try_parse_from(["sluice-bench", "join-storm", "--joiners", "50"]).unwrap();
        let Command::JoinStorm(j) = cli.command else {
            panic!("expected join-storm");
        };
        assert_eq!((j.joiners, j.players, j.matches), (50, 4, 4));
        assert_eq!(j.rtc.target, vec![TargetKind::Sluice]);
    }

    #[test]
    fn knee_takes_scenario_size_and_thresholds() {
        let cli = Cli::try_parse_from([
            "sluice-bench",
            "knee",
            "--scenario",
            "video-room",
            "--vary",
            "rooms",
            "--max-loss-pct",
            "0.5",
            "--target",
            "sluice,mediasoup",
            "--duration",
            "4",
        ])
        .unwrap();
        let Command::Knee(k) = cli.command else {
            panic!("expected knee");
        };
        assert_eq!(k.scenario, KneeScenario::VideoRoom);
        assert_eq!(k.vary, Some(KneeDim::Rooms));
        assert_eq!((k.max_loss_pct, k.max_p99_ms, k.confirm), (0.5, 5.0, 1));
        assert_eq!(k.rtc.target.len(), 2);
        assert_eq!(k.rtc.duration, 4.0);
        let d = Cli::try_parse_from(["sluice-bench", "knee"]).unwrap();
        let Command::Knee(d) = d.command else {
            panic!("expected knee");
        };
        assert_eq!(
            (d.scenario, d.vary, d.max_loss_pct),
            (KneeScenario::AudioMatch, None, 0.1)
        );
    }

    #[test]
    fn floor_targets_are_a_comma_list() {
        let cli = Cli::try_parse_from([
            "sluice-bench",
            "floor",
            "--consumers",
            "2",
            "--targets",
            "127.0.0.1:5000,127.0.0.1:5001",
        ])
        .unwrap();
        let Command::Floor(f) = cli.command else {
            panic!("expected floor");
        };
        assert_eq!(f.targets.len(), 2);
        assert_eq!(f.io.kind(), IoKind::Uring);
    }
}
