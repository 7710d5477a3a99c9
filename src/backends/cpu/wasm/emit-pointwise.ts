/**
 * Strided pointwise kernels in wasm. The TypeScript side collapses a view's dims to at most four
 * ([d0, d1, d2, inner]) and passes byte strides in a descriptor; a kernel walks rows [start, end) of the
 * flattened outer dims with a carry counter (so threads can take any row range) and runs the inner dim
 * four lanes at a time. Each operand's inner loop is specialised by its inner stride: contiguous
 * (v128.load), broadcast (one splat per row) or anything else (four lane loads), so transposed and
 * broadcast operands are vectorised too. Outputs are contiguous.
 */
import { i32, v128, type Fn, type ModuleBuilder } from './encoder.ts';
import { I32, F32, V } from './opcodes.ts';
import type { Emit } from './simdmath.ts';

/** Descriptor words (i32): d1, d2, inner, then byte strides [s0, s1, s2, sInner] per operand. */
export const DESC_WORDS = 3 + 4 * 3;

type Mode = 'contig' | 'splat' | 'gather';
const MODES: Mode[] = ['contig', 'splat', 'gather'];

/** Operands are v128 locals; the op pushes its result. */
export type VecOp = (e: Emit, operands: readonly number[]) => void;

interface Cursor {
  base: number; // row start pointer
  q: number; // running pointer within the row
  s: number[]; // byte strides s0..s3 (locals)
  wrap1: number; // s1 − d2·s2
  wrap0: number; // s0 − d1·s1
  v: number; // the v128 operand
}

/** Emit `name(out, x0[, x1, x2], desc, start, end)` computing op elementwise. */
export function emitPointwise(mb: ModuleBuilder, fma: boolean, name: string, arity: number, op: VecOp): void {
  const params = [i32, ...Array(arity).fill(i32), i32, i32, i32];
  mb.func(name, params, [], (f) => {
    const e: Emit = { f, fma };
    const out = 0, desc = arity + 1, start = arity + 2, end = arity + 3;
    const d1 = f.local(i32), d2 = f.local(i32), d3 = f.local(i32), i1 = f.local(i32), i2 = f.local(i32);
    const q = f.local(i32), row = f.local(i32), j = f.local(i32), po = f.local(i32), r = f.local(i32);
    const cur: Cursor[] = [];
    for (let k = 0; k < arity; k++) {
      const s = [f.local(i32), f.local(i32), f.local(i32), f.local(i32)];
      const c: Cursor = { base: f.local(i32), q: f.local(i32), s, wrap1: f.local(i32), wrap0: f.local(i32), v: f.local(v128) };
      cur.push(c);
    }
    const word = (w: number) => f.get(desc).mem(I32.load, 4 * w);
    word(0).set(d1);
    word(1).set(d2);
    word(2).set(d3);
    cur.forEach((c, k) => {
      for (let t = 0; t < 4; t++) word(3 + 4 * k + t).set(c.s[t]);
      f.get(c.s[1]).get(d2).get(c.s[2]).op(I32.mul).op(I32.sub).set(c.wrap1);
      f.get(c.s[0]).get(d1).get(c.s[1]).op(I32.mul).op(I32.sub).set(c.wrap0);
    });
    // unravel start into (i0, i1, i2)
    f.get(start).get(d2).op(I32.rem_u).set(i2);
    f.get(start).get(d2).op(I32.div_u).set(q);
    f.get(q).get(d1).op(I32.rem_u).set(i1);
    f.get(q).get(d1).op(I32.div_u).set(q);
    cur.forEach((c, k) => {
      f.get(1 + k);
      f.get(q).get(c.s[0]).op(I32.mul).op(I32.add);
      f.get(i1).get(c.s[1]).op(I32.mul).op(I32.add);
      f.get(i2).get(c.s[2]).op(I32.mul).op(I32.add).set(c.base);
    });
    f.get(out).get(start).get(d3).op(I32.mul).i32c(2).op(I32.shl).op(I32.add).set(po);

    const rowLoop = (modes: Mode[]) => {
      f.for(row, () => f.get(start), () => f.get(end), 1, () => {
        cur.forEach((c, k) => {
          f.get(c.base).set(c.q);
          if (modes[k] === 'splat') f.get(c.base).simdMem(V.load32_splat, 0, 2).set(c.v);
        });
        innerLoop(e, cur, modes, d3, j, po, r, op);
        // carry into the outer dims
        f.inc(i2, 1);
        cur.forEach((c) => f.inc(c.base, () => f.get(c.s[2])));
        f.get(i2).get(d2).op(I32.ge_u).if(() => {
          f.i32c(0).set(i2);
          cur.forEach((c) => f.inc(c.base, () => f.get(c.wrap1)));
          f.inc(i1, 1);
          f.get(i1).get(d1).op(I32.ge_u).if(() => {
            f.i32c(0).set(i1);
            cur.forEach((c) => f.inc(c.base, () => f.get(c.wrap0)));
          });
        });
      });
    };
    // choose the specialisation once per call, outside the loops
    const dispatch = (k: number, modes: Mode[]) => {
      if (k === arity) return rowLoop(modes);
      const s3 = cur[k].s[3];
      f.get(s3).i32c(4).op(I32.eq).if(
        () => dispatch(k + 1, [...modes, 'contig']),
        () => f.get(s3).op(I32.eqz).if(() => dispatch(k + 1, [...modes, 'splat']), () => dispatch(k + 1, [...modes, 'gather'])),
      );
    };
    dispatch(0, []);
  });
}

function innerLoop(e: Emit, cur: Cursor[], modes: Mode[], d3: number, j: number, po: number, r: number, op: VecOp): void {
  const f = e.f;
  const vs = cur.map((c) => c.v);
  if (modes.every((m) => m !== 'gather')) {
    // two vectors per iteration: independent dependency chains for the out-of-order core to overlap
    const vs2 = cur.map(() => f.local(v128));
    const r0 = f.local(v128), r1 = f.local(v128);
    f.block(() =>
      f.loop(() => {
        f.get(j).i32c(8).op(I32.add).get(d3).op(I32.gt_s).brIf(1);
        cur.forEach((c, k) => {
          if (modes[k] !== 'contig') return;
          f.get(c.q).simdMem(V.load, 0, 0).set(c.v);
          f.get(c.q).simdMem(V.load, 16, 0).set(vs2[k]);
          f.inc(c.q, 32);
        });
        op(e, vs);
        f.set(r0);
        op(e, cur.map((c, k) => (modes[k] === 'contig' ? vs2[k] : c.v)));
        f.set(r1);
        f.get(po).get(r0).simdMem(V.store, 0, 0);
        f.get(po).get(r1).simdMem(V.store, 16, 0);
        f.inc(po, 32).inc(j, 8);
        f.br(0);
      }),
    );
  }
  f.block(() =>
    f.loop(() => {
      f.get(j).i32c(4).op(I32.add).get(d3).op(I32.gt_s).brIf(1);
      cur.forEach((c, k) => loadVec(f, c, modes[k]));
      f.get(po);
      op(e, vs);
      f.simdMem(V.store, 0, 0);
      f.inc(po, 16).inc(j, 4);
      f.br(0);
    }),
  );
  // 1–3 leftover elements: lane loads and stores
  f.get(d3).get(j).op(I32.sub).tee(r).if(() => {
    cur.forEach((c, k) => {
      if (modes[k] === 'splat') return;
      f.simd(V.const, ...new Array(16).fill(0)).set(c.v);
      for (let l = 0; l < 3; l++) {
        f.get(r).i32c(l).op(I32.gt_s).if(() => {
          f.get(c.q).get(c.v).simdMem(V.load32_lane, 0, 0, l).set(c.v);
          f.inc(c.q, () => f.get(c.s[3]));
        });
      }
    });
    const res = f.local(v128);
    op(e, vs);
    f.set(res);
    for (let l = 0; l < 3; l++) {
      f.get(r).i32c(l).op(I32.gt_s).if(() => {
        f.get(po).get(res).simdMem(V.store32_lane, 4 * l, 0, l);
      });
    }
    f.get(po).get(r).i32c(2).op(I32.shl).op(I32.add).set(po);
  });
  f.i32c(0).set(j);
}

function loadVec(f: Fn, c: Cursor, mode: Mode): void {
  if (mode === 'splat') return;
  if (mode === 'contig') {
    f.get(c.q).simdMem(V.load, 0, 0).set(c.v);
    f.inc(c.q, 16);
    return;
  }
  f.get(c.q).mem(F32.load, 0, 2).simd(V.f32x4_splat).set(c.v);
  for (let l = 1; l < 4; l++) {
    f.inc(c.q, () => f.get(c.s[3]));
    f.get(c.q).get(c.v).simdMem(V.load32_lane, 0, 0, l).set(c.v);
  }
  f.inc(c.q, () => f.get(c.s[3]));
}
