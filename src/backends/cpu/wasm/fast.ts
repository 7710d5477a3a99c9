/**
 * The CPU backend's fast kernels: marshal views (byte address + layout) into descriptors for the wasm
 * kernels and split the work across threads. Each method returns false for a case it does not cover, and
 * the backend then runs the plain kernel, so coverage can grow without touching correctness.
 */
import { isContiguous, sizeOf, type Layout } from '../../../core/layout.ts';
import type { BinaryOp, UnaryOp } from '../../pointwise.ts';
import { elementOffsets } from '../strided.ts';
import { G } from './emit-gemm.ts';
import { BINARY_FAST, UNARY_FAST } from './module.ts';
import type { Job } from './pool.ts';
import type { Runtime } from './runtime.ts';

/** float32 data in wasm memory: the storage's byte address and the view's layout (in elements). */
export interface FView {
  readonly ptr: number;
  readonly layout: Layout;
}

/** Elements per thread below which a pointwise kernel stays on one thread (transcendental ops: less). */
const GRAIN_CHEAP = 1 << 16;
const GRAIN_COSTLY = 1 << 13;
const COSTLY = new Set<string>(['exp', 'log', 'tanh', 'erf', 'gelu', 'gelu_tanh', 'gelu_backward', 'gelu_tanh_backward', 'div', 'sqrt', 'rsqrt']);
/** Multiply-adds per thread below which a matmul stays on one thread. */
const GRAIN_GEMM = 1 << 18;

/**
 * Merge dims that are contiguous in every operand and drop size-1 dims, giving at most 4 dims
 * ([d0, d1, d2, inner], padded with leading 1s) with per-operand strides; null when more than 4 remain.
 */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } | null {
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (dims.length && strides.every((s, k) => s[i] === st[k][0] * dims[0])) {
      dims[0] *= shape[i];
      continue;
    }
    dims.unshift(shape[i]);
    strides.forEach((s, k) => st[k].unshift(s[i]));
  }
  if (dims.length > 4) return null;
  while (dims.length < 4) {
    dims.unshift(1);
    st.forEach((s) => s.unshift(0));
  }
  return { shape: dims, strides: st };
}

export class FastKernels {
  private readonly unaryFns = new Map<string, number>();
  private readonly binaryFns = new Map<string, number>();

  constructor(readonly rt: Runtime) {
    for (const op of Object.keys(UNARY_FAST)) this.unaryFns.set(op, rt.fn(`u_${op}`));
    for (const op of Object.keys(BINARY_FAST)) this.binaryFns.set(op, rt.fn(`b_${op}`));
  }

  /** out (contiguous, `shape`) = op(inputs) elementwise; inputs already broadcast to `shape`. */
  pointwise(fn: number, costly: boolean, inputs: readonly FView[], out: number): boolean {
    const shape = inputs[0].layout.shape;
    const size = sizeOf(shape);
    if (size === 0) return true;
    const c = collapse(shape, inputs.map((v) => v.layout.strides));
    if (!c) return false;
    const [d0, d1, d2, d3] = c.shape;
    const rows = d0 * d1 * d2;
    const parts = this.rt.split(size, costly ? GRAIN_COSTLY : GRAIN_CHEAP);
    const bases = inputs.map((v) => v.ptr + 4 * v.layout.offset);
    if (parts > 1 && rows === 1) {
      // one long row: split the inner dim, each thread with its own descriptor
      const jobs: Job[] = [];
      const chunk = Math.ceil(d3 / parts / 4) * 4;
      for (let t = 0, j = 0; j < d3; t++, j += chunk) {
        const len = Math.min(chunk, d3 - j);
        const args = [out + 4 * j];
        for (let k = 0; k < bases.length; k++) args.push(bases[k] + 4 * j * c.strides[k][3]);
        args.push(this.descriptor(t, c.shape, c.strides, len), 0, 1);
        jobs.push({ fn, args });
      }
      this.rt.parallel(jobs);
      return true;
    }
    const desc = this.descriptor(0, c.shape, c.strides, d3);
    const p = Math.min(parts, rows);
    if (p <= 1) {
      if (bases.length === 1) this.rt.call(fn, out, bases[0], desc, 0, rows);
      else this.rt.call(fn, out, bases[0], bases[1], desc, 0, rows);
      return true;
    }
    const jobs: Job[] = [];
    for (let t = 0; t < p; t++) jobs.push({ fn, args: [out, ...bases, desc, Math.floor((rows * t) / p), Math.floor((rows * (t + 1)) / p)] });
    this.rt.parallel(jobs);
    return true;
  }

  /** Write a pointwise descriptor (see emit-pointwise.ts) into descriptor slot `slot`; returns its address. */
  private descriptor(slot: number, shape: readonly number[], strides: readonly (readonly number[])[], inner: number): number {
    const at = this.rt.descSlot(slot);
    const w = this.rt.heap.words;
    const i = at >>> 2;
    w[i] = shape[1];
    w[i + 1] = shape[2];
    w[i + 2] = inner;
    for (let k = 0; k < strides.length; k++) for (let t = 0; t < 4; t++) w[i + 3 + 4 * k + t] = 4 * strides[k][t];
    return at;
  }

  unary(op: UnaryOp | 'copy', x: FView, out: number): boolean {
    const fn = this.unaryFns.get(op);
    return fn !== undefined && this.pointwise(fn, COSTLY.has(op), [x], out);
  }

  binary(op: BinaryOp, a: FView, b: FView, out: number): boolean {
    const fn = this.binaryFns.get(op);
    return fn !== undefined && this.pointwise(fn, COSTLY.has(op), [a, b], out);
  }

  /** Split `total` rows into `parts` ranges and run fn(...prefix, r0, r1, ...suffix) for each. */
  private rows(name: string, total: number, parts: number, prefix: number[], suffix: number[] = []): void {
    const fn = this.rt.fn(name);
    const jobs: Job[] = [];
    for (let t = 0; t < parts; t++) {
      const r0 = Math.floor((total * t) / parts), r1 = Math.floor((total * (t + 1)) / parts);
      if (r1 > r0) jobs.push({ fn, args: [...prefix, r0, r1, ...suffix] });
    }
    if (jobs.length) this.rt.parallel(jobs);
  }

  softmax(x: FView, rows: number, cols: number, log: boolean, out: number): boolean {
    if (!isContiguous(x.layout)) return false;
    this.rows('softmax', rows, this.rt.split(rows * cols, GRAIN_COSTLY), [out, x.ptr + 4 * x.layout.offset, cols], [log ? 1 : 0]);
    return true;
  }

  layerNorm(x: FView, w: FView, b: FView, rows: number, cols: number, eps: number, y: number, mean: number, rstd: number): boolean {
    const unit = (v: FView) => cols <= 1 || v.layout.strides[0] === 1;
    if (!isContiguous(x.layout) || !unit(w) || !unit(b)) return false;
    const fn = this.rt.fn('layerNorm');
    const parts = this.rt.split(rows * cols, GRAIN_CHEAP / 2);
    const jobs: Job[] = [];
    for (let t = 0; t < parts; t++) {
      const r0 = Math.floor((rows * t) / parts), r1 = Math.floor((rows * (t + 1)) / parts);
      jobs.push({ fn, args: [y, mean, rstd, x.ptr + 4 * x.layout.offset, w.ptr + 4 * w.layout.offset, b.ptr + 4 * b.layout.offset, cols, eps, r0, r1] });
    }
    this.rt.parallel(jobs);
    return true;
  }

  /** Sum over `axes` when, ignoring size-1 dims, they are the trailing or the leading dims of a contiguous view. */
  sum(x: FView, axes: readonly number[], out: number): boolean {
    const l = x.layout;
    if (!isContiguous(l)) return false;
    const dims = l.shape.map((d, i) => ({ d, reduced: axes.includes(i) })).filter((e) => e.d !== 1);
    const flags = dims.map((e) => e.reduced);
    const kept = sizeOf(dims.filter((e) => !e.reduced).map((e) => e.d));
    const reduced = sizeOf(dims.filter((e) => e.reduced).map((e) => e.d));
    const base = x.ptr + 4 * l.offset;
    if (kept * reduced === 0) return false;
    const firstReduced = flags.indexOf(true), lastKept = flags.lastIndexOf(false);
    if (firstReduced < 0 || lastKept < firstReduced) {
      // reduced dims trail (or there are none besides size 1)
      this.rows('rowSum', kept, this.rt.split(kept * reduced, GRAIN_CHEAP), [out, base, reduced]);
      return true;
    }
    if (flags.lastIndexOf(true) < flags.indexOf(false)) {
      // reduced dims lead: column sums, threads split the columns in blocks of 8
      const parts = this.rt.split(kept * reduced, GRAIN_CHEAP);
      const fn = this.rt.fn('colSum');
      const jobs: Job[] = [];
      const chunk = Math.ceil(kept / parts / 8) * 8;
      for (let c0 = 0; c0 < kept; c0 += chunk) jobs.push({ fn, args: [out, base, reduced, kept, c0, Math.min(kept, c0 + chunk)] });
      this.rt.parallel(jobs);
      return true;
    }
    return false;
  }

  /**
   * Batched matmul into contiguous `out`; a: [...batch, m, k], b: [...batch, k, n], any strides. False only
   * when the wasm memory cannot hold the batch table (the plain kernel then runs).
   */
  matmul(a: FView, b: FView, out: number): boolean {
    const merged = mergeBatchIntoRows(a.layout, b.layout);
    const la = merged?.a ?? a.layout, lb = merged?.b ?? b.layout;
    const nd = la.shape.length;
    const m = la.shape[nd - 2], k = la.shape[nd - 1], n = lb.shape[nd - 1];
    const batchShape = la.shape.slice(0, nd - 2);
    const batch = sizeOf(batchShape);
    if (batch * m * n === 0) return true;
    const heap = this.rt.heap;
    if (k === 0) {
      heap.f32(out, batch * m * n).fill(0);
      return true;
    }
    const aOff = elementOffsets({ shape: batchShape, strides: la.strides.slice(0, nd - 2), offset: la.offset });
    const bOff = elementOffsets({ shape: batchShape, strides: lb.strides.slice(0, nd - 2), offset: lb.offset });
    const table = heap.alloc(12 * batch);
    if (table < 0) return false;
    const t = heap.i32(table, 3 * batch);
    for (let i = 0; i < batch; i++) {
      t[3 * i] = a.ptr + 4 * aOff[i];
      t[3 * i + 1] = b.ptr + 4 * bOff[i];
      t[3 * i + 2] = out + 4 * i * m * n;
    }
    const g = this.rt.info.gemm!;
    const work = batch * m * n * k;
    // one product split by rows: threads first pack B once, together, then every chunk reads it, so the
    // chunks can be small (a busy machine's descheduled thread then holds up little) without repacking B
    const npad = Math.ceil(n / g.nr) * g.nr;
    const shareB = batch === 1 && m >= n && this.rt.split(work, GRAIN_GEMM) > 1 && m >= 4 * g.mr;
    const bpacked = shareB ? heap.alloc(4 * k * npad) : 0;
    if (bpacked > 0) {
      const fn = this.rt.fn('packPanels');
      const jobs: Job[] = [];
      const step = Math.ceil(npad / this.rt.threadCount / g.nr) * g.nr;
      const [bAddr, rsb, csb] = [b.ptr + 4 * bOff[0], 4 * lb.strides[nd - 2], 4 * lb.strides[nd - 1]];
      for (let j = 0; j < n; j += step) jobs.push({ fn, args: [bAddr, rsb, csb, k, npad, j, Math.min(n, j + step), bpacked] });
      this.rt.parallel(jobs);
    }
    // else two chunks per thread: each chunk packs its own panels, so finer cuts would repack more
    const parts = this.rt.split(work, GRAIN_GEMM, bpacked > 0 ? 4 : 2);
    // split batches when there are enough, else the longer of rows and columns (aligned to the tile)
    const ranges: [number, number, number, number, number, number][] = [];
    const cut = (len: number, align: number, p: number) => {
      const out: [number, number][] = [];
      const chunk = Math.ceil(len / p / align) * align;
      for (let s = 0; s < len; s += chunk) out.push([s, Math.min(len, s + chunk)]);
      return out;
    };
    if (batch >= parts) for (const [b0, b1] of cut(batch, 1, parts)) ranges.push([0, m, 0, n, b0, b1]);
    else if (m >= n) for (const [i0, i1] of cut(m, g.mr, parts)) ranges.push([i0, i1, 0, n, 0, batch]);
    else for (const [j0, j1] of cut(n, g.nr, parts)) ranges.push([0, m, j0, j1, 0, batch]);
    const fn = this.rt.fn('gemm');
    const jobs: Job[] = ranges.map(([i0, i1, j0, j1, b0, b1], chunk) => {
      const at = this.rt.descSlot(chunk);
      const d = heap.i32(at, G.words);
      d[G.m] = m;
      d[G.n] = n;
      d[G.k] = k;
      d[G.rsa] = 4 * la.strides[nd - 2];
      d[G.csa] = 4 * la.strides[nd - 1];
      d[G.rsb] = 4 * lb.strides[nd - 2];
      d[G.csb] = 4 * lb.strides[nd - 1];
      d[G.ldc] = 4 * n;
      d[G.table] = table;
      d[G.i0] = i0;
      d[G.i1] = i1;
      d[G.j0] = j0;
      d[G.j1] = j1;
      d[G.b0] = b0;
      d[G.b1] = b1;
      d[G.bpacked] = Math.max(0, bpacked);
      d[G.npad] = npad;
      return { fn, args: [at] };
    });
    try {
      this.rt.parallel(jobs);
    } finally {
      heap.release(table);
      if (bpacked > 0) heap.release(bpacked);
    }
    return true;
  }
}

/**
 * x·Wᵀ with x: [batch, t, in] reaches the backend as a batched product whose B is broadcast (batch stride 0).
 * When A's batch dims and rows form one strided run, it is one [batch·m, k] × [k, n] product instead: B is
 * packed once and the blocks are larger. The output layout ([...batch, m, n] contiguous) is the same.
 */
function mergeBatchIntoRows(la: Layout, lb: Layout): { a: Layout; b: Layout } | null {
  const nd = la.shape.length;
  if (nd <= 2) return null;
  for (let i = 0; i < nd - 2; i++) if (lb.shape[i] !== 1 && lb.strides[i] !== 0) return null;
  // rows and batch dims of A as one run: each dim's stride = next dim's stride × its size
  let stride = la.strides[nd - 2], size = la.shape[nd - 2];
  for (let i = nd - 3; i >= 0; i--) {
    if (la.shape[i] === 1) continue;
    if (la.strides[i] !== stride * size) return null;
    size *= la.shape[i];
  }
  const rows = sizeOf(la.shape.slice(0, nd - 1));
  return {
    a: { shape: [rows, la.shape[nd - 1]], strides: [la.strides[nd - 2], la.strides[nd - 1]], offset: la.offset },
    b: { shape: lb.shape.slice(nd - 2), strides: lb.strides.slice(nd - 2), offset: lb.offset },
  };
}
