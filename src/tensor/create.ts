/** Creating tensors: from data, constants, ranges and seeded random numbers. */
import type { Backend } from '../backends/backend.ts';
import { defaultBackend } from '../backends/default.ts';
import { DTypeError, ShapeError, fmtShape } from '../core/errors.ts';
import { allocTyped, dtypeOfArray, type DType, type TypedArray } from '../core/dtype.ts';
import { sizeOf } from '../core/layout.ts';
import { defaultGenerator, Generator } from '../core/random.ts';
import { Tensor, type NestedArray } from './tensor.ts';

export interface CreateOptions {
  dtype?: DType;
  /** the default backend (backends/default.ts) when omitted */
  backend?: Backend;
  requiresGrad?: boolean;
}

function resolveBackend(b?: Backend): Backend {
  return b ?? defaultBackend();
}

function make(data: TypedArray, shape: readonly number[], opts: CreateOptions): Tensor {
  const backend = resolveBackend(opts.backend);
  const storage = backend.alloc(dtypeOfArray(data), data.length);
  if (data.length) backend.write(storage, data);
  const t = Tensor.fromStorage(backend, storage, shape);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function checkShape(op: string, shape: readonly number[]): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new ShapeError(`${op}: invalid shape ${fmtShape(shape)}`);
}

/**
 * A tensor from nested arrays, a flat array with `shape`, or a typed array (its dtype is kept unless
 * `dtype` says otherwise). Default dtype for plain numbers: float32.
 */
export function tensor(data: NestedArray | TypedArray | number[], opts: CreateOptions & { shape?: readonly number[] } = {}): Tensor {
  let flat: ArrayLike<number>;
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    flat = data as TypedArray;
    dtype = opts.dtype ?? dtypeOfArray(data as TypedArray);
    shape = opts.shape ? [...opts.shape] : [flat.length];
  } else {
    shape = [];
    for (let d: NestedArray = data; Array.isArray(d); d = d[0]) shape.push(d.length);
    flat = Array.isArray(data) ? ((data as unknown[]).flat(Infinity) as number[]) : [data as number];
    if (flat.length !== sizeOf(shape)) throw new ShapeError(`tensor: ragged nested array (shape ${fmtShape(shape)} but ${flat.length} values)`);
    if (opts.shape) shape = [...opts.shape];
    dtype = opts.dtype ?? 'float32';
  }
  checkShape('tensor', shape);
  if (sizeOf(shape) !== flat.length) throw new ShapeError(`tensor: ${flat.length} values do not fill shape ${fmtShape(shape)}`);
  const arr = allocTyped(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) arr[i] = flat[i];
  return make(arr, shape, opts);
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  checkShape('full', shape);
  const arr = allocTyped(opts.dtype ?? 'float32', sizeOf(shape));
  if (value !== 0) arr.fill(value);
  return make(arr, shape, opts);
}

export const zeros = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 1, opts);
export const scalar = (value: number, opts: CreateOptions = {}): Tensor => full([], value, opts);

function like(t: Tensor, opts: CreateOptions): CreateOptions {
  return { dtype: t.dtype, backend: t.backend, ...opts };
}
export const zerosLike = (t: Tensor, opts: CreateOptions = {}): Tensor => full(t.shape, 0, like(t, opts));
export const onesLike = (t: Tensor, opts: CreateOptions = {}): Tensor => full(t.shape, 1, like(t, opts));
export const fullLike = (t: Tensor, value: number, opts: CreateOptions = {}): Tensor => full(t.shape, value, like(t, opts));

/** [start, start + step, …) below `end`; default dtype int32 when all arguments are integers. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new ShapeError('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const ints = [start, end, step].every(Number.isInteger);
  const dtype = opts.dtype ?? (ints ? 'int32' : 'float32');
  const arr = allocTyped(dtype, n);
  for (let i = 0; i < n; i++) arr[i] = start + i * step;
  return make(arr, [n], { ...opts, dtype });
}

export interface RandomOptions extends CreateOptions {
  /** generator to draw from (default: the global one, see manualSeed) */
  generator?: Generator;
}

function random(kind: 'uniform' | 'normal', shape: readonly number[], opts: RandomOptions): Tensor {
  checkShape(kind === 'uniform' ? 'rand' : 'randn', shape);
  const dtype = opts.dtype ?? 'float32';
  if (dtype === 'int32') throw new DTypeError(`${kind === 'uniform' ? 'rand' : 'randn'}: int32 is not a float dtype`);
  const backend = resolveBackend(opts.backend);
  const gen = opts.generator ?? defaultGenerator();
  const n = sizeOf(shape);
  const t = Tensor.fromStorage(backend, backend.random(kind, dtype, n, gen.seed, gen.take(n)), shape);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Uniform numbers in (0, 1), reproducible from the generator's seed on every backend. */
export const rand = (shape: readonly number[], opts: RandomOptions = {}): Tensor => random('uniform', shape, opts);
/** Standard normal numbers, reproducible from the generator's seed on every backend. */
export const randn = (shape: readonly number[], opts: RandomOptions = {}): Tensor => random('normal', shape, opts);
