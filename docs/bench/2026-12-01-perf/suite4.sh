#!/bin/bash
cd /work/tgt-perf/scratch
for SC in am2 vr; do for r in 1 2 3; do for V in fx fx-unpin ms ms-pin0; do
  ./run4.sh $V $SC $SC-$V-$r >> suite4/summary.txt
done; done; done
echo DONE >> suite4/summary.txt
