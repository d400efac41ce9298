#!/bin/bash
# The knee of docs/BENCHMARKS.md ("Knee") with all three targets: ../2026-12-01-knee/suite.sh's
# commands with `--target sluice,mediasoup,janus`, one directory per repetition (knee-N).
# BIN: release sluice and sluice-bench; MSDIR: the mediasoup peer folder (its server.js pins the
# worker process to core 0); JANUS: the Janus peer folder; EXTRA: more `knee` flags (knee-2
# passes --max-wait-pct 100000). Root (Janus's veth, --fifo).
set -u
BIN=${BIN:?}
MSDIR=${MSDIR:?}
JANUS="${JANUS:-$(cd "$(dirname "$0")/../../../bench-harness/peers/janus" && pwd)}"
T=${T:-sluice,mediasoup,janus}
for rep in "$@"; do
  d=$(dirname "$0")/knee-$rep
  mkdir -p "$d"
  (date -u; uptime) > "$d/am.uptime"
  "$BIN/sluice-bench" knee --scenario audio-match --players 10 --from 4 --max 128 --duration 5 --warmup 3 \
    --confirm 1 --fifo 10 ${EXTRA:-} --target "$T" --mediasoup-dir "$MSDIR" --janus-dir "$JANUS" --sluice-bin "$BIN/sluice" \
    --json "$d/am-knee.json" --markdown "$d/am-knee.md" --svg "$d/am-knee.svg" 2> "$d/am-knee.stderr" > /dev/null
  (date -u; uptime) >> "$d/am.uptime"
  (date -u; uptime) > "$d/vr.uptime"
  "$BIN/sluice-bench" knee --scenario video-room --publishers 2 --subscribers 16 --rooms 1 --vary subscribers \
    --max 2048 --duration 5 --warmup 3 --confirm 1 --fifo 10 ${EXTRA:-} --target "$T" --mediasoup-dir "$MSDIR" \
    --janus-dir "$JANUS" --sluice-bin "$BIN/sluice" --json "$d/vr-knee.json" --markdown "$d/vr-knee.md" \
    --svg "$d/vr-knee.svg" 2> "$d/vr-knee.stderr" > /dev/null
  (date -u; uptime) >> "$d/vr.uptime"
done
