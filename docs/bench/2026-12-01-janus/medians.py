#!/usr/bin/env python3
"""Median (min–max) table of sluice-bench WebRTC JSON reports, per scenario and target, and the
ratios against Sluice: the median of the per-repetition ratios (disturbed repetitions give none,
as in the JSON's `ratios`) and the ratio of the medians over every repetition. Reports with the
same file name (one per run folder) are pooled: run-a/am-10x2.json run-b/am-10x2.json → one row.

    python3 medians.py run-*/am-10x2.json run-*/am-10x8.json ...
"""
import json
import statistics
import sys


def spread(v, fmt="{:.0f}"):
    v = [x for x in v if x is not None]
    if not v:
        return "–"
    m = statistics.median(v)
    if len(v) == 1 or min(v) == max(v):
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(v))}–{fmt.format(max(v))})"


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


rows = []
ratio_rows = []
pooled = {}
for path in sys.argv[1:]:
    r = json.load(open(path))
    name = path.rsplit("/", 1)[-1]
    p = pooled.setdefault(name, {"measurements": [], "ratios": []})
    p["measurements"] += r["measurements"]
    p["ratios"] += r["ratios"]
for path, r in pooled.items():
    ms = r["measurements"]
    targets = []
    for m in ms:
        if m["target"] not in targets:
            targets.append(m["target"])
    by = {t: [m for m in ms if m["target"] == t] for t in targets}
    head = (f"{path.rsplit('/', 1)[-1][:-5]} ({ms[0]['clients']} clients, {ms[0]['consumers']} consumers, "
            f"{statistics.median(m['forwarded_pps'] for m in ms):,.0f} pkt/s)").replace(",", " ")
    for i, t in enumerate(targets):
        g = by[t]
        cpu = [m["cpu_ns_per_pkt"] for m in g]
        pps_cpu = [1e9 / c if c else None for c in cpu]
        dist = sum(m["disturbed"] for m in g)
        rows.append("| {} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            head if i == 0 else "", t, f" ({dist} of {len(g)} disturbed)" if dist else "",
            spread(cpu), spread(pps_cpu), spread([m["core_util_pct"] for m in g]),
            spread([m["latency"]["p50_us"] for m in g]), spread([m["latency"]["p99_us"] for m in g]),
            spread([m["latency"]["p999_us"] for m in g]),
            spread([m["peak_rss_kib"] / 1024 for m in g], "{:.1f}"),
            spread([m["rss_per_consumer_kib"] for m in g], "{:.1f}"),
            "{:.3f} ({:.3f})".format(statistics.median(m["loss_pct"] for m in g), max(m["loss_pct"] for m in g)),
            spread([m["harness_util_pct"] for m in g])))
    s = by.get("sluice", [])
    for t in targets:
        if t == "sluice":
            continue
        rr = [x for x in r["ratios"] if x["target"] == t]
        of_med = lambda k: (med([m[k] for m in by[t]]) / med([m[k] for m in s])) if s and med([m[k] for m in s]) else None
        p99m = (med([m["latency"]["p99_us"] for m in by[t]]) / med([m["latency"]["p99_us"] for m in s])) if s else None
        ratio_rows.append("| {} | {} | {} | {} | {} | {} | {} |".format(
            head, t, spread([x["cpu_per_pkt"] for x in rr], "{:.2f}") + f" [{len(rr)} reps]",
            "{:.2f}".format(of_med("cpu_ns_per_pkt")) if of_med("cpu_ns_per_pkt") else "–",
            spread([x["p99"] for x in rr], "{:.2f}"), "{:.2f}".format(p99m) if p99m else "–",
            spread([x["rss_per_consumer"] for x in rr], "{:.2f}")))

print("| scenario | target | CPU ns/pkt | pkt per CPU-s | SFU core % | p50 µs | p99 µs | p99.9 µs | peak RSS MiB | RSS KiB/consumer | loss % median (max) | harness core % |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
print()
print("| scenario | vs | CPU/pkt ÷ Sluice's, per rep | ratio of medians | p99 ÷ Sluice's, per rep | p99 ratio of medians | RSS/consumer ÷ Sluice's |")
print("|---|---|---|---|---|---|---|")
print("\n".join(ratio_rows))
