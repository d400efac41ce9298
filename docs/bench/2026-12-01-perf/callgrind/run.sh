#!/bin/bash
# callgrind pair for one sluice binary: $1 = binary, in cwd
B=$1
for d in 2 7; do
/work/tgt-perf/bin/sluice-bench plain --producers 1 --consumers 10 --size 200 --rate 1000 --warmup 2 --duration $d --io mmsg --floor-io mmsg \
  --wrapper "valgrind --tool=callgrind --callgrind-out-file=$PWD/cg/cg.%p" --sluice-bin $B --json cg-$d.json > cg-$d.md 2> cg-$d.err
done
python3 /work/wt-perf/bench-harness/scripts/cgdiff.py cg-2.json cg-7.json sluice > cg-sluice.txt 2>&1
python3 /work/wt-perf/bench-harness/scripts/cgdiff.py cg-2.json cg-7.json floor > cg-floor.txt 2>&1
