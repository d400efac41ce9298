// Bundles demo/main.js (with mediasoup-client) into control/src/demo/app.js, which the sluice
// binary embeds and serves at /demo/app.js. The bundle is committed so that `cargo run` works on a
// machine without Node; `node build.mjs --check` (run by scripts/test) fails when it is stale.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const out = here('../control/src/demo/app.js');
const result = await build({
  entryPoints: [here('demo/main.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome111', 'firefox120', 'safari16'],
  legalComments: 'none',
  write: false,
});
const code = result.outputFiles[0].text;
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(out, 'utf8');
  } catch {}
  if (current !== code) {
    console.error(`${out} is stale: run "npm run build" in web/ and commit it`);
    process.exit(1);
  }
  console.log(`${out} is up to date (${code.length} bytes)`);
} else {
  writeFileSync(out, code);
  console.log(`wrote ${out} (${code.length} bytes)`);
}
