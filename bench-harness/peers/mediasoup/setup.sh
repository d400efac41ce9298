#!/usr/bin/env bash
# Installs mediasoup 3.8.4 and builds its C++ worker, for the bench-harness's mediasoup peer.
#
# Why 3.8.4: it is the last npm release that vendors every worker dependency under worker/deps/
# (gyp + make). 3.9 and later build with meson and download libuv, OpenSSL, libsrtp, abseil at build
# time, which cannot work on a machine that reaches only the package registries (DESIGN.md §8).
#
# Two patches make the 2021-era sources build on Debian 12 (Python 3.11, glibc >= 2.34):
#   - bundled gyp uses collections.MutableSet & co., removed in Python 3.10 -> collections.abc.*
#   - abseil's failure_signal_handler.cc calls std::max(SIGSTKSZ, 65536); SIGSTKSZ is a long
#     (sysconf) since glibc 2.34, so the template deduction fails -> std::max<long>(...)
#
# Idempotent: re-running skips what is already done. ~5 min on 2 cores for a first build.
# Prints the worker path at the end; run server.js with MEDIASOUP_WORKER_BIN set to it (server.js
# finds it by itself when it sits in the usual place).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
jobs="${JOBS:-2}"

command -v node >/dev/null || { echo "setup: node is missing (apt-get install -y nodejs npm)" >&2; exit 1; }
command -v make >/dev/null && command -v g++ >/dev/null || {
  echo "setup: installing build tools"; apt-get install -y build-essential python3 >/dev/null; }

ms="$here/node_modules/mediasoup"
if [ ! -f "$ms/package.json" ] || ! grep -q '"version": "3.8.4"' "$ms/package.json"; then
  echo "setup: npm ci --ignore-scripts (mediasoup 3.8.4, no worker build by npm)"
  if [ -f package-lock.json ]; then npm ci --ignore-scripts --no-audit --no-fund
  else npm install --ignore-scripts --no-audit --no-fund; fi
fi

w="$ms/worker"
bin="$w/out/Release/mediasoup-worker"
if [ -x "$bin" ]; then
  echo "setup: worker already built: $bin"
  exit 0
fi

echo "setup: patching bundled gyp for Python 3.11 (collections.abc)"
grep -rlE 'collections\.(MutableSet|Mapping|MutableMapping|Iterable|Sequence|MutableSequence)\b' \
    "$w/deps/gyp/pylib" 2>/dev/null | while read -r f; do
  sed -i -E 's/collections\.(MutableSet|Mapping|MutableMapping|Iterable|Sequence|MutableSequence)\b/collections.abc.\1/g' "$f"
done

fsh="$w/deps/libwebrtc/deps/abseil-cpp/abseil-cpp/absl/debugging/failure_signal_handler.cc"
if [ -f "$fsh" ] && grep -q 'std::max(SIGSTKSZ' "$fsh"; then
  echo "setup: patching abseil for glibc >= 2.34 (SIGSTKSZ is not a constant)"
  sed -i 's/std::max(SIGSTKSZ/std::max<long>(SIGSTKSZ/' "$fsh"
fi

echo "setup: building the worker (make -j$jobs), ~5 min on 2 cores; log in $here/build.log"
start=$(date +%s)
if ! make -C "$w" -j"$jobs" PYTHON=python3 >"$here/build.log" 2>&1; then
  tail -40 "$here/build.log" >&2
  echo "setup: worker build FAILED, see $here/build.log" >&2
  exit 1
fi
echo "setup: worker built in $(( $(date +%s) - start )) s: $bin"
