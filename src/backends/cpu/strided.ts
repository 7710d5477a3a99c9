/**
 * Strided loops for the CPU backend. Pointwise kernels are generated once per op from the expressions in
 * ../pointwise.ts (webgpu-torch's idea: one declaration, one kernel per target): the outer dims are walked
 * with a carry counter, the innermost dim is a tight loop with constant strides, so contiguous, transposed
 * and broadcast operands all run the same code without copies.
 */
import type { TypedArray } from '../../core/dtype.ts';
import { sizeOf, type Layout } from '../../core/layout.ts';
import { JS_HELPERS } from '../pointwise.ts';

export interface Operand {
  readonly data: TypedArray;
  readonly layout: Layout;
}

export type PointwiseKernel = (out: TypedArray, shape: readonly number[], operands: readonly Operand[]) => void;

const NAMES = ['a', 'b', 'c'];
const cache = new Map<string, PointwiseKernel>();

/** Compile (once) the loop computing `expr` of `arity` operands into a contiguous output. */
export function pointwiseKernel(expr: string, arity: number): PointwiseKernel {
  const key = `${arity}:${expr}`;
  let k = cache.get(key);
  if (k) return k;
  const ids = NAMES.slice(0, arity);
  const src = `
    const nd = shape.length;
    const size = sizeOfShape(shape);
    if (size === 0) return;
    ${ids.map((n, i) => `const d${n} = ops[${i}].data, l${n} = ops[${i}].layout;`).join('\n')}
    if (nd === 0) {
      ${ids.map((n) => `const ${n} = d${n}[l${n}.offset];`).join(' ')}
      out[0] = ${expr};
      return;
    }
    const inner = shape[nd - 1];
    ${ids.map((n) => `const s${n} = l${n}.strides[nd - 1]; let o${n} = l${n}.offset;`).join('\n')}
    const idx = new Int32Array(nd);
    let p = 0;
    for (let outer = size / inner; outer > 0; outer--) {
      ${ids.map((n) => `let i${n} = o${n};`).join(' ')}
      for (let j = 0; j < inner; j++) {
        ${ids.map((n) => `const ${n} = d${n}[i${n}]; i${n} += s${n};`).join(' ')}
        out[p++] = ${expr};
      }
      for (let d = nd - 2; d >= 0; d--) {
        if (++idx[d] < shape[d]) {
          ${ids.map((n) => `o${n} += l${n}.strides[d];`).join(' ')}
          break;
        }
        idx[d] = 0;
        ${ids.map((n) => `o${n} -= l${n}.strides[d] * (shape[d] - 1);`).join(' ')}
      }
    }`;
  const helperNames = Object.keys(JS_HELPERS);
  const factory = new Function('sizeOfShape', ...helperNames, `return function (out, shape, ops) {${src}\n};`);
  k = factory(sizeOf, ...Object.values(JS_HELPERS)) as PointwiseKernel;
  cache.set(key, k);
  return k;
}

/** Storage offset of every element of a layout, in row-major order of its shape. */
export function elementOffsets(layout: Layout): Int32Array {
  const { shape, strides } = layout;
  const n = sizeOf(shape);
  const out = new Int32Array(n);
  if (n === 0) return out;
  const nd = shape.length;
  if (nd === 0) {
    out[0] = layout.offset;
    return out;
  }
  const idx = new Int32Array(nd);
  const inner = shape[nd - 1];
  const si = strides[nd - 1];
  let o = layout.offset;
  let p = 0;
  for (let outer = n / inner; outer > 0; outer--) {
    for (let j = 0, at = o; j < inner; j++, at += si) out[p++] = at;
    for (let d = nd - 2; d >= 0; d--) {
      if (++idx[d] < shape[d]) {
        o += strides[d];
        break;
      }
      idx[d] = 0;
      o -= strides[d] * (shape[d] - 1);
    }
  }
  return out;
}
