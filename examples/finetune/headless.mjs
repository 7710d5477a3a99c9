// Drives the fine-tuning page in headless Chromium through playwright-core (the system's Chromium, no
// browser download): serves dist/, opens the page with the given URL parameters (autostart), waits for the
// run to end, asks for a prediction and the adapter download, and returns what the page reported, the
// two downloaded files and, if asked, a screenshot. The end-to-end test (test/web-finetune.test.ts) uses
// it; by hand: `node examples/finetune/headless.mjs [webgpu|cpu] [quick|defaults]` after build.mjs.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
export const findChromium = () => process.env.CHROMIUM ?? CHROMIUM_PATHS.find(existsSync);

/** SwiftShader gives WebGPU on the CPU (a software Vulkan), so no GPU is needed for the WebGPU path. */
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader',
];

/**
 * One run of the page. `params`: URL parameters (form names, e.g. { backend: 'cpu', steps: 30 });
 * `out`: where the downloads (and the screenshot) go. Resolves to { ui, adapterDir, prediction, screenshot }.
 */
export async function runPage({ params, out, sentences, pauseAt = 0, stopAt = 0, dropTsv = null, screenshot = false, timeoutMs = 110_000, executablePath = findChromium(), log = () => {} }) {
  if (!executablePath) throw new Error(`no Chromium found (tried ${CHROMIUM_PATHS.join(', ')}; apt-get install chromium, or set CHROMIUM)`);
  mkdirSync(out, { recursive: true });
  const server = await serve(0);
  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 }, acceptDownloads: true });
    page.on('console', (m) => log(`page: ${m.text()}`));
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    const given = { ...params, ...(pauseAt > 0 ? { pauseAt } : {}), autostart: dropTsv ? 0 : 1 };
    const query = new URLSearchParams(Object.fromEntries(Object.entries(given).map(([k, v]) => [k, String(v)])));
    await page.goto(`http://localhost:${server.address().port}/?${query}`);
    const deadline = { timeout: timeoutMs, polling: 200 };
    if (dropTsv) {
      // a file dropped on the drop zone, as a person would: it replaces the training set, then Train
      await page.waitForFunction(() => globalThis.__finetune?.state === 'ready', null, deadline);
      await page.evaluate(({ name, text }) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], name, { type: 'text/tab-separated-values' }));
        document.querySelector('#drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, dropTsv);
      await page.waitForFunction((name) => globalThis.__finetune.ready.data.source.startsWith(name) || globalThis.__finetune.errors.length, dropTsv.name, deadline);
      await page.click('#train');
    }
    if (stopAt > 0) {
      await page.waitForFunction((n) => globalThis.__finetune?.steps.length >= n, stopAt, deadline);
      await page.click('#stop');
    }
    let pause = null;
    if (pauseAt > 0) {
      // the page presses Pause as step `pauseAt` arrives: the state must say so and no step may run until
      // Resume, which is pressed here as a person would
      await page.waitForFunction(() => ['paused', 'done', 'failed'].includes(globalThis.__finetune?.state), null, deadline);
      if ((await page.evaluate(() => globalThis.__finetune.state)) !== 'paused') throw new Error('the run did not pause');
      const at = await page.evaluate(() => globalThis.__finetune.steps.length);
      await page.waitForTimeout(1500);
      const later = await page.evaluate(() => globalThis.__finetune.steps.length);
      const button = await page.textContent('#pause');
      await page.click('#pause');
      pause = { at, later, button };
    }
    // the run ends with `done` (or fails with errors in the page's record)
    await page.waitForFunction(() => globalThis.__finetune?.done || globalThis.__finetune?.errors.length, null, deadline);
    const failed = await page.evaluate(() => globalThis.__finetune.errors);
    if (failed.length) throw new Error(`the page failed: ${failed.join('; ')}`);

    // "type a sentence → prediction", through the page's own input and button
    const predictions = [];
    for (const [i, text] of sentences.entries()) {
      await page.fill('#sentence', text);
      await page.click('#predict');
      await page.waitForFunction((id) => globalThis.__finetune.predictions[id], i, deadline);
      predictions.push((await page.evaluate((id) => globalThis.__finetune.predictions[id], i))[0]);
    }

    // the adapter: both files arrive as downloads
    const downloads = [];
    page.on('download', (d) => downloads.push(d));
    await page.click('#download');
    await page.waitForFunction(() => globalThis.__finetune.adapter, null, deadline);
    const t0 = Date.now();
    while (downloads.length < 2 && Date.now() - t0 < 20_000) await page.waitForTimeout(100);
    if (downloads.length < 2) throw new Error(`expected 2 downloads, got ${downloads.length}`);
    const adapterDir = join(out, 'adapter');
    mkdirSync(adapterDir, { recursive: true });
    for (const d of downloads) await d.saveAs(join(adapterDir, d.suggestedFilename()));

    let shot = null;
    if (screenshot) {
      await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
      shot = join(out, 'screenshot.png');
      await page.screenshot({ path: shot, fullPage: true });
    }
    const ui = await page.evaluate(() => {
      const u = globalThis.__finetune;
      return { ready: u.ready, setup: u.setup, steps: u.steps, evals: u.evals, sparsity: u.sparsity, debug: u.debug, done: u.done, errors: u.errors, runStallMs: u.runStallMs, stopAskedAt: u.stopAskedAt };
    });
    // what the charts drew: painted (non-transparent) pixels per canvas
    const ink = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('canvas')].map((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return [c.id, n];
    })));
    return { ui, predictions, pause, ink, adapterDir, screenshot: shot };
  } finally {
    await browser.close();
    server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // `quick` (default): the end-to-end test's 30-step run on 16 sentences; `defaults`: the page's own settings
  const backend = process.argv[2] ?? 'webgpu';
  const quick = { method: 'prilora', steps: 30, trainLimit: 16, batch: 8, lr: 0.005, maxLen: 16, evalLimit: 16, evalEvery: 15, pruneEvery: 5 };
  const r = await runPage({
    params: process.argv[3] === 'defaults' ? { backend } : { ...quick, backend },
    out: join(import.meta.dirname, 'dist/headless'), sentences: ['a gorgeous , witty , seductive movie .', 'dull and tedious .'], screenshot: true, log: console.log,
    pauseAt: 5, timeoutMs: 1_800_000,
  });
  const losses = r.ui.steps.map((s) => s.loss.toFixed(3)).join(' ');
  console.log(`${r.ui.ready.note}\nlosses: ${losses}\npause: ${JSON.stringify(r.pause)}\nink: ${JSON.stringify(r.ink)}\nlongest main-thread stall during the run: ${r.ui.runStallMs} ms\ndone: ${JSON.stringify(r.ui.done)}\npredictions: ${JSON.stringify(r.predictions)}\nadapter: ${r.adapterDir}\nscreenshot: ${r.screenshot}`);
}
