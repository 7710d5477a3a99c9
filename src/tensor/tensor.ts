/**
 * Tensor: a dtype and a layout over reference-counted backend storage, plus the autograd fields. Views share
 * storage; `dispose()` drops this tensor's reference and frees the storage with the last one. Arithmetic
 * lives in src/ops (installed as methods by src/ops/methods.ts) so that this file stays about data and
 * lifetime.
 */
import type { Backend, Storage, View } from '../backends/backend.ts';
import { BackendError, DTypeError, DisposedError, ShapeError, fmtShape } from '../core/errors.ts';
import type { DType, TypedArray } from '../core/dtype.ts';
import { contiguousLayout, isContiguous, sameShape, sizeOf, type Layout } from '../core/layout.ts';
import { track, untrack } from './scope.ts';

/** One autograd graph node: the op that made a tensor, its inputs and its vector-Jacobian product. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /**
   * Gradients for each input given the output's gradient (null where an input needs none). A rule whose
   * gradient for input k comes out of a matrix product may call `soFar(k)`: it hands over the gradient the
   * engine has summed for that input until now (contiguous, the input's shape; null when there is none or
   * it does not fit), and the rule's result for k must then include it (added in the product's epilogue,
   * which saves the engine a separate add).
   */
  readonly backward: (grad: Tensor, soFar: (k: number) => Tensor | null) => readonly (Tensor | null)[];
}

class SharedStorage {
  refs = 1;
  constructor(
    readonly backend: Backend,
    readonly storage: Storage,
  ) {}
  release(): void {
    if (--this.refs === 0) this.backend.free(this.storage);
  }
}

export type NestedArray = number | NestedArray[];

let nextId = 1;

export class Tensor {
  readonly _isTensor = true;
  readonly id = nextId++;
  readonly dtype: DType;
  /** Set on leaves whose gradient is wanted; ops propagate it to their outputs. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward()`; belongs to no scope. */
  grad: Tensor | null = null;
  /** The op that produced this tensor when it was recorded for autograd. */
  node: GradNode | null = null;
  private shared: SharedStorage | null;
  private _layout: Layout;
  private scope: Set<Tensor> | null;
  /** tensors that live exactly as long as this one (the 0-d operands an op made from numbers) */
  private owned: Tensor[] | null = null;

  private constructor(shared: SharedStorage, layout: Layout, dtype: DType) {
    this.shared = shared;
    this._layout = layout;
    this.dtype = dtype;
    this.scope = track(this);
  }

  /** Wrap storage fresh from a backend kernel (takes ownership). */
  static fromStorage(backend: Backend, storage: Storage, layout: Layout | readonly number[]): Tensor {
    const l = Array.isArray(layout) ? contiguousLayout(layout as readonly number[]) : (layout as Layout);
    return new Tensor(new SharedStorage(backend, storage), l, storage.dtype);
  }

  /** A new tensor over the same storage with another layout (a view; no copy). */
  withLayout(layout: Layout): Tensor {
    const shared = this.live('view');
    shared.refs++;
    return new Tensor(shared, layout, this.dtype);
  }

  get backend(): Backend {
    return this.live('backend').backend;
  }
  get layout(): Layout {
    return this._layout;
  }
  get shape(): readonly number[] {
    return this._layout.shape;
  }
  get ndim(): number {
    return this._layout.shape.length;
  }
  get size(): number {
    return sizeOf(this._layout.shape);
  }
  get isDisposed(): boolean {
    return this.shared === null;
  }
  /** No other tensor (view) shares this one's storage: a kernel may then update it in place. */
  get ownsStorage(): boolean {
    return this.live('ownsStorage').refs === 1;
  }
  get isContiguous(): boolean {
    return isContiguous(this._layout);
  }

  /** Storage and layout for a backend kernel; `op` names the caller in the error for a disposed tensor. */
  view(op: string): View {
    return { storage: this.live(op).storage, layout: this._layout };
  }

  private live(op: string): SharedStorage {
    if (!this.shared) {
      throw new DisposedError(`${op}: tensor #${this.id} ${fmtShape(this._layout.shape)} ${this.dtype} was disposed`);
    }
    return this.shared;
  }

  dispose(): void {
    if (!this.shared) return;
    this.shared.release();
    this.shared = null;
    untrack(this, this.scope);
    this.scope = null;
    this.node = null;
    if (this.owned) for (const t of this.owned) t.dispose();
    this.owned = null;
  }

  /** @internal `t` (kept out of every scope) is disposed with this tensor. */
  _own(t: Tensor): void {
    (this.owned ??= []).push(t);
  }

  /** @internal used by tidy/keep */
  _moveToScope(scope: Set<Tensor> | null): void {
    this.scope?.delete(this);
    this.scope = scope;
  }

  /**
   * Replace this tensor's contents with `src`'s, taking ownership of `src`: afterwards `src` is disposed
   * and this tensor (same identity, so optimisers and modules holding it see the new values) reads its
   * storage. Same shape and dtype required; views taken of this tensor earlier keep the old values.
   */
  assignFrom(src: Tensor): void {
    if (src === this) return;
    const shared = src.live('assignFrom');
    this.live('assignFrom');
    if (src.backend !== this.backend) throw new BackendError(`assignFrom: ${src.backend.name} tensor into ${this.backend.name} tensor`);
    if (!sameShape(src.shape, this.shape)) throw new ShapeError(`assignFrom: ${fmtShape(src.shape)} into ${fmtShape(this.shape)}`);
    if (src.dtype !== this.dtype) throw new DTypeError(`assignFrom: ${src.dtype} into ${this.dtype}`);
    shared.refs++;
    this.shared!.release();
    this.shared = shared;
    this._layout = src._layout;
    src.dispose();
  }

  /** Contiguous copy of the elements (row-major), resolved asynchronously so GPU backends fit. */
  async data(): Promise<TypedArray> {
    const b = this.backend;
    if (isContiguous(this._layout) && this._layout.offset === 0 && this.live('data').storage.length === this.size) {
      return b.read(this.shared!.storage);
    }
    const s = b.copy(this.view('data'), this.dtype);
    try {
      return await b.read(s);
    } finally {
      b.free(s);
    }
  }

  /** Synchronous `data()` for backends that can (CPU). */
  dataSync(): TypedArray {
    const b = this.backend;
    if (!b.readSync) throw new BackendError(`dataSync: backend ${b.name} reads asynchronously; use await t.data()`);
    const s = b.copy(this.view('dataSync'), this.dtype);
    try {
      return b.readSync(s);
    } finally {
      b.free(s);
    }
  }

  async toArray(): Promise<NestedArray> {
    return nest(await this.data(), this.shape);
  }

  toArraySync(): NestedArray {
    return nest(this.dataSync(), this.shape);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new BackendError(`item: tensor of shape ${fmtShape(this.shape)} has ${this.size} elements`);
    return this.dataSync()[0];
  }

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''}${this.node ? `, op=${this.node.op}` : ''})`;
  }
}

function nest(data: TypedArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return data[0];
  const build = (dim: number, at: number): NestedArray[] => {
    const out: NestedArray[] = [];
    const stride = sizeOf(shape.slice(dim + 1));
    for (let i = 0; i < shape[dim]; i++) {
      out.push(dim === shape.length - 1 ? data[at + i] : build(dim + 1, at + i * stride));
    }
    return out;
  };
  return build(0, 0);
}

