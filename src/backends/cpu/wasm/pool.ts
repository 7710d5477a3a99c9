/**
 * Threads (Node's worker_threads, or a browser's Web Workers: ./threads.ts) running the same wasm kernels
 * on the same shared memory. The engine's API is synchronous,
 * so a parallel kernel is a fork–join inside one call: the main thread writes the call's chunks (kernel
 * index + arguments) into a shared block, bumps a generation counter and then, like every worker, claims
 * chunks from an atomic counter until none are left; it returns once all are done. Claiming rather than
 * assigning matters on a busy machine: a worker that is not scheduled simply takes no chunk, and the others
 * (the main thread at least) do its share instead of waiting for it.
 *
 * Every kernel call gets the running thread's scratch address as one extra, trailing argument. Workers
 * spin briefly before sleeping (a training step issues kernels back to back), are unref'd (Node) so the
 * process exits when the main thread is done, and wake up periodically so that termination never waits on
 * them.
 */
import { BackendError } from '../../../core/errors.ts';

/**
 * Control words (Int32Array). CLAIM packs the call's chunk count (high 16 bits) with the next unclaimed
 * index (low 16 bits), so one compare-exchange both checks and takes a chunk of the current call: a worker
 * that wakes up late can never take a chunk of a call that has already finished.
 */
const GEN = 0, CLAIM = 1, DONE = 2, ERROR = 3, STOP = 4, STATUS = 8; // STATUS + w: 0 starting, 1 ready, 2 failed
export const MAX_WORKERS = 64;
export const MAX_JOBS = 256;
export const MAX_ARGS = 12;
const ROW = 2 + MAX_ARGS; // fn index, argument count, arguments

/** The worker's program; `workerData` is bound by the spawner (./threads.ts: Node's or a browser's worker). */
export const WORKER_BODY = `
const { module, memory, ctrl, rows, id, names, spin, scratch } = workerData;
let fns;
try {
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  fns = names.map((n) => inst.exports[n]);
  Atomics.store(ctrl, ${STATUS} + id, 1);
} catch (e) {
  Atomics.store(ctrl, ${STATUS} + id, 2);
  throw e;
}
const a = new Array(${MAX_ARGS + 1}).fill(0);
let gen = workerData.gen;
for (;;) {
  let g, n = 0;
  while ((g = Atomics.load(ctrl, ${GEN})) === gen) {
    if (++n > spin) Atomics.wait(ctrl, ${GEN}, gen, 200);
  }
  gen = g;
  if (Atomics.load(ctrl, ${STOP})) break;
  for (;;) {
    const v = Atomics.load(ctrl, ${CLAIM});
    const i = v & 0xffff, count = v >>> 16;
    if (i >= count) break;
    if (Atomics.compareExchange(ctrl, ${CLAIM}, v, v + 1) !== v) continue;
    const at = i * ${ROW}, k = rows[at + 1];
    for (let j = 0; j < k; j++) a[j] = rows[at + 2 + j];
    a[k] = scratch;
    try {
      fns[rows[at]](a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]);
    } catch (e) {
      Atomics.store(ctrl, ${ERROR}, 1);
    }
    a[k] = 0;
    if (Atomics.add(ctrl, ${DONE}, 1) + 1 === count) Atomics.notify(ctrl, ${DONE});
  }
}
`;

export interface Job {
  fn: number;
  args: readonly number[];
}

/** A started worker thread, whatever runs it. */
export interface PoolWorker {
  terminate(): unknown;
}

/** Start a thread running WORKER_BODY with `workerData` bound to `data` (./threads.ts). */
export type Spawn = (body: string, data: Record<string, unknown>) => PoolWorker;

export class Pool {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * (STATUS + MAX_WORKERS)));
  private readonly rows = new Float64Array(new SharedArrayBuffer(8 * ROW * MAX_JOBS));
  private workers: PoolWorker[] = [];

  constructor(
    private readonly spawn: Spawn,
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    private readonly names: readonly string[],
    // ≈ 30 µs of Atomics.load: longer than the gap between a training step's kernels, short enough not to
    // steal much from other processes on a busy machine
    private readonly spin = 4000,
  ) {}

  /** Workers besides the main thread (a worker that failed to start just never claims a chunk). */
  get size(): number {
    return this.workers.length;
  }

  /** Workers that have instantiated the kernels and wait for chunks (a browser starts them asynchronously). */
  get ready(): number {
    let n = 0;
    for (let w = 0; w < this.workers.length; w++) if (Atomics.load(this.ctrl, STATUS + w) === 1) n++;
    return n;
  }

  /** Keep `workers` workers; worker w runs its kernels with scratch address `scratch(w)`. */
  resize(workers: number, scratch: (w: number) => number): void {
    const n = Math.max(0, Math.min(MAX_WORKERS, workers));
    while (this.workers.length > n) void this.workers.pop()!.terminate();
    while (this.workers.length < n) {
      const id = this.workers.length;
      Atomics.store(this.ctrl, STATUS + id, 0);
      const w = this.spawn(WORKER_BODY, {
        module: this.module, memory: this.memory, ctrl: this.ctrl, rows: this.rows, id, names: this.names, spin: this.spin,
        scratch: scratch(id), gen: Atomics.load(this.ctrl, GEN),
      });
      this.workers.push(w);
    }
  }

  /** Run every job (in any order, on any thread); `main` runs one on this thread. Returns when all are done. */
  run(jobs: readonly Job[], main: (job: Job) => void): void {
    if (jobs.length > MAX_JOBS) throw new BackendError(`cpu: at most ${MAX_JOBS} chunks per kernel call`);
    const c = this.ctrl;
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i], at = i * ROW;
      if (j.args.length > MAX_ARGS) throw new BackendError(`cpu: a kernel takes at most ${MAX_ARGS} arguments`);
      this.rows[at] = j.fn;
      this.rows[at + 1] = j.args.length;
      for (let k = 0; k < j.args.length; k++) this.rows[at + 2 + k] = j.args[k];
    }
    Atomics.store(c, DONE, 0);
    Atomics.store(c, CLAIM, jobs.length << 16);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
    for (;;) {
      const v = Atomics.load(c, CLAIM);
      const i = v & 0xffff;
      if (i >= jobs.length) break;
      if (Atomics.compareExchange(c, CLAIM, v, v + 1) !== v) continue;
      main(jobs[i]);
      Atomics.add(c, DONE, 1);
    }
    this.join(jobs.length);
    if (Atomics.load(c, ERROR)) {
      Atomics.store(c, ERROR, 0);
      throw new BackendError('cpu: a worker thread failed in a wasm kernel');
    }
  }

  /** Wait until `count` chunks are done (the ones left are running on workers that claimed them). */
  private join(count: number): void {
    let spins = 0;
    for (;;) {
      const done = Atomics.load(this.ctrl, DONE);
      if (done >= count) return;
      if (++spins < this.spin) continue;
      Atomics.wait(this.ctrl, DONE, done, 50);
    }
  }

  /** Stop every worker (they also end with the process; this is for tests and explicit shutdown). */
  close(): void {
    Atomics.store(this.ctrl, STOP, 1);
    Atomics.store(this.ctrl, CLAIM, 0);
    Atomics.add(this.ctrl, GEN, 1);
    Atomics.notify(this.ctrl, GEN);
    for (const w of this.workers) void w.terminate();
    this.workers = [];
    Atomics.store(this.ctrl, STOP, 0);
  }
}
