#!/bin/sh
# The runs behind docs/BENCHMARKS.md: 1 producer x 10 consumers, 200 B and 1 200 B at
# 5 000 pkt/s, 200 B at 20 000 pkt/s, the same at 20 000 pkt/s over a longer window (which
# crosses Sluice's 32 768-packet stale window), and the callgrind pair (2 s and 7 s windows at
# 1 000 pkt/s; Ir per packet = difference / difference, see cgdiff.py).
#
# Usage: bench-harness/scripts/plain-suite.sh [OUT_DIR]
# Binaries: $SLUICE_BENCH (default target/release/sluice-bench), $SLUICE_BIN (default
# target/release/sluice). Build them first: cargo build --release -p sluice-control -p sluice-bench
set -eu
B=$(realpath "${SLUICE_BENCH:-target/release/sluice-bench}")
S=$(realpath "${SLUICE_BIN:-target/release/sluice}")
OUT=${1:-.}
mkdir -p "$OUT" && cd "$OUT"
stamp() { { date -u +%FT%TZ; cat /proc/loadavg; } > "$1.date"; }
for sz in 200 1200; do
  stamp r5000-$sz
  "$B" plain --producers 1 --consumers 10 --size $sz --rate 5000 --warmup 1 --duration 5 --repeat 3 \
    --sluice-bin "$S" --json r5000-$sz.json > r5000-$sz.md 2> r5000-$sz.err
done
stamp r20000-200
"$B" plain --producers 1 --consumers 10 --size 200 --rate 20000 --warmup 0.4 --duration 1 --repeat 3 \
  --sluice-bin "$S" --json r20000-200.json > r20000-200.md 2> r20000-200.err
stamp wrap-20000
"$B" plain --producers 1 --consumers 10 --size 200 --rate 20000 --warmup 1 --duration 5 --io uring \
  --sluice-bin "$S" --json wrap-20000.json > wrap-20000.md 2> wrap-20000.err
# valgrind 3.19 hangs on io_uring, so the instruction counts are of the mmsg backends only.
mkdir -p cg && rm -f cg/cg.*
for d in 2 7; do
  "$B" plain --producers 1 --consumers 10 --size 200 --rate 1000 --warmup 2 --duration $d \
    --io mmsg --floor-io mmsg --sluice-bin "$S" \
    --wrapper "valgrind --tool=callgrind --callgrind-out-file=$PWD/cg/cg.%p" \
    --json cg-$d.json > cg-$d.md 2> cg-$d.err
done
SCRIPTS=$(dirname "$(realpath "$0")")
python3 "$SCRIPTS/cgdiff.py" cg-2.json cg-7.json sluice > cg-sluice.txt
python3 "$SCRIPTS/cgdiff.py" cg-2.json cg-7.json floor > cg-floor.txt
