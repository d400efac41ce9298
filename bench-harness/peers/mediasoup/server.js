#!/usr/bin/env node
// The bench-harness's mediasoup peer: the subset of Sluice's v1 HTTP API (docs/API.md,
// DESIGN.md §4) that `sluice-bench` drives, served on top of mediasoup's own Node API, so one
// client code drives Sluice and mediasoup alike and the comparison measures the SFUs, not two
// different clients.
//
// Why these choices:
// - One mediasoup Worker (a C++ process, single-threaded) per core, routers placed on them
//   round-robin: mediasoup's own scaling model, and the fair counterpart of Sluice's one worker
//   thread per core. The harness sums CPU over this Node process and every worker, so the control
//   plane's cost is counted as it is for Sluice (whose control plane lives in the same process).
// - Each worker process is pinned to one core (worker i on core i mod cores, `taskset`), as
//   Sluice pins its worker threads: a knee measured "per core" then means one core for both.
//   `--no-pin` leaves them to the scheduler.
// - `GET /v1/pids` names those processes; mediasoup-worker children are invisible otherwise.
// - `--rtc-ports` is split into one disjoint slice per worker, so two workers never race for the
//   same port.
// - Ids are mediasoup's own (UUIDs), as Sluice's are.
// - Errors use Sluice's body `{"error":{"code","message"}}`: our own shape checks give 400
//   `invalid_field`; mediasoup's TypeError/UnsupportedError (bad codec, nothing to consume,
//   duplicate SSRC) 422 `unacceptable`; InvalidStateError 409 `conflict`; unknown ids 404.
//
// Written for mediasoup 3.8.4 (see setup.sh for why that version): its option names are
// `listenIp` (PlainTransport) and `listenIps` (WebRtcTransport), not 3.2x's `listenInfo(s)`.
'use strict';

const http = require('http');
const os = require('os');
const path = require('path');
const fs = require('fs');
const { execFileSync } = require('child_process');

const DEFAULT_WORKER = path.join(__dirname, 'node_modules', 'mediasoup', 'worker', 'out', 'Release', 'mediasoup-worker');
if (!process.env.MEDIASOUP_WORKER_BIN && fs.existsSync(DEFAULT_WORKER)) {
  process.env.MEDIASOUP_WORKER_BIN = DEFAULT_WORKER;
}
const mediasoup = require('mediasoup');

const MAX_BODY = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Command line

function usage(msg) {
  if (msg) process.stderr.write(`server.js: ${msg}\n`);
  process.stderr.write(
    'usage: node server.js [--http ADDR:PORT] [--workers N] [--rtc-ports LO-HI]\n' +
    '                      [--listen-ip IP] [--announced-ip IP] [--log-level LEVEL] [--no-pin]\n' +
    '  defaults: --http 127.0.0.1:3000 --workers <cores> --rtc-ports 40100-49999\n' +
    '            --listen-ip 127.0.0.1 --log-level warn (mediasoup worker log level)\n');
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv) {
  const o = {
    http: '127.0.0.1:3000',
    workers: (os.availableParallelism ? os.availableParallelism() : os.cpus().length) || 1,
    rtcPorts: '40100-49999',
    listenIp: '127.0.0.1',
    announcedIp: undefined,
    logLevel: 'warn',
    pin: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--http': o.http = next(); break;
      case '--workers': o.workers = Number(next()); break;
      case '--rtc-ports': o.rtcPorts = next(); break;
      case '--listen-ip': o.listenIp = next(); break;
      case '--announced-ip': o.announcedIp = next(); break;
      case '--log-level': o.logLevel = next(); break;
      case '--no-pin': o.pin = false; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!Number.isInteger(o.workers) || o.workers < 1) usage('--workers must be a positive integer');
  const m = /^(\d+)-(\d+)$/.exec(o.rtcPorts);
  if (!m) usage('--rtc-ports must be LO-HI');
  o.rtcMin = Number(m[1]);
  o.rtcMax = Number(m[2]);
  if (o.rtcMin < 1024 || o.rtcMax > 65535 || o.rtcMax - o.rtcMin + 1 < o.workers) {
    usage('--rtc-ports must lie in 1024-65535 and hold at least one port per worker');
  }
  const h = /^(.*):(\d+)$/.exec(o.http);
  if (!h) usage('--http must be ADDR:PORT');
  o.httpHost = h[1].replace(/^\[(.*)\]$/, '$1');
  o.httpPort = Number(h[2]);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Errors

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
const notFound = (what, id) => new ApiError(404, 'not_found', `no ${what} ${id}`);
const invalid = (field, what) => new ApiError(400, 'invalid_field', `${field}: ${what}`);

// mediasoup's own errors, mapped onto Sluice's codes.
function fromMediasoup(err) {
  if (err instanceof ApiError) return err;
  const msg = String(err && err.message || err);
  if (err && err.name === 'InvalidStateError') {
    return new ApiError(409, 'conflict', msg);
  }
  if (/already (exists|connected|called)|connect\(\) already/i.test(msg)) {
    return new ApiError(409, 'conflict', msg);
  }
  // mediasoup 3.8.4's worker rethrows its errors as "%s [method:%s]" with the reason formatted
  // from the same thread-local buffer it writes into, so the reason arrives empty. The checks
  // that give Sluice's 409s are therefore made here, before the call (connected, SSRC in use).
  if (/^\s*\[method:[a-zA-Z.]+\]$/.test(msg)) {
    return new ApiError(422, 'unacceptable', `the mediasoup worker refused ${msg.trim()} (mediasoup 3.8.4 drops the worker's reason)`);
  }
  if (/no more available ports|no available port/i.test(msg)) {
    return new ApiError(503, 'capacity', msg);
  }
  if (err instanceof TypeError || (err && err.name === 'UnsupportedError') || /Channel request error|request failed|invalid|cannot|not supported/i.test(msg)) {
    return new ApiError(422, 'unacceptable', msg);
  }
  return new ApiError(500, 'internal', msg);
}

// ---------------------------------------------------------------------------------------------
// Shape checks of the request bodies (what Sluice rejects with 400 before it looks at values)

function needObject(v, field) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(field, 'expected an object');
  return v;
}
function needString(v, field) {
  if (typeof v !== 'string' || v.length === 0) throw invalid(field, 'expected a non-empty string');
  return v;
}
function needArray(v, field) {
  if (!Array.isArray(v)) throw invalid(field, 'expected an array');
  return v;
}
function optBool(v, field, dflt) {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw invalid(field, 'expected a boolean');
  return v;
}
function needPort(v, field) {
  if (!Number.isInteger(v) || v < 1 || v > 65535) throw invalid(field, 'expected a port 1-65535');
  return v;
}

// ---------------------------------------------------------------------------------------------
// State

const workers = []; // { index, worker, routers: Set<id>, dead, ports, portsUsed }
const routers = new Map(); // id -> { router, workerIndex }
const transports = new Map(); // id -> { transport, kind: 'plain'|'webrtc', routerId, workerIndex }
const producers = new Map(); // id -> producer
const consumers = new Map(); // id -> consumer
const objectWorker = new Map(); // producer or consumer id -> worker index
const sseClients = new Set();
let nextWorker = 0;

function emit(event, data) {
  if (sseClients.size === 0) return;
  const line = `event: ${event}\ndata: ${JSON.stringify({ event, ...data })}\n\n`;
  for (const res of sseClients) res.write(line);
}

function pickWorker(requested) {
  if (requested !== undefined && requested !== null) {
    if (!Number.isInteger(requested)) throw invalid('workerId', 'expected an integer');
    const w = workers[requested];
    if (!w) throw new ApiError(422, 'unacceptable', `workerId ${requested} out of range 0..${workers.length - 1}`);
    if (w.dead) throw new ApiError(503, 'worker_unavailable', `worker ${requested} has died`);
    return w;
  }
  for (let i = 0; i < workers.length; i++) {
    const w = workers[(nextWorker + i) % workers.length];
    if (!w.dead) {
      nextWorker = (w.index + 1) % workers.length;
      return w;
    }
  }
  throw new ApiError(503, 'worker_unavailable', 'every worker has died');
}

function track(map, obj, closeEvent, idKey) {
  map.set(obj.id, obj);
  obj.observer.once('close', () => {
    map.delete(obj.id);
    emit(closeEvent, { [idKey]: obj.id });
  });
}

function getRouter(id) {
  const r = routers.get(id);
  if (!r) throw notFound('router', id);
  return r;
}
function getTransport(id) {
  const t = transports.get(id);
  if (!t) throw notFound('transport', id);
  return t;
}
function getProducer(id) {
  const p = producers.get(id);
  if (!p) throw notFound('producer', id);
  return p;
}
function getConsumer(id) {
  const c = consumers.get(id);
  if (!c) throw notFound('consumer', id);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Handlers

async function createRouter(body) {
  const codecs = needArray(body.mediaCodecs, 'mediaCodecs');
  codecs.forEach((c, i) => needObject(c, `mediaCodecs[${i}]`));
  const w = pickWorker(body.workerId);
  let router;
  try {
    router = await w.worker.createRouter({ mediaCodecs: codecs });
  } catch (e) { throw fromMediasoup(e); }
  routers.set(router.id, { router, workerIndex: w.index });
  w.routers.add(router.id);
  router.observer.once('close', () => {
    routers.delete(router.id);
    w.routers.delete(router.id);
    emit('router.close', { routerId: router.id });
  });
  return [200, { id: router.id, workerId: w.index, rtpCapabilities: router.rtpCapabilities }];
}

function listenIp() {
  return opts.announcedIp ? { ip: opts.listenIp, announcedIp: opts.announcedIp } : { ip: opts.listenIp };
}

// Ports of the worker's slice of --rtc-ports: counted here, because when the slice is used up the
// worker's error reaches Node without its reason (see fromMediasoup), and Sluice says 503 capacity.
function reservePorts(r, n) {
  const w = workers[r.workerIndex];
  if (w.portsUsed + n > w.ports) {
    throw new ApiError(503, 'capacity', `worker ${w.index} has no free port left in its ${w.ports} of --rtc-ports`);
  }
  w.portsUsed += n;
  return () => { w.portsUsed -= n; };
}

function registerTransport(transport, kind, r, comedia = false) {
  transports.set(transport.id, {
    transport, kind, comedia, routerId: r.router.id, workerIndex: r.workerIndex,
    connected: false, ssrcs: new Set(),
  });
  transport.observer.once('close', () => {
    transports.delete(transport.id);
    emit('transport.close', { transportId: transport.id });
  });
  transport.observer.on('newproducer', (p) => {
    track(producers, p, 'producer.close', 'producerId');
    objectWorker.set(p.id, r.workerIndex);
    p.observer.once('close', () => objectWorker.delete(p.id));
  });
  transport.observer.on('newconsumer', (c) => {
    track(consumers, c, 'consumer.close', 'consumerId');
    objectWorker.set(c.id, r.workerIndex);
    c.observer.once('close', () => objectWorker.delete(c.id));
    c.on('producerclose', () => emit('consumer.producerclose', { consumerId: c.id, producerId: c.producerId }));
    c.on('producerpause', () => emit('consumer.producerpause', { consumerId: c.id }));
    c.on('producerresume', () => emit('consumer.producerresume', { consumerId: c.id }));
  });
}

function tupleJson(t) {
  if (!t) return undefined;
  const o = { localAddress: t.localIp, localPort: t.localPort, protocol: t.protocol };
  if (t.remoteIp !== undefined) { o.remoteIp = t.remoteIp; o.remotePort = t.remotePort; }
  return o;
}

async function createPlainTransport(routerId, body) {
  const r = getRouter(routerId);
  const options = {
    listenIp: listenIp(),
    comedia: optBool(body.comedia, 'comedia', false),
    rtcpMux: optBool(body.rtcpMux, 'rtcpMux', true),
    enableSrtp: optBool(body.enableSrtp, 'enableSrtp', false),
    enableSctp: optBool(body.enableSctp, 'enableSctp', false),
  };
  if (body.srtpCryptoSuite !== undefined) options.srtpCryptoSuite = needString(body.srtpCryptoSuite, 'srtpCryptoSuite');
  if (body.appData !== undefined) options.appData = needObject(body.appData, 'appData');
  const release = reservePorts(r, options.rtcpMux ? 1 : 2);
  let t;
  try {
    t = await r.router.createPlainTransport(options);
  } catch (e) { release(); throw fromMediasoup(e); }
  t.observer.once('close', release);
  registerTransport(t, 'plain', r, options.comedia);
  t.on('tuple', (tuple) => emit('transport.tuple', { transportId: t.id, tuple: tupleJson(tuple) }));
  const out = { id: t.id, tuple: tupleJson(t.tuple) };
  if (t.rtcpTuple) out.rtcpTuple = tupleJson(t.rtcpTuple);
  if (t.srtpParameters) out.srtpParameters = t.srtpParameters;
  return [200, out];
}

async function createWebRtcTransport(routerId, body) {
  const r = getRouter(routerId);
  const options = {
    listenIps: [listenIp()],
    enableUdp: optBool(body.enableUdp, 'enableUdp', true),
    enableTcp: optBool(body.enableTcp, 'enableTcp', false),
    preferUdp: true,
    enableSctp: optBool(body.enableSctp, 'enableSctp', false),
  };
  if (body.numSctpStreams !== undefined) options.numSctpStreams = needObject(body.numSctpStreams, 'numSctpStreams');
  if (body.appData !== undefined) options.appData = needObject(body.appData, 'appData');
  const release = reservePorts(r, (options.enableUdp ? 1 : 0) + (options.enableTcp ? 1 : 0));
  let t;
  try {
    t = await r.router.createWebRtcTransport(options);
  } catch (e) { release(); throw fromMediasoup(e); }
  t.observer.once('close', release);
  registerTransport(t, 'webrtc', r);
  const out = {
    id: t.id,
    iceRole: t.iceRole,
    iceParameters: t.iceParameters,
    // Sluice (like mediasoup 3.2x) also names the candidate's IP `address`.
    iceCandidates: t.iceCandidates.map((c) => ({ ...c, address: c.ip })),
    dtlsParameters: t.dtlsParameters,
  };
  if (t.sctpParameters) out.sctpParameters = t.sctpParameters;
  return [200, out];
}

async function connectTransport(id, body) {
  const entry = getTransport(id);
  const { transport, kind, comedia } = entry;
  if (entry.connected) throw new ApiError(409, 'conflict', `transport ${id} is already connected`);
  let params;
  if (kind === 'webrtc') {
    const d = needObject(body.dtlsParameters, 'dtlsParameters');
    needArray(d.fingerprints, 'dtlsParameters.fingerprints');
    params = { dtlsParameters: d };
  } else {
    if (comedia) {
      throw new ApiError(409, 'conflict', 'a comedia transport learns its remote; it cannot be connected');
    }
    params = { ip: needString(body.ip, 'ip'), port: needPort(body.port, 'port') };
    if (body.rtcpPort !== undefined) params.rtcpPort = needPort(body.rtcpPort, 'rtcpPort');
    if (body.srtpParameters !== undefined) params.srtpParameters = needObject(body.srtpParameters, 'srtpParameters');
  }
  try {
    await transport.connect(params);
  } catch (e) { throw fromMediasoup(e); }
  entry.connected = true;
  if (kind === 'plain') emit('transport.tuple', { transportId: id, tuple: tupleJson(transport.tuple) });
  return [200, {}];
}

async function produce(id, body) {
  const entry = getTransport(id);
  const { transport } = entry;
  const kind = needString(body.kind, 'kind');
  if (kind !== 'audio' && kind !== 'video') throw invalid('kind', `expected "audio" or "video", got "${kind}"`);
  const rtpParameters = needObject(body.rtpParameters, 'rtpParameters');
  needArray(rtpParameters.codecs, 'rtpParameters.codecs');
  const ssrcs = [];
  (rtpParameters.encodings === undefined ? [] : needArray(rtpParameters.encodings, 'rtpParameters.encodings'))
    .forEach((e, i) => {
      needObject(e, `rtpParameters.encodings[${i}]`);
      if (e.ssrc !== undefined) ssrcs.push(e.ssrc);
      if (e.rtx && e.rtx.ssrc !== undefined) ssrcs.push(e.rtx.ssrc);
    });
  const used = ssrcs.find((x) => entry.ssrcs.has(x));
  if (used !== undefined) throw new ApiError(409, 'conflict', `ssrc ${used} is already used on transport ${id}`);
  const options = { kind, rtpParameters, paused: optBool(body.paused, 'paused', false) };
  if (body.appData !== undefined) options.appData = needObject(body.appData, 'appData');
  let p;
  try {
    p = await transport.produce(options);
  } catch (e) { throw fromMediasoup(e); }
  for (const x of ssrcs) entry.ssrcs.add(x);
  p.observer.once('close', () => { for (const x of ssrcs) entry.ssrcs.delete(x); });
  return [200, { id: p.id, kind: p.kind, type: p.type }];
}

async function consume(id, body) {
  const { transport, routerId } = getTransport(id);
  const producerId = needString(body.producerId, 'producerId');
  const rtpCapabilities = needObject(body.rtpCapabilities, 'rtpCapabilities');
  const producer = getProducer(producerId);
  const r = getRouter(routerId);
  if (!r.router.canConsume({ producerId, rtpCapabilities })) {
    // canConsume is false both for another router's producer and for no common codec.
    throw new ApiError(422, 'unacceptable', `cannot consume producer ${producer.id} with these rtpCapabilities on router ${routerId}`);
  }
  const options = { producerId, rtpCapabilities, paused: optBool(body.paused, 'paused', false) };
  if (body.appData !== undefined) options.appData = needObject(body.appData, 'appData');
  let c;
  try {
    c = await transport.consume(options);
  } catch (e) { throw fromMediasoup(e); }
  return [200, {
    id: c.id, producerId: c.producerId, kind: c.kind, rtpParameters: c.rtpParameters,
    type: c.type, paused: c.paused, producerPaused: c.producerPaused,
  }];
}

async function workersJson() {
  // Per-worker forwarding counters in Sluice's `/v1/workers` shape (packetsIn / packetsOut /
  // rtpForwarded), so the harness checks delivery the same way for both. mediasoup 3.8.4's
  // transport stats count bytes only, so packets come from the producers' inbound-rtp and the
  // consumers' outbound-rtp stats (RTX and probation packets are not in these counts).
  const out = workers.map((w) => ({
    id: w.index, pid: w.worker.pid, alive: !w.dead, routers: w.routers.size,
    stats: { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, rtpForwarded: 0, drops: {} },
  }));
  const add = async (obj, field, bytesField, want) => {
    let stats;
    try { stats = await obj.getStats(); } catch (_) { return; }
    const s = out[objectWorker.get(obj.id)].stats;
    for (const st of stats) {
      if (st.type !== want) continue;
      s[field] += st.packetCount || 0;
      s[bytesField] += st.byteCount || 0;
    }
  };
  await Promise.all([
    ...[...producers.values()].map((p) => add(p, 'packetsIn', 'bytesIn', 'inbound-rtp')),
    ...[...consumers.values()].map((c) => add(c, 'packetsOut', 'bytesOut', 'outbound-rtp')),
  ]);
  for (const w of out) w.stats.rtpForwarded = w.stats.packetsOut;
  return out;
}

function pids() {
  return { node: process.pid, workers: workers.map((w) => w.worker.pid) };
}

// ---------------------------------------------------------------------------------------------
// Routing

const UUID = '([^/]+)'; // any segment: a malformed id is 404 not_found, as in Sluice
const routes = [
  ['GET', /^\/v1\/health$/, () => {
    const dead = workers.filter((w) => w.dead).map((w) => w.index);
    return [200, { status: dead.length ? 'degraded' : 'ok', workers: workers.length, deadWorkers: dead, sfu: `mediasoup ${mediasoup.version}` }];
  }],
  ['GET', /^\/v1\/pids$/, () => [200, pids()]],
  ['GET', /^\/v1\/workers$/, async () => [200, await workersJson()]],
  ['POST', /^\/v1\/routers$/, (m, body) => createRouter(body)],
  ['GET', new RegExp(`^/v1/routers/${UUID}$`), async (m) => [200, await getRouter(m[1]).router.dump()]],
  ['DELETE', new RegExp(`^/v1/routers/${UUID}$`), (m) => { getRouter(m[1]).router.close(); return [204]; }],
  ['POST', new RegExp(`^/v1/routers/${UUID}/plain-transports$`), (m, body) => createPlainTransport(m[1], body)],
  ['POST', new RegExp(`^/v1/routers/${UUID}/webrtc-transports$`), (m, body) => createWebRtcTransport(m[1], body)],
  ['POST', new RegExp(`^/v1/transports/${UUID}/connect$`), (m, body) => connectTransport(m[1], body)],
  ['POST', new RegExp(`^/v1/transports/${UUID}/producers$`), (m, body) => produce(m[1], body)],
  ['POST', new RegExp(`^/v1/transports/${UUID}/consumers$`), (m, body) => consume(m[1], body)],
  ['GET', new RegExp(`^/v1/transports/${UUID}$`), async (m) => [200, await getTransport(m[1]).transport.dump()]],
  ['GET', new RegExp(`^/v1/transports/${UUID}/stats$`), async (m) => [200, await getTransport(m[1]).transport.getStats()]],
  ['DELETE', new RegExp(`^/v1/transports/${UUID}$`), (m) => { getTransport(m[1]).transport.close(); return [204]; }],
  ['POST', new RegExp(`^/v1/producers/${UUID}/pause$`), async (m) => { await getProducer(m[1]).pause(); return [200, {}]; }],
  ['POST', new RegExp(`^/v1/producers/${UUID}/resume$`), async (m) => { await getProducer(m[1]).resume(); return [200, {}]; }],
  ['GET', new RegExp(`^/v1/producers/${UUID}$`), async (m) => [200, await getProducer(m[1]).dump()]],
  ['GET', new RegExp(`^/v1/producers/${UUID}/stats$`), async (m) => [200, await getProducer(m[1]).getStats()]],
  ['DELETE', new RegExp(`^/v1/producers/${UUID}$`), (m) => { getProducer(m[1]).close(); return [204]; }],
  ['POST', new RegExp(`^/v1/consumers/${UUID}/pause$`), async (m) => { await getConsumer(m[1]).pause(); return [200, {}]; }],
  ['POST', new RegExp(`^/v1/consumers/${UUID}/resume$`), async (m) => { await getConsumer(m[1]).resume(); return [200, {}]; }],
  ['POST', new RegExp(`^/v1/consumers/${UUID}/request-key-frame$`), async (m) => { await getConsumer(m[1]).requestKeyFrame(); return [200, {}]; }],
  ['PUT', new RegExp(`^/v1/consumers/${UUID}/preferred-layers$`), async (m, body) => {
    const c = getConsumer(m[1]);
    if (!Number.isInteger(body.spatialLayer)) throw invalid('spatialLayer', 'expected an integer');
    if (body.temporalLayer !== undefined && !Number.isInteger(body.temporalLayer)) throw invalid('temporalLayer', 'expected an integer');
    try { await c.setPreferredLayers({ spatialLayer: body.spatialLayer, temporalLayer: body.temporalLayer }); } catch (e) { throw fromMediasoup(e); }
    return [200, {}];
  }],
  ['GET', new RegExp(`^/v1/consumers/${UUID}$`), async (m) => [200, await getConsumer(m[1]).dump()]],
  ['GET', new RegExp(`^/v1/consumers/${UUID}/stats$`), async (m) => [200, await getConsumer(m[1]).getStats()]],
  ['DELETE', new RegExp(`^/v1/consumers/${UUID}$`), (m) => { getConsumer(m[1]).close(); return [204]; }],
];

function send(res, status, body) {
  if (body === undefined) {
    res.writeHead(status, { 'content-length': 0 });
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
function sendError(res, e) {
  send(res, e.status, { error: { code: e.code, message: e.message } });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(400, 'body_too_large', `body exceeds ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => reject(new ApiError(400, 'invalid_body', 'the body could not be read')));
  });
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (req.method === 'GET' && p === '/v1/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(': mediasoup peer events\n\n');
    sseClients.add(res);
    req.on('close', () => sseClients.delete(res));
    return;
  }
  const matching = routes.filter(([, re]) => re.test(p));
  if (matching.length === 0) throw new ApiError(404, 'no_route', `no endpoint ${p}`);
  const route = matching.find(([method]) => method === req.method);
  if (!route) throw new ApiError(405, 'method_not_allowed', `${req.method} ${p}`);
  const text = await readBody(req);
  let body = {};
  if (text.trim().length > 0) {
    try { body = JSON.parse(text); } catch (e) { throw new ApiError(400, 'invalid_json', e.message); }
    if (req.method !== 'GET') needObject(body, 'body');
  }
  const m = route[1].exec(p);
  let result;
  try {
    result = await route[2](m, body);
  } catch (e) { throw fromMediasoup(e); }
  send(res, result[0], result[1]);
}

// ---------------------------------------------------------------------------------------------
// Start

const opts = parseArgs(process.argv.slice(2));

async function main() {
  const span = opts.rtcMax - opts.rtcMin + 1;
  const per = Math.floor(span / opts.workers);
  for (let i = 0; i < opts.workers; i++) {
    const rtcMinPort = opts.rtcMin + i * per;
    const rtcMaxPort = i === opts.workers - 1 ? opts.rtcMax : rtcMinPort + per - 1;
    const worker = await mediasoup.createWorker({ logLevel: opts.logLevel, rtcMinPort, rtcMaxPort });
    const w = { index: i, worker, routers: new Set(), dead: false, ports: rtcMaxPort - rtcMinPort + 1, portsUsed: 0 };
    worker.on('died', (err) => {
      w.dead = true;
      process.stderr.write(`mediasoup worker ${i} (pid ${worker.pid}) died: ${err && err.message}\n`);
    });
    workers.push(w);
    if (opts.pin) {
      const cores = os.cpus().length || 1;
      try {
        execFileSync('taskset', ['-p', '-c', String(i % cores), String(worker.pid)], { stdio: 'ignore' });
      } catch (e) {
        process.stderr.write(`server.js: could not pin worker ${i} (pid ${worker.pid}): ${e.message}\n`);
      }
    }
  }
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => sendError(res, fromMediasoup(e)));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.httpPort, opts.httpHost, resolve);
  });
  const addr = server.address();
  // One JSON line on stdout: the harness reads the PIDs from it (or from GET /v1/pids).
  process.stdout.write(JSON.stringify({
    event: 'ready', sfu: 'mediasoup', version: mediasoup.version,
    http: `${addr.address}:${addr.port}`, ...pids(),
  }) + '\n');

  const stop = () => {
    for (const w of workers) w.worker.close();
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`server.js: ${e && e.stack || e}\n`);
  process.exit(1);
});
