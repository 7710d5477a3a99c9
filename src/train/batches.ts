/**
 * Rows → padded batches, for fine-tuning and pretraining alike. Each batch is padded to its own longest
 * row (dynamic padding); the order of an epoch is a seeded shuffle, optionally sorted by length inside
 * chunks of batches (bucketing) so that similar lengths share a batch.
 */
import type { Backend } from '../backends/backend.ts';
import { HostRng } from '../core/random.ts';
import type { GlueExample } from '../data/glue.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import { tensor } from '../tensor/create.ts';
import type { Tensor } from '../tensor/tensor.ts';

/** A tokenized sequence: ids and token types ([CLS] A [SEP] (B [SEP])). */
export interface TokenRow {
  ids: ArrayLike<number>;
  typeIds: ArrayLike<number>;
}

export interface Encoded extends TokenRow {
  label: number;
}

export function encodeExamples(tok: TextTokenizer, examples: readonly GlueExample[], maxLen: number): Encoded[] {
  return examples.map((e) => ({ ...tok.encode(e.textA, e.textB, { maxLength: maxLen }), label: e.label }));
}

/** The encoder's inputs for a batch of rows, and the extra tensors its head needs (labels, positions). */
export interface Batch<Extra extends Record<string, Tensor> = Record<string, Tensor>> {
  inputIds: Tensor;
  attentionMask: Tensor;
  tokenTypeIds: Tensor;
  extra: Extra;
  size: number;
  /** real (non-padding) tokens */
  tokens: number;
}

/**
 * Pad `rows` to the longest (or further, to a multiple: `padTo`) into [rows, T] ids / mask / types; `extra`
 * builds the head's tensors from the rows and T (row b's position p is flat index b·T + p).
 */
export function makeBatch<R extends TokenRow, Extra extends Record<string, Tensor>>(
  rows: readonly R[], padId: number, backend: Backend | undefined, extra: (rows: readonly R[], t: number) => Extra,
  padTo: { multiple: number; max: number } = { multiple: 1, max: Infinity },
): Batch<Extra> {
  const longest = Math.max(...rows.map((r) => r.ids.length));
  // padded further to a multiple where asked (fewer shapes), never past `max` or below the longest row
  const t = Math.max(longest, Math.min(Math.ceil(longest / padTo.multiple) * padTo.multiple, padTo.max));
  const ids = new Int32Array(rows.length * t).fill(padId);
  const mask = new Int32Array(rows.length * t);
  const types = new Int32Array(rows.length * t);
  let tokens = 0;
  rows.forEach((r, b) => {
    ids.set(r.ids, b * t);
    types.set(r.typeIds, b * t);
    mask.fill(1, b * t, b * t + r.ids.length);
    tokens += r.ids.length;
  });
  const shape = [rows.length, t];
  return {
    inputIds: tensor(ids, { shape, backend }),
    attentionMask: tensor(mask, { shape, backend }),
    tokenTypeIds: tensor(types, { shape, backend }),
    extra: extra(rows, t),
    size: rows.length,
    tokens,
  };
}

/** Classification labels (int32) or regression targets (float) of GLUE rows. */
export function labelsOf(regression: boolean, backend: Backend | undefined, dtype: 'float32' | 'float64' = 'float32') {
  return (rows: readonly Encoded[]): { labels: Tensor } => ({
    labels: regression ? tensor(rows.map((r) => r.label), { dtype, backend }) : tensor(Int32Array.from(rows.map((r) => r.label)), { backend }),
  });
}

export function disposeBatch(b: Batch): void {
  for (const t of [b.inputIds, b.attentionMask, b.tokenTypeIds, ...Object.values(b.extra)]) t.dispose();
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
