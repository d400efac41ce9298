import sys,re,subprocess,json,os
def pid(j):
    r=json.load(open(j)); return next(m['pid'] for m in r['measurements'] if m['forwarder']=='sluice'), next(m['received'] for m in r['measurements'] if m['forwarder']=='sluice')
def lines(p, target):
    out=subprocess.run(['callgrind_annotate','--auto=yes','--show-percs=no','cg/cg.%d'%p],capture_output=True,text=True).stdout
    res={}; cur=None; n=0
    for l in out.splitlines():
        if l.startswith('-- Auto-annotated source:'):
            cur = l.split(':',1)[1].strip(); n=0; continue
        if cur and cur.endswith(target):
            m=re.match(r'\s*([\d,]+|\.)\s(.*)$',l)
            if m:
                n+=1; v=0 if m.group(1)=='.' else int(m.group(1).replace(',',''))
                res[n]=(v,m.group(2))
    return res
(a,ra),(b,rb)=pid('cg-7.json'),pid('cg-2.json')
t=sys.argv[1]; la,lb=lines(a,t),lines(b,t); d=ra-rb
rows=sorted(((la[k][0]-lb.get(k,(0,''))[0])/d,k,la[k][1]) for k in la)
for v,k,s in rows[::-1][:int(sys.argv[2]) if len(sys.argv)>2 else 25]:
    print('%7.1f  %s'%(v*10,s[:110]))
