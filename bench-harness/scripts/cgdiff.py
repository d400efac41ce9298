#!/usr/bin/env python3
"""User-space instructions per forwarded packet from two `sluice-bench plain --wrapper
"valgrind --tool=callgrind --callgrind-out-file=DIR/cg.%p"` runs that differ only in the
length of the measurement window:

    Ir per packet = (Ir(long) - Ir(short)) / (received(long) - received(short))

so start-up, the API calls, warm-up and shut-down cancel out. Grouped by source file (where
inlined code comes from) and by symbol (the function it was inlined into).

Usage: cgdiff.py SHORT.json LONG.json FORWARDER [TOP]   (FORWARDER: sluice or floor; the
profiles are found next to the JSON files as cg/cg.<pid>)."""
import json
import os
import re
import subprocess
import sys


def run_of(path, forwarder):
    r = json.load(open(path))
    m = next(m for m in r["measurements"] if m["forwarder"] == forwarder)
    prof = os.path.join(os.path.dirname(os.path.abspath(path)), "cg", f"cg.{m['pid']}")
    return prof, m["received"]


def profile(path):
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", path],
        capture_output=True, text=True, check=True).stdout
    by_file, by_fn, total = {}, {}, 0
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?)(\s+\[[^\]]*\])?$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = n
            continue
        src, _, fn = m.group(2).partition(":")
        src = re.sub(r"^.*/(engine|bench-harness|control)/src/", r"\1/src/", src)
        src = re.sub(r"^/rustc/[0-9a-f]+/library/", "rust-std/", src)
        if src.startswith("./") or src.startswith("/usr"):
            src = "libc/" + src.split("/")[-1]
        by_file[src] = by_file.get(src, 0) + n
        by_fn[fn] = by_fn.get(fn, 0) + n
    return total, by_file, by_fn


def main():
    short, long_, fw = sys.argv[1], sys.argv[2], sys.argv[3]
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 15
    (pa, na), (pb, nb) = run_of(short, fw), run_of(long_, fw)
    a, b = profile(pa), profile(pb)
    n = nb - na
    print(f"{fw}: ({b[0]:,} - {a[0]:,}) Ir / ({nb} - {na}) packets = {(b[0] - a[0]) / n:.0f} Ir per forwarded packet")
    for i, title in ((1, "by source file"), (2, "by symbol")):
        diff = {k: (b[i].get(k, 0) - a[i].get(k, 0)) / n for k in set(a[i]) | set(b[i])}
        print(f"## {title}")
        for k, v in sorted(diff.items(), key=lambda x: -x[1])[:top]:
            print(f"{v:7.1f}  {k[:140]}")


if __name__ == "__main__":
    main()
