// The demo room: browser tabs join a room by name and see and hear each other through Sluice,
// with the real mediasoup-client driving the v1 control API directly (no signaling server of
// its own: the tiny room registry under /demo/rooms only maps a room name to a router and lists
// who publishes what). Bundled by ../build.mjs into control/src/demo/app.js, which the sluice
// binary serves at /demo/app.js.

import { Device, detectDevice, ortc, version as mediasoupClientVersion } from 'mediasoup-client';

const POLL_MS = 1000;

/** The bearer token, when the server has one (typed into the page, kept in this tab only). */
let token = sessionStorage.getItem('sluice-token') || '';

export function setToken(t) {
  token = t || '';
  sessionStorage.setItem('sluice-token', token);
}

/** Calls the API; throws an Error carrying the server's error code and message. */
export async function api(method, path, body) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : {};
  if (!res.ok) {
    const e = json.error || {};
    const err = new Error(`${method} ${path}: ${res.status} ${e.code || ''}: ${e.message || text}`);
    err.status = res.status;
    err.code = e.code;
    throw err;
  }
  return json;
}

/**
 * A mediasoup-client Device. Headless Chromium's user agent is not one mediasoup-client
 * recognises, so fall back to the Chrome111 handler where detection fails.
 */
export function newDevice() {
  const handlerName = detectDevice() || 'Chrome111';
  return new Device({ handlerName });
}

/** One participant: a send transport with our microphone and camera, a receive transport for the rest. */
export class Room {
  constructor(name, { onPeerMedia, onPeerGone, onState } = {}) {
    this.name = name;
    this.device = newDevice();
    this.consumers = new Map(); // producerId -> { consumer, peerId }
    this.producers = [];
    this.onPeerMedia = onPeerMedia || (() => {});
    this.onPeerGone = onPeerGone || (() => {});
    this.onState = onState || (() => {});
    this.closed = false;
  }

  async join({ audio = true, video = true } = {}) {
    const base = `/demo/rooms/${encodeURIComponent(this.name)}`;
    const joined = await api('POST', `${base}/join`, {});
    this.peerId = joined.peerId;
    this.routerId = joined.routerId;
    this.peerBase = `${base}/peers/${this.peerId}`;
    await this.device.load({ routerRtpCapabilities: joined.rtpCapabilities });

    this.sendTransport = await this.createTransport('send');
    this.recvTransport = await this.createTransport('recv');

    if (audio || video) {
      this.localStream = await navigator.mediaDevices.getUserMedia({ audio, video });
      for (const track of this.localStream.getTracks()) {
        if (!this.device.canProduce(track.kind)) continue;
        const producer = await this.sendTransport.produce({ track });
        this.producers.push(producer);
      }
    }
    this.poll();
    return this;
  }

  async createTransport(direction) {
    const t = await api('POST', `/v1/routers/${this.routerId}/webrtc-transports`, {});
    await api('POST', `${this.peerBase}/transports`, { transportId: t.id });
    const options = {
      id: t.id,
      iceParameters: t.iceParameters,
      iceCandidates: t.iceCandidates,
      dtlsParameters: t.dtlsParameters,
      sctpParameters: t.sctpParameters,
    };
    const transport =
      direction === 'send'
        ? this.device.createSendTransport(options)
        : this.device.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      api('POST', `/v1/transports/${t.id}/connect`, { dtlsParameters }).then(() => callback(), errback);
    });
    transport.on('connectionstatechange', (state) => this.onState(direction, state));
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
        (async () => {
          const { id } = await api('POST', `/v1/transports/${t.id}/producers`, {
            kind,
            rtpParameters,
            appData,
          });
          await api('POST', `${this.peerBase}/producers`, { producerId: id, kind });
          return id;
        })().then((id) => callback({ id }), errback);
      });
    }
    return transport;
  }

  /** Consumes every producer of the other peers, and drops the ones that went away. */
  async poll() {
    while (!this.closed) {
      try {
        const { peers } = await api('GET', `/demo/rooms/${encodeURIComponent(this.name)}/peers?peerId=${this.peerId}`);
        const live = new Set();
        for (const peer of peers) {
          if (peer.peerId === this.peerId) continue;
          for (const p of peer.producers) {
            live.add(p.id);
            if (!this.consumers.has(p.id)) await this.consume(peer.peerId, p.id);
          }
        }
        for (const [producerId, { consumer, peerId }] of this.consumers) {
          if (!live.has(producerId)) {
            consumer.close();
            this.consumers.delete(producerId);
            this.onPeerGone(peerId, consumer);
          }
        }
      } catch (e) {
        console.warn('sluice demo: poll failed', e);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  async consume(peerId, producerId) {
    const c = await api('POST', `/v1/transports/${this.recvTransport.id}/consumers`, {
      producerId,
      rtpCapabilities: this.device.rtpCapabilities,
      paused: true,
    });
    const consumer = await this.recvTransport.consume({
      id: c.id,
      producerId,
      kind: c.kind,
      rtpParameters: c.rtpParameters,
    });
    this.consumers.set(producerId, { consumer, peerId });
    await api('POST', `/v1/consumers/${c.id}/resume`);
    this.onPeerMedia(peerId, consumer);
  }

  /** What the browser's own WebRTC stack says it received (for tests and the page's footer). */
  async receiveStats() {
    let audioPackets = 0;
    let videoFrames = 0;
    for (const { consumer } of this.consumers.values()) {
      const report = await consumer.getStats();
      report.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind === 'audio') audioPackets += s.packetsReceived || 0;
        if (s.kind === 'video') videoFrames += s.framesDecoded || 0;
      });
    }
    return { audioPackets, videoFrames, consumers: this.consumers.size };
  }

  async leave() {
    this.closed = true;
    for (const track of this.localStream ? this.localStream.getTracks() : []) track.stop();
    this.sendTransport?.close();
    this.recvTransport?.close();
    if (this.peerBase) await api('POST', `${this.peerBase}/leave`, {}).catch(() => {});
  }
}

// Everything a test (or a curious developer's console) needs.
window.sluice = { api, setToken, newDevice, Room, Device, ortc, mediasoupClientVersion };

// ------------------------------------------------------------------------------- the page

function tile(id, label) {
  let el = document.getElementById(`peer-${id}`);
  if (!el) {
    el = document.createElement('figure');
    el.id = `peer-${id}`;
    el.className = 'tile';
    el.innerHTML = '<video autoplay playsinline></video><figcaption></figcaption>';
    el.querySelector('figcaption').textContent = label;
    el.querySelector('video').srcObject = new MediaStream();
    document.getElementById('peers').append(el);
  }
  return el;
}

function startPage() {
  const form = document.getElementById('join');
  if (!form) return;
  const status = document.getElementById('status');
  const say = (text) => {
    status.textContent = text;
  };
  const roomInput = form.querySelector('input[name=room]');
  const tokenInput = form.querySelector('input[name=token]');
  roomInput.value = decodeURIComponent(location.hash.slice(1)) || 'lobby';
  tokenInput.value = token;
  let room = null;

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (room) {
      await room.leave();
      room = null;
      document.getElementById('peers').replaceChildren();
      form.querySelector('button').textContent = 'Join';
      say('left');
      return;
    }
    setToken(tokenInput.value.trim());
    location.hash = encodeURIComponent(roomInput.value);
    say('joining…');
    room = new Room(roomInput.value, {
      onPeerMedia: (peerId, consumer) => {
        const video = tile(peerId, `peer ${peerId.slice(0, 8)}`).querySelector('video');
        video.srcObject.addTrack(consumer.track);
      },
      onPeerGone: (peerId, consumer) => {
        const el = document.getElementById(`peer-${peerId}`);
        if (!el) return;
        const stream = el.querySelector('video').srcObject;
        stream.removeTrack(consumer.track);
        if (stream.getTracks().length === 0) el.remove();
      },
      onState: (direction, state) => {
        states[direction] = state;
        say(`${where} · send ${states.send} · receive ${states.recv}`);
      },
    });
    const states = { send: 'new', recv: 'new' };
    let where = `joining "${roomInput.value}"`;
    try {
      await room.join();
      const me = tile('me', 'you');
      me.querySelector('video').muted = true;
      me.querySelector('video').srcObject = room.localStream;
      form.querySelector('button').textContent = 'Leave';
      where = `in room "${room.name}" as ${room.peerId.slice(0, 8)}`;
      say(`${where} · send ${states.send} · receive ${states.recv}`);
    } catch (e) {
      say(`could not join: ${e.message}`);
      await room.leave();
      room = null;
    }
  });
  window.addEventListener('pagehide', () => {
    if (room) navigator.sendBeacon(`${room.peerBase}/leave`, '{}');
  });
}

startPage();
