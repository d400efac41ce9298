//! Smoke run of `sluice-bench knee` against the `sluice` binary of this build: two steps of
//! `audio-match` (1 and 2 matches of 3 players) with limits no working run can miss, so the
//! search must climb to `--max` and report it. It asserts the search's wiring — the sizes
//! tried, the knee's consumers, the loss split and the outputs — never speed.
//!
//! The binary is `SLUICE_BIN`, or `sluice` next to `sluice-bench` (`cargo build -p
//! sluice-control` puts it there).

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn knee_climbs_to_max_when_every_step_holds() {
    let bench = Path::new(env!("CARGO_BIN_EXE_sluice-bench"));
    let sluice = std::env::var_os("SLUICE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| bench.with_file_name("sluice"));
    assert!(
        sluice.is_file(),
        "{} missing: cargo build -p sluice-control (or set SLUICE_BIN)",
        sluice.display()
    );
    let dir = std::env::temp_dir().join(format!("knee-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (json, md, svg) = (dir.join("k.json"), dir.join("k.md"), dir.join("k.svg"));
    let out = Command::new(bench)
        .args(["knee", "--players", "3", "--from", "1", "--max", "2"])
        .args([
            "--duration",
            "1",
            "--warmup",
            "2",
            "--io",
            "mmsg",
            "--target",
            "sluice",
        ])
        // Limits no working run misses, and a generator allowed to be busy: the point is the
        // search, not the figures of a debug build.
        .args(["--max-loss-pct", "50", "--max-p99-ms", "10000"])
        .args(["--harness-busy-pct", "100", "--max-wait-pct", "1000"])
        .arg("--sluice-bin")
        .arg(&sluice)
        .arg("--json")
        .arg(&json)
        .arg("--markdown")
        .arg(&md)
        .arg("--svg")
        .arg(&svg)
        .output()
        .expect("run sluice-bench");
    assert!(
        out.status.success(),
        "sluice-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON")).expect("valid JSON");
    let md = std::fs::read_to_string(&md).expect("Markdown");
    let svg = std::fs::read_to_string(&svg).expect("SVG");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r["vary"], "matches");
    let steps = r["steps"].as_array().expect("steps");
    let sizes: Vec<u64> = steps.iter().filter_map(|s| s["size"].as_u64()).collect();
    assert_eq!(sizes, vec![1, 2], "doubling from --from up to --max");
    for s in steps {
        assert_eq!(s["outcome"], "holds", "{s}");
        let m = &s["measurement"];
        assert_eq!(m["unconnected_clients"], 0);
        assert!(m["received"].as_u64() > Some(0), "media reached consumers");
        let k = &m["kernel"];
        assert_eq!(
            k["lost"].as_u64(),
            Some(m["expected"].as_u64().unwrap() - m["received"].as_u64().unwrap()),
            "the split accounts for the whole loss"
        );
        assert_eq!(
            k["lost_in_kernel"].as_u64().unwrap() + k["lost_elsewhere"].as_u64().unwrap(),
            k["lost"].as_u64().unwrap()
        );
        assert!(
            k["harness_sockets"].as_u64() >= m["clients"].as_u64(),
            "every client's socket found: {k}"
        );
        assert!(
            k["sfu_sockets"].as_u64() >= Some(1),
            "Sluice's socket found"
        );
    }
    let knee = &r["knees"][0];
    assert_eq!(knee["target"], "sluice");
    assert_eq!(knee["bound"], "max-reached");
    assert_eq!(knee["consumers"], 12, "2 matches × 3 players × 2 others");
    assert!(md.contains("≥ 12 (--max reached)"), "{md}");
    assert!(svg.starts_with("<svg") && svg.contains("consumers"));
}
