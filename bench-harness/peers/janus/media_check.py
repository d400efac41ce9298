#!/usr/bin/env python3
"""Media through the Janus peer with an independent WebRTC client (aiortc, from PyPI).

smoke.py checks Janus's API without media; this checks the media path the harness will use:
an aiortc publisher sends Opus to a videoroom over real ICE (Janus is ICE-lite, the client
controlling), DTLS and SRTP; an aiortc subscriber joins after the publisher's "webrtcup",
answers Janus's offer with "start", and must receive the packets.

Everything stays on this machine: the client's only ICE candidate is 127.0.0.1 (aioice's
address discovery is replaced, so no NIC address is offered) and there are no STUN servers
(aiortc falls back to a public STUN server when `iceServers` is left unset, so it is set to []).

    python3 media_check.py [--http PORT] [--seconds N]

Makes a virtualenv in ../.venv with aiortc on first use. Not part of CI.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(os.path.dirname(HERE), ".venv")  # shared with ../mediasoup/webrtc_check.py
AIORTC = "aiortc==1.16.0"

try:
    import aiortc  # noqa: F401
except ImportError:
    py = os.path.join(VENV, "bin", "python3")
    if os.environ.get("MEDIA_CHECK_REEXEC"):
        sys.exit("media_check: aiortc is not importable even in .venv")
    if not os.path.exists(py):
        if subprocess.run(["/usr/bin/python3", "-m", "venv", VENV]).returncode != 0:
            # Debian keeps ensurepip in python3-venv.
            subprocess.run(["apt-get", "install", "-y", "python3-venv"], check=True)
            subprocess.run(["/usr/bin/python3", "-m", "venv", "--clear", VENV], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", AIORTC], check=True)
    os.environ["MEDIA_CHECK_REEXEC"] = "1"
    os.execv(py, [py, *sys.argv])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import aioice.ice  # noqa: E402
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack  # noqa: E402

sys.path.insert(0, HERE)
from smoke import Janus, check  # noqa: E402
import smoke  # noqa: E402

CLIENT_IP = ["10.77.77.1"]  # --client-ip
# The client's host candidates: only the one given (aioice would list every NIC's address and
# leave 127.0.0.1 out).
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(CLIENT_IP)
NO_STUN = RTCConfiguration(iceServers=[])


class Events:
    """The session's long poll, read on a thread and handed out per handle."""

    def __init__(self, janus, session, loop):
        self.janus, self.session, self.loop = janus, session, loop
        self.queues = {}
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def queue(self, handle):
        return self.queues.setdefault(handle, asyncio.Queue())

    def _run(self):
        while not self.stop:
            try:
                evs = self.janus.req(f"/{self.session}?maxev=10&rid={int(time.time() * 1000)}")
            except OSError:
                return
            for ev in evs if isinstance(evs, list) else [evs]:
                h = ev.get("sender")
                if h is not None:
                    self.loop.call_soon_threadsafe(self.queue(h).put_nowait, ev)

    async def wait(self, handle, pred, what, timeout=20):
        q = self.queue(handle)
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError(f"no {what} for handle {handle}")
            ev = await asyncio.wait_for(q.get(), left)
            if pred(ev):
                return ev
            print(f"     (handle {handle}: {json.dumps(ev)[:200]})")


async def run(args, mediaIp):
    j = Janus(args.http)
    loop = asyncio.get_running_loop()
    call = lambda *a, **k: loop.run_in_executor(None, lambda: j.post(*a, **k))  # noqa: E731
    session = (await call("", "create"))["data"]["id"]
    events = Events(j, session, loop)
    pub = (await call(f"/{session}", "attach", plugin="janus.plugin.videoroom"))["data"]["id"]
    room = random.randrange(10**6, 10**9)
    await call(f"/{session}/{pub}", "message", body={"request": "create", "room": room, "publishers": 10,
                                                       "audiocodec": "opus", "permanent": False})
    await call(f"/{session}/{pub}", "message", body={"request": "join", "ptype": "publisher", "room": room})
    joined = (await events.wait(pub, lambda e: "plugindata" in e, "joined"))["plugindata"]["data"]
    feed = joined["id"]

    pc_pub = RTCPeerConnection(NO_STUN)
    pc_pub.addTrack(AudioStreamTrack())  # 20 ms frames of silence, Opus-encoded by aiortc
    await pc_pub.setLocalDescription(await pc_pub.createOffer())
    await call(f"/{session}/{pub}", "message", body={"request": "publish"},
               jsep={"type": "offer", "sdp": pc_pub.localDescription.sdp})
    ev = await events.wait(pub, lambda e: "jsep" in e, "publish answer")
    answer = ev["jsep"]["sdp"]
    cands = re.findall(r"a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ host", answer)
    check(cands and all(ip == mediaIp for ip, _ in cands), f"Janus's answer: candidates {cands}")
    await pc_pub.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await events.wait(pub, lambda e: e.get("janus") == "webrtcup", "publisher webrtcup")
    check(True, f"publisher webrtcup: ICE (client {CLIENT_IP[0]} -> Janus {mediaIp}) and DTLS done")

    sub = (await call(f"/{session}", "attach", plugin="janus.plugin.videoroom"))["data"]["id"]
    await call(f"/{session}/{sub}", "message",
               body={"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]})
    ev = await events.wait(sub, lambda e: "jsep" in e or "error_code" in e.get("plugindata", {}).get("data", {}),
                           "subscriber offer")
    check(ev["plugindata"]["data"].get("videoroom") == "attached", f"subscriber attached: {ev['plugindata']['data']}")
    pc_sub = RTCPeerConnection(NO_STUN)
    frames = {"n": 0}

    @pc_sub.on("track")
    def on_track(track):
        async def pull():
            while True:
                try:
                    await track.recv()
                except Exception:
                    return
                frames["n"] += 1
        asyncio.ensure_future(pull())

    await pc_sub.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="offer"))
    await pc_sub.setLocalDescription(await pc_sub.createAnswer())
    await call(f"/{session}/{sub}", "message", body={"request": "start"},
               jsep={"type": "answer", "sdp": pc_sub.localDescription.sdp})
    await events.wait(sub, lambda e: e.get("plugindata", {}).get("data", {}).get("started") == "ok", "started")
    check(True, "subscriber started")
    await events.wait(sub, lambda e: e.get("janus") == "webrtcup", "subscriber webrtcup")
    check(True, "subscriber webrtcup")

    await asyncio.sleep(args.seconds)
    sent = received = 0
    for s in (await pc_pub.getStats()).values():
        if s.type == "outbound-rtp":
            sent = s.packetsSent
    for s in (await pc_sub.getStats()).values():
        if s.type == "inbound-rtp":
            received = s.packetsReceived
    print(f"     publisher sent {sent} RTP packets; subscriber received {received}, decoded {frames['n']} frames")
    expect = int(args.seconds * 50 * 0.8)
    check(received >= expect and frames["n"] >= expect,
          f"the subscriber receives the publisher's Opus stream through Janus (>= {expect} in {args.seconds} s)")

    await pc_sub.close()
    await pc_pub.close()
    events.stop = True
    await call(f"/{session}/{pub}", "message", body={"request": "destroy", "room": room})
    await call(f"/{session}", "destroy")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", type=int, default=18090)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--client-ip", default="10.77.77.1")
    args = ap.parse_args()
    CLIENT_IP[0] = args.client_ip
    subprocess.run([os.path.join(HERE, "setup.sh")], check=True)
    log = open(os.path.join(HERE, "media-check-janus.log"), "w")
    proc = subprocess.Popen([os.path.join(HERE, "start.sh"), "--http", str(args.http)],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        print(f"janus pid {first['pid']}, media address {first['mediaIp']}")
        threading.Thread(target=lambda: [log.write(line) for line in proc.stdout], daemon=True).start()
        j = Janus(args.http)
        for _ in range(100):
            try:
                j.req("/info", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(asyncio.wait_for(run(args, first["mediaIp"]), 60 + args.seconds))
    except Exception as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"{smoke.passed} passed, {smoke.failed} failed")
    return 0 if smoke.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
