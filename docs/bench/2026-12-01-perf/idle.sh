#!/bin/bash
# usage: idle.sh BIN SECONDS -> per-thread cpu ns and wakeups over window
BIN=$1; S=${2:-5}
$BIN serve --http 127.0.0.1:3917 --media-port 45917 --rtc-ports 46000-46100 --workers 1 >/dev/null 2>&1 &
PID=$!
sleep 1.5
snap() { for t in /proc/$PID/task/*; do echo "$(cat $t/comm) $(cat $t/schedstat)"; done; }
snap > /tmp/idle_a.$$
sleep $S
snap > /tmp/idle_b.$$
kill $PID; wait $PID 2>/dev/null
paste -d' ' /tmp/idle_a.$$ /tmp/idle_b.$$ | awk -v s=$S '{cpu=($6-$2)/1e6/s; w=($8-$4)/s; if (cpu>0.001||w>0) printf "%-18s cpu %.3f ms/s  wakes %.1f /s\n",$1,cpu,w}'
rm -f /tmp/idle_a.$$ /tmp/idle_b.$$
