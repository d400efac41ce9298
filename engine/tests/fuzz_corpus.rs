//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through the entry
//! function its fuzzer calls, on stable and in every `cargo test`, so that CI checks the corpus
//! (seeds and crash regressions) even where `cargo +nightly fuzz` does not run. A few seeds are
//! also checked for what they must do, so that the corpus keeps reaching the deep paths.

use std::collections::HashMap;
use std::path::Path;

use sluice_engine::fuzz_entry;
use sluice_engine::wire::demux::PacketKind;

/// File name → result of the entry function, for every file of a target's corpus.
fn replay<T>(target: &str, entry: fn(&[u8]) -> T) -> HashMap<String, T> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut out = HashMap::new();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()));
    for e in entries {
        let path = e.expect("corpus entry").path();
        if !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).expect("read corpus file");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name")
            .to_string();
        match std::panic::catch_unwind(|| entry(&data)) {
            Ok(v) => {
                out.insert(name, v);
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("{target}: {} failed: {msg}", path.display());
            }
        }
    }
    assert!(
        out.len() >= 10,
        "corpus {} has {} files",
        dir.display(),
        out.len()
    );
    out
}

#[test]
fn rtp_corpus() {
    let r = replay("rtp", fuzz_entry::rtp);
    for seed in [
        "seed-opus",
        "seed-vp8-mid-abs-send-time",
        "seed-two-byte-ext",
        "seed-csrc-padding",
    ] {
        assert_eq!(r.get(seed), Some(&true), "{seed} parses");
    }
    for seed in [
        "seed-bad-ext-length",
        "seed-bad-padding",
        "seed-bad-version",
        "seed-short-11",
    ] {
        assert_eq!(r.get(seed), Some(&false), "{seed} is refused");
    }
}

#[test]
fn rtcp_corpus() {
    let r = replay("rtcp", fuzz_entry::rtcp);
    for seed in [
        "seed-sr-sdes",
        "seed-rr-nack",
        "seed-rr-fir",
        "seed-rr-remb",
        "seed-padding-last",
    ] {
        assert_eq!(r.get(seed), Some(&true), "{seed} is valid");
    }
    // (Padding on a packet other than the last is accepted, as RFC 3550 A.2 only says "should".)
    for seed in [
        "seed-bad-length",
        "seed-bad-version",
        "seed-truncated-header",
    ] {
        assert_eq!(r.get(seed), Some(&false), "{seed} is refused");
    }
}

#[test]
fn demux_corpus() {
    let r = replay("demux", fuzz_entry::demux);
    assert_eq!(r["seed-stun-binding"], PacketKind::Stun);
    assert_eq!(r["seed-dtls-client-hello"], PacketKind::Dtls);
    assert_eq!(r["seed-rtp"], PacketKind::Rtp);
    assert_eq!(r["seed-rtcp"], PacketKind::Rtcp);
    assert_eq!(r["seed-empty"], PacketKind::Unknown);
}

#[test]
fn handle_datagram_corpus() {
    let r = replay("handle_datagram", fuzz_entry::handle_datagram);
    // Opus from A reaches its two consumers (C1, C2), VP8 its two, B's Opus only C1's.
    assert_eq!(r["seed-opus-a"], 2);
    assert_eq!(r["seed-opus-a-run"], 10);
    assert_eq!(r["seed-vp8-a-keyframe"], 8);
    assert_eq!(
        r["seed-comedia-b"], 2,
        "the third packet came from another source"
    );
    assert_eq!(r["seed-big-vp8"], 2);
    // A 3 000-byte packet: forwarding it overran the 2 048-byte send buffer (a panic) until
    // handle_datagram dropped datagrams longer than MAX_DATAGRAM.
    assert_eq!(r["regress-oversized-rtp-3000"], 0, "too large to forward");
    for seed in [
        "seed-unknown-socket",
        "seed-wrong-source",
        "seed-unknown-ssrc",
        "seed-malformed",
    ] {
        assert_eq!(r[seed], 0, "{seed} forwards nothing");
    }
}
