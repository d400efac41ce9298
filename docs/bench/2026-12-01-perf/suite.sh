#!/bin/bash
cd /work/tgt-perf/scratch
for SC in am2 vr am16 am8; do for r in 1 2 3; do for V in base fx fx-unpin ms; do
  ./run1.sh $V $SC $SC-$V-$r >> suite/summary.txt
done; done; done
echo DONE >> suite/summary.txt
