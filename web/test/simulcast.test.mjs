// Simulcast through Sluice in a real browser: page A publishes its fake camera with three
// RID-only encodings (what mediasoup-client sends for `encodings: [{rid: 'r0'}, …]`: no SSRCs in
// the rtpParameters, Sluice learns them from the MID and RID header extensions); page B consumes
// it. B must decode frames of the top layer; after `PUT /v1/consumers/{id}/preferred-layers
// {"spatialLayer": 0}` Sluice switches B's consumer to the lowest layer at its next key frame, so
// the frames B decodes get narrower while its one inbound stream goes on; `{"spatialLayer": 2}`
// brings the top layer back. Then A stops sending its top layer: Sluice falls back to the middle
// one by itself, and goes back up when A sends the top layer again.
//
// Chromium only sends as many simulcast layers as the capture size allows (libwebrtc's
// simulcast table: 640x480 gets two), so A captures 1280x720 from the fake device. And it only
// sends the layers its bandwidth estimate pays for. A negotiates transport-wide congestion
// control as mediasoup-client does by default (the transport-wide-cc-01 extension and
// transport-cc feedback): its estimate then rests on the transport-cc feedback Sluice sends
// back. Without that feedback Chromium's congestion window held its target at ~30 kbit/s and
// only r0 flowed; so the test first waits for A's estimate (the candidate pair's
// availableOutgoingBitrate) to rise well above that and for B to decode the top layer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchChromium, openDemo, startSluice } from './sluice.mjs';

const WAIT_MS = 40000;
const MEDIA_CODECS = [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }];

async function until(fn, what) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last.ok) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: ${JSON.stringify(last)}`);
}

async function http(url, method, body) {
  const r = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

// In a page: a Device loaded with the router's capabilities and a WebRTC transport of it.
async function transportIn(page, routerId, caps, direction) {
  return page.evaluate(
    async ({ routerId, caps, direction }) => {
      const { api, newDevice } = window.sluice;
      window.device = newDevice();
      await window.device.load({ routerRtpCapabilities: caps });
      const t = await api('POST', `/v1/routers/${routerId}/webrtc-transports`, {});
      const options = {
        id: t.id,
        iceParameters: t.iceParameters,
        iceCandidates: t.iceCandidates,
        dtlsParameters: t.dtlsParameters,
      };
      const transport =
        direction === 'send'
          ? window.device.createSendTransport(options)
          : window.device.createRecvTransport(options);
      transport.on('connect', ({ dtlsParameters }, callback, errback) => {
        api('POST', `/v1/transports/${t.id}/connect`, { dtlsParameters }).then(() => callback(), errback);
      });
      transport.on('produce', ({ kind, rtpParameters }, callback, errback) => {
        window.sentRtpParameters = rtpParameters;
        api('POST', `/v1/transports/${t.id}/producers`, { kind, rtpParameters }).then(
          ({ id }) => callback({ id }),
          errback,
        );
      });
      window.transport = transport;
      return t.id;
    },
    { routerId, caps, direction },
  );
}

describe('simulcast through Sluice between two browsers', () => {
  let sluice;
  let browser;

  before(async () => {
    sluice = await startSluice({ workers: 2 });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await sluice?.stop();
  });

  it('B follows preferred layers and falls back when A stops its top layer', async () => {
    const router = await http(`${sluice.url}/v1/routers`, 'POST', { mediaCodecs: MEDIA_CODECS });
    assert.equal(router.status, 200, JSON.stringify(router.body));
    const { id: routerId, rtpCapabilities: caps } = router.body;
    const a = await openDemo(browser, sluice.url);
    const b = await openDemo(browser, sluice.url);

    await transportIn(a, routerId, caps, 'send');
    const producerId = await a.evaluate(async () => {
      const stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { exact: 1280 }, height: { exact: 720 }, frameRate: 30 },
      });
      window.producer = await window.transport.produce({
        track: stream.getVideoTracks()[0],
        encodings: [
          { rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 100000 },
          { rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 300000 },
          { rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 900000 },
        ],
        codecOptions: { videoGoogleStartBitrate: 1500 },
      });
      return window.producer.id;
    });
    const sent = await a.evaluate(() => window.sentRtpParameters.encodings);
    assert.equal(sent.length, 3, JSON.stringify(sent));
    assert.ok(sent.every((e) => e.rid && e.ssrc === undefined), `RID-only encodings: ${JSON.stringify(sent)}`);

    // Sluice learns the SSRC of every layer Chromium sends (its stats list bound streams only).
    const sending = () =>
      a.evaluate(async () => {
        const out = [];
        (await window.producer.getStats()).forEach((s) => {
          if (s.type === 'outbound-rtp') {
            out.push([s.rid, s.frameWidth, s.bytesSent, s.qualityLimitationReason, s.active]);
          }
          if (s.type === 'candidate-pair' && s.nominated) out.push(['bwe', s.availableOutgoingBitrate]);
        });
        return out;
      });
    const learnt = await until(async () => {
      const s = (await http(`${sluice.url}/v1/producers/${producerId}/stats`, 'GET')).body;
      return {
        ok: s.length >= 2 && s.every((x) => x.packetCount > 0),
        streams: s.map((x) => [x.rid, x.ssrc]),
        sending: await sending(),
      };
    }, 'Sluice learns the layers from MID and RID');
    console.log('layers learnt by Sluice', JSON.stringify(learnt.streams));

    const recvTransportId = await transportIn(b, routerId, caps, 'recv');
    const consumer = await b.evaluate(
      async ({ transportId, producerId }) => {
        const { api } = window.sluice;
        const c = await api('POST', `/v1/transports/${transportId}/consumers`, {
          producerId,
          rtpCapabilities: window.device.rtpCapabilities,
          paused: true,
        });
        window.consumer = await window.transport.consume({
          id: c.id,
          producerId,
          kind: c.kind,
          rtpParameters: c.rtpParameters,
        });
        await api('POST', `/v1/consumers/${c.id}/resume`);
        return { id: c.id, type: c.type, encodings: c.rtpParameters.encodings };
      },
      { transportId: recvTransportId, producerId },
    );
    assert.equal(consumer.type, 'simulcast');
    assert.equal(consumer.encodings.length, 1);
    assert.match(consumer.encodings[0].scalabilityMode, /^L3T\d$/);

    const received = () =>
      b.evaluate(async () => {
        let frames = 0;
        let width = 0;
        let height = 0;
        let ssrcs = 0;
        (await window.consumer.getStats()).forEach((s) => {
          if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
          ssrcs += 1;
          frames += s.framesDecoded || 0;
          width = s.frameWidth || width;
          height = s.frameHeight || height;
        });
        return { frames, width, height, ssrcs };
      });
    const dump = async () => (await http(`${sluice.url}/v1/consumers/${consumer.id}`, 'GET')).body;

    // A negotiated transport-cc, and Sluice answers it: A's estimate rises well above the
    // 30 kbit/s it is held at without feedback, and all three layers flow.
    const negotiated = await a.evaluate(() => ({
      ext: window.sentRtpParameters.headerExtensions.map((e) => e.uri),
      fb: window.sentRtpParameters.codecs.flatMap((c) => (c.rtcpFeedback || []).map((f) => f.type)),
    }));
    assert.ok(negotiated.ext.some((u) => u.includes('transport-wide-cc')), JSON.stringify(negotiated));
    assert.ok(negotiated.fb.includes('transport-cc'), JSON.stringify(negotiated));
    // Without feedback the estimate halved every ~3 s from the start bitrate, down to 30 kbit/s
    // after ~18 s, and r2 stopped after ~6 s: so it is read once media has flowed for 12 s.
    const since = Date.now();
    let r2Before = 0;
    const bwe = await until(async () => {
      const s = await sending();
      const estimate = s.find((x) => x[0] === 'bwe')?.[1] ?? 0;
      const r2 = s.find((x) => x[0] === 'r2')?.[2] ?? 0;
      const r2Grew = r2 > r2Before;
      r2Before = r2;
      const ok = Date.now() - since > 12000 && estimate > 500000 && r2Grew;
      return { ok, estimate, sending: s };
    }, "A's bandwidth estimate stays above 500 kbit/s and its top layer keeps flowing");
    console.log('A sends with an estimate of', bwe.estimate, 'bit/s:', JSON.stringify(bwe.sending));

    const top = await until(async () => {
      const r = await received();
      const d = await dump();
      const layer = d.currentLayers?.spatialLayer;
      return { ok: r.frames > 10 && r.width === 1280 && layer === 2, ...r, layer };
    }, 'B decodes the top layer');
    console.log('B decodes before', JSON.stringify(top));

    // Bad input names the field; a layer above the producer's is clamped, as mediasoup does.
    const bad = await http(`${sluice.url}/v1/consumers/${consumer.id}/preferred-layers`, 'PUT', { spatialLayer: 'x' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /spatialLayer/);
    const ok = await http(`${sluice.url}/v1/consumers/${consumer.id}/preferred-layers`, 'PUT', { spatialLayer: 0 });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, {});
    assert.equal((await dump()).preferredLayers.spatialLayer, 0);

    const low = await until(async () => {
      const r = await received();
      const d = await dump();
      const layer = d.currentLayers?.spatialLayer;
      return { ok: layer === 0 && r.width > 0 && r.width < top.width && r.frames > top.frames + 10, ...r, layer };
    }, 'B decodes layer 0 after preferred-layers');
    console.log('B decodes after', JSON.stringify(low));

    // And back up to the top layer at its next key frame.
    await http(`${sluice.url}/v1/consumers/${consumer.id}/preferred-layers`, 'PUT', { spatialLayer: 2 });
    const back = await until(async () => {
      const r = await received();
      const layer = (await dump()).currentLayers?.spatialLayer;
      return { ok: layer === top.layer && r.width === top.width && r.frames > low.frames + 10, ...r, layer };
    }, 'B decodes the top layer again');
    console.log('B decodes the top layer again', JSON.stringify(back));

    // A stops sending its top layer (mediasoup-client deactivates the encoding): after ~1.5 s of
    // silence Sluice falls back to the best layer left, without any API call; when A sends it
    // again, B goes back up.
    await a.evaluate(() => window.producer.setMaxSpatialLayer(1));
    const fallback = await until(async () => {
      const r = await received();
      const layer = (await dump()).currentLayers?.spatialLayer;
      return { ok: layer === 1 && r.width > 0 && r.width < top.width && r.frames > back.frames + 10, ...r, layer };
    }, 'B falls back to layer 1 when the top layer stops');
    console.log('B decodes after the top layer stopped', JSON.stringify(fallback));
    await a.evaluate(() => window.producer.setMaxSpatialLayer(2));
    const restored = await until(async () => {
      const r = await received();
      const layer = (await dump()).currentLayers?.spatialLayer;
      return { ok: layer === 2 && r.width === top.width && r.frames > fallback.frames + 10, ...r, layer };
    }, 'B goes back up when the top layer returns');
    console.log('B decodes at the end', JSON.stringify(restored));
    assert.equal(low.ssrcs, 1, 'one inbound stream throughout');
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});
