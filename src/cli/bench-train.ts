/**
 * `prilora bench train-step`: one optimiser step (forward, cross-entropy, backward, AdamW) of a randomly
 * initialised BertForSequenceClassification with 2 labels, on random token ids and a random padding
 * pattern; the median over timed steps after a warm-up that lasts until steps agree (bench-timing.ts). Sizes:
 * tiny = 2 layers / 128 hidden / 2 heads / 512 FFN, mini = 4/256/4/1024, base = 12/768/12/3072, vocabulary
 * 30522 — the shapes of the PyTorch peer (bench/peers/torch_cpu.py), which has no dropout, hence
 * `--dropout 0` by default — and deep = 12/64/2/256, base's depth (so its dispatches) at widths any device
 * runs quickly. Where the backend counts dispatches, the result has them per step and the host time spent
 * recording each (the step's synchronous part, less the time inside submits, where a software device runs
 * the kernels).
 */
import type { Backend } from '../backends/backend.ts';
import { Generator, HostRng } from '../core/random.ts';
import { bool, choice, int, num, resolve, type Given } from '../core/spine.ts';
import { BertForSequenceClassification, parseBertConfig } from '../nn/bert.ts';
import { AdamW, clipGradNorm } from '../optim/adamw.ts';
import { paramGroups } from '../optim/param-groups.ts';
import { applyMethod } from '../prilora/methods.ts';
import { METHODS } from '../prilora/options.ts';
import { tensor } from '../tensor/create.ts';
import { tidy } from '../tensor/scope.ts';
import { StepReplayer } from '../train/replayed-step.ts';
import { steadyMedian } from './bench-timing.ts';

export const SIZES = {
  tiny: { layers: 2, hidden: 128, heads: 2, ffn: 512 },
  mini: { layers: 4, hidden: 256, heads: 4, ffn: 1024 },
  base: { layers: 12, hidden: 768, heads: 12, ffn: 3072 },
  deep: { layers: 12, hidden: 64, heads: 2, ffn: 256 },
} as const;
export type Size = keyof typeof SIZES;

export const TRAIN_STEP_SPINE = {
  size: choice(Object.keys(SIZES) as Size[], { help: 'model shape (tiny 2/128, mini 4/256, base 12/768, deep 12/64)', default: 'tiny' }),
  method: choice(METHODS, { help: 'what trains (LoRA: r 8, alpha 16 on the six linear maps of every layer)', default: 'lora' }),
  batch: int({ help: 'sequences per step', default: 32, min: 1 }),
  seq: int({ help: 'tokens per sequence', default: 128, min: 2, max: 512 }),
  steps: int({ help: 'timed steps', default: 5, min: 1 }),
  warmup: int({ help: 'untimed steps first, at least (0: none)', default: 2, min: 0 }),
  steady: num({ help: 'warm-up goes on (to 20 steps) until two steps in a row agree within this fraction (0: exactly --warmup)', default: 0.1, min: 0 }),
  clip: num({ help: 'clip the global gradient norm to this, as training does (0: no clipping, as the PyTorch peer)', default: 0, min: 0 }),
  dropout: num({ help: 'dropout (the PyTorch peer has none)', default: 0, min: 0, max: 1, maxExclusive: true }),
  seed: int({ help: 'seed of weights, ids and padding', default: 0, min: 0 }),
  replay: bool({ help: "replay the step's recorded forward, backward and clipping where the backend records steps (webgpu), as training does", default: true }),
} as const;

export interface TrainStepResult {
  backend: string;
  size: Size;
  method: string;
  batch: number;
  seq: number;
  trainable: number;
  steps: number;
  warmup: number;
  /** kernel dispatches per step and host µs spent recording each (backends that count dispatches) */
  dispatches?: number;
  host_us_per_dispatch?: number;
  /** timed steps that were replayed from a recording (backends that record steps) */
  replayed?: number;
  /** median step time and the steps' spread */
  step_s: number;
  min_s: number;
  max_s: number;
  seq_per_s: number;
}

export interface TrainStep {
  /** one optimiser step, recorded (or replayed); resolves when the backend has it queued (not necessarily run) */
  step(): void;
  /** whether the last step was replayed */
  replayed(): boolean;
  trainable: number;
  dispose(): void;
}

/** The benchmark's model, optimiser and batch, ready to step (also the census's workload). */
export function buildTrainStep(given: Given<typeof TRAIN_STEP_SPINE>, backend: Backend): TrainStep {
  const { size, method, batch, seq, dropout, seed, clip, replay } = resolve(TRAIN_STEP_SPINE, given);
  const s = SIZES[size];
  const cfg = parseBertConfig({
    model_type: 'bert', vocab_size: 30522, hidden_size: s.hidden, num_hidden_layers: s.layers, num_attention_heads: s.heads,
    intermediate_size: s.ffn, hidden_act: 'gelu', max_position_embeddings: 512, type_vocab_size: 2, num_labels: 2,
    hidden_dropout_prob: dropout, attention_probs_dropout_prob: dropout, layer_norm_eps: 1e-12,
  });
  const generator = new Generator(seed);
  const model = new BertForSequenceClassification(cfg, { generator, backend });
  applyMethod(model, method, {}, { seed });
  model.train();
  const opt = new AdamW(paramGroups(model, 0.01), { lr: 1e-4 });

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
  const region = () => {
    const loss = model.forward({ inputIds, attentionMask, labels: labelT }).loss!;
    loss.backward();
    return clip > 0 ? [loss, clipGradNorm(opt.params, clip)] : [loss];
  };
  const replayer = replay ? new StepReplayer([generator]) : null;
  return {
    trainable: model.countParameters(true),
    step() {
      tidy(() => {
        for (const t of replayer ? replayer.run(opt.params, [inputIds, attentionMask, labelT], region) : region()) t.dispose();
      });
      opt.update();
      opt.zeroGrad();
    },
    replayed: () => replayer?.replayed ?? false,
    dispose() {
      for (const t of [inputIds, attentionMask, labelT]) t.dispose();
      opt.dispose();
      model.dispose();
    },
  };
}

export async function trainStepBench(given: Given<typeof TRAIN_STEP_SPINE>, backend: Backend, log: (line: string) => void): Promise<TrainStepResult> {
  const { size, method, batch, seq, steps, warmup, steady } = resolve(TRAIN_STEP_SPINE, given);
  const work = buildTrainStep(given, backend);
  // per timed step: dispatches and the host time of recording them (minus submits)
  const perStep: { dispatches: number; hostSeconds: number; replayed: boolean }[] = [];
  const step = () => {
    const d0 = backend.dispatchCount ?? 0, s0 = backend.submitSeconds ?? 0;
    const t0 = performance.now();
    work.step();
    const recorded = (performance.now() - t0) / 1000;
    perStep.push({ dispatches: (backend.dispatchCount ?? 0) - d0, hostSeconds: recorded - ((backend.submitSeconds ?? 0) - s0), replayed: work.replayed() });
  };
  const t = await steadyMedian(backend, step, { minWarmup: warmup, maxWarmup: steady > 0 ? 20 : warmup, tolerance: steady, minRuns: steps, budgetMs: 0, maxRuns: steps });
  const timed = perStep.slice(-t.times.length);
  work.dispose();
  const median = t.median;
  const counted = backend.dispatchCount !== undefined && timed.length > 0;
  const dispatches = counted ? timed[timed.length - 1].dispatches : undefined;
  const hostUs = counted ? median1(timed.map((x) => (x.hostSeconds * 1e6) / Math.max(1, x.dispatches))) : undefined;
  const times = t.times;
  const r: TrainStepResult = {
    backend: backend.name, size, method, batch, seq, trainable: work.trainable, steps: times.length, warmup: t.warmup,
    ...(counted ? { dispatches, host_us_per_dispatch: hostUs } : {}),
    ...(backend.replays ? { replayed: timed.filter((x) => x.replayed).length } : {}),
    step_s: median, min_s: times[0], max_s: times[times.length - 1], seq_per_s: batch / median,
  };
  log(
    `train-step ${size}/${method} batch ${batch}×${seq} on ${backend.name}: ${(median * 1000).toFixed(0)} ms/step ` +
      `(min ${(times[0] * 1000).toFixed(0)}, max ${(times[times.length - 1] * 1000).toFixed(0)}, after ${t.warmup} warm-up steps), ${r.seq_per_s.toFixed(1)} seq/s, ` +
      `${work.trainable} trainable${counted ? `; ${dispatches} dispatches/step, ${hostUs!.toFixed(1)} µs host each` : ''}` +
      `${r.replayed !== undefined ? `; ${r.replayed} of ${times.length} timed steps replayed` : ''}`,
  );
  return r;
}

const median1 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
