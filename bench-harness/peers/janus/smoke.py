#!/usr/bin/env python3
"""Smoke check of the Janus peer, on this machine only (loopback control, veth media address).

Runs setup.sh (install + veth), starts Janus with start.sh's configuration, and drives its HTTP
API as the harness will: create a session, attach janus.plugin.videoroom, create a room, join it
as a publisher (the "joined" event comes over the long-poll GET), publish with an SDP offer made
here and check Janus's answer (its ICE candidate must be the veth address, never loopback or the
machine's NIC), check that a subscriber cannot join before the publisher's PeerConnection is up,
then tear down. No media flows here: media_check.py does that with an aiortc client.

    python3 smoke.py [--http PORT]

Prints Janus's PID; exits non-zero on the first failed check. Not part of CI.
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")
    return cond


class Janus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}/janus"

    def req(self, path, body=None, timeout=35):
        data = None if body is None else json.dumps(body).encode()
        r = urllib.request.Request(self.base + path, data=data, method="GET" if body is None else "POST",
                                   headers={"content-type": "application/json"})
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return json.loads(resp.read())

    def post(self, path, janus, **fields):
        body = {"janus": janus, "transaction": f"t{random.getrandbits(48):x}", **fields}
        return self.req(path, body)

    def event(self, session, sender):
        """Long-poll GET until an event from `sender` arrives (each poll waits up to 30 s)."""
        deadline = time.time() + 30
        while time.time() < deadline:
            ev = self.req(f"/{session}?maxev=1&rid={int(time.time() * 1000)}")
            if ev.get("janus") == "keepalive":
                continue
            if ev.get("sender") == sender and ev.get("janus") == "event":
                return ev
        raise TimeoutError(f"no event from handle {sender}")


# An offer as a browser would make it for one Opus track (sendonly), with made-up ICE and DTLS
# credentials: enough for Janus to negotiate and answer. A second m-line would carry VP8.
def offer_sdp():
    fp = ":".join(f"{random.getrandbits(8):02X}" for _ in range(32))
    ufrag = f"{random.getrandbits(32):08x}"
    pwd = f"{random.getrandbits(128):032x}"
    return "\r\n".join([
        "v=0",
        f"o=- {random.getrandbits(40)} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "a=msid-semantic: WMS bench",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {fp}",
        "a=setup:actpass",
        "a=mid:0",
        "a=sendonly",
        "a=msid:bench audio0",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=ssrc:11223344 cname:bench",
        "a=candidate:1 1 udp 2122260223 10.77.77.1 50000 typ host",
        "a=end-of-candidates",
        "",
    ])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", type=int, default=18088)
    args = ap.parse_args()

    subprocess.run([os.path.join(HERE, "setup.sh")], check=True)
    log = open(os.path.join(HERE, "smoke-janus.log"), "w")
    proc = subprocess.Popen([os.path.join(HERE, "start.sh"), "--http", str(args.http)],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        pid = first["pid"]
        print(f"janus pid {pid} (media address {first['mediaIp']}, config {first['config']})")
        check(pid == proc.pid, "the PID start.sh prints is the process the caller started (exec)")
        # Drain Janus's stdout into the log so it never blocks on a full pipe.
        threading.Thread(target=lambda: [log.write(l) for l in proc.stdout], daemon=True).start()

        j = Janus(args.http)
        for _ in range(100):
            try:
                info = j.req("/info", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("Janus did not answer GET /janus/info in 10 s")
        check(open(f"/proc/{pid}/comm").read().strip() == "janus", "that PID is the janus process")
        check(info.get("version_string") == "1.1.2", f"Janus version {info.get('version_string')}")
        check(list(info.get("plugins", {})) == ["janus.plugin.videoroom"] and
              list(info.get("transports", {})) == ["janus.transport.http"],
              f"only videoroom and HTTP loaded ({list(info.get('plugins', {}))}, {list(info.get('transports', {}))})")
        check(info.get("ice-lite") is True and not info.get("ipv6"), "ICE-lite, IPv4 only")

        s = j.post("", "create")
        session = s["data"]["id"]
        check(s["janus"] == "success", f"session {session}")
        a = j.post(f"/{session}", "attach", plugin="janus.plugin.videoroom")
        handle = a["data"]["id"]
        check(a["janus"] == "success", f"videoroom handle {handle}")

        room = random.randrange(10**6, 10**9)
        c = j.post(f"/{session}/{handle}", "message", body={
            "request": "create", "room": room, "publishers": 100, "audiocodec": "opus",
            "videocodec": "vp8", "bitrate": 1_200_000, "permanent": False})
        d = c.get("plugindata", {}).get("data", {})
        check(d.get("videoroom") == "created" and d.get("room") == room, f"room {room} created: {d}")
        e = j.post(f"/{session}/{handle}", "message", body={"request": "exists", "room": room})
        check(e["plugindata"]["data"].get("exists") is True, "room exists")

        jn = j.post(f"/{session}/{handle}", "message",
                    body={"request": "join", "ptype": "publisher", "room": room, "display": "bench-0"})
        check(jn["janus"] == "ack", "join as publisher is acknowledged (result comes as an event)")
        ev = j.event(session, handle)
        joined = ev["plugindata"]["data"]
        check(joined.get("videoroom") == "joined" and joined.get("room") == room,
              f"long-poll event: joined as publisher id {joined.get('id')}")

        pub = j.post(f"/{session}/{handle}", "message", body={"request": "publish"},
                     jsep={"type": "offer", "sdp": offer_sdp()})
        check(pub["janus"] == "ack", "publish with an SDP offer is acknowledged")
        ev = j.event(session, handle)
        jsep = ev.get("jsep", {})
        sdp = jsep.get("sdp", "")
        check(ev["plugindata"]["data"].get("configured") == "ok" and jsep.get("type") == "answer",
              "Janus answers the offer")
        cands = re.findall(r"a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ (\w+)", sdp)
        print(f"     answer candidates: {cands}")
        check(cands and all(ip == first["mediaIp"] for ip, _, _ in cands),
              "every candidate in the answer is the veth address (no loopback, no NIC)")
        check(all(20000 <= int(p) <= 20999 for _, p, _ in cands), "candidate ports are in --rtp-ports")
        check("a=ice-lite" in sdp and "opus/48000/2" in sdp and "a=recvonly" in sdp,
              "answer is ice-lite, Opus, recvonly")

        lst = j.post(f"/{session}/{handle}", "message", body={"request": "listparticipants", "room": room})
        parts = lst["plugindata"]["data"].get("participants", [])
        check(any(p.get("id") == joined.get("id") for p in parts), f"listparticipants shows the publisher ({len(parts)})")

        # A subscriber on its own handle. Janus offers a feed only once the publisher's
        # PeerConnection is up (ICE + DTLS done, the "webrtcup" event): before that, 428.
        sh = j.post(f"/{session}", "attach", plugin="janus.plugin.videoroom")["data"]["id"]
        sj = j.post(f"/{session}/{sh}", "message", body={
            "request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": joined["id"]}]})
        check(sj["janus"] == "ack", "join as subscriber is acknowledged")
        ev = j.event(session, sh)
        err = ev["plugindata"]["data"]
        check(err.get("error_code") == 428, f"before the publisher's webrtcup, subscribing is refused: {err}")

        dr = j.post(f"/{session}/{handle}", "message", body={"request": "destroy", "room": room})
        check(dr["plugindata"]["data"].get("videoroom") == "destroyed", "room destroyed")
        check(j.post(f"/{session}/{handle}", "detach")["janus"] == "success", "handle detached")
        check(j.post(f"/{session}", "destroy")["janus"] == "success", "session destroyed")
    except Exception as e:  # report, then stop Janus
        check(False, f"{type(e).__name__}: {e}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
