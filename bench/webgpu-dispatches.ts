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
 * With `replay` (and a checkout that has it), the step's forward, backward and clipping are replayed from a
 * recording (src/train/replayed-step.ts; AdamW runs live), so the steady steps timed are replayed ones; the
 * replays' counts and the last refusal are printed with the times.
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
const inputs = [inputIds, attentionMask, labels];
const region = () => {
  const l = P.withTokenMask(attentionMask, () => model.forward({ inputIds, attentionMask, labels }).loss!);
  l.backward();
  return [l, P.clipGradNorm(opt.params, 1.0)];
};
// the recorded-step replay (replay.ts) where the checkout has it and `replay` is asked for
const replayer = process.argv[4] === 'replay' && P.StepReplayer ? new P.StepReplayer() : null;
const step = () => {
  const [loss, norm] = P.tidy(() => (replayer ? replayer.run(opt.params, inputs, region) : region()));
  norm.dispose();
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
const replays = replayer ? { replays: (backend as { replays: { stats: unknown } }).replays.stats } : {};
console.log(JSON.stringify({ root, method, replay: replayer !== null, dispatches, warmup, ...summary(hostUs, 'host_us'), loss, ...replays }));
process.exit(0);
