#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target under fuzz/corpus/<target>/seed-*.

Real-looking packets (RFC 3550 RTP and RTCP, RFC 8285 extensions, RFC 4585/5104 feedback, STUN and
DTLS first bytes for RFC 7983) plus malformed variants, so that the fuzzers start past the first
checks. Crash regressions found by the fuzzers are committed beside them as regress-*; this script
never touches those. Re-run it after changing it: `python3 fuzz/seeds.py`.
"""

import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def rtp(pt, seq, ts, ssrc, payload=b"", marker=False, csrcs=(), ext=None, padding=0):
    """ext: (profile, body bytes) or a list of one-byte (id, data) elements."""
    b0 = 0x80 | len(csrcs)
    hdr_ext = b""
    if ext is not None:
        if isinstance(ext, list):
            body = b"".join(bytes([(i << 4) | (len(d) - 1)]) + d for i, d in ext)
            profile = 0xBEDE
        else:
            profile, body = ext
        body += b"\0" * (-len(body) % 4)
        hdr_ext = struct.pack("!HH", profile, len(body) // 4) + body
        b0 |= 0x10
    pad = b""
    if padding:
        b0 |= 0x20
        pad = b"\0" * (padding - 1) + bytes([padding])
    head = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    return head + b"".join(struct.pack("!I", c) for c in csrcs) + hdr_ext + payload + pad


def rtcp_hdr(count, pt, body, padding=False):
    words = (len(body) + 4) // 4 - 1
    return struct.pack("!BBH", 0x80 | (0x20 if padding else 0) | count, pt, words) + body


def report_block(ssrc=0x1111, lost=2, ext_seq=70000):
    return struct.pack("!IIIIII", ssrc, lost, ext_seq, 12, 0x11223344, 65536)


def sr(ssrc=0xAAAA, blocks=1):
    info = struct.pack("!IIIIII", ssrc, 0xE0000000, 0x80000000, 123456, 50, 8000)
    return rtcp_hdr(blocks, 200, info + b"".join(report_block() for _ in range(blocks)))


def rr(ssrc=0xBBBB, blocks=0):
    return rtcp_hdr(blocks, 201, struct.pack("!I", ssrc) + b"".join(report_block() for _ in range(blocks)))


def sdes(ssrc=0xAAAA, cname=b"user@example"):
    chunk = struct.pack("!I", ssrc) + bytes([1, len(cname)]) + cname + b"\0"
    chunk += b"\0" * (-len(chunk) % 4)
    return rtcp_hdr(1, 202, chunk)


def bye(ssrcs=(0xAAAA,), reason=b""):
    body = b"".join(struct.pack("!I", s) for s in ssrcs)
    if reason:
        r = bytes([len(reason)]) + reason
        body += r + b"\0" * (-len(r) % 4)
    return rtcp_hdr(len(ssrcs), 203, body)


def app(ssrc=0xAAAA, name=b"TEST", data=b"1234"):
    return rtcp_hdr(3, 204, struct.pack("!I", ssrc) + name + data)


def fb(pt, fmt, sender, media, fci=b""):
    return rtcp_hdr(fmt, pt, struct.pack("!II", sender, media) + fci)


def stun_binding():
    attrs = struct.pack("!HH", 0x0006, 9) + b"abcd:efgh" + b"\0" * 3
    attrs += struct.pack("!HHI", 0x0024, 4, 0x6E7F1EFF)
    return struct.pack("!HHI", 0x0001, len(attrs), 0x2112A442) + b"\x01" * 12 + attrs


def dtls_client_hello():
    frag = b"\x01" + b"\0\0\x20" + b"\0\0" + b"\0\0\0" + b"\0\0\x20" + b"\xfe\xfd" + b"\x42" * 30
    return b"\x16\xfe\xff" + b"\0\0" + b"\0" * 6 + struct.pack("!H", len(frag)) + frag


OPUS = b"\xfc\xff\xfe" + bytes(range(40))
VP8 = b"\x90\x80\x12\x34" + b"\x9d\x01\x2a" + bytes(range(60))


def rtp_seeds():
    s = {}
    s["opus"] = rtp(111, 1000, 48000, 0x11112222, OPUS)
    s["opus-audio-level"] = rtp(100, 1, 960, 1111, OPUS, ext=[(1, b"\x85")])
    s["vp8-mid-abs-send-time"] = rtp(96, 65535, 3000, 2222, VP8, marker=True,
                                     ext=[(2, b"0"), (3, b"\x12\x34\x56")])
    s["two-byte-ext"] = rtp(96, 7, 8, 9, b"x", ext=(0x1000, b"\x01\x00\x0f\x03abc\xc8\x14" + b"L" * 20))
    s["ext-stop-id15"] = rtp(96, 1, 1, 1, b"p", ext=(0xBEDE, b"\x10\xaa\xf0\x00\x20\xbb"))
    s["ext-padding-bytes"] = rtp(96, 1, 1, 1, b"p", ext=(0xBEDE, b"\x00\x00\x10\x01\x00\x30\x01\x02\x03\x04"))
    s["ext-other-profile"] = rtp(96, 1, 1, 1, b"p", ext=(0x1234, b"abcdefgh"))
    s["csrc-padding"] = rtp(96, 5, 6, 7, b"pay", csrcs=(5, 6), padding=4)
    s["padding-only"] = rtp(13, 5, 6, 7, b"", padding=8)
    s["rtx"] = rtp(97, 300, 3000, 2223, struct.pack("!H", 65535) + VP8)
    s["max-csrc"] = rtp(0, 0, 0, 0, b"", csrcs=tuple(range(15)))
    s["header-only"] = rtp(8, 0, 0, 0)
    s["big-1200"] = rtp(96, 42, 42, 2222, bytes(i % 251 for i in range(1188)), ext=[(3, b"\x01\x02\x03")])
    bad = bytearray(rtp(96, 1, 1, 1, b"p", ext=[(1, b"\x01")]))
    bad[15] = 9  # extension length past the end
    s["bad-ext-length"] = bytes(bad)
    bad = bytearray(rtp(96, 1, 1, 1, b"abc", padding=2))
    bad[-1] = 200  # padding longer than the packet
    s["bad-padding"] = bytes(bad)
    s["bad-version"] = b"\x40" + rtp(96, 1, 1, 1, b"abc")[1:]
    s["short-11"] = rtp(96, 1, 1, 1)[:11]
    s["csrc-truncated"] = rtp(96, 1, 1, 1, b"", csrcs=(1, 2, 3))[:18]
    s["padding-zero"] = bytes([0xA0]) + rtp(96, 1, 1, 1, b"abc\x00")[1:]  # P bit, padding count 0
    s["ext-element-overrun"] = rtp(96, 1, 1, 1, b"", ext=(0xBEDE, b"\x1f\x01\x02\x03"))
    return s


def rtcp_seeds():
    s = {}
    s["sr-sdes"] = sr() + sdes()
    s["sr-2blocks-sdes-bye"] = sr(blocks=2) + sdes() + bye((0xAAAA, 0xBBBB), b"done")
    s["rr-empty"] = rr()
    s["rr-block-sdes"] = rr(blocks=1) + sdes(0xBBBB, b"x")
    s["rr-nack"] = rr() + fb(205, 1, 0xBBBB, 0x1111, struct.pack("!HH", 100, 0b1010_0000_0000_0101))
    s["rr-pli"] = rr() + fb(206, 1, 0xBBBB, 0x2222)
    s["rr-fir"] = rr() + fb(206, 4, 0xBBBB, 0, struct.pack("!IB3x", 0x2222, 7) + struct.pack("!IB3x", 0x3333, 8))
    remb = b"REMB" + bytes([2, 0x0F, 0xFF, 0xFF]) + struct.pack("!II", 0x2222, 0x3333)
    s["rr-remb"] = rr() + fb(206, 15, 0xBBBB, 0, remb)
    twcc = struct.pack("!HHI", 10, 3, 0x00000100) + b"\x20\x03\x04\x04\x04\x00"
    s["rr-twcc"] = rr() + fb(205, 15, 0xBBBB, 0x2222, twcc)
    s["app"] = rr() + app()
    s["xr-other"] = rr() + rtcp_hdr(0, 207, struct.pack("!I", 0xBBBB) + b"\x04\0\0\x02" + b"\0" * 8)
    s["sdes-multi-chunk"] = rtcp_hdr(2, 202, sdes(1, b"a")[4:] + sdes(2, b"bb")[4:])
    s["bye-only"] = bye()
    s["pli-first"] = fb(206, 1, 1, 2)
    s["padding-last"] = rr() + rtcp_hdr(0, 201, struct.pack("!I", 5) + b"\0\0\0\x04", padding=True)
    bad = bytearray(sr() + sdes())
    bad[3] = 40  # length past the end
    s["bad-length"] = bytes(bad)
    s["padding-not-last"] = rtcp_hdr(0, 201, struct.pack("!I", 5) + b"\0\0\0\x04", padding=True) + rr()
    s["bad-version"] = b"\x40" + rr()[1:]
    s["rr-count-too-big"] = rtcp_hdr(3, 201, struct.pack("!I", 1) + report_block())
    s["truncated-header"] = rr()[:3]
    s["nack-empty-fci"] = fb(205, 1, 1, 2)
    return s


def demux_seeds():
    s = {}
    s["empty"] = b""
    s["stun-binding"] = stun_binding()
    s["dtls-client-hello"] = dtls_client_hello()
    s["dtls-app-data"] = b"\x17\xfe\xfd" + b"\0" * 8 + b"\0\x04abcd"
    s["rtp"] = rtp(111, 1, 2, 3, OPUS)
    s["rtcp"] = sr() + sdes()
    s["rtp-pt-collides"] = rtp(72, 1, 2, 3, b"x", marker=True)  # second byte 0x80|72 = 200: RTCP range
    s["rtp-marker-pt-95"] = rtp(95, 1, 2, 3, b"x", marker=True)
    s["zrtp"] = b"\x10" + b"\0" * 11
    s["turn-channel"] = b"\x40\x00\x00\x04abcd"
    s["one-byte-rtp"] = b"\x80"
    s["byte-255"] = b"\xff\x00"
    s["byte-4"] = b"\x04\x01"
    s["byte-64"] = b"\x40"
    s["byte-192"] = b"\xc0\xc8"
    return s


def script(*steps):
    """Each step: bytes (a control step) or (op, datagram)."""
    out = b""
    for st in steps:
        if isinstance(st, bytes):
            out += st
            continue
        op, d = st
        if len(d) < 255:
            out += bytes([op, len(d)]) + d
        else:
            out += bytes([op, 255]) + struct.pack("!H", len(d)) + d
    return out


A, B, B_RTCP, C1, C2, UNKNOWN_SOCK = 0, 1, 2, 3, 4, 5
FROM_REMOTE, FROM_OTHER, FROM_B, FROM_V6 = 0, 8, 16, 24


def opus_a(seq, level=b"\x85"):
    return rtp(100, seq, seq * 960, 1111, OPUS, ext=[(1, level)])


def vp8_a(seq, marker=False):
    return rtp(96, seq, seq * 3000, 2222, VP8, marker=marker, ext=[(2, b"0"), (3, b"\x01\x02\x03")])


def opus_b(seq):
    return rtp(111, seq, seq * 960, 3333, OPUS)


def pause_consumer(i):
    return bytes([0xC0 | (1 << 3) | i])


def resume_consumer(i):
    return bytes([0xC0 | i])


def clock(ms10):
    return bytes([0xC7, ms10])


def handle_seeds():
    s = {}
    s["opus-a"] = script((A, opus_a(1)))
    s["opus-a-run"] = script(*[(A, opus_a(i)) for i in range(5)])
    s["vp8-a-keyframe"] = script((A, vp8_a(65534, True)), (A, vp8_a(65535)), (A, vp8_a(0)), (A, vp8_a(1)))
    s["rtx-a"] = script((A, rtp(97, 9, 3000, 2223, b"\x00\x05" + VP8)))
    s["comedia-b"] = script((B, opus_b(10)), (B, opus_b(11)), (B | FROM_OTHER, opus_b(12)))
    s["comedia-b-rtcp"] = script((B_RTCP | FROM_B, rr(3333) + sdes(3333)), (B, opus_b(1)))
    s["pause-resume-consumer"] = script((A, opus_a(1)), pause_consumer(0), (A, opus_a(2)), clock(5),
                                        resume_consumer(0), (A, opus_a(3)), (A, opus_a(2)))
    s["pause-resume-producer"] = script((A, opus_a(1)), b"\xc5", (A, opus_a(2)), clock(10), b"\xe5",
                                        (A, opus_a(3)))
    s["close-consumer"] = script((A, opus_a(1)), b"\xc6", (A, opus_a(2)), b"\xc6", (A, opus_a(3)))
    s["stale-after-resume"] = script(*[(A, opus_a(i)) for i in range(100, 104)], pause_consumer(3),
                                     clock(20), resume_consumer(3), (A, opus_a(110)), (A, opus_a(90)))
    s["rtcp-on-consumer"] = script((C1, rr(1, 1)), (C2, sr() + sdes()), (C1 | FROM_OTHER, rr()))
    s["unknown-socket"] = script((UNKNOWN_SOCK, opus_a(1)))
    s["wrong-source"] = script((A | FROM_OTHER, opus_a(1)), (A | FROM_V6, opus_a(2)))
    s["unknown-ssrc"] = script((A, rtp(100, 1, 1, 0xDEAD, OPUS)))
    s["unknown-pt"] = script((A, rtp(55, 1, 1, 1111, OPUS)))
    s["stun-dtls-on-plain"] = script((A, stun_binding()), (A, dtls_client_hello()))
    s["malformed"] = script((A, b"\x80\x60\x00"), (A, b""), (A, b"\x90" + opus_a(1)[1:13]))
    s["big-vp8"] = script((A, rtp(96, 5, 5, 2222, bytes(i % 253 for i in range(1180)), ext=[(3, b"abc")])))
    s["no-extension"] = script((A, rtp(100, 1, 1, 1111, OPUS)), (A, rtp(96, 1, 1, 2222, VP8)))
    s["two-byte-ext"] = script((A, rtp(96, 3, 3, 2222, VP8, ext=(0x1000, b"\x02\x01X\x03\x03abc"))))
    s["csrc-padding"] = script((A, rtp(100, 2, 2, 1111, OPUS, csrcs=(1, 2), padding=4, ext=[(1, b"\x01")])))
    s["ts-wrap"] = script(*[(A, rtp(100, i, 0xFFFFFC40 + i * 960, 1111, OPUS)) for i in range(4)])
    s["seq-jump"] = script((A, opus_a(1)), (A, opus_a(40000)), (A, opus_a(2)))
    s["long-mix"] = script(*[(A, opus_a(i)) for i in range(20)], clock(3), (B, opus_b(1)),
                           *[(A, vp8_a(i, i % 5 == 0)) for i in range(20)], b"\xc5\xe5\xcd\xc5",
                           (C2, rr(7, 2)), (B_RTCP, rr()), (A, opus_a(21)))
    return s


def main():
    for target, seeds in [("rtp", rtp_seeds()), ("rtcp", rtcp_seeds()), ("demux", demux_seeds()),
                          ("handle_datagram", handle_seeds())]:
        d = os.path.join(ROOT, target)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            if f.startswith("seed-"):
                os.remove(os.path.join(d, f))
        for name, data in seeds.items():
            with open(os.path.join(d, "seed-" + name), "wb") as fh:
                fh.write(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
