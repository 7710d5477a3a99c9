/**
 * The page's thread: controls, charts and downloads only. All engine work happens in the worker
 * (worker.ts); this side keeps the messages it gets and redraws a few times a second in an animation
 * frame, so a run of any length never blocks scrolling, typing or the buttons.
 *
 * Every control can be preset from the URL (?method=lora&steps=30&backend=cpu…, names as in the form);
 * `autostart=1` trains as soon as the model is loaded. Everything received is kept in `window.__finetune`
 * (what the end-to-end test reads).
 */
import { drawHeatmap, drawLines, type Series } from './charts.ts';
import type { BackendChoice, DebugInfo, FromWorker, Method, ModuleCell, Prediction, RunSettings, RunState, ToWorker } from './protocol.ts';

interface StepPoint { step: number; loss: number; lr: number; seqPerS: number; elapsed: number; eta: number }

const ui = {
  state: 'loading' as RunState,
  ready: null as Extract<FromWorker, { type: 'ready' }> | null,
  setup: null as Extract<FromWorker, { type: 'setup' }> | null,
  steps: [] as StepPoint[],
  evals: [] as { step: number; metrics: Record<string, number> }[],
  sparsity: [] as { step: number; values: number[]; pruned: boolean; before?: number[] }[],
  debug: [] as DebugInfo[],
  done: null as Extract<FromWorker, { type: 'done' }> | null,
  predictions: [] as Prediction[][],
  adapter: null as { config: string; weights: Uint8Array } | null,
  errors: [] as string[],
  /** the longest gap between two ticks of a 50 ms timer on this thread: what a person would feel as a freeze */
  longestStallMs: 0,
  /** the last step shown when Stop was pressed */
  stopAskedAt: null as number | null,
  /** the same from the run's setup to its end (the longest above also covers loading, downloads, screenshots) */
  runStallMs: 0,
};
(globalThis as { __finetune?: typeof ui }).__finetune = ui;

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;
const form = $<HTMLFormElement>('#controls');
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;
const params = new URLSearchParams(location.search);
for (const [k, v] of params) {
  const f = field(k);
  if (f instanceof HTMLInputElement && f.type === 'checkbox') f.checked = v === '1' || v === 'true';
  else if (f) f.value = v;
}

function settings(): RunSettings {
  const num = (n: string) => Number(field(n).value);
  return {
    method: field('method').value as Method, rank: num('rank'), rankStart: num('rankStart'), rankEnd: num('rankEnd'),
    prune: (field('prune') as HTMLInputElement).checked, pruneRatio: num('pruneRatio'), pruneEvery: num('pruneEvery'),
    lr: num('lr'), batch: num('batch'), maxLen: num('maxLen'), steps: num('steps'), trainLimit: num('trainLimit'),
    evalLimit: num('evalLimit'), evalEvery: num('evalEvery'), seed: num('seed'),
  };
}

function log(line: string, error = false): void {
  const el = document.createElement('div');
  el.textContent = line;
  if (error) el.className = 'error';
  $('#log').append(el);
  $('#log').scrollTop = 1e9;
  console.log(line);
}

let worker: Worker;
const send = (m: ToWorker) => worker.postMessage(m);

function startWorker(): void {
  worker?.terminate();
  ui.state = 'loading';
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<FromWorker>) => receive(e.data);
  worker.onerror = (e) => receive({ type: 'error', message: `worker: ${e.message}` });
  send({ type: 'init', backend: field('backend').value as BackendChoice, threads: Number(field('threads').value) || 0 });
  buttons();
}

function receive(m: FromWorker): void {
  switch (m.type) {
    case 'state':
      ui.state = m.state;
      if (m.note) log(`${m.state}: ${m.note}`, m.state === 'failed');
      if (m.state === 'ready' && params.get('autostart') === '1' && !ui.setup) train();
      break;
    case 'ready': {
      ui.ready = m;
      const p = (m.model.parameters / 1e6).toFixed(2);
      $('#status').textContent = `${m.note} · model: ${m.model.layers} layers × ${m.model.hidden} hidden, vocabulary ${m.model.vocab}, ${p} M parameters · data: ${m.data.source}, ${m.data.train} train / ${m.data.dev} dev`;
      log(`ready on ${m.backend}: ${m.note}`);
      break;
    }
    case 'setup':
      ui.setup = m;
      ui.longestStallMs = 0;
      Object.assign(ui, { steps: [], evals: [], sparsity: [], debug: [], done: null, adapter: null, stopAskedAt: null });
      log(`${m.summary.split('\n')[0]}; ${m.trainable.toLocaleString()} trainable parameters, ${m.totalSteps} steps (warm-up ${m.warmup})`);
      break;
    case 'step':
      ui.steps.push(m);
      // ?pauseAt=N presses Pause as step N arrives (tests: a short run would be over before a remote click)
      if (m.step === Number(params.get('pauseAt')) && ui.state === 'training') $<HTMLButtonElement>('#pause').click();
      break;
    case 'eval':
      ui.evals.push({ step: m.step, metrics: m.metrics });
      log(`eval at step ${m.step}: ${Object.entries(m.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
      break;
    case 'sparsity':
      ui.sparsity.push(m);
      break;
    case 'debug':
      ui.debug.push(m.info);
      break;
    case 'done':
      ui.done = m;
      ui.runStallMs = ui.longestStallMs;
      log(`${m.stopped ? 'stopped' : 'done'} after ${m.steps} steps in ${m.seconds.toFixed(1)} s: ${Object.entries(m.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
      break;
    case 'prediction':
      ui.predictions[m.id] = m.results;
      showPrediction(m.results);
      break;
    case 'adapter':
      ui.adapter = m;
      offerAdapter(m.config, m.weights);
      break;
    case 'error':
      ui.errors.push(m.message);
      log(`error: ${m.message}`, true);
      break;
  }
  buttons();
  schedule();
}

function buttons(): void {
  const busy = ui.state === 'training' || ui.state === 'paused';
  $<HTMLButtonElement>('#train').disabled = busy || ui.state === 'loading' || !ui.ready;
  $<HTMLButtonElement>('#pause').disabled = !busy;
  $<HTMLButtonElement>('#pause').textContent = ui.state === 'paused' ? 'Resume' : 'Pause';
  $<HTMLButtonElement>('#stop').disabled = !busy;
  const haveRun = Boolean(ui.setup) && (busy || ui.state === 'done');
  $<HTMLButtonElement>('#predict').disabled = !haveRun;
  $<HTMLButtonElement>('#download').disabled = !haveRun || ui.setup?.method === 'full';
}

function train(): void {
  ui.setup = null;
  send({ type: 'train', settings: settings() });
}

let predictions = 0;
function showPrediction(results: readonly Prediction[]): void {
  $('#prediction').textContent = results
    .map((r) => `${r.label.padEnd(8)} p(positive) = ${r.probabilities[1].toFixed(3)}   logits [${r.logits.map((v) => v.toFixed(4)).join(', ')}]   “${r.text}”`)
    .join('\n');
}

/** The two PEFT files as links (and downloads): a folder holding both is what prilora and PEFT load. */
function offerAdapter(config: string, weights: Uint8Array): void {
  const box = $('#files');
  box.replaceChildren();
  for (const [name, blob] of [
    ['adapter_config.json', new Blob([config], { type: 'application/json' })],
    ['adapter_model.safetensors', new Blob([weights as BlobPart], { type: 'application/octet-stream' })],
  ] as const) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.textContent = `${name} (${blob.size.toLocaleString()} bytes)`;
    box.append(a, document.createElement('br'));
    a.click();
  }
}

$('#train').onclick = train;
$('#pause').onclick = () => send({ type: ui.state === 'paused' ? 'resume' : 'pause' });
$('#stop').onclick = () => {
  ui.stopAskedAt = ui.steps.length;
  send({ type: 'stop' });
};
$('#download').onclick = () => send({ type: 'export' });
$('#predict').onclick = () => send({ type: 'predict', id: predictions++, texts: [$<HTMLInputElement>('#sentence').value] });
$('#sentence').onkeydown = (e) => {
  if (e.key === 'Enter' && !$<HTMLButtonElement>('#predict').disabled) $<HTMLButtonElement>('#predict').click();
};
// the trainer's default rates: full fine-tuning moves every weight and wants a smaller one
const DEFAULT_LR: Record<Method, string> = { full: '0.0001', lora: '0.0008', prilora: '0.0008' };
let lastMethod = field('method').value as Method;
field('method').onchange = () => {
  const method = field('method').value as Method;
  if (field('lr').value === DEFAULT_LR[lastMethod]) field('lr').value = DEFAULT_LR[method];
  lastMethod = method;
};
field('backend').onchange = startWorker;
field('threads').onchange = startWorker;

const drop = $('#drop');
drop.ondragover = (e) => {
  e.preventDefault();
  drop.classList.add('over');
};
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = async (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) send({ type: 'dataset', name: file.name, text: await file.text() });
};

// ---- drawing: at most once per frame and a few times a second, whatever the message rate

let pending = false;
let lastDraw = 0;
/** Six charts cost tens of ms on a software canvas: redraw a few times a second, not per message. */
const DRAW_EVERY_MS = 250;
function schedule(): void {
  if (pending) return;
  pending = true;
  setTimeout(() => requestAnimationFrame(() => {
    pending = false;
    lastDraw = performance.now();
    draw();
  }), Math.max(0, lastDraw + DRAW_EVERY_MS - performance.now()));
}

const clock = (s: number) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}` : '–');

/** An exponential moving average, so the loss trend shows through batch-to-batch noise. */
function smooth(points: readonly (readonly [number, number])[], beta = 0.8): [number, number][] {
  let m = 0;
  return points.map(([x, y], i) => [x, (m = i ? beta * m + (1 - beta) * y : y)]);
}

function draw(): void {
  const total = ui.setup?.totalSteps ?? 1;
  const last = ui.steps[ui.steps.length - 1];
  const loss = ui.steps.map((s) => [s.step, s.loss] as const);
  const smoothed = smooth(loss);
  const dev = ui.evals.map((e) => [e.step, Object.values(e.metrics)[0]] as const);
  $('#s-step').textContent = last ? `${last.step} / ${total}` : '–';
  $('#s-loss').textContent = last ? smoothed[smoothed.length - 1][1].toFixed(4) : '–';
  $('#s-dev').textContent = dev.length ? dev[dev.length - 1][1].toFixed(3) : '–';
  $('#s-lr').textContent = last ? last.lr.toExponential(2) : '–';
  $('#s-speed').textContent = last ? `${last.seqPerS.toFixed(1)} seq/s` : '–';
  $('#s-elapsed').textContent = last ? clock(last.elapsed) : '–';
  $('#s-eta').textContent = last ? (ui.state === 'paused' ? 'paused' : clock(last.eta)) : '–';
  drawLines($('#c-loss'), [{ name: 'loss', color: '#9db4e0', points: loss }, { name: 'smoothed', color: '#1f3d7a', points: smoothed }], { title: 'training loss', xMax: total });
  drawLines($('#c-dev'), [{ name: 'dev accuracy', color: '#2e7d32', points: dev, dots: true }], { title: 'dev metric', xMax: total });
  drawLines($('#c-lr'), [{ name: 'lr', color: '#8e24aa', points: ui.steps.map((s) => [s.step, s.lr]) }], { title: 'learning rate', xMax: total, yMin: 0, format: (y) => y.toExponential(1) });
  const mem = ui.debug.filter((d) => d.step > 0);
  drawLines($('#c-mem'), [
    { name: 'live tensors', color: '#e65100', points: mem.map((d) => [d.step, d.liveTensors]) },
    { name: 'live buffers', color: '#00838f', points: mem.map((d) => [d.step, d.liveBuffers]) },
  ], { title: 'memory', xMax: total, yMin: 0 });
  const cells: ModuleCell[] = ui.setup?.modules ?? [];
  const latest = ui.sparsity[ui.sparsity.length - 1];
  const lastPrune = [...ui.sparsity].reverse().find((s) => s.pruned);
  drawHeatmap($('#c-heat'), cells, (lastPrune ?? latest)?.values ?? [], `ranks and A-sparsity by layer × module${lastPrune ? ` (after the pruning at step ${lastPrune.step})` : ''}`);
  drawLines($('#c-sparsity'), sparsityByLayer(cells), { title: 'A-sparsity over time', xMax: total, yMin: 0, yMax: 1, format: (y) => `${Math.round(100 * y)}%` });
  const d = ui.debug[ui.debug.length - 1];
  if (d) {
    const rows = [['step', d.step], ['live tensors', d.liveTensors], ['live backend buffers', d.liveBuffers], ...Object.entries(d.detail)];
    $('#debug-table').replaceChildren(...rows.map(([k, v]) => {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td>${k}</td><td>${typeof v === 'number' ? v.toLocaleString() : v}</td>`;
      return tr;
    }));
  }
}

const LAYER_COLORS = ['#1565c0', '#2e7d32', '#ef6c00', '#6a1b9a', '#c62828', '#00838f', '#5d4037', '#455a64'];

/** Mean A-sparsity of each layer's adapters at every measurement. */
function sparsityByLayer(cells: readonly ModuleCell[]): Series[] {
  const layers = [...new Set(cells.map((c) => c.layer))].sort((a, b) => a - b);
  return layers.map((l, i) => ({
    name: `layer ${l}`,
    color: LAYER_COLORS[i % LAYER_COLORS.length],
    dots: true,
    points: ui.sparsity.flatMap((s) => {
      const mean = (values: readonly number[]) => {
        const vs = cells.map((c, n) => (c.layer === l ? values[n] : NaN)).filter((v) => !Number.isNaN(v));
        return vs.reduce((a, b) => a + b, 0) / vs.length;
      };
      // before and after each pruning: the saw-tooth of temporary pruning (entries regrow in between)
      return s.before ? [[s.step, mean(s.before)] as const, [s.step, mean(s.values)] as const] : [[s.step, mean(s.values)] as const];
    }),
  }));
}

let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  ui.longestStallMs = Math.max(ui.longestStallMs, Math.round(now - lastTick - 50));
  lastTick = now;
}, 50);

startWorker();
addEventListener('resize', schedule);
