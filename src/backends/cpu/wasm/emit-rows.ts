/**
 * Row kernels in wasm over contiguous [rows, cols] data: softmax / log-softmax with the masked semantics of
 * the plain kernel (max over finite entries, a row without one gives zeros / −inf, a NaN makes the row NaN),
 * layer norm, and sums over the last or the leading axis. Every call takes a row (or column) range so
 * threads can split it. Sums, means and variances accumulate in float64 (f64x2) as the plain kernels do, so
 * both paths agree to float32 rounding; only softmax's Σe^x, a sum of positive terms, stays in float32.
 */
import { f32, f64, i32, v128, type Fn, type ModuleBuilder } from './encoder.ts';
import { F32, F64, I32, V, lanes32 } from './opcodes.ts';
import { emitExp, emitLog, fconst, select, type Emit } from './simdmath.ts';

function hreduce(f: Fn, v: number, op: number): void {
  f.get(v).simd(V.f32x4_extract_lane, 0);
  for (let l = 1; l < 4; l++) f.get(v).simd(V.f32x4_extract_lane, l).op(op);
}

/** Push the high two lanes of a f32x4 local as f64x2. */
function promoteHigh(f: Fn, v: number): void {
  f.get(v).get(v).simd(V.shuffle, ...lanes32(2, 3, 2, 3)).simd(V.f64x2_promote_low_f32x4);
}

/** for (j = 0; j + 4 ≤ n; j += 4) body, then the scalar remainder j < n. */
function vecThenScalar(f: Fn, j: number, n: number, vec: () => void, scalar: () => void): void {
  f.i32c(0).set(j);
  f.block(() =>
    f.loop(() => {
      f.get(j).i32c(4).op(I32.add).get(n).op(I32.gt_s).brIf(1);
      vec();
      f.inc(j, 4).br(0);
    }),
  );
  f.block(() =>
    f.loop(() => {
      f.get(j).get(n).op(I32.ge_s).brIf(1);
      scalar();
      f.inc(j, 1).br(0);
    }),
  );
}

const at = (f: Fn, base: number, j: number) => f.get(base).get(j).i32c(2).op(I32.shl).op(I32.add);

/**
 * Sum of the float32 row at `px` (length `cols`) in float64: two f64x2 accumulators `s0`/`s1` for the vector
 * part and `sc` for the tail, left for the caller to combine (layer norm's mean and the row sums share it).
 */
function rowSumF64(f: Fn, px: number, j: number, cols: number, v: number, s0: number, s1: number, sc: number): void {
  f.simd(V.const, ...new Array(16).fill(0)).tee(s0).set(s1);
  f.f64c(0).set(sc);
  vecThenScalar(f, j, cols,
    () => {
      at(f, px, j).simdMem(V.load).set(v);
      f.get(s0).get(v).simd(V.f64x2_promote_low_f32x4).simd(V.f64x2_add).set(s0);
      f.get(s1);
      promoteHigh(f, v);
      f.simd(V.f64x2_add).set(s1);
    },
    () => at(f, px, j).mem(F32.load).op(F64.promote_f32).get(sc).op(F64.add).set(sc));
}

export function emitSoftmax(mb: ModuleBuilder, fma: boolean): void {
  // softmax(out, x, cols, start, end, log)
  mb.func('softmax', [i32, i32, i32, i32, i32, i32], [], (f) => {
    const e: Emit = { f, fma };
    const [out, x, cols, start, end, log] = [0, 1, 2, 3, 4, 5];
    const r = f.local(i32), j = f.local(i32), px = f.local(i32), po = f.local(i32);
    const v = f.local(v128), acc = f.local(v128), t = f.local(v128), mx = f.local(f32), s = f.local(f32), sv = f.local(v128);
    const nan = f.local(v128);
    // lanes of v below +inf (false for +inf and NaN), others −inf
    const finite = () => select(f, () => f.get(v), () => fconst(f, -Infinity), () => {
      f.get(v);
      fconst(f, Infinity).simd(V.f32x4_lt);
    });
    /** One element as a vector whose other lanes are −inf (so e^{x − max} adds 0 for them). */
    const lone = (ptr: number) => {
      fconst(f, -Infinity);
      at(f, ptr, j).mem(F32.load).simd(V.f32x4_replace_lane, 0);
    };
    f.for(r, () => f.get(start), () => f.get(end), 1, () => {
      f.get(r).get(cols).op(I32.mul).i32c(2).op(I32.shl).tee(po).get(x).op(I32.add).set(px);
      f.get(po).get(out).op(I32.add).set(po);
      fconst(f, -Infinity).set(acc);
      f.simd(V.const, ...new Array(16).fill(0)).set(nan);
      const maxStep = () => {
        f.get(acc);
        finite();
        f.simd(V.f32x4_max).set(acc);
        f.get(nan).get(v).get(v).simd(V.f32x4_ne).simd(V.or).set(nan);
      };
      vecThenScalar(f, j, cols,
        () => {
          at(f, px, j).simdMem(V.load).set(v);
          maxStep();
        },
        () => {
          lone(px);
          f.set(v);
          maxStep();
        });
      hreduce(f, acc, F32.max);
      f.set(mx);
      // a NaN anywhere makes the row NaN (as torch); no finite entry gives zeros, or −inf for log-softmax
      f.get(nan).simd(V.any_true).get(mx).f32c(-Infinity).op(F32.eq).op(I32.or).if(() => {
        f.get(nan).simd(V.any_true).if(() => fconst(f, NaN), () => f.get(log).if(() => fconst(f, -Infinity), () => fconst(f, 0), v128), v128);
        f.set(t);
        vecThenScalar(f, j, cols,
          () => at(f, po, j).get(t).simdMem(V.store),
          () => at(f, po, j).get(t).simd(V.f32x4_extract_lane, 0).mem(F32.store));
      }, () => {
        f.get(mx).simd(V.f32x4_splat).set(sv);
        fconst(f, 0).set(acc);
        // Σ e^{x − max}; softmax keeps e^{x − max} in out for the last pass
        const expStep = (vec: boolean) => {
          f.get(v).get(sv).simd(V.f32x4_sub).set(t);
          emitExp(e, t);
          f.set(t);
          f.get(acc).get(t).simd(V.f32x4_add).set(acc);
          f.get(log).op(I32.eqz).if(() => {
            at(f, po, j).get(t);
            if (vec) f.simdMem(V.store);
            else f.simd(V.f32x4_extract_lane, 0).mem(F32.store);
          });
        };
        vecThenScalar(f, j, cols,
          () => {
            at(f, px, j).simdMem(V.load).set(v);
            expStep(true);
          },
          () => {
            lone(px);
            f.set(v);
            expStep(false);
          });
        hreduce(f, acc, F32.add);
        f.set(s);
        f.get(log).if(() => {
          // (x − max) − log Σ, as the plain kernel orders it
          f.get(s).simd(V.f32x4_splat).set(t);
          emitLog(e, t);
          f.set(t);
          vecThenScalar(f, j, cols,
            () => {
              at(f, po, j);
              at(f, px, j).simdMem(V.load).get(sv).simd(V.f32x4_sub).get(t).simd(V.f32x4_sub).simdMem(V.store);
            },
            () => {
              at(f, po, j);
              at(f, px, j).mem(F32.load).get(mx).op(F32.sub).get(t).simd(V.f32x4_extract_lane, 0).op(F32.sub).mem(F32.store);
            });
        }, () => {
          f.get(s).simd(V.f32x4_splat).set(sv);
          vecThenScalar(f, j, cols,
            () => {
              at(f, po, j);
              at(f, po, j).simdMem(V.load).get(sv).simd(V.f32x4_div).simdMem(V.store);
            },
            () => {
              at(f, po, j);
              at(f, po, j).mem(F32.load).get(s).op(F32.div).mem(F32.store);
            });
        });
      });
    });
  });
}

export function emitLayerNorm(mb: ModuleBuilder): void {
  // layerNorm(y, mean, rstd, x, w, b, cols, eps, start, end); eps is f64
  mb.func('layerNorm', [i32, i32, i32, i32, i32, i32, i32, f64, i32, i32], [], (f) => {
    const [y, mean, rstd, x, w, b, cols, eps, start, end] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const r = f.local(i32), j = f.local(i32), px = f.local(i32), py = f.local(i32);
    const v = f.local(v128), s0 = f.local(v128), s1 = f.local(v128), mu = f.local(f64), rs = f.local(f64), sc = f.local(f64);
    const muv = f.local(v128), rsv = f.local(v128), d = f.local(f64);
    const hsum = () => {
      f.get(s0).get(s1).simd(V.f64x2_add).tee(s0).simd(V.f64x2_extract_lane, 0).get(s0).simd(V.f64x2_extract_lane, 1).op(F64.add).get(sc).op(F64.add);
    };
    f.for(r, () => f.get(start), () => f.get(end), 1, () => {
      f.get(r).get(cols).op(I32.mul).i32c(2).op(I32.shl).tee(py).get(x).op(I32.add).set(px);
      f.get(py).get(y).op(I32.add).set(py);
      // mean, in float64
      rowSumF64(f, px, j, cols, v, s0, s1, sc);
      hsum();
      f.get(cols).op(F64.convert_i32_s).op(F64.div).tee(mu).simd(V.f64x2_splat).set(muv);
      // variance of (x − mean), in float64
      f.simd(V.const, ...new Array(16).fill(0)).tee(s0).set(s1);
      f.f64c(0).set(sc);
      const sq = (acc: number, load: () => void) => {
        load();
        f.get(muv).simd(V.f64x2_sub).set(v);
        f.get(acc).get(v).get(v).simd(V.f64x2_mul).simd(V.f64x2_add).set(acc);
      };
      vecThenScalar(f, j, cols,
        () => {
          at(f, px, j).simdMem(V.load).set(v);
          const hi = f.local(v128);
          promoteHigh(f, v);
          f.set(hi);
          sq(s0, () => f.get(v).simd(V.f64x2_promote_low_f32x4));
          sq(s1, () => f.get(hi));
        },
        () => {
          at(f, px, j).mem(F32.load).op(F64.promote_f32).get(mu).op(F64.sub).set(d);
          f.get(sc).get(d).get(d).op(F64.mul).op(F64.add).set(sc);
        });
      f.f64c(1);
      hsum();
      f.get(cols).op(F64.convert_i32_s).op(F64.div).get(eps).op(F64.add).op(F64.sqrt).op(F64.div).tee(rs).simd(V.f64x2_splat).set(rsv);
      f.get(mean).get(r).i32c(2).op(I32.shl).op(I32.add).get(mu).op(F32.demote_f64).mem(F32.store);
      f.get(rstd).get(r).i32c(2).op(I32.shl).op(I32.add).get(rs).op(F32.demote_f64).mem(F32.store);
      // y = (x − mean)·rstd·w + b, in float64 then rounded once
      const half = (xv: () => void, wv: () => void, bv: () => void) => {
        xv();
        f.get(muv).simd(V.f64x2_sub).get(rsv).simd(V.f64x2_mul);
        wv();
        f.simd(V.f64x2_mul);
        bv();
        f.simd(V.f64x2_add).simd(V.f32x4_demote_f64x2_zero);
      };
      const wv = f.local(v128), bv = f.local(v128);
      vecThenScalar(f, j, cols,
        () => {
          at(f, py, j);
          at(f, px, j).simdMem(V.load).set(v);
          at(f, w, j).simdMem(V.load).set(wv);
          at(f, b, j).simdMem(V.load).set(bv);
          half(() => f.get(v).simd(V.f64x2_promote_low_f32x4), () => f.get(wv).simd(V.f64x2_promote_low_f32x4), () => f.get(bv).simd(V.f64x2_promote_low_f32x4));
          half(() => promoteHigh(f, v), () => promoteHigh(f, wv), () => promoteHigh(f, bv));
          f.simd(V.shuffle, ...lanes32(0, 1, 4, 5)).simdMem(V.store);
        },
        () => {
          at(f, py, j);
          at(f, px, j).mem(F32.load).op(F64.promote_f32).get(mu).op(F64.sub).get(rs).op(F64.mul);
          at(f, w, j).mem(F32.load).op(F64.promote_f32).op(F64.mul);
          at(f, b, j).mem(F32.load).op(F64.promote_f32).op(F64.add).op(F32.demote_f64).mem(F32.store);
        });
    });
  });
}

export function emitSums(mb: ModuleBuilder): void {
  // rowSum(out, x, cols, start, end): out[r] = Σ_j x[r, j]
  mb.func('rowSum', [i32, i32, i32, i32, i32], [], (f) => {
    const [out, x, cols, start, end] = [0, 1, 2, 3, 4];
    const r = f.local(i32), j = f.local(i32), px = f.local(i32), v = f.local(v128), s0 = f.local(v128), s1 = f.local(v128), sc = f.local(f64);
    f.for(r, () => f.get(start), () => f.get(end), 1, () => {
      f.get(r).get(cols).op(I32.mul).i32c(2).op(I32.shl).get(x).op(I32.add).set(px);
      rowSumF64(f, px, j, cols, v, s0, s1, sc);
      f.get(out).get(r).i32c(2).op(I32.shl).op(I32.add);
      f.get(s0).get(s1).simd(V.f64x2_add).tee(s0).simd(V.f64x2_extract_lane, 0).get(s0).simd(V.f64x2_extract_lane, 1).op(F64.add).get(sc).op(F64.add);
      f.op(F32.demote_f64).mem(F32.store);
    });
  });
  // colSum(out, x, rows, cols, c0, c1): out[c] = Σ_r x[r, c] for c in [c0, c1), eight columns at a time
  mb.func('colSum', [i32, i32, i32, i32, i32, i32], [], (f) => {
    const [out, x, rows, cols, c0, c1] = [0, 1, 2, 3, 4, 5];
    const c = f.local(i32), r = f.local(i32), p = f.local(i32), stride = f.local(i32), v = f.local(v128), sc = f.local(f64);
    const acc = [f.local(v128), f.local(v128), f.local(v128), f.local(v128)];
    f.get(cols).i32c(2).op(I32.shl).set(stride);
    f.get(c0).set(c);
    f.block(() =>
      f.loop(() => {
        f.get(c).i32c(8).op(I32.add).get(c1).op(I32.gt_s).brIf(1);
        for (const a of acc) f.simd(V.const, ...new Array(16).fill(0)).set(a);
        at(f, x, c).set(p);
        f.for(r, () => f.i32c(0), () => f.get(rows), 1, () => {
          for (let h = 0; h < 2; h++) {
            f.get(p).simdMem(V.load, 16 * h).set(v);
            f.get(acc[2 * h]).get(v).simd(V.f64x2_promote_low_f32x4).simd(V.f64x2_add).set(acc[2 * h]);
            f.get(acc[2 * h + 1]);
            promoteHigh(f, v);
            f.simd(V.f64x2_add).set(acc[2 * h + 1]);
          }
          f.inc(p, () => f.get(stride));
        });
        for (let h = 0; h < 2; h++) {
          at(f, out, c);
          f.get(acc[2 * h]).simd(V.f32x4_demote_f64x2_zero).get(acc[2 * h + 1]).simd(V.f32x4_demote_f64x2_zero);
          f.simd(V.shuffle, ...lanes32(0, 1, 4, 5)).simdMem(V.store, 16 * h);
        }
        f.inc(c, 8).br(0);
      }),
    );
    f.block(() =>
      f.loop(() => {
        f.get(c).get(c1).op(I32.ge_s).brIf(1);
        f.f64c(0).set(sc);
        at(f, x, c).set(p);
        f.for(r, () => f.i32c(0), () => f.get(rows), 1, () => {
          f.get(p).mem(F32.load).op(F64.promote_f32).get(sc).op(F64.add).set(sc);
          f.inc(p, () => f.get(stride));
        });
        at(f, out, c).get(sc).op(F32.demote_f64).mem(F32.store);
        f.inc(c, 1).br(0);
      }),
    );
  });
}
