/**
 * DeBERTa-v3-base vs BERT-base train steps on the same footing: randomly initialised classifiers with 2
 * labels, timed exactly as `prilora bench train-step` times BERT (forward, cross-entropy, backward, AdamW
 * lr 1e-4 / weight decay 0.01, one value read back; random ids and a random padding pattern keeping at
 * least half of each row; no dropout; median over the timed steps after warm-up). The two models' steps
 * alternate.
 *
 * Run: `npx tsx bench/train-step.bench.ts [lora|full] [batch] [seq] [warmup] [steps]` (default lora 4 128 1 3:
 * batch 32 would take minutes per step on the CPU backend).
 */
import { HostRng } from '../src/core/random.ts';
import * as P from '../src/index.ts';
import type { Json } from '../src/nn/config.ts';
import { paramGroups } from '../src/optim/param-groups.ts';
import { applyMethod } from '../src/prilora/methods.ts';
import type { Method } from '../src/prilora/options.ts';

const [method, batch, seq, warmup, steps] = [
  (process.argv[2] ?? 'lora') as Method, ...[3, 4, 5, 6].map((i, k) => Number(process.argv[i] ?? [4, 128, 1, 3][k])),
];

const base = {
  hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, hidden_act: 'gelu',
  max_position_embeddings: 512, num_labels: 2, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
};
const CONFIGS: Record<string, Json> = {
  'bert-base': { ...base, model_type: 'bert', vocab_size: 30522, type_vocab_size: 2, layer_norm_eps: 1e-12 },
  // microsoft/deberta-v3-base's config.json, dropout off
  'deberta-v3-base': {
    ...base, model_type: 'deberta-v2', vocab_size: 128100, type_vocab_size: 0, layer_norm_eps: 1e-7, relative_attention: true,
    position_buckets: 256, max_relative_positions: -1, pos_att_type: ['p2c', 'c2p'], share_att_key: true,
    norm_rel_ebd: 'layer_norm', position_biased_input: false, pooler_hidden_size: 768, pooler_dropout: 0, pooler_hidden_act: 'gelu',
  },
};


/** A model with its optimiser and batch, and a function that runs one timed step. */
function runner(name: string): { step: () => Promise<number>; dispose: () => void; trainable: number } {
  const cfg = CONFIGS[name];
  const model = P.createSequenceClassifier(cfg, { generator: new P.Generator(0) });
  applyMethod(model, method, {}, { seed: 0 });
  model.train();
  const opt = new P.AdamW(paramGroups(model, 0.01), { lr: 1e-4 });
  const host = new HostRng(1);
  const rnd = () => host.next();
  const ids = new Int32Array(batch * seq), mask = new Int32Array(batch * seq), labels = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const len = Math.max(1, Math.ceil(seq / 2 + rnd() * (seq / 2)));
    for (let t = 0; t < seq; t++) {
      ids[b * seq + t] = Math.floor(rnd() * Number(cfg.vocab_size));
      mask[b * seq + t] = t < len ? 1 : 0;
    }
    labels[b] = rnd() < 0.5 ? 0 : 1;
  }
  const inputs = { inputIds: P.tensor(ids, { shape: [batch, seq] }), attentionMask: P.tensor(mask, { shape: [batch, seq] }), labels: P.tensor(labels) };
  const head = model.get('classifier') as P.Linear;
  return {
    trainable: model.countParameters(true),
    step: async () => {
      const t0 = performance.now();
      P.tidy(() => model.forward(inputs).loss!.backward());
      opt.update();
      opt.zeroGrad();
      await head.weight.data();
      return (performance.now() - t0) / 1000;
    },
    dispose: () => {
      opt.dispose();
      model.dispose();
      Object.values(inputs).forEach((t) => t.dispose());
    },
  };
}

// the two models' steps alternate, so that load from other processes on the machine hits both alike
const names = Object.keys(CONFIGS);
const runners = names.map(runner);
const times: number[][] = names.map(() => []);
for (let i = 0; i < warmup + steps; i++) {
  for (const [k, r] of runners.entries()) {
    const t = await r.step();
    if (i >= warmup) times[k].push(t);
  }
}
runners.forEach((r) => r.dispose());

// shared/anchors/h200_pytorch.jsonl: fp32, batch 32 × 128, DeBERTa-v3-base vs BERT-base seq/s
const PYTORCH_H200: Record<string, [number, number]> = { lora: [439.8, 581.4], full: [381.7, 532.9] };
const seconds: Record<string, number> = {};
for (const [k, name] of names.entries()) {
  seconds[name] = times[k].sort((a, b) => a - b)[Math.floor(times[k].length / 2)];
  console.log(`${name} ${method} (${runners[k].trainable} trainable): ${(seconds[name] * 1000).toFixed(0)} ms/step (steps ${times[k].map((t) => t.toFixed(1)).join(', ')} s), ${(batch / seconds[name]).toFixed(3)} seq/s`);
}
const ratio = seconds['bert-base'] / seconds['deberta-v3-base'];
const peer = PYTORCH_H200[method];
console.log(
  `batch ${batch} × seq ${seq}, float32 on ${P.defaultBackend().name}: DeBERTa-v3-base runs at ${ratio.toFixed(2)}× BERT-base's seq/s` +
    (peer ? ` (PyTorch fp32 on an H200, batch 32 × 128: ${peer[0]} / ${peer[1]} = ${(peer[0] / peer[1]).toFixed(2)}×)` : ''),
);
