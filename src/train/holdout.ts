/**
 * A held-out share of a training split that leaks nothing back into training, for choosing
 * hyper-parameters without looking at dev. SST-2's training split holds the phrases of its sentences
 * beside the sentences themselves ("hide new secretions" sits inside "hide new secretions from the
 * parental units"), so a plain random draw evaluates on phrases whose words and sub-phrases the model
 * trained on, with their labels: it rewards memorising words (training the embedding table scored +10
 * points there and +4–5 on dev). Here the draw is among whole texts — those inside no other example —
 * as dev holds whole sentences, and every training example inside a held-out text is dropped. On tasks
 * whose examples do not nest (all the others) this is a plain draw of `share` of the examples.
 */
import type { GlueExample } from '../data/glue.ts';
import { epochOrder } from './batches.ts';

/** One fixed draw whatever the run's seed, so runs that differ in anything else compare on the same examples. */
const HOLDOUT_SEED = 20240119;
/** Between a pair's two texts, so a span never joins the end of one to the start of the other unnoticed. */
const PAIR_BREAK = '\u0000';

/** Each example's text as word ids (case folded), a pair's two texts with PAIR_BREAK between them. */
function wordIds(examples: readonly GlueExample[]): Int32Array[] {
  const ids = new Map<string, number>();
  const id = (w: string) => ids.get(w) ?? (ids.set(w, ids.size), ids.size - 1);
  const split = (t: string) => t.toLowerCase().split(/\s+/).filter(Boolean);
  return examples.map((e) => Int32Array.from(e.textB === undefined ? split(e.textA) : [...split(e.textA), PAIR_BREAK, ...split(e.textB)], id));
}

// two polynomial hashes mod primes below 2^26, so every product stays exact in a double and the pair
// fits one number key; a hit is confirmed word by word, so a collision can only cost time
const [P1, P2, B1, B2] = [67108859, 67108837, 1000003, 7919];
const TWO26 = 2 ** 26;

/** The pair of hashes of a span one word longer. */
const extend = (h: [number, number], word: number): void => {
  h[0] = (h[0] * B1 + word + 1) % P1;
  h[1] = (h[1] * B2 + word + 1) % P2;
};
const keyOf = (h: [number, number]): number => h[0] * TWO26 + h[1];

/** Calls `visit(key, start, end)` for every span w[start, end) (the whole one only when `whole`). */
function forSpans(w: Int32Array, whole: boolean, visit: (key: number, start: number, end: number) => void): void {
  for (let i = 0; i < w.length; i++) {
    const h: [number, number] = [0, 0];
    for (let j = i; j < w.length; j++) {
      extend(h, w[j]);
      if (whole || j - i + 1 < w.length) visit(keyOf(h), i, j + 1);
    }
  }
}

const fullKey = (w: Int32Array): number => {
  const h: [number, number] = [0, 0];
  for (const x of w) extend(h, x);
  return keyOf(h);
};

const sameWords = (a: Int32Array, b: Int32Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export interface HoldoutSplit {
  train: GlueExample[];
  evaluation: GlueExample[];
  /** training examples dropped because their text lies inside a held-out one */
  dropped: number;
}

/** Hold out `share` of the whole texts of `examples` (see above) and drop what lies inside them from training. */
export function holdoutSplit(examples: readonly GlueExample[], share: number): HoldoutSplit {
  const tokens = wordIds(examples);
  const keys = tokens.map(fullKey);
  const byKey = new Map<number, number[]>();
  keys.forEach((k, i) => byKey.set(k, [...(byKey.get(k) ?? []), i]));
  const inside = new Uint8Array(examples.length);
  for (const w of tokens) {
    forSpans(w, false, (k, s, e) => {
      for (const i of byKey.get(k) ?? []) if (!inside[i] && sameWords(tokens[i], w.subarray(s, e))) inside[i] = 1;
    });
  }
  const whole = [...examples.keys()].filter((i) => !inside[i]);
  const order = epochOrder(whole.length, whole.length, HOLDOUT_SEED, 0, false, [])[0];
  const held = new Set(order.slice(0, Math.round(share * whole.length)).map((k) => whole[k]));
  const covered = new Map<number, Int32Array[]>();
  for (const i of held) forSpans(tokens[i], true, (k, s, e) => void covered.set(k, [...(covered.get(k) ?? []), tokens[i].subarray(s, e)]));
  const train: GlueExample[] = [];
  let dropped = 0;
  examples.forEach((e, i) => {
    if (held.has(i)) return;
    if (covered.get(keys[i])?.some((span) => sameWords(span, tokens[i]))) dropped++;
    else train.push(e);
  });
  return { train, evaluation: examples.filter((_, i) => held.has(i)), dropped };
}
