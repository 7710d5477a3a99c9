/**
 * Masked-LM training instances, as BERT's create_pretraining_data makes them: segment A from consecutive
 * sentences of a document, segment B either the sentences that follow (half the time) or sentences of a
 * random other document (the next-sentence label), `[CLS] A [SEP] B [SEP]` with token types 0/1; then
 * 15 % of the non-special tokens are chosen, of which 80 % become [MASK], 10 % a random token and 10 %
 * stay. With `overlap`, that share of B segments is a noisy copy of A instead (`--pair-overlap`). Everything
 * is drawn from seeded generators, so an epoch's instances are a pure function of (seed, epoch).
 */
import { HostRng } from '../core/random.ts';

export interface TokenizedCorpus {
  /** per document, per sentence: token ids without special tokens */
  docs: number[][][];
}

export interface Instance {
  ids: Int32Array;
  typeIds: Int32Array;
  /** positions (within the row) that are predicted, and the original ids there */
  maskedPositions: Int32Array;
  maskedLabels: Int32Array;
  /** next-sentence label, as transformers has it: 0 when B is the text that followed A, 1 when B is random */
  nextLabel: number;
}

export interface MaskingOptions {
  maxLen: number;
  maskProb: number;
  clsId: number;
  sepId: number;
  maskId: number;
  /** random replacements are drawn from ids [firstRegularId, vocabSize) */
  firstRegularId: number;
  vocabSize: number;
  /** share of instances whose B is a noisy copy of A (tokens dropped or replaced), meant to reward matching across segments */
  overlap?: number;
}

/** A uniform draw from the regular (non-special) ids. */
function randomRegularId(o: MaskingOptions, rng: HostRng): number {
  return o.firstRegularId + Math.floor(rng.next() * (o.vocabSize - o.firstRegularId));
}

/** A with 15 % of its tokens dropped and 10 % replaced by random regular ids, in order. */
export function noisyCopy(a: number[], o: MaskingOptions, rng: HostRng): number[] {
  const b: number[] = [];
  for (const id of a) {
    const r = rng.next();
    if (r < 0.15) continue;
    b.push(r < 0.25 ? randomRegularId(o, rng) : id);
  }
  return b;
}

function truncatePair(a: number[], b: number[], budget: number, rng: HostRng): void {
  while (a.length + b.length > budget) {
    const longer = a.length >= b.length ? a : b;
    // drop from the front or the back at random, as BERT does, so no side of a segment is favoured
    if (rng.next() < 0.5) longer.shift();
    else longer.pop();
  }
}

/** One epoch's instances over the documents, in a shuffled document order. */
export function makeInstances(corpus: TokenizedCorpus, o: MaskingOptions, seed: number, epoch: number): Instance[] {
  const rng = new HostRng((seed * 2654435761 + epoch * 40503 + 17) >>> 0);
  const budget = o.maxLen - 3;
  const order = corpus.docs.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const out: Instance[] = [];
  for (const d of order) {
    const doc = corpus.docs[d].filter((s) => s.length > 0);
    let i = 0;
    while (i < doc.length) {
      // accumulate sentences up to the budget; 10 % of instances aim shorter, as in BERT
      const target = rng.next() < 0.1 ? 2 + Math.floor(rng.next() * (budget - 2)) : budget;
      const chunk: number[][] = [];
      let len = 0;
      while (i < doc.length && (len < target || chunk.length === 0)) {
        chunk.push(doc[i]);
        len += doc[i].length;
        i++;
      }
      const aEnd = chunk.length > 1 ? 1 + Math.floor(rng.next() * (chunk.length - 1)) : 1;
      const a = chunk.slice(0, aEnd).flat();
      let b: number[];
      // no draw when off, so the default's instances are those of runs made before the option existed
      const overlap = !!o.overlap && rng.next() < o.overlap;
      const randomNext = !overlap && (chunk.length === 1 || rng.next() < 0.5);
      if (overlap) {
        b = noisyCopy(a, o, rng);
      } else if (randomNext) {
        // a random other document provides B
        const other = corpus.docs[order[Math.floor(rng.next() * order.length)]].filter((s) => s.length > 0);
        const start = other.length ? Math.floor(rng.next() * other.length) : 0;
        b = [];
        for (let k = start; k < other.length && b.length < budget - a.length; k++) b.push(...other[k]);
      } else {
        b = chunk.slice(aEnd).flat();
      }
      // a B not taken from this chunk gives the chunk's unused tail back
      if (overlap || randomNext) i -= chunk.length - aEnd;
      if (!a.length) continue;
      truncatePair(a, b, budget, rng);
      out.push({ ...mask([o.clsId, ...a, o.sepId, ...b, o.sepId], a.length + 2, o, rng), nextLabel: randomNext ? 1 : 0 });
    }
  }
  return out;
}

function mask(tokens: number[], typeBoundary: number, o: MaskingOptions, rng: HostRng): Omit<Instance, 'nextLabel'> {
  const ids = Int32Array.from(tokens);
  const typeIds = new Int32Array(tokens.length);
  typeIds.fill(1, typeBoundary);
  const candidates: number[] = [];
  for (let p = 0; p < tokens.length; p++) if (tokens[p] !== o.clsId && tokens[p] !== o.sepId) candidates.push(p);
  const n = Math.max(1, Math.round(candidates.length * o.maskProb));
  for (let k = candidates.length - 1; k > 0; k--) {
    const j = Math.floor(rng.next() * (k + 1));
    [candidates[k], candidates[j]] = [candidates[j], candidates[k]];
  }
  const chosen = candidates.slice(0, n).sort((x, y) => x - y);
  const labels = Int32Array.from(chosen.map((p) => tokens[p]));
  for (const p of chosen) {
    const r = rng.next();
    if (r < 0.8) ids[p] = o.maskId;
    else if (r < 0.9) ids[p] = randomRegularId(o, rng);
  }
  return { ids, typeIds, maskedPositions: Int32Array.from(chosen), maskedLabels: labels };
}
