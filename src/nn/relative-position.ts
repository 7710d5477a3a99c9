/**
 * DeBERTa's relative positions, as transformers' `build_relative_position` / `make_log_bucket_position`
 * define them. They depend only on the sequence length, so they are integer tables built on the host; the
 * model turns them into gather indices over the relative-embedding table.
 */

const f32 = Math.fround;

/**
 * The bucket of one relative distance. Distances within ±bucketSize/2 keep their value; farther ones are
 * compressed logarithmically so that ±(maxPosition − 1) lands on ±(bucketSize − 1) (for even sizes).
 * torch evaluates the logarithmic branch in float32 (`abs_pos / mid` promotes the int64 positions to the
 * default float dtype), and `ceil` turns any difference in rounding into a different bucket, so every
 * step is rounded to float32 here as well.
 */
export function logBucketPosition(rel: number, bucketSize: number, maxPosition: number): number {
  const mid = Math.floor(bucketSize / 2);
  const abs = Math.abs(rel);
  if (abs <= mid) return rel;
  const ratio = f32(f32(Math.log(f32(abs / mid))) / f32(Math.log(f32((maxPosition - 1) / mid))));
  return Math.sign(rel) * (Math.ceil(f32(ratio * (mid - 1))) + mid);
}

/**
 * rel[i·k + j] = bucket(i − j) for query i < q and key j < k (row-major [q, k]); plain distances when
 * bucketing is off (bucketSize or maxPosition ≤ 0), as transformers does.
 */
export function buildRelativePosition(q: number, k: number, bucketSize: number, maxPosition: number): Int32Array {
  const out = new Int32Array(q * k);
  const bucketed = bucketSize > 0 && maxPosition > 0;
  // one distance per diagonal: the log branch runs 2·max(q, k) times instead of q·k
  const lut = new Map<number, number>();
  for (let i = 0; i < q; i++) {
    for (let j = 0; j < k; j++) {
      const d = i - j;
      let v = lut.get(d);
      if (v === undefined) lut.set(d, (v = bucketed ? logBucketPosition(d, bucketSize, maxPosition) : d));
      out[i * k + j] = v;
    }
  }
  return out;
}

/** Gather indices of the c2p and p2c terms for one sequence length, into a slice of the embedding table. */
export interface RelativeIndex {
  /** first row of the relative-embedding table that any index reaches */
  lo: number;
  /** number of rows from `lo` on that the indices use (the table can be sliced to them) */
  rows: number;
  /** [T, T]: c2p[i·T + j] = clamp(rel[i][j] + span, 0, 2·span − 1) − lo */
  c2p: Int32Array;
  /** [T, T]: p2c[k·T + q] = clamp(−rel[k][q] + span, 0, 2·span − 1) − lo (transposed after the gather) */
  p2c: Int32Array;
}

/**
 * The clamped indices of transformers' `disentangled_attention_bias` for self-attention over `t` tokens,
 * where `span` is the attention span (position_buckets, or max_relative_positions without buckets). Short
 * sequences reach only the middle of the table, so the indices are shifted to the rows actually used: the
 * projections of the unused rows would be computed and thrown away by the gather.
 */
export function relativeIndex(t: number, span: number, bucketSize: number, maxPosition: number): RelativeIndex {
  const rel = buildRelativePosition(t, t, bucketSize, maxPosition);
  const top = 2 * span - 1;
  const clamp = (v: number) => Math.min(top, Math.max(0, v));
  const c2p = new Int32Array(t * t);
  const p2c = new Int32Array(t * t);
  let lo = top, hi = 0;
  for (let i = 0; i < rel.length; i++) {
    c2p[i] = clamp(rel[i] + span);
    p2c[i] = clamp(-rel[i] + span);
    lo = Math.min(lo, c2p[i], p2c[i]);
    hi = Math.max(hi, c2p[i], p2c[i]);
  }
  if (rel.length === 0) lo = hi = 0;
  for (let i = 0; i < rel.length; i++) {
    c2p[i] -= lo;
    p2c[i] -= lo;
  }
  return { lo, rows: hi - lo + 1, c2p, p2c };
}
