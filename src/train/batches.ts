/**
 * Examples → padded batches. Texts are tokenized once; each batch is padded to its own longest row
 * (dynamic padding); the order of an epoch is a seeded shuffle, optionally sorted by length inside chunks
 * of batches (bucketing) so that similar lengths share a batch.
 */
import type { GlueExample } from '../data/glue.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import { HostRng } from '../tensor/random.ts';
import { tensor } from '../tensor/create.ts';
import type { Tensor } from '../tensor/tensor.ts';

export interface Encoded {
  ids: number[];
  typeIds: number[];
  label: number;
}

export function encodeExamples(tok: TextTokenizer, examples: readonly GlueExample[], maxLen: number): Encoded[] {
  return examples.map((e) => ({ ...tok.encode(e.textA, e.textB, { maxLength: maxLen }), label: e.label }));
}

export interface Batch {
  inputIds: Tensor;
  attentionMask: Tensor;
  tokenTypeIds: Tensor;
  labels: Tensor;
  size: number;
  tokens: number;
}

export function makeBatch(rows: readonly Encoded[], regression: boolean, padId: number, o: { backend?: string; dtype?: 'float32' | 'float64' } = {}): Batch {
  const t = Math.max(...rows.map((r) => r.ids.length));
  const ids = new Int32Array(rows.length * t).fill(padId);
  const mask = new Int32Array(rows.length * t);
  const types = new Int32Array(rows.length * t);
  rows.forEach((r, b) => {
    ids.set(r.ids, b * t);
    types.set(r.typeIds, b * t);
    mask.fill(1, b * t, b * t + r.ids.length);
  });
  const shape = [rows.length, t];
  const labels = regression
    ? tensor(rows.map((r) => r.label), { dtype: o.dtype ?? 'float32', backend: o.backend })
    : tensor(Int32Array.from(rows.map((r) => r.label)), { backend: o.backend });
  return {
    inputIds: tensor(ids, { shape, backend: o.backend }),
    attentionMask: tensor(mask, { shape, backend: o.backend }),
    tokenTypeIds: tensor(types, { shape, backend: o.backend }),
    labels,
    size: rows.length,
    tokens: rows.reduce((s, r) => s + r.ids.length, 0),
  };
}

export function disposeBatch(b: Batch): void {
  for (const t of [b.inputIds, b.attentionMask, b.tokenTypeIds, b.labels]) t.dispose();
}

/** The example order of epoch `epoch` (a pure function of seed and epoch, so a resumed run sees the same). */
export function epochOrder(n: number, batch: number, seed: number, epoch: number, bucket: boolean, lengths: readonly number[]): number[][] {
  const rng = new HostRng((seed * 1_000_003 + epoch * 7919 + 1) >>> 0);
  const order = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  if (bucket) {
    const chunk = batch * 50;
    for (let s = 0; s < n; s += chunk) {
      const part = order.slice(s, s + chunk).sort((a, b) => lengths[a] - lengths[b] || a - b);
      order.splice(s, part.length, ...part);
    }
  }
  const batches: number[][] = [];
  for (let s = 0; s < n; s += batch) batches.push(order.slice(s, s + batch));
  if (bucket) {
    // keep length-sorted batches but visit them in a shuffled order
    for (let i = batches.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [batches[i], batches[j]] = [batches[j], batches[i]];
    }
  }
  return batches;
}
