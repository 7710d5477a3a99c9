/**
 * The fine-tuning page (examples/finetune) end to end in headless Chromium, driven by playwright-core on
 * the system's Chromium: 30 PRILoRA steps on SST-2, once on WebGPU (SwiftShader, Chromium's CPU Vulkan)
 * and once on the WebAssembly CPU path. Checked: the loss falls, the charts and the heatmap are drawn,
 * pause holds the run, memory stays flat, and the adapter the page downloads loads in Node through
 * prilora's own openAdapted and gives the page's logits. Under CI=true a missing Chromium fails the test
 * (CI installs it, .ci/run); elsewhere the browser runs are skipped without one.
 *
 * The run fits a 16-sentence subset (batch 8, 16 tokens) so that 30 steps visibly lower the training loss
 * and SwiftShader, a software renderer, gets through them: on the full training set the bundled 4-layer
 * model needs a few hundred steps to leave ln 2 (README: npm start).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { openAdapted } from '../src/train/inference.ts';
import { logitsOf } from '../src/train/predict.ts';
import { findChromium, runPage } from '../examples/finetune/headless.mjs';

const root = join(import.meta.dirname, '..');
const chromium = findChromium();
const SETTINGS = {
  method: 'prilora', steps: 30, trainLimit: 16, batch: 8, lr: 0.005, maxLen: 16, evalLimit: 16, evalEvery: 15,
  rankStart: 4, rankEnd: 12, prune: 1, pruneRatio: 0.5, pruneEvery: 5, seed: 0,
};
const SENTENCES = ['a gorgeous , witty , seductive movie .', 'dull and tedious .', 'the acting is fine but the story goes nowhere'];
/** the logits of the page and of Node differ only by float32 rounding (another backend, another order) */
const LOGIT_LIMIT = 1e-5;

const relativeError = (a: readonly number[], b: readonly number[]) => {
  let d = 0, r = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    r += b[i] ** 2;
  }
  return Math.sqrt(d / r);
};
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** inside the build folder (ignored, rebuilt by every run): the downloads and screenshots stay to look at */
const out = join(root, 'examples/finetune/dist/e2e');
beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'examples/finetune/build.mjs')], { stdio: 'pipe' });
});

// CI must have a browser: there the suite runs (and fails on a missing Chromium) instead of skipping
const browserSuite = chromium || process.env.CI ? describe : describe.skip;

browserSuite('the fine-tuning page in headless Chromium', () => {
  for (const backend of ['cpu', 'webgpu'] as const) {
    // SwiftShader runs every kernel in software: its 30 steps take far longer than the wasm path's
    const timeout = backend === 'webgpu' ? 900_000 : 180_000;
    it(`${backend === 'cpu' ? 'WebAssembly' : 'SwiftShader WebGPU'}: 30 PRILoRA steps on SST-2, charts, pause, and an adapter that Node loads to the same logits`, async () => {
      const t0 = performance.now();
      const r = await runPage({
        params: { ...SETTINGS, backend, threads: 2 }, out: join(out, backend), sentences: SENTENCES, pauseAt: 5, screenshot: true,
        timeoutMs: timeout - 60_000, executablePath: chromium,
      });
      const { ui } = r;
      expect(ui.errors).toEqual([]);
      expect(ui.ready.kind).toBe(backend);
      if (backend === 'webgpu') expect(ui.ready.note).toMatch(/swiftshader/i);
      expect(ui.done).toMatchObject({ steps: 30, stopped: false });

      // PRILoRA's setup: ranks rising linearly over the layers, six adapters per layer
      const layers = ui.ready.model.layers;
      expect(ui.setup.modules).toHaveLength(6 * layers);
      const rankOf = (l: number) => ui.setup.modules.find((m: { layer: number }) => m.layer === l).rank;
      expect(rankOf(0)).toBe(4);
      expect(rankOf(layers - 1)).toBe(12);

      // the loss falls: the last five steps well below the first five
      const losses = ui.steps.map((s: { loss: number }) => s.loss);
      expect(losses).toHaveLength(30);
      expect(mean(losses.slice(-5))).toBeLessThan(0.7 * mean(losses.slice(0, 5)));

      // pruning every 5 steps in the window (end of warm-up … 80 %): half of every row of A zeroed
      const prunes = ui.sparsity.filter((s: { pruned: boolean }) => s.pruned);
      expect(prunes.map((s: { step: number }) => s.step)).toEqual([5, 10, 15, 20]);
      for (const p of prunes) for (const v of p.values) expect(v).toBeCloseTo(0.5, 1);
      expect(ui.evals.map((e: { step: number }) => e.step)).toEqual([0, 15, 30]);

      // pause held the run: no step while paused, and the button offered Resume
      expect(r.pause!.later).toBe(r.pause!.at);
      expect(r.pause!.button).toBe('Resume');

      // memory flat: after the first update (AdamW's moments appear there) the live counts never change
      const after = ui.debug.filter((d: { step: number }) => d.step >= 2);
      expect(new Set(after.map((d: { liveTensors: number }) => d.liveTensors)).size).toBe(1);
      expect(new Set(after.map((d: { liveBuffers: number }) => d.liveBuffers)).size).toBe(1);

      // the wasm path on two threads: the second one a Web Worker (the page is cross-origin isolated)
      if (backend === 'cpu') expect(ui.debug[ui.debug.length - 1].detail).toMatchObject({ 'wasm threads': 2, 'wasm workers ready': 1 });

      // the charts and the heatmap are drawn (painted pixels; the screenshot is docs/finetune-page.png)
      for (const id of ['c-loss', 'c-dev', 'c-heat', 'c-sparsity', 'c-lr', 'c-mem']) expect(r.ink[id], id).toBeGreaterThan(2000);

      // the downloaded adapter, loaded by prilora in Node (CPU backend): the page's logits
      const adapted = openAdapted({ adapter: r.adapterDir, task: 'sst2' });
      expect(adapted.notes).toEqual([]);
      expect(adapted.setup!.adapters).toHaveLength(6 * layers);
      const rows = SENTENCES.map((t) => adapted.tokenizer!.encode(t, undefined, { maxLength: SETTINGS.maxLen }));
      let worst = 0;
      for (const [i, row] of rows.entries()) {
        const [node] = await logitsOf(adapted.run.model, [row], { batch: 1, padId: adapted.tokenizer!.padId });
        const page = r.predictions[i].logits;
        worst = Math.max(worst, relativeError(node, page));
        expect(relativeError(node, page), `${SENTENCES[i]}: node ${node} page ${page}`).toBeLessThanOrEqual(LOGIT_LIMIT);
      }
      // and its A matrices carry the sparsity the page last measured
      const file = readSafetensorsFile(join(r.adapterDir, 'adapter_model.safetensors'));
      const last = ui.sparsity[ui.sparsity.length - 1].values;
      ui.setup.modules.forEach((m: { name: string }, n: number) => {
        const a = file.getFloat32(`base_model.model.${m.name}.lora_A.weight`);
        expect(a.filter((v) => v === 0).length / a.length).toBeCloseTo(last[n], 12);
      });
      console.log(`${backend}: loss ${losses[0].toFixed(4)} → ${losses[29].toFixed(4)} (first/last five ${mean(losses.slice(0, 5)).toFixed(4)} → ${mean(losses.slice(-5)).toFixed(4)}), logits page/Node relative difference ≤ ${worst.toExponential(2)}, longest UI stall during the run ${ui.runStallMs} ms, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }, timeout);
  }

  it('WebAssembly: LoRA on a dropped TSV, stopped mid-run; its adapter too gives the page\'s logits in Node', async () => {
    const lines = gunzipSync(readFileSync(join(root, 'data/glue/SST-2/train.tsv.gz'))).toString('utf8').split('\n');
    // from the end of the file, so these are not the sentences of the bundled run above
    const tsv = [lines[0], ...lines.filter((l) => l.trim()).slice(-24)].join('\n');
    const r = await runPage({
      // 300 steps, so that the run is still going when Stop arrives (a step here takes ~50 ms)
      params: { ...SETTINGS, method: 'lora', rank: 8, prune: 0, backend: 'cpu', trainLimit: 24, steps: 300 }, out: join(out, 'lora'), sentences: SENTENCES,
      stopAt: 5, dropTsv: { name: 'mine.tsv', text: tsv }, executablePath: chromium,
    });
    const { ui } = r;
    expect(ui.errors).toEqual([]);
    expect(ui.ready.data).toMatchObject({ train: 24, source: expect.stringMatching(/^mine\.tsv/) });
    expect(ui.done.stopped).toBe(true);
    // Stop acts after the step in progress when the worker gets it (the page may show fewer steps at the
    // click: step messages still on their way), long before the run's 300 steps
    expect(ui.stopAskedAt).toBeGreaterThanOrEqual(5);
    expect(ui.done.stopReceivedAt).toBeGreaterThanOrEqual(ui.stopAskedAt);
    expect(ui.done.steps - ui.done.stopReceivedAt).toBeGreaterThanOrEqual(0);
    expect(ui.done.steps - ui.done.stopReceivedAt).toBeLessThanOrEqual(1);
    expect(ui.done.steps).toBeLessThan(300);
    console.log(`lora: Stop pressed at step ${ui.stopAskedAt} on the page, received at ${ui.done.stopReceivedAt}, run ended at ${ui.done.steps}`);
    expect(new Set(ui.setup.modules.map((m: { rank: number }) => m.rank))).toEqual(new Set([8]));
    expect(ui.sparsity.filter((s: { pruned: boolean }) => s.pruned)).toEqual([]);
    const adapted = openAdapted({ adapter: r.adapterDir, task: 'sst2' });
    expect(adapted.setup!.method).toBe('lora');
    for (const [i, text] of SENTENCES.entries()) {
      const row = adapted.tokenizer!.encode(text, undefined, { maxLength: SETTINGS.maxLen });
      const [node] = await logitsOf(adapted.run.model, [row], { batch: 1, padId: adapted.tokenizer!.padId });
      expect(relativeError(node, r.predictions[i].logits)).toBeLessThanOrEqual(LOGIT_LIMIT);
    }
  }, 180_000);
});
