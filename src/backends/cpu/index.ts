/**
 * The CPU backend: storage is a typed array; pointwise kernels are generated strided loops, the rest are
 * the plain kernels in kernels.ts. It is the reference every other backend is tested against.
 */
import { BackendError } from '../../errors.ts';
import { allocTyped, type DType, type TypedArray } from '../../tensor/dtype.ts';
import { contiguousLayout, sizeOf } from '../../tensor/layout.ts';
import { fillRandom } from '../../tensor/random.ts';
import { registerBackend, type Backend, type LayerNormResult, type RandomKind, type ReduceOp, type Storage, type View } from '../backend.ts';
import { BINARY, TERNARY, UNARY, type BinaryOp, type TernaryOp, type UnaryOp } from '../pointwise.ts';
import { gatherInto, layerNormInto, matmulInto, reduceInto, scatterAddInto, softmaxInto } from './kernels.ts';
import { elementOffsets, pointwiseKernel, type Operand } from './strided.ts';

class CpuStorage implements Storage {
  freed = false;
  constructor(readonly data: TypedArray) {}
  get dtype(): DType {
    return this.data instanceof Float32Array ? 'float32' : this.data instanceof Float64Array ? 'float64' : 'int32';
  }
  get length(): number {
    return this.data.length;
  }
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  private live = 0;

  alloc(dtype: DType, length: number): CpuStorage {
    this.live++;
    return new CpuStorage(allocTyped(dtype, length));
  }

  free(storage: Storage): void {
    const s = this.own(storage);
    if (s.freed) throw new BackendError('cpu: storage freed twice');
    s.freed = true;
    this.live--;
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
    return this.pointwise(UNARY[op].js, [x], outDtype);
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
    return this.pointwise(BINARY[op].js, [a, b], outDtype);
  }

  ternary(op: TernaryOp, a: View, b: View, c: View, outDtype: DType): Storage {
    return this.pointwise(TERNARY[op].js, [a, b, c], outDtype);
  }

  copy(x: View, outDtype: DType): Storage {
    return this.pointwise('a', [x], outDtype);
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
    const out = this.alloc(x.storage.dtype, sizeOf(outShape));
    reduceInto(op, this.operand(x), axes, out.data);
    return out;
  }

  matmul(a: View, b: View): Storage {
    const nd = a.layout.shape.length;
    const outShape = [...a.layout.shape.slice(0, nd - 1), b.layout.shape[nd - 1]];
    const out = this.alloc(a.storage.dtype, sizeOf(outShape));
    matmulInto(this.operand(a), this.operand(b), out.data);
    return out;
  }

  gather(x: View, axis: number, index: View): Storage {
    const out = this.alloc(x.storage.dtype, sizeOf(index.layout.shape));
    gatherInto(this.operand(x), axis, this.operand(index), out.data);
    return out;
  }

  scatterAdd(shape: readonly number[], dtype: DType, axis: number, index: View, src: View): Storage {
    const out = this.alloc(dtype, sizeOf(shape));
    scatterAddInto(out.data, contiguousLayout(shape), axis, this.operand(index), this.operand(src));
    return out;
  }

  softmax(x: View, log: boolean): Storage {
    const [rows, cols] = x.layout.shape;
    const out = this.alloc(x.storage.dtype, rows * cols);
    softmaxInto(this.operand(x), rows, cols, log, out.data);
    return out;
  }

  layerNorm(x: View, weight: View, bias: View, eps: number): LayerNormResult {
    const [rows, cols] = x.layout.shape;
    const dt = x.storage.dtype;
    const y = this.alloc(dt, rows * cols), mean = this.alloc(dt, rows), rstd = this.alloc(dt, rows);
    layerNormInto(this.operand(x), this.operand(weight), this.operand(bias), rows, cols, eps, y.data, mean.data, rstd.data);
    return { y, mean, rstd };
  }

  random(kind: RandomKind, dtype: DType, length: number, seed: number, offset: number): Storage {
    const out = this.alloc(dtype, length);
    fillRandom(kind, out.data, seed, offset);
    return out;
  }

  private pointwise(expr: string, views: View[], outDtype: DType): CpuStorage {
    const shape = views[0].layout.shape;
    const out = this.alloc(outDtype, sizeOf(shape));
    pointwiseKernel(expr, views.length)(out.data, shape, views.map((v) => this.operand(v)));
    return out;
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

registerBackend('cpu', () => new CpuBackend());
