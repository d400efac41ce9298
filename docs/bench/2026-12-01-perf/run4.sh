#!/bin/bash
# run4.sh VARIANT SCEN TAG (fx fx-unpin ms ms-pin0); processes found only through this run's own process tree
V=$1; SC=$2; TAG=$3; OUT=${OUT:-suite4}
export NODE_PATH=/work/ms-peer/node_modules MEDIASOUP_WORKER_BIN=/work/ms-peer/node_modules/mediasoup/worker/out/Release/mediasoup-worker
cd /work/tgt-perf/scratch/$OUT
case $SC in
  am2) A="audio-match --players 10 --matches 2";;
  am8) A="audio-match --players 10 --matches 8";;
  vr) A="video-room --publishers 2 --subscribers 20 --rooms 4";;
esac
BIN=/work/tgt-perf/bin/sluice-fx
case $V in
  fx|fx-unpin) T="--target sluice --sluice-bin $BIN";;
  ms|ms-pin0) T="--target mediasoup --mediasoup-dir /work/wt-perf/bench-harness/peers/mediasoup";;
esac
L0=$(cut -d' ' -f1 /proc/loadavg)
/work/tgt-perf/bin/sluice-bench $A --duration 10 --repeat 1 $T --json $TAG.json > $TAG.md 2> $TAG.err &
BP=$!
P=""
for i in $(seq 200); do
  C=$(pgrep -P $BP | head -1)
  case $V in ms*) [ -n "$C" ] && P=$(pgrep -P $C | head -1);; *) P=$C;; esac
  [ -n "$P" ] && break; sleep 0.05
done
case $V in fx-unpin) CPUS=0,1;; ms-pin0) CPUS=0;; *) CPUS="";; esac
if [ -n "$CPUS" ] && [ -n "$P" ]; then sleep 0.3; for t in /proc/$P/task/*; do taskset -p -c $CPUS $(basename $t) >/dev/null; done; fi
W=$(grep -l sluice-worker /proc/$P/task/*/comm 2>/dev/null | head -1 | xargs -r dirname); W=${W:-/proc/$P}
sleep 6; PSR=$(for i in 1 2 3 4 5 6 7 8 9 10; do awk '{printf "%s", $39}' $W/stat 2>/dev/null; sleep 0.1; done)
wait $BP
L1=$(cut -d' ' -f1 /proc/loadavg)
echo "$(date -u +%H:%M:%S) $TAG load $L0-$L1 pid=$P comm=$(cat $W/comm 2>/dev/null) psr=$PSR $(grep -E '^\| 0 \| (sluice|mediasoup)' $TAG.md)"
