// Media through Sluice in a real browser: two headless Chromium pages join one demo room with the
// real mediasoup-client over WebRTC transports (ICE-lite, DTLS-SRTP, SRTP on the shared media
// port). Page A publishes its fake microphone and camera; page B consumes both. B's own WebRTC
// stack (getStats) must report audio packets received and video frames decoded: decoded frames
// prove B got a key frame (Sluice relays B's PLI to A and asks for one when B's consumer starts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchChromium, openDemo, startSluice } from './sluice.mjs';

const WAIT_MS = 30000;

async function until(page, fn, what) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  while (Date.now() < deadline) {
    last = await page.evaluate(fn);
    if (last.ok) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: ${JSON.stringify(last)}`);
}

describe('audio and video through Sluice between two browsers', () => {
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

  it('page B receives A\'s audio packets and decodes A\'s video frames', async () => {
    const room = `media-${Date.now()}`;
    const a = await openDemo(browser, sluice.url);
    const b = await openDemo(browser, sluice.url);
    await a.evaluate(async (name) => {
      window.room = await new window.sluice.Room(name).join({ audio: true, video: true });
    }, room);
    await until(
      a,
      () => ({ ok: window.room.producers.length === 2, producers: window.room.producers.length }),
      'A publishes microphone and camera',
    );
    await b.evaluate(async (name) => {
      window.room = await new window.sluice.Room(name).join({ audio: false, video: false });
    }, room);
    const stats = await until(
      b,
      async () => {
        const s = await window.room.receiveStats();
        return { ok: s.consumers === 2 && s.audioPackets > 20 && s.videoFrames > 5, ...s };
      },
      'B receives audio and decodes video',
    );
    console.log('B received', JSON.stringify(stats));
    assert.equal(stats.consumers, 2);
    assert.ok(stats.audioPackets > 20, `audio packets: ${stats.audioPackets}`);
    assert.ok(stats.videoFrames > 5, `video frames decoded: ${stats.videoFrames}`);
    // The transports as Sluice sees them: ICE completed, DTLS connected, bytes both ways.
    const transportId = await b.evaluate(() => window.room.recvTransport.id);
    const t = await (await fetch(`${sluice.url}/v1/transports/${transportId}/stats`)).json();
    assert.equal(t[0].dtlsState, 'connected');
    assert.ok(['connected', 'completed'].includes(t[0].iceState), t[0].iceState);
    assert.ok(t[0].bytesSent > 0);
    assert.deepEqual([...a.errors, ...b.errors], []);
    await a.evaluate(() => window.room.leave());
    await b.evaluate(() => window.room.leave());
  });
});
