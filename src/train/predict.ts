/**
 * Predictions on tokenized rows: logits in eval mode without autograd, batch by batch (each padded to its
 * longest row), then per row the class, its label and the softmax probabilities (or the score of a
 * regression head).
 */
import type { Backend } from '../backends/backend.ts';
import { noGrad } from '../autograd/record.ts';
import type { SequenceClassifier } from '../nn/auto.ts';
import { tidy } from '../tensor/scope.ts';
import { disposeBatch, makeBatch, type TokenRow } from './batches.ts';

export interface BatchOptions {
  batch: number;
  padId: number;
  backend?: Backend;
}

/** The logits of every row ([rows][numLabels]), in row order. */
export async function logitsOf(model: SequenceClassifier, rows: readonly TokenRow[], o: BatchOptions): Promise<number[][]> {
  const wasTraining = model.training;
  model.eval();
  const out: number[][] = [];
  try {
    for (let s = 0; s < rows.length; s += o.batch) {
      const chunk = rows.slice(s, s + o.batch);
      const b = makeBatch(chunk, o.padId, o.backend, () => ({}));
      const logits = tidy(() => noGrad(() => model.forward({ inputIds: b.inputIds, attentionMask: b.attentionMask, tokenTypeIds: b.tokenTypeIds }).logits));
      const data = await logits.data();
      logits.dispose();
      disposeBatch(b);
      const c = model.numLabels;
      for (let i = 0; i < chunk.length; i++) out.push(Array.from(data.subarray(i * c, (i + 1) * c)));
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}

export interface Prediction {
  /** the class index (classification) */
  class?: number;
  label?: string;
  probabilities?: number[];
  /** the output of a regression head (STS-B) */
  score?: number;
  logits: number[];
}

export function softmax(logits: readonly number[]): number[] {
  const m = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

/** One prediction per row; `labels` names the classes (class index as a string where it has no name). */
export async function predictRows(model: SequenceClassifier, rows: readonly TokenRow[], o: BatchOptions & { regression: boolean; labels: readonly string[] }): Promise<Prediction[]> {
  const all = await logitsOf(model, rows, o);
  return all.map((logits) => {
    if (o.regression) return { score: logits[0], logits };
    const probabilities = softmax(logits);
    let best = 0;
    for (let k = 1; k < logits.length; k++) if (logits[k] > logits[best]) best = k;
    return { class: best, label: o.labels[best] ?? String(best), probabilities, logits };
  });
}
