/**
 * `prilora bench train-step`: one optimiser step (forward, cross-entropy, backward, AdamW) of a randomly
 * initialised BertForSequenceClassification with 2 labels, on random token ids and a random padding
 * pattern; the median over timed steps after warm-up. Sizes: tiny = 2 layers / 128 hidden / 2 heads / 512
 * FFN, mini = 4/256/4/1024, base = 12/768/12/3072, vocabulary 30522 — the shapes of the PyTorch peer
 * (bench/peers/torch_cpu.py), which has no dropout, hence `--dropout 0` by default.
 */
import { ConfigError } from '../errors.ts';
import { BertForSequenceClassification, parseBertConfig } from '../nn/bert.ts';
import { AdamW } from '../optim/adamw.ts';
import { applyMethod, METHODS, paramGroups, type Method } from '../prilora/methods.ts';
import { tensor } from '../tensor/create.ts';
import { Generator, HostRng } from '../tensor/random.ts';
import { tidy } from '../tensor/scope.ts';
import { choiceFlag, intFlag, parseFlags, type Flags } from './args.ts';
import type { CommandIO } from './main.ts';

export const SIZES = {
  tiny: { layers: 2, hidden: 128, heads: 2, ffn: 512 },
  mini: { layers: 4, hidden: 256, heads: 4, ffn: 1024 },
  base: { layers: 12, hidden: 768, heads: 12, ffn: 3072 },
} as const;
export type Size = keyof typeof SIZES;

export const TRAIN_STEP_FLAGS = {
  size: { type: 'string' },
  method: { type: 'string' },
  batch: { type: 'string' },
  seq: { type: 'string' },
  steps: { type: 'string' },
  warmup: { type: 'string' },
  dropout: { type: 'string' },
  seed: { type: 'string' },
} as const;

export interface TrainStepResult {
  backend: string;
  size: Size;
  method: Method;
  batch: number;
  seq: number;
  trainable: number;
  steps: number;
  /** median step time and the steps' spread */
  step_s: number;
  min_s: number;
  max_s: number;
  seq_per_s: number;
}

export async function trainStepBench(
  argv: string[], io: CommandIO, prepare: (flags: Flags) => Promise<string>,
): Promise<{ result: TrainStepResult; json: boolean }> {
  const options = { ...TRAIN_STEP_FLAGS, backend: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' } } as const;
  const { flags } = parseFlags('bench train-step', argv, options);
  const size = choiceFlag(flags, 'size', Object.keys(SIZES) as Size[], 'tiny');
  const method = choiceFlag(flags, 'method', METHODS, 'lora');
  const batch = intFlag(flags, 'batch', 32, 1);
  const seq = intFlag(flags, 'seq', 128, 2);
  const steps = intFlag(flags, 'steps', 5, 1);
  const warmup = intFlag(flags, 'warmup', 2, 0);
  const seed = intFlag(flags, 'seed', 0, 0);
  const dropout = flags.dropout === undefined ? 0 : Number(flags.dropout);
  if (!(dropout >= 0 && dropout < 1)) throw new ConfigError(`--dropout must be in [0, 1), got "${flags.dropout}"`);
  if (seq > 512) throw new ConfigError(`--seq must be ≤ 512 (max_position_embeddings), got ${seq}`);
  const backend = await prepare(flags);

  const s = SIZES[size];
  const cfg = parseBertConfig({
    model_type: 'bert', vocab_size: 30522, hidden_size: s.hidden, num_hidden_layers: s.layers, num_attention_heads: s.heads,
    intermediate_size: s.ffn, hidden_act: 'gelu', max_position_embeddings: 512, type_vocab_size: 2, num_labels: 2,
    hidden_dropout_prob: dropout, attention_probs_dropout_prob: dropout, layer_norm_eps: 1e-12,
  });
  const gen = new Generator(seed);
  const model = new BertForSequenceClassification(cfg, { generator: gen, backend });
  applyMethod(model, method, { seed });
  model.train();
  const opt = new AdamW(paramGroups(model, 0.01), { lr: 1e-4 });
  const trainable = model.countParameters(true);

  // random ids, labels, and a padding pattern: each sequence keeps a random length of at least half
  const host = new HostRng(seed + 1);
  const rnd = () => host.next();
  const ids = new Int32Array(batch * seq), mask = new Int32Array(batch * seq), labels = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const len = Math.max(1, Math.ceil(seq / 2 + rnd() * (seq / 2)));
    for (let t = 0; t < seq; t++) {
      ids[b * seq + t] = Math.floor(rnd() * cfg.vocabSize);
      mask[b * seq + t] = t < len ? 1 : 0;
    }
    labels[b] = rnd() < 0.5 ? 0 : 1;
  }
  const inputIds = tensor(ids, { shape: [batch, seq], backend });
  const attentionMask = tensor(mask, { shape: [batch, seq], backend });
  const labelT = tensor(labels, { backend });

  const step = async () => {
    tidy(() => model.forward({ inputIds, attentionMask, labels: labelT }).loss!.backward());
    opt.update();
    opt.zeroGrad();
    // a device backend queues work: read one value back so the step is really done
    await model.classifier.weight.data();
  };
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    await step();
    if (i >= warmup) times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  for (const t of [inputIds, attentionMask, labelT]) t.dispose();
  model.dispose();
  for (const mo of opt.momentTensors().values()) {
    mo.m.dispose();
    mo.v.dispose();
  }
  const r: TrainStepResult = {
    backend, size, method, batch, seq, trainable, steps, step_s: median, min_s: times[0], max_s: times[times.length - 1], seq_per_s: batch / median,
  };
  io.log(
    `train-step ${size}/${method} batch ${batch}×${seq} on ${backend}: ${(median * 1000).toFixed(0)} ms/step ` +
      `(min ${(times[0] * 1000).toFixed(0)}, max ${(times[times.length - 1] * 1000).toFixed(0)}), ${r.seq_per_s.toFixed(1)} seq/s, ` +
      `${trainable} trainable`,
  );
  return { result: r, json: flags.json === true };
}

