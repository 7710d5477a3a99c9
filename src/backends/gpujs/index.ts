/**
 * The gpu.js backend: the WebGL path for machines and browsers without WebGPU (headless-gl in Node, under
 * an X display such as `xvfb-run -a`). float32 tensors live in gpu.js float textures and every kernel of
 * the interface runs as a GLSL fragment program, results staying on the GPU between kernels. float64 is
 * refused (WebGL has no float64); int32 storage and the ops listed in fallback.ts run on the CPU backend and
 * are counted, so `prilora bench` can say how much of a workload stayed on the GPU.
 *
 * gpu.js is loaded, and GL started, only by `createGpujsBackend()`; importing the engine touches neither.
 */
import { BackendError, DTypeError } from '../../core/errors.ts';
import type { DType, TypedArray } from '../../core/dtype.ts';
import { sizeOf } from '../../core/layout.ts';
import { fillRandom } from '../../core/random.ts';
import type { Backend, LayerNormResult, RandomKind, ReduceOp, Storage, View } from '../backend.ts';
import type { CpuBackend } from '../cpu/index.ts';
import { BINARY, TERNARY, UNARY, type BinaryOp, type TernaryOp, type UnaryOp } from '../pointwise.ts';
import { GlDevice, type GlMode, type GlTexture } from './device.ts';
import { assignView, pointwise, type Operand } from './elementwise.ts';
import { Fallback } from './fallback.ts';
import { matmul } from './matmul.ts';
import { SCATTER_WORK_LIMIT, gather, reduce, scatterAdd } from './reduce.ts';
import { layerNorm, softmax } from './rows.ts';
import { GlStorage, Residency, fill } from './storage.ts';

type GlDType = 'float32' | 'int32';

function glDtype(dtype: DType): GlDType {
  if (dtype === 'float64') {
    throw new DTypeError('gpujs: float64 is not supported (WebGL textures hold float32); use float32, or the cpu backend for float64');
  }
  return dtype;
}

const REDUCE_INIT: Record<ReduceOp, number> = { sum: 0, max: -Infinity, min: Infinity };

export class GpujsBackend implements Backend {
  readonly name = 'gpujs';
  private live = 0;
  private readonly res: Residency;
  private readonly fb: Fallback;

  constructor(private readonly dev: GlDevice) {
    this.res = new Residency(dev);
    this.fb = new Fallback(this.res, (s) => this.own(s), (dtype, data) => this.adopt(dtype, data));
  }

  /** The GL path in use, proven when the backend started (device.ts). */
  get kernelMode(): GlMode {
    return { ...this.dev.mode };
  }

  /** One line for the CLI (args.ts prints it on stderr): the kernel path actually proven at start. */
  describe(): string {
    const m = this.dev.mode;
    return `gpu.js ${m.mode} mode (${m.kernelClass} kernels) on ${m.renderer}, ${m.version}, max texture ${m.maxTextureSize}`;
  }

  /** CPU fallbacks since start (or the last reset), per op; reasons in fallback.ts. */
  fallbackCounts(): Record<string, number> {
    return this.fb.counted();
  }

  resetFallbackCounts(): void {
    this.fb.reset();
  }

  /** Textures held by live storages (a leak shows here before it shows in GPU memory). */
  liveTextures(): number {
    return this.res.textures;
  }

  /** GL programs compiled so far (each costs tens of milliseconds on a software renderer). */
  compiledKernels(): number {
    return this.dev.compiled;
  }

  alloc(dtype: DType, length: number): GlStorage {
    const s = new GlStorage(glDtype(dtype), length);
    this.live++;
    return s;
  }

  free(storage: Storage): void {
    const s = this.own(storage);
    this.res.dropTexture(s);
    s.host = null;
    s.freed = true;
    this.live--;
  }

  write(storage: Storage, data: TypedArray, offset = 0): void {
    const s = this.own(storage);
    const whole = offset === 0 && data.length === s.length;
    const host = whole ? (s.dtype === 'int32' ? new Int32Array(s.length) : new Float32Array(s.length)) : this.res.host(s);
    host.set(data, offset);
    this.res.setHost(s, host);
  }

  async read(storage: Storage): Promise<TypedArray> {
    return this.readSync(storage);
  }

  /** WebGL's readPixels is synchronous, so unlike WebGPU this backend can read without awaiting. */
  readSync(storage: Storage): TypedArray {
    return this.res.host(this.own(storage)).slice();
  }

  liveBuffers(): number {
    return this.live;
  }

  unary(op: UnaryOp, x: View, outDtype: DType): Storage {
    return this.pointwise(`unary.${op}`, UNARY[op].glsl, [x], outDtype, (cpu, v) => cpu.unary(op, v[0], outDtype));
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
    return this.pointwise(`binary.${op}`, BINARY[op].glsl, [a, b], outDtype, (cpu, v) => cpu.binary(op, v[0], v[1], outDtype));
  }

  ternary(op: TernaryOp, a: View, b: View, c: View, outDtype: DType): Storage {
    return this.pointwise(`ternary.${op}`, TERNARY[op].glsl, [a, b, c], outDtype, (cpu, v) => cpu.ternary(op, v[0], v[1], v[2], outDtype));
  }

  copy(x: View, outDtype: DType): Storage {
    return this.pointwise('copy', 'a', [x], outDtype, (cpu, v) => cpu.copy(v[0], outDtype));
  }

  assign(dst: View, src: View): void {
    const d = this.own(dst.storage);
    if (sizeOf(dst.layout.shape) === 0) return;
    let reason = 'assign(int32)';
    if (d.dtype === 'float32') {
      const old = this.res.texture(d)!;
      const ops = this.operands([src]);
      const tex = ops ? assignView(this.dev, old, d.length, dst.layout, ops[0]) : null;
      if (tex) return this.res.setTexture(d, tex);
      reason = ops ? 'assign(view)' : 'assign(int32 > 2^24)';
    }
    const host = this.fb.run(reason, [dst, src], (cpu, [cd, cs]) => {
      cpu.assign(cd, cs);
      return cpu.readSync(cd.storage);
    });
    this.res.setHost(d, host as Float32Array | Int32Array);
  }

  reduce(op: ReduceOp, x: View, axes: readonly number[]): Storage {
    const outShape = x.layout.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const n = sizeOf(outShape);
    const dtype = glDtype(x.storage.dtype);
    const cpuFn = (cpu: CpuBackend, v: View[]) => cpu.reduce(op, v[0], axes);
    if (n === 0) return this.alloc(dtype, 0);
    if (dtype === 'int32') return this.fallback(`reduce.${op}(int32)`, [x], cpuFn);
    if (sizeOf(x.layout.shape) === 0) return this.fromTexture(fill(this.dev, n, REDUCE_INIT[op]), n);
    const ops = this.operands([x])!;
    return this.fromTexture(reduce(this.dev, op, ops[0], axes, REDUCE_INIT[op]), n);
  }

  matmul(a: View, b: View): Storage {
    const nd = a.layout.shape.length;
    const outShape = [...a.layout.shape.slice(0, nd - 1), b.layout.shape[nd - 1]];
    const n = sizeOf(outShape);
    const dtype = glDtype(a.storage.dtype);
    if (n === 0) return this.alloc(dtype, 0);
    if (dtype === 'int32') return this.fallback('matmul(int32)', [a, b], (cpu, v) => cpu.matmul(v[0], v[1]));
    if (a.layout.shape[nd - 1] === 0) return this.fromTexture(fill(this.dev, n, 0), n);
    const ops = this.operands([a, b])!;
    return this.fromTexture(matmul(this.dev, ops[0], ops[1]), n);
  }

  gather(x: View, axis: number, index: View): Storage {
    const n = sizeOf(index.layout.shape);
    const dtype = glDtype(x.storage.dtype);
    const cpuFn = (cpu: CpuBackend, v: View[]) => cpu.gather(v[0], axis, v[1]);
    if (n === 0) return this.alloc(dtype, 0);
    if (dtype === 'int32') return this.fallback('gather(int32)', [x, index], cpuFn);
    const ops = this.operands([x, index]);
    if (!ops) return this.fallback('gather(int32 > 2^24)', [x, index], cpuFn);
    return this.fromTexture(gather(this.dev, ops[0], axis, ops[1]), n);
  }

  scatterAdd(shape: readonly number[], dtype: DType, axis: number, index: View, src: View): Storage {
    const n = sizeOf(shape);
    const dt = glDtype(dtype);
    const cpuFn = (cpu: CpuBackend, v: View[]) => cpu.scatterAdd(shape, dtype, axis, v[0], v[1]);
    if (n === 0) return this.alloc(dt, 0);
    if (dt === 'int32') return this.fallback('scatterAdd(int32)', [index, src], cpuFn);
    if (sizeOf(index.layout.shape) === 0) return this.alloc(dt, n);
    if (n * index.layout.shape[axis] > SCATTER_WORK_LIMIT) return this.fallback('scatterAdd(size)', [index, src], cpuFn);
    const ops = this.operands([index, src]);
    if (!ops) return this.fallback('scatterAdd(int32 > 2^24)', [index, src], cpuFn);
    return this.fromTexture(scatterAdd(this.dev, shape, axis, ops[0], ops[1]), n);
  }

  softmax(x: View, log: boolean): Storage {
    const [rows, cols] = x.layout.shape;
    const dtype = glDtype(x.storage.dtype);
    if (rows * cols === 0) return this.alloc(dtype, 0);
    if (dtype === 'int32') return this.fallback('softmax(int32)', [x], (cpu, v) => cpu.softmax(v[0], log));
    const ops = this.operands([x])!;
    return this.fromTexture(softmax(this.dev, ops[0], rows, cols, log), rows * cols);
  }

  layerNorm(x: View, weight: View, bias: View, eps: number): LayerNormResult {
    const [rows, cols] = x.layout.shape;
    const dtype = glDtype(x.storage.dtype);
    const ops = dtype === 'float32' && rows > 0 && cols > 0 ? this.operands([x, weight, bias]) : null;
    if (!ops) {
      // int32 input, or an empty row (whose mean is 0/0: left to the CPU's exact NaN rather than GLSL's undefined)
      const name = rows > 0 && cols === 0 ? 'layerNorm(empty rows)' : 'layerNorm';
      if (rows === 0) return { y: this.alloc(dtype, 0), mean: this.alloc(dtype, 0), rstd: this.alloc(dtype, 0) };
      return this.fb.run(name, [x, weight, bias], (cpu, v) => {
        const r = cpu.layerNorm(v[0], v[1], v[2], eps);
        return { y: this.fb.toGl(r.y), mean: this.fb.toGl(r.mean), rstd: this.fb.toGl(r.rstd) };
      });
    }
    const t = layerNorm(this.dev, ops[0], ops[1], ops[2], rows, cols, eps);
    return { y: this.fromTexture(t.y, rows * cols), mean: this.fromTexture(t.mean, rows), rstd: this.fromTexture(t.rstd, rows) };
  }

  random(kind: RandomKind, dtype: DType, length: number, seed: number, offset: number): Storage {
    const s = this.alloc(dtype, length);
    this.fb.count('random');
    const host = s.dtype === 'int32' ? new Int32Array(length) : new Float32Array(length);
    fillRandom(kind, host, seed, offset);
    this.res.setHost(s, host);
    return s;
  }

  private pointwise(name: string, expr: string, views: readonly View[], outDtype: DType, cpuFn: (cpu: CpuBackend, v: View[]) => Storage): Storage {
    const dtype = glDtype(outDtype);
    const shape = views[0].layout.shape;
    const n = sizeOf(shape);
    if (n === 0) return this.alloc(dtype, 0);
    if (dtype === 'int32') return this.fallback(`${name}(int32)`, views, cpuFn);
    const ops = this.operands(views);
    if (!ops) return this.fallback(`${name}(int32 > 2^24)`, views, cpuFn);
    return this.fromTexture(pointwise(this.dev, name, expr, ops, shape), n);
  }

  /** Textures of the views' storages (non-empty); null if an int32 one cannot be read exactly as float. */
  private operands(views: readonly View[]): Operand[] | null {
    const out: Operand[] = [];
    for (const v of views) {
      const tex = this.res.texture(this.own(v.storage));
      if (!tex) return null;
      out.push({ tex, layout: v.layout });
    }
    return out;
  }

  private fallback(name: string, views: readonly View[], fn: (cpu: CpuBackend, v: View[]) => Storage): Storage {
    return this.fb.run(name, views, (cpu, v) => this.fb.toGl(fn(cpu, v)));
  }

  private fromTexture(tex: GlTexture, length: number): GlStorage {
    const s = this.alloc('float32', length);
    this.res.setTexture(s, tex);
    return s;
  }

  private adopt(dtype: DType, data: TypedArray): GlStorage {
    const s = this.alloc(dtype, data.length);
    this.res.setHost(s, data instanceof Float64Array ? Float32Array.from(data) : data);
    return s;
  }

  private own(s: Storage): GlStorage {
    if (!(s instanceof GlStorage)) throw new BackendError('gpujs: storage belongs to another backend');
    if (s.freed) throw new BackendError('gpujs: use of freed storage');
    return s;
  }
}

/** Start gpu.js in GL mode (proven by a probe kernel) and wrap it as a backend. */
export async function createGpujsBackend(): Promise<GpujsBackend> {
  return new GpujsBackend(await GlDevice.start());
}
