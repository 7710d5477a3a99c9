/**
 * Where the fast path's threads come from. In Node: worker_threads, the program evaluated from source with
 * `workerData` as Node passes it. In a browser: Web Workers from a Blob URL, `workerData` posted as the
 * first message (the wasm module, the shared memory and the control blocks all structured-clone), which
 * needs shared memory, so cross-origin isolation (COOP + COEP headers), and a caller that is itself a
 * worker, since the fork–join waits with Atomics.wait, which a page's main thread may not call.
 */
import type { PoolWorker, Spawn } from './pool.ts';

type NodeWorker = PoolWorker & { unref(): void; on(event: 'error', f: () => void): unknown };
type NodeWorkerCtor = new (source: string, o: { eval: true; workerData: unknown }) => NodeWorker;

/** Node's spawner, given worker_threads' Worker class. */
export function nodeSpawn(Worker: NodeWorkerCtor): Spawn {
  return (body, data) => {
    const w = new Worker(`const { workerData } = require('node:worker_threads');\n${body}`, { eval: true, workerData: data });
    w.unref();
    // failures are reported through the control block; keep them off the process
    w.on('error', () => {});
    return w;
  };
}

interface BrowserScope {
  Worker?: new (url: string) => { postMessage(m: unknown): void; terminate(): void };
  crossOriginIsolated?: boolean;
  WorkerGlobalScope?: unknown;
  Blob?: typeof Blob;
  URL?: typeof URL;
}

/** A browser's spawner, or why there is none here. */
export function browserSpawn(): Spawn | string {
  const g = globalThis as BrowserScope;
  if (typeof g.Worker !== 'function' || !g.Blob || !g.URL) return 'no Web Workers';
  if (!g.crossOriginIsolated) return 'not cross-origin isolated (the server must send COOP and COEP headers)';
  if (g.WorkerGlobalScope === undefined) return "on a page's main thread, which may not wait on Atomics (run the engine in a worker)";
  const Worker = g.Worker;
  return (body, data) => {
    const source = `self.onmessage = (event) => {\n  self.onmessage = null;\n  const workerData = event.data;\n${body}\n};`;
    const url = g.URL!.createObjectURL(new g.Blob!([source], { type: 'text/javascript' }));
    const w = new Worker(url);
    w.postMessage(data);
    // the URL stays valid until the worker is gone: revoking it at once may race the worker's own fetch
    return { terminate: () => { w.terminate(); g.URL!.revokeObjectURL(url); } };
  };
}
