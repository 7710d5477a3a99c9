/// <reference types="@webgpu/types" />
/**
 * Recorded-step replay, as CUDA graphs do it. A synchronous region of work (a training step's forward,
 * backward and clipping) is recorded command by command while it runs live; once two recordings in a row
 * under one key (a batch shape) issue the same pipelines and grids over buffers that alias alike, with the
 * same parameters and uploads (random offsets aside, which must move by a generator's stride), the second
 * is re-issued for later steps with none of the engine's JavaScript above the command queue
 * (bench/README.md: host µs per dispatch).
 *
 * Ownership is what makes re-issuing safe. The storage buffers a replayable recording names are of two kinds:
 * - made during the region (intermediates, outputs) or declared as its inputs: the recording takes them out
 *   of the pool (where idle when the region ends, else as the step's tensors free them), so nothing else is
 *   handed them; outputs come back as storages lent by the recording, whose freeing returns nothing;
 * - held from before the region (parameters, statistics): watched. Freeing one makes every recording that
 *   names it stale (its reserved buffers go back to the pool), and a storage made before the region freed
 *   during it means the region is not replayable at all. So do the outputs of a replay still alive at the
 *   next one (they would change under their holder) and `invalidate`.
 * Upload arenas and the parameter block are not named: uploads and parameters are staged again. While
 * recording, every zeroed allocation gets its fill (a fresh buffer's zeros would not be fresh in a replay),
 * so each intermediate is written before it is read in a replay as in the live step.
 */
import { BackendError } from '../../core/errors.ts';
import type { DType } from '../../core/dtype.ts';
import type { RegionResult, StepReplays, Storage } from '../backend.ts';
import type { CommandQueue } from './commands.ts';
import type { GpuStorage } from './context.ts';
import type { BufferPool } from './pool.ts';

type Grid = readonly [number, number, number];
type Command =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; groups: readonly GPUBindGroup[]; buffers: readonly GPUBuffer[]; words: number[]; bytes: number; grid: Grid }
  | { kind: 'upload'; data: Uint8Array; dst: GPUBuffer; offset: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; size: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number };

export interface Slot {
  buffer: GPUBuffer;
  size: number;
  dtype: DType;
  length: number;
}

const slotOf = (s: GpuStorage): Slot => ({ buffer: s.buffer, size: s.size, dtype: s.dtype, length: s.length });

/** The commands of one run of a region, as the context issues them, and what they name. */
export class Recording {
  readonly commands: Command[] = [];
  /** storage buffers the commands name, with their sizes */
  readonly named = new Map<GPUBuffer, number>();
  /** buffers the pool handed out during the region */
  readonly acquired = new Set<GPUBuffer>();
  /** why this run cannot be replayed, if it cannot */
  broken: string | null = null;
  outputs: Slot[] = [];
  signature = '';
  strides: readonly number[] = [];

  constructor(readonly inputs: readonly Slot[]) {
    // a replay copies into them, so they are the recording's whether or not a command names them
    for (const i of inputs) this.named.set(i.buffer, i.size);
  }

  dispatch(pipeline: GPUComputePipeline, groups: readonly GPUBindGroup[], words: readonly number[], bytes: number, grid: Grid, storages: readonly GpuStorage[]): void {
    for (const s of storages) this.named.set(s.buffer, s.size);
    const buffers = storages.map((s) => s.buffer);
    this.commands.push({ kind: 'dispatch', pipeline, groups: [...groups], buffers, words: [...words], bytes, grid: [grid[0], grid[1], grid[2]] });
  }

  upload(data: ArrayBufferView, dst: GpuStorage, offset: number): void {
    this.named.set(dst.buffer, dst.size);
    this.commands.push({ kind: 'upload', data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(), dst: dst.buffer, offset });
  }

  clear(s: GpuStorage): void {
    this.named.set(s.buffer, s.size);
    this.commands.push({ kind: 'clear', buffer: s.buffer, offset: 0, size: s.size });
  }

  copy(src: GpuStorage, srcOffset: number, dst: GpuStorage, dstOffset: number, size: number): void {
    this.named.set(src.buffer, src.size).set(dst.buffer, dst.size);
    this.commands.push({ kind: 'copy', src: src.buffer, srcOffset, dst: dst.buffer, dstOffset, size });
  }

  /** A buffer made before the region is freed during it (a replay would bind what it no longer owns). */
  freed(buffer: GPUBuffer): void {
    if (!this.acquired.has(buffer)) this.broken ??= 'a storage made before the region was freed during it';
  }

  /** Made in the region or declared an input: the replay owns it (else: held from before, watched). */
  internal(buffer: GPUBuffer): boolean {
    return this.acquired.has(buffer) || this.inputs.some((i) => i.buffer === buffer);
  }
}

/** A parameter word that moves by `delta` at each replay (a random offset). */
interface Moving {
  words: number[];
  index: number;
  delta: number;
}

/** A recording that may be replayed, with the buffers it owns and watches. */
export class Replayable {
  valid = true;
  /** its own buffers out of the pool, and those still held (by the recorded step's tensors) when it ended */
  readonly reserved: { buffer: GPUBuffer; size: number }[] = [];
  readonly pending = new Map<GPUBuffer, number>();
  readonly watched = new Set<GPUBuffer>();
  /** buffers of the outputs lent by the last replay and not freed yet */
  readonly lentOut = new Set<GPUBuffer>();

  constructor(
    readonly key: string,
    readonly rec: Recording,
    readonly moving: readonly Moving[],
  ) {}
}

/** What the replays need of the context that owns them. */
export interface ReplayHost {
  readonly queue: CommandQueue;
  readonly pool: BufferPool;
  /** a census or dry run is on: nothing is recorded or replayed */
  busy(): boolean;
  retired(buffer: GPUBuffer): boolean;
  own(s: Storage): GpuStorage;
  materialize(s: GpuStorage): void;
  /** a storage over `slot` whose freeing calls `lentFreed` instead of releasing the buffer */
  lend(slot: Slot, owner: Replayable): GpuStorage;
}

export interface ReplayOptions {
  /** replayable recordings kept at once (each reserves its region's working set); the oldest goes first */
  maxRecordings: number;
}

export class GpuReplays implements StepReplays {
  /** the run being recorded: the context reports its commands, allocations and frees to it */
  recording: Recording | null = null;
  private readonly last = new Map<string, Recording>();
  /** replayable recordings by key (valid ones only), least recently replayed first */
  private readonly ready = new Map<string, Replayable>();
  private readonly watchers = new Map<GPUBuffer, Set<Replayable>>();
  /** buffers held when a recording ended, which it takes when they are freed */
  private readonly claims = new Map<GPUBuffer, Replayable>();
  readonly stats = { recorded: 0, replayed: 0, refused: null as string | null };

  constructor(
    private readonly host: ReplayHost,
    private readonly opts: ReplayOptions,
  ) {}

  record(key: string, inputs: readonly Storage[], region: () => RegionResult): void {
    if (this.recording) throw new BackendError('webgpu: a replay region cannot start inside another');
    if (this.ready.has(key) || this.host.busy()) {
      region();
      return;
    }
    const rec = new Recording(inputs.map((s) => slotOf(this.host.own(s))));
    this.recording = rec;
    try {
      const result = region();
      rec.outputs = result.outputs.map((s) => slotOf(this.host.own(s)));
      // a replay lends what its commands wrote, nothing else
      if (rec.outputs.some((o) => !rec.acquired.has(o.buffer) || !rec.named.has(o.buffer))) rec.broken ??= 'an output was not written in the region';
      rec.signature = result.signature;
      rec.strides = result.strides;
    } finally {
      this.recording = null;
    }
    this.stats.recorded++;
    const prev = this.last.get(key);
    // the latest run of each of the most recent keys, to compare the next run with
    this.last.delete(key);
    this.last.set(key, rec);
    if (this.last.size > 4 * this.opts.maxRecordings) this.last.delete(this.last.keys().next().value!);
    if (rec.broken || !prev) {
      this.refuse(rec.broken ?? 'recorded once; replayable once a second run agrees');
      return;
    }
    const moving = movingWords(prev, rec);
    if (typeof moving === 'string') {
      this.refuse(moving);
      return;
    }
    const replayable = new Replayable(key, rec, moving);
    this.ready.set(key, replayable);
    this.own(replayable);
    if (this.ready.size > this.opts.maxRecordings) this.drop(this.ready.values().next().value!, 'more recordings than maxRecordings');
  }

  replay(key: string, inputs: readonly Storage[]): { outputs: Storage[]; signature: string } | null {
    const r = this.ready.get(key);
    if (!r || this.host.busy()) return null;
    // its outputs would change under whoever holds them: recorded again instead
    if (r.lentOut.size > 0) return this.drop(r, 'outputs of the previous replay are still alive');
    const given = inputs.map((s) => this.host.own(s));
    const slots = r.rec.inputs;
    if (given.length !== slots.length) return this.refuse(`${given.length} inputs for a recording of ${slots.length}`);
    for (let k = 0; k < given.length; k++) {
      const [s, slot] = [given[k], slots[k]];
      if (s.dtype !== slot.dtype || s.length !== slot.length) return this.refuse(`input ${k} is ${s.length} ${s.dtype}, recorded ${slot.length} ${slot.dtype}`);
    }
    const givenBuffers = new Set(given.map((s) => s.buffer));
    // a buffer still held since the recorded step may only be an input given again (the same tensor)
    for (const b of r.pending.keys()) if (!givenBuffers.has(b)) return this.drop(r, 'a tensor of the recorded step is still alive');
    for (const m of r.moving) {
      const next = m.words[m.index] + m.delta;
      if (next < 0 || next > 0xffffffff) return this.drop(r, 'a random offset leaves 32 bits');
    }
    for (const m of r.moving) m.words[m.index] += m.delta;
    const q = this.host.queue;
    for (let k = 0; k < given.length; k++) {
      const [s, slot] = [given[k], slots[k]];
      if (s.buffer === slot.buffer) continue;
      this.host.materialize(s);
      q.copy(s.buffer, 0, slot.buffer, 0, s.length * 4);
    }
    for (const c of r.rec.commands) {
      if (c.kind === 'dispatch') q.dispatch(c.pipeline, c.groups, q.stageParams(c.words, c.bytes), c.grid);
      else if (c.kind === 'upload') q.upload(c.data, c.dst, c.offset);
      else if (c.kind === 'clear') q.clear(c.buffer, c.offset, c.size);
      else q.copy(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
    }
    this.stats.replayed++;
    // least recently replayed first
    this.ready.delete(key);
    this.ready.set(key, r);
    return { outputs: r.rec.outputs.map((slot) => (r.lentOut.add(slot.buffer), this.host.lend(slot, r))), signature: r.rec.signature };
  }

  invalidate(reason: string): void {
    for (const r of this.ready.values()) this.drop(r, reason);
    this.last.clear();
  }

  /**
   * The context freed a storage of its own (not a lent one): true when a recording takes its buffer, which
   * then stays out of the pool.
   */
  released(buffer: GPUBuffer): boolean {
    this.recording?.freed(buffer);
    const w = this.watchers.get(buffer);
    if (w) for (const r of [...w]) this.drop(r, 'a storage a recording reads was freed');
    const r = this.claims.get(buffer);
    if (!r) return false;
    this.claims.delete(buffer);
    r.reserved.push({ buffer, size: r.pending.get(buffer)! });
    r.pending.delete(buffer);
    return true;
  }

  /** A storage lent by `r` was freed: its buffer stays reserved, unless `r` is stale by now. */
  lentFreed(r: Replayable, buffer: GPUBuffer, size: number): void {
    r.lentOut.delete(buffer);
    if (!r.valid) this.host.pool.release(buffer, size);
  }

  /**
   * At the end of its region: the recording takes its own buffers (made in the region, and its inputs)
   * out of the pool, now where idle, else once their tensors free them; it watches the others.
   */
  private own(r: Replayable): void {
    for (const [buffer, size] of r.rec.named) {
      if (!r.rec.internal(buffer)) this.watch(buffer, r);
      else if (this.host.pool.take(buffer, size)) r.reserved.push({ buffer, size });
      else if (this.host.retired(buffer)) {
        this.drop(r, 'a buffer the region made was retired by the pool');
        return;
      } else {
        r.pending.set(buffer, size);
        this.claims.set(buffer, r);
      }
    }
  }

  private watch(buffer: GPUBuffer, r: Replayable): void {
    let w = this.watchers.get(buffer);
    if (!w) this.watchers.set(buffer, (w = new Set()));
    w.add(r);
    r.watched.add(buffer);
  }

  /** Make `r` stale: its watches end, its reserved buffers go back to the pool (lent ones once freed). */
  private drop(r: Replayable, reason: string): null {
    this.refuse(reason);
    if (!r.valid) return null;
    r.valid = false;
    for (const b of r.watched) {
      const w = this.watchers.get(b)!;
      w.delete(r);
      if (w.size === 0) this.watchers.delete(b);
    }
    for (const { buffer, size } of r.reserved) if (!r.lentOut.has(buffer)) this.host.pool.release(buffer, size);
    for (const b of r.pending.keys()) if (this.claims.get(b) === r) this.claims.delete(b);
    if (this.ready.get(r.key) === r) this.ready.delete(r.key);
    this.last.delete(r.key);
    return null;
  }

  private refuse(reason: string): null {
    this.stats.refused = reason;
    return null;
  }
}

/**
 * The parameter words of `b` that differ from `a`'s, each by one of the region's generator strides, or
 * why `b` cannot be replayed: any other difference between two runs of a region is a host decision a
 * replay would not reproduce. Buffers may differ (the pool hands out others) where one run's map one to
 * one onto the other's, so that the same tensors alias in both.
 */
function movingWords(a: Recording, b: Recording): Moving[] | string {
  if (a.signature !== b.signature) return 'two runs returned different outputs';
  if (a.strides.join() !== b.strides.join()) return 'two runs drew different amounts of random numbers';
  if (a.commands.length !== b.commands.length) return `two runs issued ${a.commands.length} and ${b.commands.length} commands`;
  const there = new Map<GPUBuffer, GPUBuffer>();
  const back = new Map<GPUBuffer, GPUBuffer>();
  const maps = (x: GPUBuffer, y: GPUBuffer) => {
    const [tx, by] = [there.get(x), back.get(y)];
    if (tx === undefined && by === undefined) {
      there.set(x, y);
      back.set(y, x);
      return true;
    }
    return tx === y && by === x;
  };
  const strides = new Set(b.strides.filter((s) => s !== 0));
  const moving: Moving[] = [];
  for (let i = 0; i < b.commands.length; i++) {
    const [x, y] = [a.commands[i], b.commands[i]];
    const why = `command ${i} (${y.kind}) differs between two runs`;
    if (x.kind !== y.kind) return why;
    if (x.kind === 'dispatch' && y.kind === 'dispatch') {
      if (x.pipeline !== y.pipeline || x.bytes !== y.bytes || !same(x.grid, y.grid) || x.words.length !== y.words.length) return why;
      if (x.buffers.length !== y.buffers.length || !x.buffers.every((xb, k) => maps(xb, y.buffers[k]))) return `${why}: its buffers alias differently`;
      for (let w = 0; w < y.words.length; w++) {
        const delta = y.words[w] - x.words[w];
        if (delta === 0) continue;
        if (!strides.has(delta)) return `${why}: parameter ${w} moved by ${delta}`;
        moving.push({ words: y.words, index: w, delta });
      }
    } else if (x.kind === 'upload' && y.kind === 'upload') {
      if (!maps(x.dst, y.dst) || x.offset !== y.offset || !same(x.data, y.data)) return why;
    } else if (x.kind === 'clear' && y.kind === 'clear') {
      if (!maps(x.buffer, y.buffer) || x.offset !== y.offset || x.size !== y.size) return why;
    } else if (x.kind === 'copy' && y.kind === 'copy') {
      if (!maps(x.src, y.src) || !maps(x.dst, y.dst) || x.srcOffset !== y.srcOffset || x.dstOffset !== y.dstOffset || x.size !== y.size) return why;
    }
  }
  return moving;
}

function same<T>(a: ArrayLike<T>, b: ArrayLike<T>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
