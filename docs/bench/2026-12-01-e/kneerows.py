#!/usr/bin/env python3
"""Markdown rows of the knee table in docs/BENCHMARKS.md from knee-N/{am,vr}-knee.json."""
import json
import os
import sys

NAMES = {"sluice": "Sluice", "mediasoup": "mediasoup", "janus": "Janus"}
here = os.path.dirname(os.path.abspath(__file__))
for sc, label in (("am", "audio-match, 10 players per match, raising matches"),
                  ("vr", "video-room, 2 publishers × S subscribers, raising S")):
    first = True
    for run in sys.argv[1:]:
        p = os.path.join(here, f"knee-{run}", f"{sc}-knee.json")
        if not os.path.exists(p):
            continue
        r = json.load(open(p))
        for i, k in enumerate(r["knees"]):
            a = k.get("at_knee") or {}
            exact = k["bound"] in ("exact", "knee") or not k["text"].startswith("≥")
            txt = f"**{k['text']}**" if exact else k["text"]
            print("| {} | {} | {} | {} | {} | {:.0f} | {} | {} | {:.0f} | {:.0f} |".format(
                label if first else "", run + (" (Janus pinned)" if run == "2" else "") if i == 0 else "",
                NAMES[k["target"]], txt, f"{a.get('forwarded_pps', 0):,.0f}".replace(",", " "),
                a.get("core_util_pct", 0), f"{a.get('cpu_ns_per_pkt', 0):,.0f}".replace(",", " "),
                f"{a.get('latency', {}).get('p99_us', 0):,.0f}".replace(",", " "),
                a.get("harness_util_pct", 0), a.get("peak_rss_kib", 0) / 1024))
            first = False
print()
for sc in ("am", "vr"):
    for run in sys.argv[1:]:
        p = os.path.join(here, f"knee-{run}", f"{sc}-knee.json")
        if os.path.exists(p):
            r = json.load(open(p))
            print(sc, run, "; ".join(f"Sluice ÷ {x['vs']} {x['sluice_over_them']:.2f} ({x['kind']})" for x in r["ratios"]))
