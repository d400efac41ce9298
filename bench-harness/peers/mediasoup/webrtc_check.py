#!/usr/bin/env python3
"""WebRTC into the mediasoup peer with an independent client (aiortc, from PyPI).

smoke.mjs checks the WebRTC endpoints' shapes only; this runs them for real, the way the
harness's WebRTC scenarios will: `POST /v1/routers/{id}/webrtc-transports`, an SDP answer built
from its iceParameters / iceCandidates / dtlsParameters (what mediasoup-client does in a
browser), `connect {dtlsParameters}`, a producer from the offer's SSRC, and a plain-transport
consumer whose UDP socket must receive the Opus stream that aiortc sends over ICE, DTLS and SRTP.

Everything stays on loopback: the client's only candidate is 127.0.0.1 (aioice's address
discovery is replaced) and there are no STUN servers (`iceServers=[]`; left unset, aiortc falls
back to a public STUN server).

    python3 webrtc_check.py [--seconds N]     (after ./setup.sh)

Makes a virtualenv in ../.venv with aiortc on first use. Not part of CI.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(os.path.dirname(HERE), ".venv")  # shared with ../janus/media_check.py
AIORTC = "aiortc==1.16.0"

try:
    import aiortc  # noqa: F401
except ImportError:
    py = os.path.join(VENV, "bin", "python3")
    if os.environ.get("WEBRTC_CHECK_REEXEC"):
        sys.exit("webrtc_check: aiortc is not importable even in ../.venv")
    if not os.path.exists(py):
        if subprocess.run(["/usr/bin/python3", "-m", "venv", VENV]).returncode != 0:
            # Debian keeps ensurepip in python3-venv.
            subprocess.run(["apt-get", "install", "-y", "python3-venv"], check=True)
            subprocess.run(["/usr/bin/python3", "-m", "venv", "--clear", VENV], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", AIORTC], check=True)
    os.environ["WEBRTC_CHECK_REEXEC"] = "1"
    os.execv(py, [py, *sys.argv])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

import aioice.ice  # noqa: E402
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack  # noqa: E402

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
NO_STUN = RTCConfiguration(iceServers=[])

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")
    return cond


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def __call__(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        r = urllib.request.Request(self.base + path, data=data, method=method,
                                   headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=10) as resp:
                text = resp.read()
                return resp.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def answer_sdp(offer, t, opus_pt):
    """The server side of the SDP, from the WebRTC transport's parameters (RFC 8829 §5.3; as
    mediasoup-client writes it): ice-lite, the server's candidates, DTLS role passive (the
    offerer's actpass makes the client the DTLS client, RFC 8842 §5), recvonly Opus."""
    mid = re.search(r"a=mid:(\S+)", offer).group(1)
    fp = next(f for f in t["dtlsParameters"]["fingerprints"] if f["algorithm"] == "sha-256")
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=ice-lite",
             f"a=group:BUNDLE {mid}", "a=msid-semantic: WMS *",
             f"a=fingerprint:sha-256 {fp['value']}",
             f"m=audio 7 UDP/TLS/RTP/SAVPF {opus_pt}", "c=IN IP4 127.0.0.1",
             f"a=mid:{mid}", "a=recvonly", "a=rtcp-mux", "a=setup:passive",
             f"a=ice-ufrag:{t['iceParameters']['usernameFragment']}",
             f"a=ice-pwd:{t['iceParameters']['password']}",
             f"a=rtpmap:{opus_pt} opus/48000/2", f"a=fmtp:{opus_pt} minptime=10;useinbandfec=1"]
    for c in t["iceCandidates"]:
        lines.append(f"a=candidate:{c['foundation']} 1 {c['protocol']} {c['priority']} {c['ip']} {c['port']} typ host")
    lines.append("a=end-of-candidates")
    return "\r\n".join(lines + [""])


async def run(api, seconds):
    loop = asyncio.get_running_loop()
    call = lambda *a: loop.run_in_executor(None, lambda: api(*a))  # noqa: E731
    opus = {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
    _, router = await call("POST", "/v1/routers", {"mediaCodecs": [opus]})
    caps = router["rtpCapabilities"]
    _, t = await call("POST", f"/v1/routers/{router['id']}/webrtc-transports", {})
    check(t["iceCandidates"][0]["ip"] == "127.0.0.1", f"WebRTC transport {t['id']} on {t['iceCandidates'][0]['port']}")

    pc = RTCPeerConnection(NO_STUN)
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    opus_pt = int(re.search(r"a=rtpmap:(\d+) opus/48000/2", offer).group(1))
    ssrc = int(re.search(r"a=ssrc:(\d+) ", offer).group(1))
    client_fp = re.search(r"a=fingerprint:sha-256 (\S+)", offer).group(1)

    st, _ = await call("POST", f"/v1/transports/{t['id']}/connect",
                       {"dtlsParameters": {"role": "client", "fingerprints": [{"algorithm": "sha-256", "value": client_fp}]}})
    check(st == 200, "connect {dtlsParameters: role client, the offer's sha-256 fingerprint}")
    st, prod = await call("POST", f"/v1/transports/{t['id']}/producers", {
        "kind": "audio",
        "rtpParameters": {"codecs": [{"mimeType": "audio/opus", "payloadType": opus_pt, "clockRate": 48000,
                                      "channels": 2, "parameters": {"minptime": 10, "useinbandfec": 1}}],
                          "encodings": [{"ssrc": ssrc}], "rtcp": {"cname": "aiortc"}}})
    check(st == 200, f"producer {prod and prod.get('id')} for the offer's SSRC {ssrc}, payload type {opus_pt}")

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    _, ct = await call("POST", f"/v1/routers/{router['id']}/plain-transports", {})
    await call("POST", f"/v1/transports/{ct['id']}/connect", {"ip": "127.0.0.1", "port": sock.getsockname()[1]})
    st, cons = await call("POST", f"/v1/transports/{ct['id']}/consumers", {"producerId": prod["id"], "rtpCapabilities": caps})
    check(st == 200, f"plain consumer {cons['id']}")
    cssrc = cons["rtpParameters"]["encodings"][0]["ssrc"]

    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp(offer, t, opus_pt), type="answer"))
    for _ in range(100):
        if pc.connectionState in ("connected", "failed"):
            break
        await asyncio.sleep(0.1)
    check(pc.connectionState == "connected", f"aiortc connection state: {pc.connectionState} (ICE + DTLS with mediasoup)")

    got = 0
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            while True:
                m = sock.recv(2048)
                if len(m) >= 12 and not 200 <= m[1] <= 206 and int.from_bytes(m[8:12], "big") == cssrc:
                    got += 1
        except BlockingIOError:
            await asyncio.sleep(0.02)
    sent = next((s.packetsSent for s in (await pc.getStats()).values() if s.type == "outbound-rtp"), 0)
    _, stats = await call("GET", f"/v1/transports/{t['id']}/stats")
    print(f"     aiortc sent {sent} RTP packets in total; the consumer's socket got {got} in {seconds} s; "
          f"transport stats: dtlsState {stats[0].get('dtlsState')}, iceState {stats[0].get('iceState')}")
    expect = int(seconds * 50 * 0.8)
    check(got >= expect, f"SRTP from aiortc is decrypted and forwarded by mediasoup (>= {expect} packets)")
    await pc.close()
    sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3)
    args = ap.parse_args()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = subprocess.Popen(["node", os.path.join(HERE, "server.js"), "--http", f"127.0.0.1:{port}",
                               "--workers", "1", "--rtc-ports", "45000-45999"], stdout=subprocess.PIPE, text=True)
    try:
        print("ready:", server.stdout.readline().strip())
        asyncio.run(asyncio.wait_for(run(Api(port), args.seconds), 30 + args.seconds))
    except Exception as e:
        check(False, f"{type(e).__name__}: {e}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
