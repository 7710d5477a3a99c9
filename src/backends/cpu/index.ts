/**
 * The CPU backend: storage is a typed array; pointwise kernels are generated strided loops, the rest are
 * the plain kernels in kernels.ts. It is the reference every other backend is tested against.
 *
 * float32 has a fast path (./wasm): storage lives in a shared WebAssembly.Memory and the hot kernels are
 * wasm SIMD emitted at run time, split across worker_threads. Each fast kernel declines the cases it does
 * not cover and the plain kernel runs instead; float64 always takes the plain path. `setCpuPath('plain')`
 * turns the fast path off, which is how the tests use the plain kernels as the oracle for the fast ones;
 * `PRILORA_CPU=plain` turns it off for the whole process.
 */
import { BackendError } from '../../core/errors.ts';
import { allocTyped, type DType, type TypedArray } from '../../core/dtype.ts';
import { contiguousLayout, sizeOf } from '../../core/layout.ts';
import { fillRandom } from '../../core/random.ts';
import { type AdamWResult, type AdamWStep, type Backend, type LayerNormResult, type RandomKind, type ReduceOp, type Storage, type View } from '../backend.ts';
import { BINARY, TERNARY, UNARY, type BinaryOp, type TernaryOp, type UnaryOp } from '../pointwise.ts';
import { adamwInto, columnNormEmaInto, gatherInto, layerNormInto, matmulInto, reduceInto, scatterAddInto, softmaxInto } from './kernels.ts';
import { gatherRows, scatterAddRows } from './rows.ts';
import { elementOffsets, pointwiseKernel, type Operand } from './strided.ts';
import { FastKernels, type FView } from './wasm/fast.ts';
import type { Heap } from './wasm/heap.ts';
import { Runtime, warnOnce, type FastInfo, type Feature } from './wasm/runtime.ts';

class CpuStorage implements Storage {
  freed = false;
  readonly length: number;
  private view: TypedArray;
  /** `ptr`: byte address in the wasm memory (`heap`), or -1 for an ordinary typed array */
  constructor(data: TypedArray, readonly ptr = -1, private readonly heap: Heap | null = null) {
    this.view = data;
    this.length = data.length;
  }
  get data(): TypedArray {
    // a non-shared wasm memory detaches its buffer when it grows (shared ones never do): view the block anew
    if (this.heap && this.view.buffer !== this.heap.buffer) this.view = this.heap.f32(this.ptr, this.length);
    return this.view;
  }
  get dtype(): DType {
    return this.view instanceof Float32Array ? 'float32' : this.view instanceof Float64Array ? 'float64' : 'int32';
  }
}

export type CpuPath = 'fast' | 'plain';

const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
/** PRILORA_CPU=plain wins over setCpuPath, so a whole test run can be pinned to the plain kernels. */
const forcedPlain = env.PRILORA_CPU === 'plain';
let path: CpuPath = forcedPlain ? 'plain' : 'fast';
let runtime: Runtime | string | null = null;
let kernels: FastKernels | null = null;

/** The fast kernels, started on first use (null on the plain path or where wasm SIMD is missing). */
function fast(): FastKernels | null {
  if (path !== 'fast') return null;
  if (runtime === null) {
    // PRILORA_CPU_WITHOUT=relaxed,shared,workers,simd pretends those are missing (to test the fallbacks)
    runtime = Runtime.create((env.PRILORA_CPU_WITHOUT?.split(',') ?? []) as Feature[]);
    if (typeof runtime === 'string') warnOnce(`CPU fast path unavailable (${runtime}); using the plain TypeScript kernels`);
    else {
      kernels = new FastKernels(runtime);
      if (runtime.info.reason) warnOnce(`${runtime.info.reason}: the CPU fast path runs single-threaded`);
    }
  }
  return kernels;
}

/** Select the float32 kernels: 'fast' (wasm SIMD + threads, the default) or 'plain' (the reference). */
export function setCpuPath(p: CpuPath): void {
  path = forcedPlain ? 'plain' : p;
}

/** Threads for the fast path's kernels (default: one per core, or PRILORA_THREADS). */
export function setCpuThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new BackendError(`cpu: threads must be a positive integer, got ${n}`);
  const k = fast();
  k?.rt.setThreads(n);
}

export function cpuInfo(): FastInfo & { path: CpuPath; workersReady: number } {
  const k = fast();
  if (k) return { ...k.rt.info, heapBytes: k.rt.heap.byteLength, heapInUse: k.rt.heap.inUse, path, workersReady: k.rt.workersReady };
  const reason = path === 'plain' ? 'plain path selected' : typeof runtime === 'string' ? runtime : 'not started';
  return { enabled: false, relaxedSimd: false, sharedMemory: false, threads: 1, maxThreads: 1, gemm: null, heapBytes: 0, heapInUse: 0, reason, path, workersReady: 0 };
}

/** Stop the worker threads (they also end with the process). */
export function shutdownCpuThreads(): void {
  if (kernels) kernels.rt.close();
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  private live = 0;

  /** The fast path's worker threads are per process: every CpuBackend shares them. */
  setThreads(n: number): void {
    setCpuThreads(n);
  }

  alloc(dtype: DType, length: number): CpuStorage {
    return this.allocate(dtype, length, true);
  }

  /** Kernel outputs skip zeroing: every kernel writes all of its output. */
  private allocate(dtype: DType, length: number, zero: boolean): CpuStorage {
    this.live++;
    const k = dtype === 'float32' && length > 0 ? fast() : null;
    if (k) {
      const ptr = k.rt.heap.alloc(4 * length);
      if (ptr >= 0) {
        const data = k.rt.heap.f32(ptr, length);
        if (zero) data.fill(0);
        return new CpuStorage(data, ptr, k.rt.heap);
      }
    }
    return new CpuStorage(allocTyped(dtype, length));
  }

  free(storage: Storage): void {
    const s = this.own(storage);
    if (s.freed) throw new BackendError('cpu: storage freed twice');
    s.freed = true;
    this.live--;
    if (s.ptr >= 0) (runtime as Runtime).heap.release(s.ptr);
  }

  write(storage: Storage, data: TypedArray, offset = 0): void {
    this.own(storage).data.set(data, offset);
  }

  async read(storage: Storage): Promise<TypedArray> {
    return this.readSync(storage);
  }

  readSync(storage: Storage): TypedArray {
    return this.own(storage).data.slice();
  }

  liveBuffers(): number {
    return this.live;
  }

  unary(op: UnaryOp, x: View, outDtype: DType): Storage {
    const out = this.output(outDtype, x.layout.shape);
    const k = this.fastFor(outDtype, x);
    if (k && out.ptr >= 0 && k.unary(op, this.fv(x), out.ptr)) return out;
    return this.pointwise(UNARY[op].js, [x], out);
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
    const out = this.output(outDtype, a.layout.shape);
    const k = this.fastFor(outDtype, a, b);
    if (k && out.ptr >= 0 && k.binary(op, this.fv(a), this.fv(b), out.ptr)) return out;
    return this.pointwise(BINARY[op].js, [a, b], out);
  }

  ternary(op: TernaryOp, a: View, b: View, c: View, outDtype: DType): Storage {
    return this.pointwise(TERNARY[op].js, [a, b, c], this.output(outDtype, a.layout.shape));
  }

  copy(x: View, outDtype: DType): Storage {
    const out = this.output(outDtype, x.layout.shape);
    const k = this.fastFor(outDtype, x);
    if (k && out.ptr >= 0 && k.unary('copy', this.fv(x), out.ptr)) return out;
    return this.pointwise('a', [x], out);
  }

  assign(dst: View, src: View): void {
    const d = this.own(dst.storage).data;
    const tmp = allocTyped(dst.storage.dtype, sizeOf(dst.layout.shape));
    pointwiseKernel('a', 1)(tmp, src.layout.shape, [this.operand(src)]);
    const offsets = elementOffsets(dst.layout);
    for (let i = 0; i < tmp.length; i++) d[offsets[i]] = tmp[i];
  }

  reduce(op: ReduceOp, x: View, axes: readonly number[]): Storage {
    const outShape = x.layout.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = this.output(x.storage.dtype, outShape);
    const k = op === 'sum' ? this.fastFor(x.storage.dtype, x) : null;
    if (k && out.ptr >= 0 && k.sum(this.fv(x), axes, out.ptr)) return out;
    reduceInto(op, this.operand(x), axes, out.data);
    return out;
  }

  matmul(a: View, b: View): Storage {
    const nd = a.layout.shape.length;
    const outShape = [...a.layout.shape.slice(0, nd - 1), b.layout.shape[nd - 1]];
    const out = this.output(a.storage.dtype, outShape);
    const k = this.fastFor(a.storage.dtype, a, b);
    if (!(k && out.ptr >= 0 && k.matmul(this.fv(a), this.fv(b), out.ptr))) matmulInto(this.operand(a), this.operand(b), out.data);
    return out;
  }

  gather(x: View, axis: number, index: View): Storage {
    const out = this.output(x.storage.dtype, index.layout.shape);
    if (!(this.fastFor(x.storage.dtype, x) && gatherRows(this.operand(x), axis, this.operand(index), out.data))) {
      gatherInto(this.operand(x), axis, this.operand(index), out.data);
    }
    return out;
  }

  scatterAdd(shape: readonly number[], dtype: DType, axis: number, index: View, src: View): Storage {
    const out = this.alloc(dtype, sizeOf(shape));
    const layout = contiguousLayout(shape);
    if (!(this.fastFor(dtype, src) && scatterAddRows(out.data, layout, axis, this.operand(index), this.operand(src)))) {
      scatterAddInto(out.data, layout, axis, this.operand(index), this.operand(src));
    }
    return out;
  }

  softmax(x: View, log: boolean): Storage {
    const [rows, cols] = x.layout.shape;
    const out = this.output(x.storage.dtype, [rows, cols]);
    const k = this.fastFor(x.storage.dtype, x);
    if (k && out.ptr >= 0 && k.softmax(this.fv(x), rows, cols, log, out.ptr)) return out;
    softmaxInto(this.operand(x), rows, cols, log, out.data);
    return out;
  }

  layerNorm(x: View, weight: View, bias: View, eps: number): LayerNormResult {
    const [rows, cols] = x.layout.shape;
    const dt = x.storage.dtype;
    const y = this.output(dt, [rows, cols]), mean = this.output(dt, [rows]), rstd = this.output(dt, [rows]);
    const k = this.fastFor(dt, x, weight, bias);
    const fast = k && y.ptr >= 0 && mean.ptr >= 0 && rstd.ptr >= 0 && k.layerNorm(this.fv(x), this.fv(weight), this.fv(bias), rows, cols, eps, y.ptr, mean.ptr, rstd.ptr);
    if (!fast) layerNormInto(this.operand(x), this.operand(weight), this.operand(bias), rows, cols, eps, y.data, mean.data, rstd.data);
    return { y, mean, rstd };
  }

  random(kind: RandomKind, dtype: DType, length: number, seed: number, offset: number): Storage {
    const out = this.output(dtype, [length]);
    fillRandom(kind, out.data, seed, offset);
    return out;
  }

  adamw(p: View, g: View, m: View, v: View, mask: View | null, h: AdamWStep): AdamWResult {
    const dt = p.storage.dtype, shape = p.layout.shape;
    const out = { p: this.output(dt, shape), m: this.output(dt, shape), v: this.output(dt, shape) };
    const operands = [p, g, m, v, ...(mask ? [mask] : [])].map((x) => this.flat(x));
    adamwInto(operands, sizeOf(shape), h, { p: out.p.data, m: out.m.data, v: out.v.data });
    return out;
  }

  columnNormEma(x: View, rowMask: View | null, prev: View, beta: number, inPlace = false): Storage {
    const [rows, cols] = x.layout.shape;
    const from = this.flat(prev);
    // in place, each element of prev is read before it is written
    const out = inPlace ? this.own(prev.storage) : this.output(x.storage.dtype, [cols]);
    columnNormEmaInto(this.flat(x), rowMask && this.flat(rowMask), from, rows, cols, beta, inPlace ? out.data.subarray(from.offset) : out.data);
    return out;
  }

  private output(dtype: DType, shape: readonly number[]): CpuStorage {
    return this.allocate(dtype, sizeOf(shape), false);
  }

  /** The fast kernels when the result is float32 and every operand lives in wasm memory. */
  private fastFor(outDtype: DType, ...views: View[]): FastKernels | null {
    if (outDtype !== 'float32') return null;
    const k = fast();
    if (!k) return null;
    for (const v of views) {
      const s = this.own(v.storage);
      if (s.ptr < 0 || s.dtype !== 'float32') return null;
    }
    return k;
  }

  private fv(v: View): FView {
    return { ptr: (v.storage as CpuStorage).ptr, layout: v.layout };
  }

  private pointwise(expr: string, views: View[], out: CpuStorage): CpuStorage {
    pointwiseKernel(expr, views.length)(out.data, views[0].layout.shape, views.map((v) => this.operand(v)));
    return out;
  }

  /** A contiguous view as its array and the offset its elements start at. */
  private flat(v: View): { data: TypedArray; offset: number } {
    return { data: this.own(v.storage).data, offset: v.layout.offset };
  }

  private operand(v: View): Operand {
    return { data: this.own(v.storage).data, layout: v.layout };
  }

  private own(s: Storage): CpuStorage {
    if (!(s instanceof CpuStorage)) throw new BackendError('cpu: storage belongs to another backend');
    if (s.freed) throw new BackendError('cpu: use of freed storage');
    return s;
  }
}

let shared: CpuBackend | null = null;

/** The process's CPU backend (operands of one op must share a backend object, so one is enough). */
export function cpuBackend(): CpuBackend {
  return (shared ??= new CpuBackend());
}
