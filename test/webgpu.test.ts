/**
 * WebGPU-specific checks; the op semantics are covered by the shared suites (helpers.ts BACKENDS).
 * On machines without a GPU the device is Mesa's llvmpipe: sizes stay small.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as P from '../src/index.ts';
import { startWebGPU } from './webgpu-start.ts';
import { runDeviceGradcheckSuite } from '../src/verify/gradcheck-suite.ts';
import { checkFixture, LIMITS } from '../src/verify/fixture-check.ts';
import { main } from '../src/cli/main.ts';
import { parseBertConfig } from '../src/nn/bert.ts';

const gpu = await startWebGPU('test/webgpu.test.ts');
const on = { backend: gpu! };
const FIXTURES = join(import.meta.dirname, 'fixtures/hf');

/** Largest |a − b| / (1 + |b|) over two arrays of equal length. */
function worstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return w;
}

/** The same tensor on the CPU and on the device (float32). */
function twin(shape: number[], seed: number): { cpu: P.Tensor; dev: P.Tensor } {
  const cpu = P.randn(shape, { generator: new P.Generator(seed) });
  return { cpu, dev: P.tensor(cpu.dataSync(), { shape, ...on }) };
}

describe.skipIf(!gpu)('webgpu backend', () => {
  const backend = gpu!;

  it('names its adapter, and refuses float64 with a DTypeError naming the backend', () => {
    expect(backend.describe()).toMatch(/\(.+, (core|compatibility)\)$/);
    expect(() => P.zeros([2], { dtype: 'float64', ...on })).toThrow(P.DTypeError);
    expect(() => P.zeros([2], { dtype: 'float64', ...on })).toThrow(/webgpu: float64 is not supported/);
    expect((backend as P.Backend).readSync).toBeUndefined();
    expect(() => P.ones([2], on).dataSync()).toThrow(/reads asynchronously/);
  });

  it('Philox: uniforms equal the CPU’s bit for bit, normals to float32 rounding (seeds and offsets past 2^32)', async () => {
    const draws: [number, number][] = [[0, 0], [42, 7], [2 ** 40 + 5, 3], [9, 2 ** 32 - 2]];
    for (const [seed, offset] of draws) {
      for (const n of [1, 5, 1027]) {
        const gen = () => new P.Generator(seed, offset);
        const u = await P.rand([n], { ...on, generator: gen() }).data();
        expect([...u]).toEqual([...P.rand([n], { generator: gen() }).dataSync()]);
        const z = await P.randn([n], { ...on, generator: gen() }).data();
        expect(worstDiff(z, P.randn([n], { dtype: 'float64', generator: gen() }).dataSync())).toBeLessThan(2e-6);
      }
    }
  });

  it('the pool reuses freed buffers by size class; alloc zero-fills a recycled buffer lazily', async () => {
    const live = backend.liveBuffers();
    const a = P.full([1000], 7, on);
    await a.data();
    a.dispose();
    const before = backend.poolStats();
    // 1000 and 990 floats share a size class: the buffer that held sevens comes back and must read as zeros
    // outside what is written
    const c = backend.alloc('float32', 990);
    backend.write(c, new Float32Array([1, 2]), 3);
    const got = await backend.read(c);
    expect(got.length).toBe(990);
    expect([...got.slice(0, 6)]).toEqual([0, 0, 0, 1, 2, 0]);
    expect([...got.slice(6)].every((v) => v === 0)).toBe(true);
    const after = backend.poolStats();
    expect(after.created).toBe(before.created);
    expect(after.reused).toBe(before.reused + 1);
    backend.free(c);
    expect(backend.liveBuffers()).toBe(live);
    expect(() => backend.free(c)).toThrow(/freed/);
  });

  it('a full pool destroys a freed buffer only after the recorded commands that use it are submitted', async () => {
    const unpooled = await P.createWebGPUBackend({ maxPooledBytes: 0 });
    try {
      const x = P.tensor([1, 2, 3, 4], { backend: unpooled });
      // the sum is freed when tidy ends, before anything is submitted; the product still reads it
      const y = P.tidy(() => P.mul(P.add(x, 1), 2));
      expect([...(await y.data())]).toEqual([4, 6, 8, 10]);
      expect(unpooled.poolStats().pooled).toBe(0);
    } finally {
      unpooled.destroy();
    }
  });

  it('commands are batched: a chain of kernels is one submit, made when the result is read', async () => {
    const x = P.ones([64], on);
    await x.data();
    const submits = backend.submitCount;
    const y = P.tidy(() => {
      let t = x;
      for (let i = 0; i < 50; i++) t = P.add(P.mul(t, 1.01), 0.5);
      return t;
    });
    expect(backend.submitCount).toBe(submits);
    const v = (await y.data())[0];
    expect(backend.submitCount).toBe(submits + 1);
    let ref = 1;
    for (let i = 0; i < 50; i++) ref = Math.fround(Math.fround(ref * Math.fround(1.01)) + 0.5);
    expect(v).toBeCloseTo(ref, 3);
  });

  it('workgroup-memory kernels (tiled matmul, long reductions and rows) agree with the CPU and the simple kernels', async () => {
    const simple = await P.createWebGPUBackend({ matmul: 'simple', workgroupReductions: false });
    try {
      const check = async (f: (...xs: P.Tensor[]) => P.Tensor, shapes: number[][], tol: number) => {
        const xs = shapes.map((s, i) => twin(s, 10 + i));
        const ref = f(...xs.map((x) => x.cpu)).dataSync();
        const fast = await f(...xs.map((x) => x.dev)).data();
        const plain = await f(...xs.map((x) => P.tensor(x.cpu.dataSync(), { shape: x.cpu.shape, backend: simple }))).data();
        expect(worstDiff(fast, ref)).toBeLessThanOrEqual(tol);
        expect(worstDiff(plain, ref)).toBeLessThanOrEqual(tol);
      };
      // 96×80 outputs fill 64×64 tiles partly; b transposed and a batch dim broadcast with stride 0
      await check((a, b) => P.matmul(a, P.transpose(b)), [[3, 96, 40], [80, 40]], 1e-5);
      // from 512×512 on, 128×128 tiles (8×8 per invocation); 520 leaves partial tiles at both edges
      await check((a, b) => P.matmul(a, b), [[520, 24], [24, 530]], 1e-5);
      await check((a) => P.sum(a, 1), [[3, 1500]], 1e-5);
      await check((a) => P.max(a, [0, 2]), [[40, 3, 50]], 0);
      await check((a) => P.softmax(P.transpose(a)), [[300, 5]], 1e-6);
      await check((a, w, b) => P.layerNorm(a, w, b, 1e-5), [[4, 1100], [1100], [1100]], 1e-5);
    } finally {
      simple.destroy();
    }
  });

  it('casts: float → int32 truncates toward zero; int32 copies keep every bit', async () => {
    expect([...(await P.cast(P.tensor([-1.7, -0.2, 0.9, 2.5], on), 'int32').data())]).toEqual([-1, 0, 0, 2]);
    const big = P.tensor(Int32Array.from([2 ** 31 - 1, -(2 ** 31), 16777217]), on);
    expect([...(await P.contiguous(P.slice(P.concat([big, big]), 0, 1, 5)).data())]).toEqual([-(2 ** 31), 16777217, 2 ** 31 - 1, -(2 ** 31)]);
    expect([...(await P.cast(P.tensor(Int32Array.from([3, -4]), on), 'float32').data())]).toEqual([3, -4]);
  });

  it('a device error is raised at the next read', async () => {
    backend.recordDeviceError('synthetic validation error');
    await expect(P.ones([1], on).data()).rejects.toThrow(/webgpu: synthetic validation error/);
    expect([...(await P.ones([1], on).data())]).toEqual([1]);
  });

  it('loadStateDict takes tensors on the device without a host round trip', async () => {
    const cfg = parseBertConfig({ model_type: 'bert', vocab_size: 8, hidden_size: 4, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 4, max_position_embeddings: 4 });
    const model = new P.BertForSequenceClassification(cfg, on);
    const src = new Map([...model.stateDict()].map(([k, p]) => [k, P.fullLike(p, 0.25)]));
    model.loadStateDict(src);
    expect([...(await model.classifier.weight.data())].every((v) => v === 0.25)).toBe(true);
    model.dispose();
  });

  // the gradient count is the model's whole parameter set
  for (const [fixture, params] of [['bert_cls', 57], ['bert_reg', 57], ['deberta_cls', 42]] as const) {
    it(`check-fixture ${fixture}: every part within the float32 limits`, async () => {
      const r = await checkFixture(join(FIXTURES, fixture), { backend: gpu! });
      expect(r.comparisons.filter((c) => c.part === 'grad').length).toBe(params);
      for (const c of r.comparisons) expect(c.error, `${c.part} ${c.name}`).toBeLessThanOrEqual(LIMITS.float32[c.part]);
      expect(r.worst.forward).toBeLessThanOrEqual(1e-5);
      expect(r.worst.grad).toBeLessThanOrEqual(1e-4);
      expect(r.pass).toBe(true);
    });
  }

  it('gradcheck: every op’s float32 values and VJPs match the CPU’s float64 ones (seeds 0–3)', async () => {
    for (const seed of [0, 1, 2, 3]) {
      const r = await runDeviceGradcheckSuite(gpu!, seed);
      expect(r.failed, `seed ${seed}`).toEqual([]);
      expect(r.results.every((x) => x.result.checked > 0)).toBe(true);
    }
  });

  it('PRILoRA step: AdamW is one multi-tensor dispatch per group of parameters, the statistics one in-place kernel per adapter; results equal the composites', async () => {
    const cfg = parseBertConfig({
      model_type: 'bert', vocab_size: 40, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24,
      max_position_embeddings: 16, num_labels: 2, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
    });
    const inputIds = P.tensor(Int32Array.from({ length: 12 }, (_, i) => (i * 7) % 40), { shape: [2, 6], ...on });
    const attentionMask = P.tensor(Int32Array.from({ length: 12 }, (_, i) => (i % 6 < 3 + (i >= 6 ? 2 : 0) ? 1 : 0)), { shape: [2, 6], ...on });
    const labels = P.tensor(Int32Array.from([0, 1]), on);
    /** three AdamW steps; returns the trained parameters and statistics, read back */
    const run = async (fused: boolean) => {
      const adamw = vi.spyOn(backend, 'adamw');
      const adamwAll = vi.spyOn(backend, 'adamwAll');
      const stats = vi.spyOn(backend, 'columnNormEma');
      if (!fused) {
        adamw.mockReturnValue(null);
        adamwAll.mockReturnValue(null);
        stats.mockReturnValue(null as never); // the declining device of Backend.columnNormEma
      }
      const model = new P.BertForSequenceClassification(cfg, { ...on, generator: new P.Generator(3) });
      const setup = P.applyMethod(model, 'prilora', { rankStart: 2, rankEnd: 4 });
      const opt = new P.AdamW(P.paramGroups(model, 0.01), { lr: 0.05 });
      const trained = opt.params.filter((p) => p.requiresGrad);
      const statStorages = setup.adapters.map((a) => a.stats!.view('test').storage);
      for (let i = 0; i < 3; i++) {
        P.tidy(() => P.withTokenMask(attentionMask, () => model.forward({ inputIds, attentionMask, labels }).loss!).backward());
        // the statistics' EMA runs in place too (nothing else holds a view of them)
        if (fused) expect(setup.adapters.every((a, j) => a.stats!.view('test').storage === statStorages[j]), 'statistics keep their storages').toBe(true);
        const before = backend.dispatchCount;
        const storages = trained.map((p) => p.view('test').storage);
        opt.update();
        // updated in place (no view shares a parameter or moment): as many parameters per dispatch as the
        // storage-buffer limit allows at 4 bindings each, 5 with a pruning mask
        const masked = trained.filter((p) => opt.mask(p) !== undefined).length;
        const per = (bindings: number) => Math.min(8, Math.floor(backend.limits.maxStorageBuffersPerStage / bindings));
        const expected = Math.ceil((trained.length - masked) / per(4)) + Math.ceil(masked / per(5));
        if (fused) expect(backend.dispatchCount - before, 'dispatches of one AdamW update').toBe(expected);
        if (fused) expect(trained.every((p, j) => p.view('test').storage === storages[j]), 'parameters keep their storages').toBe(true);
        opt.zeroGrad();
      }
      expect(stats).toHaveBeenCalledTimes(3 * setup.adapters.length);
      const out = await Promise.all([...trained, ...setup.adapters.map((a) => a.stats!)].map((t) => t.data()));
      vi.restoreAllMocks();
      opt.dispose();
      model.dispose();
      return out;
    };
    const fused = await run(true);
    const composite = await run(false);
    fused.forEach((f, i) => expect(worstDiff(f, composite[i]), `tensor ${i}`).toBeLessThan(1e-5));
  });

  it('1,000 AdamW training steps of a 1-layer BERT leave the live buffer and tensor counts unchanged; the pool stops growing', async () => {
    const cfg = parseBertConfig({
      model_type: 'bert', vocab_size: 40, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24,
      max_position_embeddings: 16, num_labels: 3, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
    });
    const model = new P.BertForSequenceClassification(cfg, { ...on, generator: new P.Generator(5) });
    const params = model.parameters();
    const inputIds = P.tensor(Int32Array.from({ length: 24 }, (_, i) => (i * 7) % 40), { shape: [4, 6], ...on });
    const attentionMask = P.tensor(Int32Array.from({ length: 24 }, (_, i) => (i % 6 < 4 + (i % 2) ? 1 : 0)), { shape: [4, 6], ...on });
    const labels = P.tensor(Int32Array.from([0, 2, 1, 2]), on);
    const opt = new P.AdamW([{ params, weightDecay: 0.01 }], { lr: 1e-2 });
    const step = (): P.Tensor => {
      const loss = P.tidy(() => {
        const l = model.forward({ inputIds, attentionMask, labels }).loss!;
        l.backward();
        return l;
      });
      opt.update();
      opt.zeroGrad();
      return loss;
    };
    const losses: number[] = [];
    const read = async (loss: P.Tensor) => {
      losses.push((await loss.data())[0]);
      loss.dispose();
    };
    for (let i = 0; i < 2; i++) await read(step());
    const buffers = backend.liveBuffers();
    const tensors = P.liveTensors();
    const created = backend.poolStats().created;
    for (let i = 0; i < 1000; i++) {
      const loss = step();
      // read now and then, as a training loop logs: the rest of the steps run without waiting
      if (i % 100 === 99) await read(loss);
      else loss.dispose();
    }
    expect(backend.liveBuffers()).toBe(buffers);
    expect(P.liveTensors()).toBe(tensors);
    expect(backend.poolStats().created).toBe(created);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    opt.dispose();
    model.dispose();
  });

  describe('the CLI with --backend webgpu', () => {
    afterAll(() => P.setDefaultBackend(P.cpuBackend()));
    const run = async (argv: string[]) => {
      const out: string[] = [];
      const code = await main(argv, { log: (l) => out.push(l), error: (l) => out.push(l) });
      return { code, out, last: argv.includes('--json') ? JSON.parse(out[out.length - 1]) : null };
    };

    it('gradcheck, bench matmul and check-fixture end with their JSON lines', async () => {
      const g = await run(['gradcheck', '--backend', 'webgpu', '--seed', '5', '--json']);
      expect(g).toMatchObject({ code: 0, last: { pass: true, failed: [] } });
      expect(g.last.ops).toBeGreaterThanOrEqual(50);
      const b = await run(['bench', 'matmul', '--n', '64', '--backend', 'webgpu', '--json']);
      expect(b).toMatchObject({ code: 0, last: { n: 64, backend: 'webgpu' } });
      expect(b.last.gflops).toBeGreaterThan(0);
      const f = await run(['check-fixture', 'test/fixtures/hf/bert_cls', '--backend', 'webgpu', '--json']);
      expect(f).toMatchObject({ code: 0, last: { pass: true } });
      const f64 = await run(['check-fixture', 'test/fixtures/hf/bert_cls', '--backend', 'webgpu', '--dtype', 'f64']);
      expect(f64.code).toBe(1);
      expect(f64.out[f64.out.length - 1]).toMatch(/DTypeError: webgpu: float64 is not supported/);
    });
  });
});
