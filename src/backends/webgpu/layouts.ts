/**
 * Layout arithmetic on the host before a launch: dims are merged wherever every operand walks them as
 * one, so a contiguous or simply broadcast op becomes a rank-1 kernel (one division per element instead
 * of one per dim) and fewer shader variants get compiled.
 */
import { contiguousStrides } from '../../core/layout.ts';

export interface Coalesced {
  shape: number[];
  /** strides per operand, in the operands' order */
  strides: number[][];
}

/**
 * Drop size-1 dims and merge neighbours d, d+1 where, for every operand, stride[d] = stride[d+1]·shape[d+1].
 * Row-major order over the result equals row-major order over the input shape, so a contiguous output
 * indexed by the linear item number stays valid (pass its strides as one of the operands to be safe).
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): Coalesced {
  const keep = shape.map((d, i) => i).filter((i) => shape[i] !== 1);
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (const d of keep) {
    const last = outShape.length - 1;
    const mergeable = last >= 0 && strides.every((s, k) => outStrides[k][last] === s[d] * shape[d]);
    if (mergeable) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** Coalesce operands together with the contiguous output they are written to. */
export function coalesceWithOutput(shape: readonly number[], strides: readonly (readonly number[])[]): Coalesced {
  const c = coalesce(shape, [...strides, contiguousStrides(shape)]);
  c.strides.pop();
  return c;
}

/** A u32 parameter list under construction (float parameters go in as their bits). */
export class Params {
  /** read by the launch, which copies them into the submit's parameter block */
  readonly words: number[] = [];
  private static readonly f32 = new Float32Array(1);
  private static readonly u32 = new Uint32Array(Params.f32.buffer);

  /** Index the next value will have. */
  get next(): number {
    return this.words.length;
  }

  push(...values: readonly number[]): number {
    const at = this.words.length;
    for (const v of values) this.words.push(Params.checked(v));
    return at;
  }

  pushFloat(value: number): number {
    Params.f32[0] = value;
    return this.push(Params.u32[0]);
  }

  /** Replace the word at `index` (pushed earlier). */
  set(index: number, value: number): void {
    if (index >= this.words.length) throw new RangeError(`webgpu: parameter ${index} was never pushed`);
    this.words[index] = Params.checked(value);
  }

  private static checked(v: number): number {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`webgpu: parameter ${v} is not a u32`);
    return v;
  }
}
