import json,glob,re,sys,collections
d=sys.argv[1]; variants=sys.argv[2].split(','); scens=sys.argv[3].split(',')
def med(x):
    x=sorted(x); n=len(x)
    return x[n//2] if n%2 else (x[n//2-1]+x[n//2])/2
R=collections.defaultdict(dict)
for f in glob.glob(d+'/*.json'):
    b=f.split('/')[-1][:-5]; m=re.match(r'(\w+?)-(.+)-(\d)$',b)
    if not m: continue
    sc,v,r=m.groups()
    j=json.load(open(f)); x=j['measurements'][0]
    R[(sc,int(r))][v]=dict(cpu=x['cpu_ns_per_pkt'],p50=x['latency']['p50_us'],p99=x['latency']['p99_us'],dist=x['disturbed'],
        wakes=x['cpu']['slices']/x['window_s'],load=float(x['loadavg'].split()[0]),core=x['core_util_pct'])
for sc in scens:
    reps=[R[k] for k in sorted(R) if k[0]==sc]
    if not reps: continue
    loads=[r[v]['load'] for r in reps for v in r]
    print(f'## {sc}: {len(reps)} reps, load {min(loads):.1f}-{max(loads):.1f}')
    print('| variant | CPU ns/pkt | core % | wake-ups/s | p50 µs | p99 µs | disturbed |')
    print('|---|---|---|---|---|---|---|')
    for v in variants:
        xs=[r[v] for r in reps if v in r]
        if not xs: continue
        c=[x['cpu'] for x in xs]; p=[x['p99'] for x in xs]
        print(f"| {v} | {med(c):.0f} ({min(c):.0f}–{max(c):.0f}) | {med([x['core'] for x in xs]):.0f} | {med([x['wakes'] for x in xs]):.0f} | {med([x['p50'] for x in xs]):.0f} | {med(p):.0f} ({min(p):.0f}–{max(p):.0f}) | {sum(x['dist'] for x in xs)} |")
    for a,b in [('ms','base'),('ms','fx'),('ms','fx-unpin'),('ms-pin0','fx'),('ms-pin0','fx-unpin'),('ms','fxm'),('ms','fxm-unpin'),('base','fx')]:
        q=[r[a]['cpu']/r[b]['cpu'] for r in reps if a in r and b in r]
        if q: print(f'  {a}/{b}: {med(q):.2f} ({min(q):.2f}–{max(q):.2f})')
