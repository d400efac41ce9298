//! Smoke run of `sluice-bench audio-match` against the `sluice` binary of this build: 4 players
//! over real WebRTC (ICE, DTLS, SRTP, RTCP receiver reports) for 2 s. It asserts delivery —
//! every player connected, every receiver got packets of every other player, loss within a
//! generous bound — and never speed: the figures of a debug build on a shared machine mean
//! nothing.
//!
//! The binary is `SLUICE_BIN`, or `sluice` next to `sluice-bench` (`cargo build -p
//! sluice-control` puts it there).

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn audio_match_delivers_every_player_to_every_other() {
    let bench = Path::new(env!("CARGO_BIN_EXE_sluice-bench"));
    let sluice = std::env::var_os("SLUICE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| bench.with_file_name("sluice"));
    assert!(
        sluice.is_file(),
        "{} missing: cargo build -p sluice-control (or set SLUICE_BIN)",
        sluice.display()
    );
    let json = std::env::temp_dir().join(format!("bench-smoke-{}.json", std::process::id()));
    let out = Command::new(bench)
        .args([
            "audio-match",
            "--players",
            "4",
            "--duration",
            "2",
            "--warmup",
            "2",
        ])
        .args(["--io", "mmsg", "--consent-s", "1", "--target", "sluice"])
        .arg("--sluice-bin")
        .arg(&sluice)
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
    let m = &r["measurements"][0];
    assert_eq!(m["target"], "sluice");
    assert_eq!(m["clients"], 4);
    assert_eq!(m["consumers"], 12, "4 players, each consuming the 3 others");
    assert_eq!(
        m["unconnected_clients"], 0,
        "every client finished ICE and DTLS"
    );
    assert_eq!(m["failed_clients"], 0);
    assert_eq!(
        m["silent_consumers"], 0,
        "every receiver got packets of every other player"
    );
    let sent = m["sent"].as_u64().expect("sent");
    assert!(sent > 0, "players sent media in the window");
    assert_eq!(m["expected"].as_u64(), Some(sent * 3));
    let loss = m["loss_pct"].as_f64().expect("loss");
    assert!(loss < 20.0, "loss {loss} % on loopback");
    assert_eq!(
        m["misrouted"], 0,
        "no packet reached a consumer of another producer"
    );
    assert!(
        m["rr_sent"].as_u64() > Some(0),
        "receivers sent RTCP receiver reports"
    );
    assert!(
        m["min_checks_answered"].as_u64() >= Some(2),
        "consent checks were answered after the first check"
    );
}
