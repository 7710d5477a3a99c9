/**
 * The training worker: every tensor, kernel and GPU buffer lives here, so the page's thread only draws.
 * It picks the backend (WebGPU through the worker's navigator.gpu, else the CPU backend's WebAssembly
 * kernels), loads the bundled model and SST-2 once, and runs one Run at a time step by step. Between steps
 * it yields to the message queue, so pause / resume / stop take effect after the current step, and a
 * prediction or an export asked for mid-run waits for that step instead of running inside it (the engine's
 * scopes and train/eval mode are per process, not per caller).
 */
import type { Backend } from '../../../src/backends/backend.ts';
import { cpuBackend, cpuInfo, setCpuThreads } from '../../../src/backends/cpu/index.ts';
import { setDefaultBackend } from '../../../src/backends/default.ts';
import { createWebGPUBackend, type WebGPUBackend } from '../../../src/backends/webgpu/index.ts';
import type { GlueExample } from '../../../src/data/glue.ts';
import { liveTensors } from '../../../src/tensor/scope.ts';
import { loadModelFiles, loadSst2, parseDroppedTsv, type ModelFiles } from './assets.ts';
import type { BackendChoice, DebugInfo, FromWorker, RunSettings, ToWorker } from './protocol.ts';
import { Run, encodeSplits, runOptions } from './run.ts';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

let backend: Backend | null = null;
let kind: 'webgpu' | 'cpu' = 'cpu';
let backendNote = '';
let files: ModelFiles | null = null;
let data: { train: GlueExample[]; dev: GlueExample[]; source: string } | null = null;
let run: Run | null = null;
let paused = false;
let stopAsked = false;
let stopReceivedAt: number | null = null;
let wake: (() => void) | null = null;

/** Runs engine work one piece at a time (a step, a prediction, an export), in the order asked. */
let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const next = queue.then(fn);
  queue = next.catch(() => {});
  return next;
}

/** A macrotask boundary: lets the worker handle the messages that arrived during a step. */
const yieldToMessages = () => new Promise<void>((ok) => setTimeout(ok, 0));

/** The CPU path's threads: as asked, else every core but one, so the page's own thread keeps a core. */
function cpuThreads(asked: number): void {
  const cores = navigator.hardwareConcurrency || 1;
  setCpuThreads(asked > 0 ? asked : Math.max(1, cores - 1));
}

async function pickBackend(choice: BackendChoice, threads: number): Promise<{ backend: Backend; kind: 'webgpu' | 'cpu'; note: string }> {
  const hasGpu = 'gpu' in navigator && (navigator as { gpu?: unknown }).gpu;
  if (choice !== 'cpu' && hasGpu) {
    try {
      const gpu = await createWebGPUBackend();
      return { backend: gpu, kind: 'webgpu', note: `WebGPU: ${gpu.describe()}` };
    } catch (e) {
      if (choice === 'webgpu') throw e;
      cpuThreads(threads);
      return { backend: cpuBackend(), kind: 'cpu', note: `WebGPU failed (${(e as Error).message}); WebAssembly CPU path` };
    }
  }
  if (choice === 'webgpu') throw new Error('this browser exposes no navigator.gpu to workers: choose the CPU (WebAssembly) backend');
  const c = cpuBackend();
  cpuThreads(threads);
  const info = cpuInfo();
  const why = choice === 'cpu' ? 'chosen' : 'no WebGPU here';
  return { backend: c, kind: 'cpu', note: `CPU (${why}): ${info.enabled ? 'WebAssembly SIMD' : `plain JS (${info.reason})`}, ${info.threads} thread${info.threads > 1 ? 's' : ''}${info.reason && info.enabled ? ` (${info.reason})` : ''}` };
}

function debugInfo(step: number): DebugInfo {
  const detail: Record<string, number | string> = {};
  if (kind === 'webgpu') {
    const s = (backend as WebGPUBackend).poolStats();
    Object.assign(detail, { 'GPU buffers created': s.created, 'GPU buffers reused': s.reused, 'GPU buffers pooled': s.pooled, 'GPU pooled bytes': s.pooledBytes });
  } else {
    const c = cpuInfo();
    Object.assign(detail, { 'wasm heap bytes': c.heapBytes, 'wasm heap in use': c.heapInUse, 'wasm threads': c.threads, 'wasm workers ready': c.workersReady, 'relaxed SIMD': String(c.relaxedSimd) });
  }
  return { step, liveTensors: liveTensors(), liveBuffers: backend!.liveBuffers(), detail };
}

async function init(choice: BackendChoice, threads: number): Promise<void> {
  post({ type: 'state', state: 'loading', note: 'starting the backend' });
  const picked = await pickBackend(choice, threads);
  backend = picked.backend;
  kind = picked.kind;
  backendNote = picked.note;
  setDefaultBackend(backend);
  post({ type: 'state', state: 'loading', note: 'fetching the model and SST-2' });
  const [f, sst2] = await Promise.all([loadModelFiles(new URL('./model/', self.location.href)), loadSst2(new URL('./data/SST-2/', self.location.href))]);
  files = f;
  data = { ...sst2, source: 'SST-2 (bundled)' };
  post({ type: 'ready', backend: backend.name, kind, note: picked.note, model: readyModel(), data: { source: data.source, train: data.train.length, dev: data.dev.length } });
  post({ type: 'debug', info: debugInfo(0) });
  post({ type: 'state', state: 'ready' });
}

let training = false;

async function train(settings: RunSettings): Promise<void> {
  if (!files || !data) throw new Error('not loaded yet');
  if (training) throw new Error('a run is in progress: stop it first');
  training = true;
  try {
    await trainRun(settings, files, data);
  } finally {
    training = false;
  }
}

async function trainRun(settings: RunSettings, files: ModelFiles, data: { train: GlueExample[]; dev: GlueExample[] }): Promise<void> {
  paused = false;
  stopAsked = false;
  stopReceivedAt = null;
  const t0 = performance.now();
  await exclusive(async () => {
    run?.dispose();
    run = null;
  });
  const rows = encodeSplits(files, data.train, data.dev, settings);
  const perEpoch = Math.ceil(rows.train.length / settings.batch);
  const r = new Run(files, rows.train, rows.dev, runOptions(settings, perEpoch), backend!);
  run = r;
  post({ type: 'setup', method: settings.method, trainable: r.trainable, totalSteps: r.total, warmup: r.warmup, modules: r.cells, summary: r.summary });
  post({ type: 'state', state: 'training' });
  let metrics: Record<string, number> = {};
  let lastEval = -1;
  const evalNow = async () => {
    metrics = await exclusive(() => r.evaluate());
    lastEval = r.step;
    post({ type: 'eval', step: r.step, metrics });
  };
  const sparsityNow = async (pruned: boolean) => post({ type: 'sparsity', step: r.step, values: await exclusive(() => r.sparsities()), pruned });
  await evalNow();
  await sparsityNow(false);
  let trainSeconds = 0;
  let recent = 0; // an average of recent step times, for the ETA
  while (!r.finished && !stopAsked) {
    if (paused) {
      post({ type: 'state', state: 'paused' });
      await new Promise<void>((ok) => (wake = ok));
      if (stopAsked) break;
      post({ type: 'state', state: 'training' });
    }
    const s = await exclusive(() => r.next());
    trainSeconds += s.seconds;
    recent = recent === 0 ? s.seconds : 0.8 * recent + 0.2 * s.seconds;
    post({ type: 'step', step: s.step, epoch: s.epoch, loss: s.loss, lr: s.lr, gradNorm: s.gradNorm, seqPerS: s.size / s.seconds, seconds: s.seconds, elapsed: trainSeconds, eta: recent * (r.total - s.step) });
    if (s.pruned) post({ type: 'sparsity', step: s.step, values: s.pruned.modules.map((m) => m.sparsity), before: s.pruned.modules.map((m) => m.sparsityBefore), pruned: true });
    if (settings.evalEvery > 0 && s.step % settings.evalEvery === 0) await evalNow();
    post({ type: 'debug', info: debugInfo(s.step) });
    await yieldToMessages();
  }
  if (lastEval !== r.step) await evalNow();
  if (r.setup.adapters.length) await sparsityNow(false);
  post({ type: 'debug', info: debugInfo(r.step) });
  post({ type: 'done', steps: r.step, seconds: (performance.now() - t0) / 1000, metrics, stopped: stopAsked, stopReceivedAt });
  post({ type: 'state', state: 'done' });
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'init':
      return init(m.backend, m.threads);
    case 'dataset': {
      if (!data) throw new Error('not loaded yet');
      const rows = parseDroppedTsv(m.name, m.text);
      data = { ...data, train: rows, source: `${m.name} (dropped; dev: bundled SST-2)` };
      post({ type: 'ready', backend: backend!.name, kind, note: backendNote, model: readyModel(), data: { source: data.source, train: rows.length, dev: data.dev.length } });
      return;
    }
    case 'train':
      return train(m.settings);
    case 'pause':
      paused = true;
      return;
    case 'resume':
    case 'stop':
      if (m.type === 'stop' && !stopAsked) {
        stopAsked = true;
        stopReceivedAt = run?.step ?? null;
      }
      paused = false;
      wake?.();
      wake = null;
      return;
    case 'predict': {
      const r = run;
      if (!r || !files) throw new Error('train first: predictions use the run\'s model');
      const tok = files.tokenizer;
      const results = await exclusive(() => r.predict(m.texts, (t) => tok.encode(t, undefined, { maxLength: r.o.maxLen })));
      post({ type: 'prediction', id: m.id, results });
      return;
    }
    case 'export': {
      const r = run;
      if (!r) throw new Error('train first: there is no adapter yet');
      const { config, weights } = await exclusive(() => r.exportAdapter());
      post({ type: 'adapter', config, weights }, [weights.buffer as ArrayBuffer]);
      return;
    }
  }
}

/** What the page shows of the model: read from its config.json and weights, whatever their size. */
function readyModel() {
  const c = files!.config;
  let parameters = 0;
  for (const [, info] of files!.weights.tensors) parameters += info.shape.reduce((a, b) => a * b, 1);
  return { layers: Number(c.num_hidden_layers), hidden: Number(c.hidden_size), vocab: Number(c.vocab_size), parameters };
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  handle(e.data).catch((err: Error) => {
    post({ type: 'error', message: err?.message ?? String(err) });
    if (e.data.type === 'train' || e.data.type === 'init') post({ type: 'state', state: 'failed', note: err?.message });
  });
};
