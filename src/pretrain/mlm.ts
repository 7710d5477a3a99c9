/**
 * The masked-LM objective's batches and held-out measure: the masked positions' flat indices and original
 * ids (and the next-sentence labels, for a model with that head), and masked-token accuracy against always
 * guessing the most frequent token.
 */
import { noGrad } from '../autograd/record.ts';
import type { Backend } from '../backends/backend.ts';
import type { BertForMaskedLM } from '../nn/bert-mlm.ts';
import { tensor } from '../tensor/create.ts';
import { tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { disposeBatch, makeBatch, type Batch } from '../train/batches.ts';
import type { Instance } from './instances.ts';

type MlmBatch = Batch<{ maskedPositions: Tensor; maskedLabels: Tensor; nextLabels?: Tensor }>;

/**
 * Instances padded into a batch, with the flat indices and original ids of the masked positions (and the
 * next-sentence labels, for a model with that head).
 */
export function mlmBatch(rows: readonly Instance[], padId: number, backend: Backend, nextSentence: boolean): MlmBatch {
  return makeBatch(rows, padId, backend, (rs, t) => {
    const pos: number[] = [];
    const labels: number[] = [];
    rs.forEach((r, b) => r.maskedPositions.forEach((p, k) => (pos.push(b * t + p), labels.push(r.maskedLabels[k]))));
    const ids = (a: number[]) => tensor(Int32Array.from(a), { backend });
    return { maskedPositions: ids(pos), maskedLabels: ids(labels), ...(nextSentence ? { nextLabels: ids(rs.map((r) => r.nextLabel)) } : {}) };
  });
}

/**
 * Masked-token accuracy and loss on the held-out instances, the most-frequent-token baseline, and with
 * that head the next-sentence accuracy, against always guessing the commoner label.
 */
export async function heldOutMetrics(model: BertForMaskedLM, rows: readonly Instance[], batch: number, padId: number, backend: Backend, mostFrequent: number) {
  const wasTraining = model.training;
  model.eval();
  let correct = 0, total = 0, lossSum = 0, baseline = 0, nextCorrect = 0;
  for (let s = 0; s < rows.length; s += batch) {
    const part = rows.slice(s, s + batch);
    const b = mlmBatch(part, padId, backend, false);
    const r = tidy(() => noGrad(() => model.forward({ ...b, ...b.extra })));
    if (r.nextLogits) {
      const z = await r.nextLogits.data();
      part.forEach((row, i) => (nextCorrect += Number((z[2 * i + 1] > z[2 * i] ? 1 : 0) === row.nextLabel)));
      r.nextLogits.dispose();
    }
    const logits = await r.logits.data();
    const labels = await b.extra.maskedLabels.data();
    const v = model.cfg.vocabSize;
    lossSum += (await r.loss!.data())[0] * labels.length;
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let k = 1; k < v; k++) if (logits[i * v + k] > logits[i * v + best]) best = k;
      if (best === labels[i]) correct++;
      if (labels[i] === mostFrequent) baseline++;
    }
    total += labels.length;
    r.logits.dispose();
    r.loss!.dispose();
    disposeBatch(b);
  }
  model.train(wasTraining);
  const metrics: Record<string, number> = { mlm_accuracy: correct / total, mlm_loss: lossSum / total, most_frequent_accuracy: baseline / total, masked_tokens: total };
  if (model.cls.seqRelationship) {
    const randomShare = rows.filter((r) => r.nextLabel === 1).length / rows.length;
    metrics.nsp_accuracy = nextCorrect / rows.length;
    metrics.nsp_majority_accuracy = Math.max(randomShare, 1 - randomShare);
  }
  return metrics;
}
