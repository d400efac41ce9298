// Helpers for the browser tests: start the real sluice binary on free loopback ports, and a
// headless Debian Chromium driven by playwright-core (DESIGN.md §8 lists the flags it needs here).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/** The sluice binary scripts/test built: $SLUICE_BIN, else the cargo target dir's debug build. */
export function sluiceBin() {
  if (process.env.SLUICE_BIN) return process.env.SLUICE_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(repo, 'target');
  const bin = join(target, 'debug', 'sluice');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run "cargo build --bins" first (scripts/test does)`);
  return bin;
}

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `sluice serve` on free ports and waits until /v1/health answers. */
export async function startSluice({ workers = 2, extraArgs = [] } = {}) {
  const http = await freePort();
  const media = await freePort();
  // A port range of its own, derived from the HTTP port so parallel runs rarely collide.
  const lo = 20000 + ((http * 7) % 20000);
  const args = [
    'serve',
    '--http', `127.0.0.1:${http}`,
    '--media-port', String(media),
    '--rtc-ports', `${lo}-${lo + 199}`,
    '--workers', String(workers),
    ...extraArgs,
  ];
  const child = spawn(sluiceBin(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => {
    log += d;
  });
  const url = `http://127.0.0.1:${http}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`sluice exited with ${child.exitCode}:\n${log}`);
    try {
      const r = await fetch(`${url}/v1/health`);
      if (r.ok) {
        return {
          url,
          log: () => log,
          async stop() {
            child.kill('SIGTERM');
            await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
          },
        };
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`sluice did not answer /v1/health:\n${log}`);
}

/** Debian's Chromium, headless, with fake camera and microphone. */
export async function launchChromium() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} not found: "apt-get install -y chromium" (scripts/setup does)`);
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
  const close = browser.close.bind(browser);
  browser.close = async () => {
    await close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return browser;
}

/** A page of the demo, with window.sluice loaded. */
export async function openDemo(browser, url) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${url}/`);
  await page.waitForFunction(() => window.sluice !== undefined, null, { timeout: 20000 });
  page.errors = errors;
  return page;
}
