// The real mediasoup-client, in headless Chromium, against Sluice's control API: the JSON shapes
// of DESIGN.md §4 must be what mediasoup-client expects, unchanged.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchChromium, openDemo, startSluice } from './sluice.mjs';

const MEDIA_CODECS = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
];

describe('mediasoup-client against the v1 API', () => {
  let sluice;
  let browser;
  let page;

  before(async () => {
    sluice = await startSluice();
    browser = await launchChromium();
    page = await openDemo(browser, sluice.url);
  });

  after(async () => {
    await browser?.close();
    await sluice?.stop();
  });

  it('loads a Device from the router rtpCapabilities and can produce audio and video', async () => {
    const r = await page.evaluate(async (mediaCodecs) => {
      const { api, newDevice } = window.sluice;
      const router = await api('POST', '/v1/routers', { mediaCodecs });
      const device = newDevice();
      await device.load({ routerRtpCapabilities: router.rtpCapabilities });
      return {
        handler: device.handlerName,
        audio: device.canProduce('audio'),
        video: device.canProduce('video'),
        recvCodecs: device.rtpCapabilities.codecs.map((c) => c.mimeType),
      };
    }, MEDIA_CODECS);
    assert.equal(r.audio, true, 'canProduce(audio)');
    assert.equal(r.video, true, 'canProduce(video)');
    // The device keeps the router's codecs that Chromium can decode, RTX included.
    assert.ok(r.recvCodecs.includes('audio/opus'), r.recvCodecs.join());
    assert.ok(r.recvCodecs.includes('video/VP8'), r.recvCodecs.join());
    assert.ok(r.recvCodecs.includes('video/rtx'), r.recvCodecs.join());
  });

  it("consumes with the device's rtpCapabilities and answers rtpParameters mediasoup-client can receive", async () => {
    const r = await page.evaluate(async (mediaCodecs) => {
      const { api, newDevice, ortc } = window.sluice;
      const router = await api('POST', '/v1/routers', { mediaCodecs });
      const device = newDevice();
      await device.load({ routerRtpCapabilities: router.rtpCapabilities });
      // What mediasoup-client would send for a camera, taken from its own ORTC logic: produce it on a
      // plain transport (WebRTC transports are a separate test).
      const send = await api('POST', `/v1/routers/${router.id}/plain-transports`, { comedia: true });
      const out = {};
      for (const kind of ['audio', 'video']) {
        const codec = device.rtpCapabilities.codecs.find(
          (c) => c.kind === kind && !/\/rtx$/i.test(c.mimeType),
        );
        const rtx = device.rtpCapabilities.codecs.find(
          (c) => /\/rtx$/i.test(c.mimeType) && c.parameters.apt === codec.preferredPayloadType,
        );
        const rtpParameters = {
          mid: kind === 'audio' ? '0' : '1',
          codecs: [
            {
              mimeType: codec.mimeType,
              payloadType: codec.preferredPayloadType,
              clockRate: codec.clockRate,
              channels: codec.channels,
              parameters: codec.parameters,
              rtcpFeedback: codec.rtcpFeedback,
            },
          ],
          headerExtensions: device.rtpCapabilities.headerExtensions
            .filter((e) => e.kind === kind)
            .map((e) => ({ uri: e.uri, id: e.preferredId, encrypt: false, parameters: {} })),
          encodings: [kind === 'audio' ? { ssrc: 1111 } : { ssrc: 2222, rtx: { ssrc: 2223 } }],
          rtcp: { cname: 'test', reducedSize: true },
        };
        if (kind === 'video' && rtx) {
          rtpParameters.codecs.push({
            mimeType: rtx.mimeType,
            payloadType: rtx.preferredPayloadType,
            clockRate: rtx.clockRate,
            parameters: rtx.parameters,
            rtcpFeedback: [],
          });
        }
        const producer = await api('POST', `/v1/transports/${send.id}/producers`, { kind, rtpParameters });
        const recv = await api('POST', `/v1/routers/${router.id}/plain-transports`, { comedia: true });
        const consumer = await api('POST', `/v1/transports/${recv.id}/consumers`, {
          producerId: producer.id,
          rtpCapabilities: device.rtpCapabilities,
          paused: true,
        });
        let accepted;
        try {
          accepted = ortc.canReceive(structuredClone(consumer.rtpParameters), device.rtpCapabilities);
        } catch (e) {
          accepted = `rejected: ${e.message}`;
        }
        out[kind] = { consumer, accepted };
      }
      return out;
    }, MEDIA_CODECS);
    for (const kind of ['audio', 'video']) {
      const { consumer, accepted } = r[kind];
      assert.equal(accepted, true, `${kind}: mediasoup-client's canReceive: ${accepted}`);
      assert.equal(consumer.kind, kind);
      assert.equal(consumer.type, 'simple');
      assert.equal(consumer.producerPaused, false);
      const enc = consumer.rtpParameters.encodings[0];
      assert.ok(Number.isInteger(enc.ssrc) && enc.ssrc !== 1111 && enc.ssrc !== 2222, `own ssrc: ${enc.ssrc}`);
    }
    // Video consumers carry RTX with an SSRC of their own, as mediasoup's do.
    const venc = r.video.consumer.rtpParameters.encodings[0];
    assert.ok(venc.rtx && Number.isInteger(venc.rtx.ssrc), JSON.stringify(venc));
    assert.ok(r.video.consumer.rtpParameters.codecs.some((c) => /\/rtx$/i.test(c.mimeType)));
  });

  it('serves the demo room registry: a room is a router shared by its peers and closed by the last to leave', async () => {
    const r = await page.evaluate(async () => {
      const { api } = window.sluice;
      const a = await api('POST', '/demo/rooms/match-1/join', {});
      const b = await api('POST', '/demo/rooms/match-1/join', {});
      const other = await api('POST', '/demo/rooms/match-2/join', {});
      const listed = await api('GET', `/demo/rooms/match-1/peers?peerId=${a.peerId}`);
      await api('POST', `/demo/rooms/match-1/peers/${a.peerId}/leave`, {});
      const afterA = await api('GET', '/demo/rooms/match-1/peers');
      await api('POST', `/demo/rooms/match-1/peers/${b.peerId}/leave`, {});
      let afterB;
      try {
        afterB = await api('GET', '/demo/rooms/match-1/peers');
      } catch (e) {
        afterB = e.status;
      }
      let routerAfter;
      try {
        routerAfter = await api('GET', `/v1/routers/${a.routerId}`);
      } catch (e) {
        routerAfter = e.status;
      }
      return { a, b, other, listed, afterA, afterB, routerAfter };
    });
    assert.equal(r.a.routerId, r.b.routerId, 'peers of one room share its router');
    assert.notEqual(r.a.routerId, r.other.routerId, 'another room has another router');
    assert.notEqual(r.a.peerId, r.b.peerId);
    assert.deepEqual(r.listed.peers.map((p) => p.peerId).sort(), [r.a.peerId, r.b.peerId].sort());
    assert.deepEqual(r.afterA.peers.map((p) => p.peerId), [r.b.peerId]);
    assert.equal(r.afterB, 404, 'the room is gone with its last peer');
    assert.equal(r.routerAfter, 404, "and so is the room's router");
  });

  it('loads the demo page without script errors', async () => {
    assert.deepEqual(page.errors.map(String), []);
    assert.equal(await page.locator('#status').textContent(), 'not joined');
  });
});
