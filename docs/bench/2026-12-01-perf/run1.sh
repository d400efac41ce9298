#!/bin/bash
# run1.sh TARGET(base|fx|fx-unpin|ms) SCEN TAG ; SCEN: am2 am8 am16 vr
V=$1; SC=$2; TAG=$3
export NODE_PATH=/work/ms-peer/node_modules MEDIASOUP_WORKER_BIN=/work/ms-peer/node_modules/mediasoup/worker/out/Release/mediasoup-worker
cd /work/tgt-perf/scratch/suite
case $SC in
  am2) A="audio-match --players 10 --matches 2";;
  am8) A="audio-match --players 10 --matches 8";;
  am16) A="audio-match --players 10 --matches 16";;
  vr) A="video-room --publishers 2 --subscribers 20 --rooms 4";;
esac
case $V in
  base) T="--target sluice --sluice-bin /work/tgt-perf/bin/sluice-base"; BIN=/work/tgt-perf/bin/sluice-base;;
  fx|fx-unpin) T="--target sluice --sluice-bin /work/tgt-perf/bin/sluice-fx"; BIN=/work/tgt-perf/bin/sluice-fx;;
  ms) T="--target mediasoup --mediasoup-dir /work/wt-perf/bench-harness/peers/mediasoup";;
esac
L0=$(cut -d' ' -f1 /proc/loadavg)
/work/tgt-perf/bin/sluice-bench $A --duration 10 --repeat 1 $T --json $TAG.json > $TAG.md 2> $TAG.err &
BP=$!
if [ "$V" = fx-unpin ]; then
  for i in $(seq 100); do P=$(pgrep -n -f "$BIN serve"); [ -n "$P" ] && break; sleep 0.05; done
  sleep 0.3; for t in /proc/$P/task/*; do taskset -p -c 0,1 $(basename $t) >/dev/null; done
fi
wait $BP
L1=$(cut -d' ' -f1 /proc/loadavg)
echo "$(date -u +%H:%M:%S) $TAG load $L0-$L1 $(grep -E '^\| 0 \| (sluice|mediasoup)' $TAG.md)"
