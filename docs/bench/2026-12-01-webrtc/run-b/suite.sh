#!/bin/sh
# The WebRTC suite run for docs/BENCHMARKS.md.
export NODE_PATH=/work/wt-peers/bench-harness/peers/mediasoup/node_modules
export MEDIASOUP_WORKER_BIN=/work/wt-peers/bench-harness/peers/mediasoup/node_modules/mediasoup/worker/out/Release/mediasoup-worker
B=/tmp/hload/sluice-bench
S=/tmp/hload/sluice-webrtc
R=/tmp/hload/res2
cd /work/wt-load
for m in 2 8 16; do
  $B audio-match --players 10 --matches $m --duration 10 --repeat 3 --target sluice,mediasoup --sluice-bin $S --json $R/am-10x$m.json > $R/am-10x$m.md 2> $R/am-10x$m.err
done
$B video-room --publishers 2 --subscribers 20 --rooms 4 --duration 10 --repeat 3 --target sluice,mediasoup --sluice-bin $S --json $R/vr-2x20x4.json > $R/vr-2x20x4.md 2> $R/vr-2x20x4.err
$B join-storm --players 5 --matches 8 --joiners 50 --storm-s 6 --duration 8 --repeat 3 --target sluice,mediasoup --sluice-bin $S --json $R/js-5x8-50.json > $R/js-5x8-50.md 2> $R/js-5x8-50.err
echo SUITE DONE > $R/done
