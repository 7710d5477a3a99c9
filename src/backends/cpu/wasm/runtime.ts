/**
 * Start-up of the CPU fast path: probe what the runtime offers (wasm SIMD, relaxed SIMD, shared memory,
 * worker_threads or, in a browser worker under cross-origin isolation, Web Workers), compile the kernels once, and hand out per-thread scratch and a fork–join `parallel`.
 * Whatever is missing degrades gracefully (no SIMD → the plain kernels; no shared memory or threads →
 * single-threaded wasm) and is reported once on stderr.
 */
import { BackendError } from '../../../core/errors.ts';
import { G, SCRATCH, type GemmShape } from './emit-gemm.ts';
import { DESC_WORDS } from './emit-pointwise.ts';
import { Heap } from './heap.ts';
import { buildModule, relaxedProbe, simdProbe } from './module.ts';
import { MAX_JOBS, MAX_WORKERS, Pool, type Job, type Spawn } from './pool.ts';
import { browserSpawn, nodeSpawn } from './threads.ts';

type Kernel = (...args: number[]) => void;
export type Feature = 'simd' | 'relaxed' | 'shared' | 'workers';

export interface FastInfo {
  /** false: the plain TypeScript kernels run; `reason` says why (or, when enabled, why single-threaded) */
  enabled: boolean;
  relaxedSimd: boolean;
  sharedMemory: boolean;
  threads: number;
  maxThreads: number;
  gemm: GemmShape | null;
  /** size of the wasm memory, and the bytes of it in live blocks */
  heapBytes: number;
  heapInUse: number;
  reason?: string;
}

/**
 * 4×8 tiles: 8 accumulators + 2 B vectors + the A broadcast fit V8's xmm registers without spills, and the
 * k loop stays un-unrolled because TurboFan hoists an unrolled body's loads and then spills (measured:
 * 53 GFLOP/s per core for this micro-kernel in L1, ~30 for 6×8 or any unrolled variant). NR = 8 also
 * divides every BERT width and LoRA's r = 8.
 */
export const GEMM: GemmShape = { mr: 4, nr: 8, kc: 256, mc: 128, nc: 1024, unroll: 1, fma: false };

/** Per-thread scratch: a header (SCRATCH words) pointing at its GEMM packing panels and edge tile. */
export interface Scratch {
  header: number;
  packA: number;
  packB: number;
  tile: number;
}

/** Bytes per job descriptor slot: the larger of the GEMM and pointwise descriptors, 64-byte aligned. */
const DESC_BYTES = Math.ceil((4 * Math.max(G.words, DESC_WORDS)) / 64) * 64;

interface NodeProcess {
  getBuiltinModule?: (id: string) => unknown;
  stderr?: { write(s: string): void };
  env?: Record<string, string | undefined>;
}
const proc = (globalThis as { process?: NodeProcess }).process;

function builtin<T>(id: string): T | null {
  try {
    return (proc?.getBuiltinModule?.(id) as T) ?? null;
  } catch {
    return null;
  }
}

const warned = new Set<string>();
export function warnOnce(msg: string): void {
  if (warned.has(msg)) return;
  warned.add(msg);
  proc?.stderr?.write(`prilora: ${msg}\n`);
}

export function defaultThreads(): number {
  const env = Number(proc?.env?.PRILORA_THREADS);
  if (Number.isInteger(env) && env > 0) return env;
  const os = builtin<{ availableParallelism?: () => number; cpus: () => unknown[] }>('node:os');
  if (os) return os.availableParallelism?.() ?? os.cpus().length;
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/** Node's worker_threads where they exist, else a browser's Web Workers (./threads.ts); or why neither. */
function threadSpawner(): Spawn | string {
  const nodeWorker = builtin<{ Worker: Parameters<typeof nodeSpawn>[0] }>('node:worker_threads')?.Worker;
  if (nodeWorker) return nodeSpawn(nodeWorker);
  if (proc) return 'worker_threads unavailable';
  return browserSpawn();
}

/** Turn relaxed SIMD on where the runtime hides it behind a flag (Node 20), if it validates then. */
function probeRelaxed(): boolean {
  const bytes = relaxedProbe();
  if (WebAssembly.validate(bytes)) return true;
  const v8 = builtin<{ setFlagsFromString(s: string): void }>('node:v8');
  if (!v8) return false;
  try {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(bytes);
}

export class Runtime {
  readonly heap: Heap;
  readonly info: FastInfo;
  private readonly kernels: Kernel[] = [];
  private readonly index = new Map<string, number>();
  private readonly scratch: Scratch[] = [];
  private readonly descs: number;
  private pool: Pool | null = null;
  private threads = 1;

  private constructor(
    module: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    shared: boolean,
    gemm: GemmShape,
    relaxed: boolean,
    workers: boolean,
  ) {
    const inst = new WebAssembly.Instance(module, { env: { memory } });
    const names = Object.keys(inst.exports);
    for (const n of names) {
      this.index.set(n, this.kernels.length);
      this.kernels.push(inst.exports[n] as Kernel);
    }
    this.heap = new Heap(memory, 64);
    this.descs = this.heap.alloc(DESC_BYTES * MAX_JOBS);
    this.info = { enabled: true, relaxedSimd: relaxed, sharedMemory: shared, threads: 1, maxThreads: 1, gemm, heapBytes: 0, heapInUse: 0 };
    const spawn = shared && workers ? threadSpawner() : 'worker_threads unavailable';
    if (typeof spawn === 'function') {
      this.pool = new Pool(spawn, module, memory, names);
      this.info.maxThreads = MAX_WORKERS + 1;
    } else {
      this.info.reason = shared ? spawn : 'shared wasm memory unavailable';
    }
    this.setThreads(defaultThreads());
  }

  /**
   * The fast path, or a reason why it is unavailable. `without` pretends a feature is missing (tests check
   * every fallback on a runtime that has them all).
   */
  static create(without: readonly Feature[] = []): Runtime | string {
    if (typeof WebAssembly !== 'object') return 'no WebAssembly';
    if (without.includes('simd') || !WebAssembly.validate(simdProbe(false))) return 'no WebAssembly SIMD';
    const shared = !without.includes('shared') && typeof SharedArrayBuffer === 'function' && typeof Atomics === 'object' && WebAssembly.validate(simdProbe(true));
    const relaxed = !without.includes('relaxed') && probeRelaxed();
    const workers = !without.includes('workers');
    const gemm = { ...GEMM, fma: relaxed };
    try {
      const memory = new WebAssembly.Memory(shared ? { initial: 16, maximum: 65536, shared: true } : { initial: 16, maximum: 65536 });
      const module = new WebAssembly.Module(buildModule({ fma: relaxed, gemm, shared }));
      return new Runtime(module, memory, shared, gemm, relaxed, workers);
    } catch (e) {
      return `the wasm kernels failed to compile (${(e as Error).message})`;
    }
  }

  /** worker threads started and ready (the main thread not counted) */
  get workersReady(): number {
    return this.pool?.ready ?? 0;
  }

  get threadCount(): number {
    return this.threads;
  }

  setThreads(n: number): void {
    const want = Math.max(1, Math.min(MAX_WORKERS + 1, Math.floor(n)));
    this.threads = this.pool ? want : 1;
    while (this.scratch.length < this.threads) {
      const g = this.info.gemm!;
      const header = this.heap.alloc(4 * SCRATCH.words);
      const packA = this.heap.alloc(4 * g.mc * g.kc + 64);
      const packB = this.heap.alloc(4 * g.kc * g.nc + 64);
      const tile = this.heap.alloc(4 * g.mr * g.nr);
      if (Math.min(header, packA, packB, tile) < 0) throw new BackendError('cpu: out of wasm memory for thread scratch');
      this.heap.i32(header, SCRATCH.words).set([packA, packB, tile]);
      this.scratch.push({ header, packA, packB, tile });
    }
    this.pool?.resize(this.threads - 1, (w) => this.scratch[w + 1].header);
    this.info.threads = this.threads;
  }

  /** Address of job descriptor slot `i` (a kernel call writes one per chunk that needs its own). */
  descSlot(i: number): number {
    return this.descs + DESC_BYTES * i;
  }

  fn(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new BackendError(`cpu: no wasm kernel ${name}`);
    return i;
  }

  /** Run one kernel on this thread (its scratch as the trailing argument). */
  call(fn: number, ...args: number[]): void {
    this.kernels[fn](...args, this.scratch[0].header);
  }

  /**
   * How many chunks to cut `work` units into: a few per thread (threads claim them, so a descheduled thread
   * costs little), none smaller than `grain`; 1 when single-threaded.
   */
  split(work: number, grain: number, perThread = 4): number {
    if (this.threads === 1) return 1;
    return Math.max(1, Math.min(MAX_JOBS, this.threads * perThread, Math.floor(work / grain)));
  }

  /** Run every chunk; this thread takes part. */
  parallel(jobs: readonly Job[]): void {
    const main = (j: Job) => this.kernels[j.fn](...j.args, this.scratch[0].header);
    if (jobs.length === 1 || !this.pool || this.pool.size === 0) {
      for (const j of jobs) main(j);
      return;
    }
    this.pool.run(jobs, main);
  }

  close(): void {
    this.pool?.close();
    this.threads = 1;
    this.info.threads = 1;
  }
}
