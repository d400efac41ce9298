//! `sluice-bench audio-match` and `video-room` against a real Janus (`--target janus`): the
//! harness's SDP, Janus's HTTP API, ICE with Janus's own checks answered, DTLS in both roles
//! (server on publisher PeerConnections, client on subscriber ones) and SRTP. It asserts
//! delivery, never speed.
//!
//! Ignored by default: it needs Janus (`bench-harness/peers/janus/setup.sh`) and root (the veth
//! of `netns.sh`), which the main test suite must not. Run it with
//! `cargo test -p sluice-bench --test janus_smoke -- --ignored`.

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> serde_json::Value {
    let bench = Path::new(env!("CARGO_BIN_EXE_sluice-bench"));
    let json = std::env::temp_dir().join(format!(
        "janus-smoke-{}-{}.json",
        std::process::id(),
        args[0]
    ));
    let out = Command::new(bench)
        .args(args)
        .args(["--duration", "2", "--warmup", "2", "--consent-s", "1"])
        .args(["--target", "janus", "--janus-dir"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/janus"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run sluice-bench");
    assert!(
        out.status.success(),
        "sluice-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("JSON report");
    let _ = std::fs::remove_file(&json);
    let r: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    r["measurements"][0].clone()
}

fn assert_delivered(m: &serde_json::Value, consumers: u64) {
    assert_eq!(m["target"], "janus");
    assert_eq!(m["consumers"].as_u64(), Some(consumers));
    assert_eq!(m["unconnected_clients"], 0, "every PeerConnection is up");
    assert_eq!(m["failed_clients"], 0);
    assert_eq!(m["silent_consumers"], 0, "every consumer got packets");
    assert_eq!(m["misrouted"], 0, "every SSRC maps to its producer");
    assert!(m["sent"].as_u64() > Some(0));
    let loss = m["loss_pct"].as_f64().expect("loss");
    assert!(loss < 20.0, "loss {loss} % on one machine");
    assert_eq!(
        m["pids"].as_array().map(Vec::len),
        Some(1),
        "Janus's one process"
    );
}

#[test]
#[ignore = "needs Janus and root (bench-harness/peers/janus/setup.sh)"]
fn janus_forwards_every_player_to_every_other() {
    let m = run(&["audio-match", "--players", "3", "--matches", "2"]);
    assert_delivered(&m, 12);
}

#[test]
#[ignore = "needs Janus and root (bench-harness/peers/janus/setup.sh)"]
fn janus_forwards_video_to_every_subscriber() {
    let m = run(&["video-room", "--publishers", "2", "--subscribers", "3"]);
    assert_delivered(&m, 6);
}
