#!/usr/bin/env bash
# Run E of docs/BENCHMARKS.md ("Sluice, mediasoup and Janus under the same WebRTC load"): the
# commands of run D (../2026-12-01-janus/suite.sh) with the binaries of main at 9d7faa8, and the
# Janus peer folder named explicitly. Run as root (Janus's veth, peers/janus/netns.sh).
# BIN: a folder holding release `sluice` and `sluice-bench`; MS: the mediasoup peer's folder
# (setup.sh done); JANUS: the Janus peer's folder; OUT: where JSON/MD/logs go.
set -u
BIN="${BIN:?}"; MS="${MS:?}"; OUT="${OUT:-.}"
JANUS="${JANUS:-$(cd "$(dirname "$0")/../../../bench-harness/peers/janus" && pwd)}"
mkdir -p "$OUT"
T=sluice,mediasoup,janus
run() {
  local name="$1"; shift
  echo "== $name $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg) | $(uptime)" | tee -a "$OUT/suite.log"
  "$BIN/sluice-bench" "$@" --repeat "${REPEAT:-3}" --target "$T" --sluice-bin "$BIN/sluice" \
    --mediasoup-dir "$MS" --janus-dir "$JANUS" --json "$OUT/$name.json" >"$OUT/$name.md" 2>"$OUT/$name.stderr"
  echo "   exit $? $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/suite.log"
}
run am-10x2  audio-match --players 10 --matches 2  --duration 10
run am-10x8  audio-match --players 10 --matches 8  --duration 10
run am-10x16 audio-match --players 10 --matches 16 --duration 10
run vr-2x20x4 video-room --publishers 2 --subscribers 20 --rooms 4 --duration 10
run js-5x8-50 join-storm --players 5 --matches 8 --joiners 50 --storm-s 6 --duration 8
"$BIN/sluice-bench" chart --out "$OUT/audio-match.svg" "$OUT"/am-10x2.json "$OUT"/am-10x8.json "$OUT"/am-10x16.json
"$BIN/sluice-bench" chart --out "$OUT/video-room.svg" "$OUT"/vr-2x20x4.json
