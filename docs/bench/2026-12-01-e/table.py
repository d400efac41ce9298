#!/usr/bin/env python3
"""Run E's tables for docs/BENCHMARKS.md from sluice-bench WebRTC JSON reports: per scenario and
target the median (min–max) over the repetitions; ratios them ÷ Sluice as the median (min–max)
of the per-repetition ratios in the JSON (a disturbed repetition gives none; then the ratio of
the medians, marked ²). Also the run's load-average range per report.

    python3 table.py am-10x2.json am-10x8.json am-10x16.json vr-2x20x4.json js-5x8-50.json
"""
import json
import statistics
import sys

NAMES = {"sluice": "Sluice", "mediasoup": "mediasoup", "janus": "Janus"}


def n(x, d=0):
    s = f"{x:,.{d}f}".replace(",", " ")
    return s


def spread(v, d=0):
    v = [x for x in v if x is not None]
    if not v:
        return "–"
    m = statistics.median(v)
    if len(v) == 1 or n(min(v), d) == n(max(v), d):
        return n(m, d)
    return f"{n(m, d)} ({n(min(v), d)}–{n(max(v), d)})"


def title(path, ms):
    name = path.rsplit("/", 1)[-1][:-5]
    sc, rest = name.split("-", 1)
    label = {"am": "audio-match", "vr": "video-room", "js": "join-storm"}[sc]
    size = rest.replace("x", " × ").replace("-50", " + 50")
    pps = statistics.median(m["forwarded_pps"] for m in ms)
    return f"{label} {size} ({ms[0]['clients']}, {n(ms[0]['consumers'])}, {n(round(pps, -2))})"


main, ratios, loads = [], [], []
for path in sys.argv[1:]:
    r = json.load(open(path))
    ms = r["measurements"]
    targets = list(dict.fromkeys(m["target"] for m in ms))
    by = {t: [m for m in ms if m["target"] == t] for t in targets}
    head = title(path, ms)
    la = [m["loadavg"][0] if isinstance(m["loadavg"], list) else float(str(m["loadavg"]).split()[0]) for m in ms]
    loads.append(f"{head}: 1-min load average {min(la):.2f}–{max(la):.2f}")
    for i, t in enumerate(targets):
        g = by[t]
        dist = sum(1 for m in g if m["disturbed"])
        cpu = [m["cpu_ns_per_pkt"] for m in g]
        loss = [m["loss_pct"] for m in g]
        main.append("| {} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            head if i == 0 else "", NAMES.get(t, t), f" ({dist} of {len(g)} disturbed)" if dist else "",
            spread(cpu), n(round(1e9 / statistics.median(cpu), -3)), spread([m["forwarded_pps"] for m in g]),
            spread([m["core_util_pct"] for m in g]),
            "{:.3f} ({:.3f})".format(statistics.median(loss), max(loss)),
            spread([m["latency"]["p50_us"] for m in g]), spread([m["latency"]["p99_us"] for m in g]),
            spread([m["latency"]["p999_us"] for m in g]),
            spread([m["peak_rss_kib"] / 1024 for m in g], 1), spread([m["rss_per_consumer_kib"] for m in g], 1)))
    s = by.get("sluice", [])
    cells = []
    for key, field in (("cpu_per_pkt", "cpu_ns_per_pkt"), ("p99", None), ("rss_per_consumer", "rss_per_consumer_kib")):
        for t in ("mediasoup", "janus"):
            if t not in by:
                cells.append("–")
                continue
            rr = [x[key] for x in r["ratios"] if x["target"] == t]
            if rr:
                c = spread(rr, 2) + ("" if len(rr) == 3 else f", {len(rr)} reps")
            else:
                get = (lambda m: m["latency"]["p99_us"]) if field is None else (lambda m, f=field: m[f])
                c = "{:.2f} ²".format(statistics.median(map(get, by[t])) / statistics.median(map(get, s)))
            cells.append(f"**{c}**" if key == "cpu_per_pkt" else c)
    ratios.append(f"| {head.split(' (')[0]} | " + " | ".join(cells) + " |")

print("| scenario (clients, consumers, fwd pkt/s) | target | CPU ns/pkt | fwd pkt per CPU-second | fwd pkt/s | SFU core % | loss % median (max) | p50 µs | p99 µs | p99.9 µs | peak RSS MiB | RSS KiB/consumer |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
print("\n".join(main))
print()
print("| scenario | CPU/pkt mediasoup ÷ Sluice | CPU/pkt Janus ÷ Sluice | p99 mediasoup ÷ Sluice | p99 Janus ÷ Sluice | RSS/consumer mediasoup ÷ Sluice | RSS/consumer Janus ÷ Sluice |")
print("|---|---|---|---|---|---|---|")
print("\n".join(ratios))
print()
print("\n".join(loads))
