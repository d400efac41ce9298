// End-to-end check of the mediasoup peer, on loopback only: starts server.js, drives it through
// the same v1 calls as `sluice-bench`'s plain scenario, sends plain RTP from a UDP socket into a
// producer and checks that both consumers receive every packet, rewritten to their own SSRC with
// the payload untouched; then pause/resume, the error shapes, a WebRTC transport, and the PIDs.
//
//   node smoke.mjs            (after ./setup.sh)
//
// Exits non-zero on the first failed check. Not part of CI (the worker takes minutes to build).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PACKETS = 200;
let passed = 0;
let failed = 0;

function check(cond, what) {
  if (cond) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}`);
  }
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const httpPort = await freePort();
const child = spawn(process.execPath, [path.join(here, 'server.js'), '--http', `127.0.0.1:${httpPort}`,
  '--workers', '2', '--rtc-ports', '46000-46999'], { stdio: ['ignore', 'pipe', 'inherit'] });
const ready = await new Promise((resolve, reject) => {
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    const nl = buf.indexOf('\n');
    if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
  });
  child.on('exit', (code) => reject(new Error(`server.js exited with ${code}`)));
  setTimeout(() => reject(new Error('server.js did not print its ready line in 20 s')), 20_000);
});
console.log('ready:', JSON.stringify(ready));

const base = `http://127.0.0.1:${httpPort}`;
async function api(method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
// The payload of an RTP packet (RFC 3550 §5.1: 12 bytes, CSRCs, then the header extension when
// X is set): mediasoup adds header extensions of its own, so the payload does not start at 12.
function rtpPayload(m) {
  let off = 12 + 4 * (m[0] & 0x0f);
  if (m[0] & 0x10) off += 4 + 4 * m.readUInt16BE(off + 2);
  return m.subarray(off);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  // Processes to account CPU to.
  const pids = (await api('GET', '/v1/pids')).body;
  check(pids.node === child.pid, `/v1/pids names the node process (${pids.node})`);
  check(pids.workers.length === 2 && pids.workers.every((p) => fs.existsSync(`/proc/${p}/stat`)),
    `/v1/pids names 2 live mediasoup-worker processes (${pids.workers})`);
  const comm = pids.workers.map((p) => fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim());
  check(comm.every((c) => c.startsWith('mediasoup-work')), `worker processes are mediasoup-worker (${comm})`);

  const health = await api('GET', '/v1/health');
  check(health.status === 200 && health.body.status === 'ok' && health.body.workers === 2, 'GET /v1/health');

  // Topology as sluice-bench builds it.
  const opus = { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 };
  const router = (await api('POST', '/v1/routers', { mediaCodecs: [opus] })).body;
  const caps = router.rtpCapabilities;
  const pt = caps.codecs.find((c) => c.mimeType === 'audio/opus').preferredPayloadType;
  check(typeof router.id === 'string' && Number.isInteger(pt), `router ${router.id}, opus pt ${pt}`);
  const router2 = (await api('POST', '/v1/routers', { mediaCodecs: [opus] })).body;
  check(router2.workerId !== router.workerId, `routers round-robin over workers (${router.workerId}, ${router2.workerId})`);

  const pt0 = (await api('POST', `/v1/routers/${router.id}/plain-transports`, { comedia: true, rtcpMux: true })).body;
  check(pt0.tuple && pt0.tuple.localAddress === '127.0.0.1' && pt0.tuple.protocol === 'udp' &&
    pt0.tuple.localPort >= 46000 && pt0.tuple.localPort <= 46999, `producer transport tuple ${JSON.stringify(pt0.tuple)}`);
  const conflict = await api('POST', `/v1/transports/${pt0.id}/connect`, { ip: '127.0.0.1', port: 9 });
  check(conflict.status === 409 && conflict.body.error.code === 'conflict', 'connecting a comedia transport is 409');

  const PRODUCER_SSRC = 0x11223344;
  const prod = await api('POST', `/v1/transports/${pt0.id}/producers`, {
    kind: 'audio',
    rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: pt, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: PRODUCER_SSRC }], rtcp: { cname: 'smoke' } },
  });
  check(prod.status === 200 && prod.body.kind === 'audio' && prod.body.type === 'simple', `producer ${prod.body.id}`);
  const dup = await api('POST', `/v1/transports/${pt0.id}/producers`, {
    kind: 'audio',
    rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: pt, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: PRODUCER_SSRC }] },
  });
  check(dup.status === 409 && dup.body.error.code === "conflict",
    `a second producer with the same SSRC is refused (${dup.status} ${JSON.stringify(dup.body.error)})`);

  const receivers = [];
  for (let i = 0; i < 2; i++) {
    const sock = dgram.createSocket('udp4');
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    const got = [];
    // RTCP (sender reports for the consumer's stream) shares the port (rtcpMux): RFC 5761 §4
    // tells them apart by the second byte, 200-206 for RTCP packet types.
    sock.on('message', (m) => { if (!(m[1] >= 200 && m[1] <= 206)) got.push(m); });
    const t = (await api('POST', `/v1/routers/${router.id}/plain-transports`, { comedia: false, rtcpMux: true })).body;
    const con = await api('POST', `/v1/transports/${t.id}/connect`, { ip: '127.0.0.1', port: sock.address().port });
    const c = await api('POST', `/v1/transports/${t.id}/consumers`, { producerId: prod.body.id, rtpCapabilities: caps });
    check(con.status === 200 && c.status === 200 && c.body.paused === false && c.body.producerPaused === false,
      `consumer ${i} ${c.body.id} ssrc ${c.body.rtpParameters && c.body.rtpParameters.encodings[0].ssrc}`);
    receivers.push({ sock, got, consumer: c.body, transportId: t.id });
  }

  const sender = dgram.createSocket('udp4');
  await new Promise((r) => sender.bind(0, '127.0.0.1', r));
  const rtp = (seq) => {
    const b = Buffer.alloc(12 + 160);
    b[0] = 0x80; b[1] = pt;
    b.writeUInt16BE(seq & 0xffff, 2);
    b.writeUInt32BE((seq * 960) >>> 0, 4);
    b.writeUInt32BE(PRODUCER_SSRC, 8);
    b.writeUInt32BE(seq, 12); // payload marker the receivers check
    b.fill(0xab, 16);
    return b;
  };
  async function sendBurst(from, n) {
    for (let s = from; s < from + n; s++) {
      sender.send(rtp(s), pt0.tuple.localPort, '127.0.0.1');
      if (s % 20 === 19) await sleep(5);
    }
    await sleep(300);
  }
  await sendBurst(1, PACKETS);
  for (const [i, r] of receivers.entries()) {
    const ssrc = r.consumer.rtpParameters.encodings[0].ssrc;
    const ok = r.got.every((m) => m.readUInt32BE(8) === ssrc && (m[1] & 0x7f) === pt &&
      rtpPayload(m).length === 160 && rtpPayload(m).subarray(4).every((x) => x === 0xab));
    const marks = new Set(r.got.map((m) => rtpPayload(m).readUInt32BE(0)));
    if (!ok || marks.size !== PACKETS) {
      console.log('     first packets:', r.got.slice(0, 3).map((m) => m.toString('hex', 0, 40)));
    }
    check(r.got.length === PACKETS && marks.size === PACKETS,
      `consumer ${i} received ${r.got.length}/${PACKETS} distinct packets`);
    check(ok, `consumer ${i}: SSRC rewritten to ${ssrc}, payload type and payload untouched`);
  }

  // Pause one consumer: it receives nothing, the other still everything.
  const c0 = receivers[0].consumer.id;
  check((await api('POST', `/v1/consumers/${c0}/pause`)).status === 200, 'pause consumer 0');
  const before = receivers.map((r) => r.got.length);
  await sendBurst(PACKETS + 1, 50);
  check(receivers[0].got.length === before[0] && receivers[1].got.length === before[1] + 50,
    `while paused: consumer 0 +${receivers[0].got.length - before[0]}, consumer 1 +${receivers[1].got.length - before[1]}`);
  check((await api('POST', `/v1/consumers/${c0}/resume`)).status === 200, 'resume consumer 0');
  await sendBurst(PACKETS + 51, 50);
  check(receivers[0].got.length === before[0] + 50, `after resume: consumer 0 +${receivers[0].got.length - before[0]}`);

  const workers = (await api('GET', '/v1/workers')).body;
  const out = workers.reduce((a, w) => a + w.stats.packetsOut, 0);
  const inn = workers.reduce((a, w) => a + w.stats.packetsIn, 0);
  check(inn === PACKETS + 100 && out === 2 * PACKETS + 150, `/v1/workers counters: in ${inn}, out ${out}`);

  // VP8: mediasoup 3.8.4 starts (and restarts, after a pause) a video consumer only on a key
  // frame, which it recognises in the VP8 payload descriptor (RFC 7741 §4.2-4.3) only when the
  // X bit is set: X=1,S=1,PID=0 then a payload header whose P bit is 0.
  const vp8 = { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 };
  const vr = (await api('POST', '/v1/routers', { mediaCodecs: [vp8] })).body;
  const vpt = vr.rtpCapabilities.codecs.find((c) => c.mimeType === 'video/VP8').preferredPayloadType;
  const vin = (await api('POST', `/v1/routers/${vr.id}/plain-transports`, { comedia: true })).body;
  const vprod = (await api('POST', `/v1/transports/${vin.id}/producers`, {
    kind: 'video',
    rtpParameters: { codecs: [{ mimeType: 'video/VP8', payloadType: vpt, clockRate: 90000 }],
      encodings: [{ ssrc: 0x55667788 }], rtcp: { cname: 'smoke-v' } },
  })).body;
  const vsock = dgram.createSocket('udp4');
  await new Promise((r) => vsock.bind(0, '127.0.0.1', r));
  // Besides RTCP, mediasoup sends bandwidth probation packets (SSRC 1234, payload type 127, mid
  // "probator") to video consumers: count only the consumer's own SSRC.
  const vgot = [];
  let probation = 0;
  let vssrc;
  vsock.on('message', (m) => {
    if (m[1] >= 200 && m[1] <= 206) return;
    if (m.readUInt32BE(8) === vssrc) vgot.push(m);
    else if (m.readUInt32BE(8) === 1234) probation++;
  });
  const vout = (await api('POST', `/v1/routers/${vr.id}/plain-transports`, { comedia: false })).body;
  await api('POST', `/v1/transports/${vout.id}/connect`, { ip: '127.0.0.1', port: vsock.address().port });
  const vc = await api('POST', `/v1/transports/${vout.id}/consumers`, { producerId: vprod.id, rtpCapabilities: vr.rtpCapabilities });
  check(vc.status === 200 && vc.body.kind === 'video', `video consumer ${vc.body.id}`);
  vssrc = vc.body.rtpParameters.encodings[0].ssrc;
  const vp8pkt = (seq, key) => {
    const b = Buffer.alloc(12 + 1000);
    b[0] = 0x80; b[1] = vpt;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(seq * 3000, 4);
    b.writeUInt32BE(0x55667788, 8);
    b[12] = 0x90; b[13] = 0x00; b[14] = key ? 0x00 : 0x01; // X|S, no I/L/T/K, P bit
    return b;
  };
  for (let s = 1; s <= 10; s++) sender.send(vp8pkt(s, false), vin.tuple.localPort, '127.0.0.1');
  await sleep(300);
  if (vgot.length) console.log('     video before key frame:', vgot.slice(0, 3).map((m) => m.toString('hex', 0, 40)));
  check(vgot.length === 0, `inter frames before any key frame are not forwarded (${vgot.length})`);
  for (let s = 11; s <= 30; s++) sender.send(vp8pkt(s, s === 11), vin.tuple.localPort, '127.0.0.1');
  await sleep(300);
  check(vgot.length === 20, `from the key frame on, every packet is forwarded (${vgot.length}/20; ${probation} probation packets beside)`);
  vsock.close();

  // Error shapes.
  const e404 = await api('POST', '/v1/routers/00000000-0000-0000-0000-000000000000/plain-transports', {});
  check(e404.status === 404 && e404.body.error.code === 'not_found', 'unknown router is 404 not_found');
  const e400 = await api('POST', '/v1/routers', '{"mediaCodecs":');
  check(e400.status === 400 && e400.body.error.code === 'invalid_json', 'truncated JSON is 400 invalid_json');
  const e400f = await api('POST', '/v1/routers', { mediaCodecs: 'x' });
  check(e400f.status === 400 && e400f.body.error.code === 'invalid_field' && e400f.body.error.message.startsWith('mediaCodecs'),
    'wrong field type is 400 invalid_field naming the field');
  const e422 = await api('POST', '/v1/routers', { mediaCodecs: [{ kind: 'audio', mimeType: 'audio/nope', clockRate: 8000 }] });
  check(e422.status === 422 && e422.body.error.code === 'unacceptable', `unsupported codec is 422 (${e422.body.error.message})`);
  const emal = await api('GET', '/v1/consumers/not-a-uuid');
  check(emal.status === 404 && emal.body.error.code === 'not_found', 'malformed id is 404 not_found');
  const eroute = await api('GET', '/v1/nothing');
  check(eroute.status === 404 && eroute.body.error.code === 'no_route', 'unknown endpoint is 404 no_route');
  const e405 = await api('PUT', '/v1/routers');
  check(e405.status === 405 && e405.body.error.code === 'method_not_allowed', 'wrong method is 405');

  // WebRTC transport: shapes only (media needs the harness's WebRTC client).
  const wt = await api('POST', `/v1/routers/${router.id}/webrtc-transports`, {});
  const b = wt.body;
  check(wt.status === 200 && b.iceRole === 'controlled' && b.iceParameters.iceLite === true &&
    b.iceCandidates[0].ip === '127.0.0.1' && b.iceCandidates[0].address === '127.0.0.1' &&
    b.iceCandidates[0].protocol === 'udp' && b.dtlsParameters.fingerprints.some((f) => f.algorithm === 'sha-256'),
    `webrtc transport: candidate ${b.iceCandidates[0].ip}:${b.iceCandidates[0].port}, ${b.dtlsParameters.fingerprints.length} fingerprints`);
  const wc = await api('POST', `/v1/transports/${b.id}/connect`, {
    dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: b.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256').value }] },
  });
  check(wc.status === 200, 'webrtc transport connect {dtlsParameters}');
  const wc2 = await api('POST', `/v1/transports/${b.id}/connect`, { dtlsParameters: { role: 'client', fingerprints: [] } });
  check(wc2.status === 409, `connecting twice is 409 (${wc2.status} ${JSON.stringify(wc2.body.error)})`);

  // Closing: a producer closes its consumers.
  check((await api('DELETE', `/v1/producers/${prod.body.id}`)).status === 204, 'DELETE producer is 204');
  await sleep(100);
  check((await api('GET', `/v1/consumers/${c0}`)).status === 404, 'its consumers are gone');
  check((await api('DELETE', `/v1/routers/${router.id}`)).status === 204, 'DELETE router is 204');
  check((await api('GET', `/v1/transports/${receivers[1].transportId}`)).status === 404, 'its transports are gone');

  for (const r of receivers) r.sock.close();
  sender.close();

  // Port capacity: a second server whose one worker has 3 ports.
  const port2 = await freePort();
  const small = spawn(process.execPath, [path.join(here, 'server.js'), '--http', `127.0.0.1:${port2}`,
    '--workers', '1', '--rtc-ports', '47000-47002'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => small.stdout.once('data', resolve));
  const api2 = async (method, p, body) => {
    const res = await fetch(`http://127.0.0.1:${port2}${p}`, { method, headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  try {
    const sr = (await api2('POST', '/v1/routers', { mediaCodecs: [opus] })).body;
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await api2('POST', `/v1/routers/${sr.id}/plain-transports`, {}));
    check(made.every((m) => m.status === 200) && new Set(made.map((m) => m.body.tuple.localPort)).size === 3,
      `3 transports on 3 ports (${made.map((m) => m.body.tuple && m.body.tuple.localPort)})`);
    const full = await api2('POST', `/v1/routers/${sr.id}/plain-transports`, {});
    check(full.status === 503 && full.body.error.code === 'capacity', `a 4th is 503 capacity (${full.status})`);
    await api2('DELETE', `/v1/transports/${made[0].body.id}`);
    const again = await api2('POST', `/v1/routers/${sr.id}/plain-transports`, {});
    check(again.status === 200, `after a DELETE the port is free again (${again.status})`);
  } finally {
    small.kill('SIGTERM');
  }
} catch (e) {
  failed++;
  console.log(`FAIL ${e && e.stack || e}`);
} finally {
  child.kill('SIGTERM');
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
