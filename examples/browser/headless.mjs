// Runs the smoke page in headless Chromium and exits 0 on PASS: builds the bundle, serves the repository,
// starts the browser with WebGPU on SwiftShader (its CPU Vulkan, so no GPU is needed) and follows the
// page's console lines on the browser's log. `node examples/browser/headless.mjs [path-to-chromium]`
import { spawn, execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const browser = process.argv[2] ?? process.env.CHROMIUM ?? 'chromium';
execFileSync(process.execPath, [join(here, 'build.mjs')], { stdio: 'inherit' });
const server = await serve(0);
const url = `http://localhost:${server.address().port}/examples/browser/`;
const args = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--user-data-dir=' + join(here, 'dist/profile'),
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader',
  '--enable-logging=stderr', '--v=0', '--remote-debugging-port=0', url,
];
const chrome = spawn(browser, args, { stdio: ['ignore', 'ignore', 'pipe'] });
let verdict = null;
const finish = (code) => {
  chrome.kill();
  server.close();
  process.exit(code);
};
const timer = setTimeout(() => {
  console.error('no verdict from the page within 120 s');
  finish(2);
}, 120_000);
chrome.stderr.setEncoding('utf8');
chrome.stderr.on('data', (chunk) => {
  for (const m of chunk.matchAll(/CONSOLE[^"]*"(.*)", source:/g)) {
    console.log(`page: ${m[1]}`);
    if (/^(PASS|FAIL|ERROR)/.test(m[1])) verdict = m[1];
  }
  if (verdict) {
    clearTimeout(timer);
    finish(verdict === 'PASS' ? 0 : 1);
  }
});
chrome.on('exit', (code) => {
  if (verdict) return;
  console.error(`${browser} exited (${code}) before the page gave a verdict`);
  finish(2);
});
