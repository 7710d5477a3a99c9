/**
 * Replaced-token detection (ELECTRA, Clark et al. 2020) with a frozen generator: a pretrained masked-LM
 * model fills each instance's masked positions with tokens sampled from its own predictions, and the model
 * being pretrained (BertForTokenDetection) learns to tell, at every token, whether it is the original.
 * ELECTRA trains its generator jointly; a frozen one (the paper's two-stage variant) costs one forward pass
 * per step and lets an already pretrained model, such as the bundled one, provide the replacements. Every
 * token carries a label, where masked LM learns from 15 % of them.
 */
import { join } from 'node:path';
import { noGrad } from '../autograd/record.ts';
import type { Backend } from '../backends/backend.ts';
import { ConfigError } from '../core/errors.ts';
import { HostRng } from '../core/random.ts';
import { parseBertConfig } from '../nn/bert.ts';
import { BertForMaskedLM } from '../nn/bert-mlm.ts';
import type { BertForTokenDetection } from '../nn/bert-rtd.ts';
import { checkpointState, readConfig, weightsFile } from '../nn/pretrained.ts';
import { tensor } from '../tensor/create.ts';
import { tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { disposeBatch, makeBatch, type Batch, type TokenRow } from '../train/batches.ts';
import type { Instance } from './instances.ts';
import { mlmBatch } from './mlm.ts';

export interface DetectionRow extends TokenRow {
  /** per position: 1 where the generator's sample differs from the original token, else 0 */
  replaced: Int32Array;
}

/** Scratch for one row's exponentials (sampleId runs once per masked token, ~500 times a step). */
let weights = new Float64Array(0);

/** One draw from softmax(z[at .. at + v)) restricted to ids ≥ first (special tokens are never sampled). */
export function sampleId(z: Float32Array, at: number, v: number, first: number, rng: HostRng): number {
  if (weights.length < v) weights = new Float64Array(v);
  let max = -Infinity;
  for (let k = first; k < v; k++) max = Math.max(max, z[at + k]);
  let total = 0;
  for (let k = first; k < v; k++) total += weights[k] = Math.exp(z[at + k] - max);
  let u = rng.next() * total;
  for (let k = first; k < v; k++) {
    u -= weights[k];
    if (u <= 0) return k;
  }
  return v - 1;
}

export class TokenReplacer {
  private constructor(readonly generator: BertForMaskedLM, private readonly firstRegularId: number) {}

  /** The masked-LM model in `dir` (its prediction head is what samples), frozen in eval mode. */
  static load(dir: string, vocabSize: number, firstRegularId: number, backend: Backend): TokenReplacer {
    const cfg = parseBertConfig(readConfig(dir), join(dir, 'config.json'));
    if (cfg.vocabSize !== vocabSize) throw new ConfigError(`generator: ${join(dir, 'config.json')} has vocab_size ${cfg.vocabSize}, the run's vocabulary ${vocabSize}`, 'generator');
    const generator = new BertForMaskedLM(cfg, { backend });
    const skip = (n: string) => n.endsWith('position_ids') || n.startsWith('bert.pooler.') || n.startsWith('cls.seq_relationship.');
    generator.loadStateDict(checkpointState(weightsFile(dir), 'float32', (n) => (skip(n) ? null : n)));
    generator.eval();
    return new TokenReplacer(generator, firstRegularId);
  }

  /** `rows` with every masked position holding a generator sample, and where the sample differs from the original. */
  async corrupt(rows: readonly Instance[], padId: number, backend: Backend, rng: HostRng): Promise<DetectionRow[]> {
    const b = mlmBatch(rows, padId, backend, false);
    const logits = tidy(() => noGrad(() => this.generator.forward({ ...b, ...b.extra }).logits));
    const z = (await logits.data()) as Float32Array;
    logits.dispose();
    disposeBatch(b);
    const v = this.generator.cfg.vocabSize;
    let m = 0;
    return rows.map((r) => {
      const ids = Int32Array.from(r.ids);
      const replaced = new Int32Array(ids.length);
      r.maskedPositions.forEach((p, k) => {
        ids[p] = sampleId(z, m++ * v, v, this.firstRegularId, rng);
        replaced[p] = ids[p] === r.maskedLabels[k] ? 0 : 1;
      });
      return { ids, typeIds: r.typeIds, replaced };
    });
  }

  /** `corrupt` in batches of `batch` rows (the held-out set, drawn once). */
  async corruptAll(rows: readonly Instance[], batch: number, padId: number, backend: Backend, rng: HostRng): Promise<DetectionRow[]> {
    const out: DetectionRow[] = [];
    for (let s = 0; s < rows.length; s += batch) out.push(...(await this.corrupt(rows.slice(s, s + batch), padId, backend, rng)));
    return out;
  }
}

/** Detection rows padded into a batch; padding is labelled -100, so the loss skips it. */
export function detectionBatch(rows: readonly DetectionRow[], padId: number, backend: Backend): Batch<{ replaced: Tensor }> {
  return makeBatch(rows, padId, backend, (rs, t) => {
    const labels = new Int32Array(rs.length * t).fill(-100);
    rs.forEach((r, b) => labels.set(r.replaced, b * t));
    return { replaced: tensor(labels, { backend }) };
  });
}

/**
 * Held-out detection accuracy over every real token, against always answering "original"; the loss, and
 * the recall and precision of "replaced".
 */
export async function detectionMetrics(model: BertForTokenDetection, rows: readonly DetectionRow[], batch: number, padId: number, backend: Backend) {
  const wasTraining = model.training;
  model.eval();
  let tokens = 0, correct = 0, replaced = 0, flagged = 0, caught = 0, lossSum = 0;
  for (let s = 0; s < rows.length; s += batch) {
    const b = detectionBatch(rows.slice(s, s + batch), padId, backend);
    const r = tidy(() => noGrad(() => model.forward({ ...b, ...b.extra })));
    const [z, labels, loss] = await Promise.all([r.logits.data(), b.extra.replaced.data(), r.loss!.data()]);
    let n = 0;
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] === -100) continue;
      const said = z[i] > 0 ? 1 : 0;
      n++;
      correct += Number(said === labels[i]);
      replaced += labels[i];
      flagged += said;
      caught += said & labels[i];
    }
    tokens += n;
    lossSum += loss[0] * n;
    r.logits.dispose();
    r.loss!.dispose();
    disposeBatch(b);
  }
  model.train(wasTraining);
  return {
    rtd_accuracy: correct / tokens, rtd_loss: lossSum / tokens, rtd_original_share: 1 - replaced / tokens,
    rtd_recall: caught / Math.max(replaced, 1), rtd_precision: caught / Math.max(flagged, 1), rtd_tokens: tokens,
  };
}
