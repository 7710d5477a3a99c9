/**
 * Dispatches and host µs per dispatch of one training step on WebGPU, for any checkout of this project
 * (so that a change can be measured against the commit before it): a 12-layer BERT (hidden 32, 2 heads,
 * FFN 64, batch 4 × 8; counts do not depend on these sizes) with clipping and AdamW, as bench/README.md
 * reports it. Host time is the step's synchronous part less the time inside queue.submit (where Mesa's
 * llvmpipe runs the kernels), per dispatch: the median, mean and best of 25 steps once the step is steady,
 * i.e. after the first two steps in a row in which the bind group cache created nothing (while the buffer
 * pool settles), and after 20 steps at least (V8's optimised code: a step that settles after 5 would
 * otherwise be timed ~10 % slower than one that settles after 23); at most 60.
 *
 * With `replay`, two more steady steps' commands are recorded as the command queue receives them and
 * compared (commands that bind other pipelines, bind groups or grids; commands whose parameters or
 * uploaded data alone differ, by kernel), then the second step's are re-issued 25 times through the same
 * queue (parameters staged, pipelines and groups bound, dispatched), with none of the engine's JavaScript
 * above it: the host cost a recorded-step replay would have. A
 * timing only: the replayed commands read and write the buffers the recorded step used, which by then
 * belong to other tensors, so the model is garbage afterwards (the script ends there).
 *
 *   npx tsx bench/webgpu-dispatches.ts [ROOT=.] [lora|prilora|full] [replay]
 *   git worktree add /tmp/before HEAD~1 && ln -s $PWD/node_modules /tmp/before/ && npx tsx bench/webgpu-dispatches.ts /tmp/before lora
 */
import { resolve } from 'node:path';
import { timeSubmits } from './submit-timer.ts';

const root = resolve(process.argv[2] ?? '.');
const method = process.argv[3] ?? 'lora';
const P = await import(`${root}/src/index.ts`);
const { openBackend } = await import(`${root}/src/cli/devices.ts`);
const { parseBertConfig } = await import(`${root}/src/nn/bert.ts`);
const backend = await openBackend('webgpu');
P.setDefaultBackend(backend);
const submits = timeSubmits(backend);
const cfg = parseBertConfig({
  model_type: 'bert', vocab_size: 100, hidden_size: 32, num_hidden_layers: 12, num_attention_heads: 2, intermediate_size: 64,
  max_position_embeddings: 64, num_labels: 2, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
});
const on = { backend };
const model = new P.BertForSequenceClassification(cfg, { ...on, generator: new P.Generator(1) });
P.applyMethod(model, method, {}, { seed: 0 });
model.train();
const opt = new P.AdamW(P.paramGroups(model, 0.01), { lr: 1e-3 });
const [batch, seq] = [4, 8];
const inputIds = P.tensor(Int32Array.from({ length: batch * seq }, (_, i) => (i * 7) % 100), { shape: [batch, seq], ...on });
const attentionMask = P.tensor(Int32Array.from({ length: batch * seq }, (_, i) => (i % seq < seq - 3 ? 1 : 0)), { shape: [batch, seq], ...on });
const labels = P.tensor(Int32Array.from({ length: batch }, (_, i) => i % 2), on);
const step = () => {
  const loss = P.tidy(() => {
    const l = P.withTokenMask(attentionMask, () => model.forward({ inputIds, attentionMask, labels }).loss!);
    l.backward();
    return l;
  });
  P.clipGradNorm(opt.params, 1.0).dispose();
  opt.update();
  opt.zeroGrad();
  return loss;
};
const misses = () => (backend as { bindGroupStats: { misses: number } }).bindGroupStats.misses;
const hostUs: number[] = [];
let dispatches = 0, loss = 0, warmup = 0, quiet = 0;
while (hostUs.length < 25) {
  const d0 = (backend as { dispatchCount: number }).dispatchCount;
  const m0 = misses();
  submits.reset();
  const t0 = performance.now();
  const l = step();
  const recordMs = performance.now() - t0;
  dispatches = (backend as { dispatchCount: number }).dispatchCount - d0;
  if ((quiet >= 2 && warmup >= 20) || warmup >= 60) hostUs.push(((recordMs - submits.ms()) * 1000) / dispatches);
  else warmup++;
  quiet = misses() === m0 ? quiet + 1 : 0;
  loss = (await l.data())[0];
  l.dispose();
}
const us = (x: number) => +x.toFixed(1);
const summary = (xs: number[], name: string) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { [`${name}_median`]: us(sorted[xs.length >> 1]), [`${name}_mean`]: us(mean), [`${name}_best`]: us(sorted[0]) };
};
const replay = process.argv[4] === 'replay' ? await replayed() : {};
console.log(JSON.stringify({ root, method, dispatches, warmup, ...summary(hostUs, 'host_us'), loss, ...replay }));

/**
 * Record two consecutive steps' commands at the queue and compare them (what a replay may take as fixed),
 * then time re-issuing the second (see the header).
 */
async function replayed(): Promise<Record<string, unknown>> {
  type Queue = Record<'stageParams' | 'dispatch' | 'upload' | 'clear' | 'copy', (...a: any[]) => any>;
  const ctx = (backend as unknown as { ctx: { queue: Queue; launch: (kernel: { label: string }, ...a: unknown[]) => void } }).ctx;
  const queue = ctx.queue;
  const original = Object.fromEntries((['stageParams', 'dispatch', 'upload', 'clear', 'copy'] as const).map((k) => [k, queue[k].bind(queue)])) as Queue;
  const launch = ctx.launch.bind(ctx);
  /** a command: what must be the same object in two steps (`fixed`), its data (`data`), and how to issue it again */
  type Command = { label: string; fixed: unknown[]; data: number[]; run: () => void };
  let recorded: Command[] = [];
  let staged: [number[], number] = [[], 16];
  let label = '';
  ctx.launch = (kernel, ...a) => ((label = kernel.label), launch(kernel, ...a));
  queue.stageParams = (words: number[], bytes: number) => ((staged = [[...words], bytes]), original.stageParams(words, bytes));
  queue.dispatch = (pipeline, groups: GPUBindGroup[], offset: number, grid: number[]) => {
    const [words, bytes, g, xyz] = [staged[0], staged[1], [...groups], [...grid]];
    recorded.push({ label, fixed: [pipeline, ...g, ...xyz], data: words, run: () => original.dispatch(pipeline, g, original.stageParams(words, bytes), xyz) });
    original.dispatch(pipeline, groups, offset, grid);
  };
  queue.upload = (data: ArrayBufferView, dst: GPUBuffer, at: number) => {
    const copy = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    recorded.push({ label: 'upload', fixed: [dst, at, copy.length], data: [...copy], run: () => original.upload(copy, dst, at) });
    original.upload(data, dst, at);
  };
  for (const k of ['clear', 'copy'] as const) {
    queue[k] = (...a: unknown[]) => (recorded.push({ label: k, fixed: a, data: [], run: () => original[k](...a) }), original[k](...a));
  }
  const record = async () => {
    recorded = [];
    const l = step();
    await l.data();
    l.dispose();
    return recorded;
  };
  const [first, second] = [await record(), await record()];
  Object.assign(queue, original);
  ctx.launch = launch;
  // what differs between the two: commands that bind other objects, and commands whose data alone differs
  const same = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  const bound: string[] = [];
  const data = new Map<string, number>();
  if (first.length !== second.length) bound.push(`${first.length} vs ${second.length} commands`);
  else {
    first.forEach((c, i) => {
      const d = second[i];
      if (c.label !== d.label || !same(c.fixed, d.fixed)) bound.push(`${i}: ${c.label}`);
      else if (!same(c.data, d.data)) data.set(c.label, (data.get(c.label) ?? 0) + 1);
    });
  }
  const replayUs: number[] = [];
  for (let i = 0; i < 25; i++) {
    const d0 = (backend as { dispatchCount: number }).dispatchCount;
    submits.reset();
    const t0 = performance.now();
    for (const command of second) command.run();
    const ms = performance.now() - t0;
    const n = (backend as { dispatchCount: number }).dispatchCount - d0;
    replayUs.push(((ms - submits.ms()) * 1000) / n);
    await backend.idle!();
  }
  return {
    replay_commands: second.length, ...summary(replayUs, 'replay_host_us'),
    steps_bind_differently: bound.slice(0, 8), steps_bind_differently_count: bound.length, steps_data_differs: Object.fromEntries(data),
  };
}
process.exit(0);
