#!/usr/bin/env python3
"""Per knee report: each target's knee as sluice-bench reported it, with the figures of the
largest size that held, and Sluice ÷ each other target.   python3 kneetable.py knee-*/am-knee.json"""
import json
import sys

for path in sys.argv[1:]:
    r = json.load(open(path))
    print(f"{path}:")
    for k in r["knees"]:
        a = k.get("at_knee") or {}
        c = a.get("cpu", {})
        print("| {} | {} | {} | {:,.0f} | {:.0f} | {:,.0f} | {:,.0f} | {:.0f} | {:.0f} | {} |".format(
            k["target"], k["text"], k.get("consumers"), a.get("forwarded_pps", 0), a.get("core_util_pct", 0),
            a.get("cpu_ns_per_pkt", 0), a.get("latency", {}).get("p99_us", 0), a.get("harness_util_pct", 0),
            a.get("peak_rss_kib", 0) / 1024, a.get("loadavg", "")).replace(",", " "))
    for x in r["ratios"]:
        print(f"  sluice ÷ {x['vs']}: {x['sluice_over_them']:.2f} ({x['kind']})")
