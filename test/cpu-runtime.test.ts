/**
 * The CPU fast path's runtime: every fallback of the feature probe (no SIMD → plain kernels; no relaxed
 * SIMD → the plain-SIMD kernels; no shared memory or workers → single-threaded wasm), the PRILORA_CPU=plain
 * switch, and worker threads that never keep a process alive.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matmulInto } from '../src/backends/cpu/kernels.ts';
import { UNARY } from '../src/backends/pointwise.ts';
import { pointwiseKernel } from '../src/backends/cpu/strided.ts';
import { FastKernels } from '../src/backends/cpu/wasm/fast.ts';
import { Runtime } from '../src/backends/cpu/wasm/runtime.ts';
import { contiguousLayout } from '../src/core/layout.ts';

const ROOT = resolve(import.meta.dirname, '..');

function data(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2);
}

/** A matmul and a GELU through the given runtime's kernels, against the plain kernels. */
function checkKernels(rt: Runtime): void {
  const k = new FastKernels(rt);
  // big enough for the matmul and the GELU to split across threads where there are several
  const [m, kk, n] = [203, 150, 45];
  const a = data(m * kk, 1), b = data(kk * n, 2);
  const pa = rt.heap.alloc(4 * a.length), pb = rt.heap.alloc(4 * b.length), pc = rt.heap.alloc(4 * m * n);
  rt.heap.f32(pa, a.length).set(a);
  rt.heap.f32(pb, b.length).set(b);
  k.matmul({ ptr: pa, layout: contiguousLayout([m, kk]) }, { ptr: pb, layout: contiguousLayout([kk, n]) }, pc);
  const want = new Float32Array(m * n);
  matmulInto({ data: a, layout: contiguousLayout([m, kk]) }, { data: b, layout: contiguousLayout([kk, n]) }, want);
  const got = rt.heap.f32(pc, m * n);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4);
  expect(k.unary('gelu', { ptr: pa, layout: contiguousLayout([a.length]) }, pc)).toBe(true);
  const g = new Float32Array(a.length);
  pointwiseKernel(UNARY.gelu.js, 1)(g, [a.length], [{ data: a, layout: contiguousLayout([a.length]) }]);
  const got2 = rt.heap.f32(pc, a.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(got2[i] - g[i])).toBeLessThan(3e-7 * (1 + Math.abs(g[i])));
}

/** Run a TypeScript snippet in a fresh Node process (through tsx, as bin/prilora.js does). */
function child(source: string, env: Record<string, string> = {}, timeoutMs = 60_000) {
  const dir = mkdtempSync(join(tmpdir(), 'prilora-cpu-'));
  const file = join(dir, 'main.mts');
  writeFileSync(file, source.replaceAll('@src/', `${ROOT}/src/`));
  const t0 = Date.now();
  const base = { ...process.env, PRILORA_CPU: 'fast', PRILORA_THREADS: '2' };
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, env: { ...base, ...env }, encoding: 'utf8', timeout: timeoutMs });
  return { ...r, ms: Date.now() - t0 };
}

describe('CPU fast path runtime', () => {
  it('without wasm SIMD it reports why (the backend then uses the plain kernels)', () => {
    expect(Runtime.create(['simd'])).toBe('no WebAssembly SIMD');
  });

  it('without relaxed SIMD the plain-SIMD kernels are emitted and agree', () => {
    const rt = Runtime.create(['relaxed']);
    if (typeof rt === 'string') return expect.fail(rt);
    expect(rt.info.relaxedSimd).toBe(false);
    expect(rt.info.gemm!.fma).toBe(false);
    checkKernels(rt);
    rt.close();
  });

  it('without shared memory or workers it runs single-threaded', () => {
    for (const missing of ['shared', 'workers'] as const) {
      const rt = Runtime.create([missing]);
      if (typeof rt === 'string') return expect.fail(rt);
      rt.setThreads(4);
      expect(rt.threadCount).toBe(1);
      expect(rt.info.sharedMemory).toBe(missing !== 'shared');
      expect(rt.info.reason).toMatch(missing === 'shared' ? /shared wasm memory/ : /worker_threads/);
      checkKernels(rt);
      rt.close();
    }
  });

  it('with everything available it runs on several threads and agrees', () => {
    const rt = Runtime.create();
    if (typeof rt === 'string') return expect.fail(rt);
    rt.setThreads(3);
    expect(rt.threadCount).toBe(3);
    checkKernels(rt);
    rt.close();
  });

  it('a non-shared memory that grows (its old buffer detached) keeps every storage readable', () => {
    const source = `
      import * as P from '@src/index.ts';
      import { cpuInfo } from '@src/backends/cpu/index.ts';
      const g = new P.Generator(3);
      const keepers = Array.from({ length: 6 }, (_, i) => P.keep(P.randn([64, 64], { generator: g })));
      const sums0 = keepers.map((t) => P.sum(t).item());
      // several MB of new tensors force the memory to grow under the ones above
      const big = Array.from({ length: 8 }, () => P.keep(P.randn([512, 512], { generator: g })));
      const y = P.gelu(P.matmul(big[0], P.transpose(big[1])));
      const sums1 = keepers.map((t) => P.sum(t).item());
      console.log(JSON.stringify({ info: cpuInfo().sharedMemory, same: sums0.every((v, i) => v === sums1[i]), y: P.sum(y).item() }));
    `;
    const a = child(source, { PRILORA_CPU_WITHOUT: 'shared' });
    const b = child(source);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stderr).toMatch(/shared wasm memory unavailable: the CPU fast path runs single-threaded/);
    const ra = JSON.parse(a.stdout.trim().split('\n').pop()!), rb = JSON.parse(b.stdout.trim().split('\n').pop()!);
    expect(ra.info).toBe(false);
    expect(rb.info).toBe(true);
    expect(ra.same).toBe(true);
    expect(Math.abs(ra.y - rb.y)).toBeLessThan(1e-3 * Math.abs(rb.y));
  });

  it('PRILORA_CPU=plain selects the plain kernels', () => {
    const r = child(`
      import * as P from '@src/index.ts';
      import { cpuInfo } from '@src/backends/cpu/index.ts';
      const y = P.matmul(P.ones([2, 3]), P.ones([3, 2]));
      console.log(JSON.stringify({ path: cpuInfo().path, enabled: cpuInfo().enabled, y: [...y.dataSync()] }));
    `, { PRILORA_CPU: 'plain' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ path: 'plain', enabled: false, y: [3, 3, 3, 3] });
  });

  it('worker threads do not keep the process alive, and shutting them down leaves a working backend', () => {
    const r = child(`
      import * as P from '@src/index.ts';
      import { cpuInfo, setCpuThreads, shutdownCpuThreads } from '@src/backends/cpu/index.ts';
      setCpuThreads(2);
      const a = P.randn([300, 300], { generator: new P.Generator(1) });
      const s = P.sum(P.matmul(a, a)).item();
      const threads = cpuInfo().threads;
      shutdownCpuThreads();
      const s2 = P.sum(P.matmul(a, a)).item();
      console.log(JSON.stringify({ threads, same: s === s2, after: cpuInfo().threads }));
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ threads: 2, same: true, after: 1 });
    const idle = child(`
      import * as P from '@src/index.ts';
      import { setCpuThreads } from '@src/backends/cpu/index.ts';
      setCpuThreads(2);
      const a = P.randn([300, 300], { generator: new P.Generator(1) });
      console.log(P.sum(P.matmul(a, a)).item() !== 0);
    `);
    expect(idle.status, idle.stderr).toBe(0);
    expect(idle.stdout.trim().split('\n').pop()).toBe('true');
  });
});
