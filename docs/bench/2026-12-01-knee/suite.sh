#!/bin/bash
# The knee runs of docs/BENCHMARKS.md's "Knee" section: one directory per repetition.
# Needs: sluice and sluice-bench (release) in $BIN, the mediasoup peer built by setup.sh
# (NODE_PATH, MEDIASOUP_WORKER_BIN), privilege for --fifo.
set -u
BIN=${BIN:-/work/knee-bin}
MSDIR=${MSDIR:-$(dirname "$0")/../../../bench-harness/peers/mediasoup}
for rep in "$@"; do
  d=$(dirname "$0")/run-$rep
  mkdir -p "$d"
  (date -u; uptime) > "$d/am.uptime"
  "$BIN/sluice-bench" knee --scenario audio-match --players 10 --from 4 --max 128 --duration 5 --warmup 3 --warmup-per-client-ms 0 \
    --confirm 1 --fifo 10 --target sluice,mediasoup --mediasoup-dir "$MSDIR" --sluice-bin "$BIN/sluice" \
    --json "$d/am-knee.json" --markdown "$d/am-knee.md" --svg "$d/am-knee.svg" 2> "$d/am-knee.stderr" > /dev/null
  (date -u; uptime) >> "$d/am.uptime"
  (date -u; uptime) > "$d/vr.uptime"
  "$BIN/sluice-bench" knee --scenario video-room --publishers 2 --subscribers 16 --rooms 1 --vary subscribers \
    --max 2048 --duration 5 --warmup 3 --warmup-per-client-ms 0 --confirm 1 --fifo 10 --target sluice,mediasoup --mediasoup-dir "$MSDIR" \
    --sluice-bin "$BIN/sluice" --json "$d/vr-knee.json" --markdown "$d/vr-knee.md" --svg "$d/vr-knee.svg" \
    2> "$d/vr-knee.stderr" > /dev/null
  (date -u; uptime) >> "$d/vr.uptime"
done
