/**
 * The CPU fast path's wasm module: every kernel, emitted in one module against one shared memory, so the
 * main thread and the workers instantiate the same compiled code.
 */
import type { BinaryOp, UnaryOp } from '../../pointwise.ts';
import { ModuleBuilder } from './encoder.ts';
import { emitGemm, type GemmShape } from './emit-gemm.ts';
import { emitPointwise, type VecOp } from './emit-pointwise.ts';
import { emitLayerNorm, emitSoftmax, emitSums } from './emit-rows.ts';
import { V } from './opcodes.ts';
import { emitErf, emitExp, emitGelu, emitGeluTanh, emitLog, emitTanh, fconst, select } from './simdmath.ts';

export const PAGE = 65536;
/** 4 GiB: the most a wasm32 memory can address. Pages are committed only as the memory grows. */
export const MAX_PAGES = 65536;

const simple = (opcode: number): VecOp => (e, [a]) => e.f.get(a).simd(opcode);
const binop = (opcode: number): VecOp => (e, [a, b]) => e.f.get(a).get(b).simd(opcode);
/** Comparisons give 1 or 0 as floats, like the plain kernels. */
const compare = (opcode: number, swap = false): VecOp => (e, [a, b]) => {
  e.f.get(swap ? b : a).get(swap ? a : b).simd(opcode);
  fconst(e.f, 1).simd(V.and);
};

export const UNARY_FAST: Partial<Record<UnaryOp | 'copy', VecOp>> = {
  copy: (e, [a]) => e.f.get(a),
  neg: simple(V.f32x4_neg),
  abs: simple(V.f32x4_abs),
  sqrt: simple(V.f32x4_sqrt),
  floor: simple(V.f32x4_floor),
  rsqrt: (e, [a]) => fconst(e.f, 1).get(a).simd(V.f32x4_sqrt).simd(V.f32x4_div),
  // ±1 where x ≠ 0; zeros and NaN pass through as Math.sign does
  sign: (e, [a]) => {
    const f = e.f;
    select(
      f,
      () => {
        f.get(a);
        fconst(f, 0).simd(V.f32x4_gt);
        fconst(f, 1).simd(V.and).get(a);
        fconst(f, 0).simd(V.f32x4_lt);
        fconst(f, -1).simd(V.and).simd(V.or);
      },
      () => f.get(a),
      () => {
        f.get(a);
        fconst(f, 0).simd(V.f32x4_ne).get(a).get(a).simd(V.f32x4_eq).simd(V.and);
      },
    );
  },
  exp: (e, [a]) => emitExp(e, a),
  log: (e, [a]) => emitLog(e, a),
  tanh: (e, [a]) => emitTanh(e, a),
  erf: (e, [a]) => emitErf(e, a),
  gelu: (e, [a]) => emitGelu(e, a, false),
  gelu_tanh: (e, [a]) => emitGeluTanh(e, a, false),
};

export const BINARY_FAST: Partial<Record<BinaryOp, VecOp>> = {
  add: binop(V.f32x4_add),
  gelu_backward: (e, [a, b]) => {
    emitGelu(e, a, true);
    e.f.get(b).simd(V.f32x4_mul);
  },
  gelu_tanh_backward: (e, [a, b]) => {
    emitGeluTanh(e, a, true);
    e.f.get(b).simd(V.f32x4_mul);
  },
  sub: binop(V.f32x4_sub),
  mul: binop(V.f32x4_mul),
  div: binop(V.f32x4_div),
  // wasm's min/max propagate NaN, as the plain maximum/minimum do
  maximum: binop(V.f32x4_max),
  minimum: binop(V.f32x4_min),
  eq: compare(V.f32x4_eq),
  ne: compare(V.f32x4_ne),
  lt: compare(V.f32x4_lt),
  le: compare(V.f32x4_le),
  gt: compare(V.f32x4_gt),
  ge: compare(V.f32x4_ge),
};

export interface ModuleOptions {
  fma: boolean;
  gemm: GemmShape;
  shared: boolean;
}

export function buildModule(o: ModuleOptions): Uint8Array<ArrayBuffer> {
  const mb = new ModuleBuilder({ initial: 1, maximum: MAX_PAGES, shared: o.shared });
  for (const [op, fn] of Object.entries(UNARY_FAST)) emitPointwise(mb, o.fma, `u_${op}`, 1, fn!);
  for (const [op, fn] of Object.entries(BINARY_FAST)) emitPointwise(mb, o.fma, `b_${op}`, 2, fn!);
  emitSoftmax(mb, o.fma);
  emitLayerNorm(mb);
  emitSums(mb);
  emitGemm(mb, { ...o.gemm, fma: o.fma });
  return mb.encode();
}

/** A module using f32x4.relaxed_madd validates only where relaxed SIMD is on. */
export function relaxedProbe(): Uint8Array<ArrayBuffer> {
  const mb = new ModuleBuilder({ initial: 1, maximum: 1, shared: false });
  mb.func('f', [], [], (f) => {
    for (let i = 0; i < 3; i++) fconst(f, 1);
    f.simd(V.f32x4_relaxed_madd).op(0x1a);
  });
  return mb.encode();
}

/** A module using plain SIMD (v128) and a shared memory, the fast path's minimum. */
export function simdProbe(shared: boolean): Uint8Array<ArrayBuffer> {
  const mb = new ModuleBuilder({ initial: 1, maximum: 1, shared });
  mb.func('f', [], [], (f) => {
    fconst(f, 1);
    fconst(f, 2).simd(V.f32x4_add).op(0x1a);
  });
  return mb.encode();
}
