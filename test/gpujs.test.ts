/**
 * gpu.js-specific checks; op semantics are covered by the shared suites (helpers.ts BACKENDS). gpu.js falls
 * back to CPU/WebAssembly kernels without a word, so these tests insist on the GL kernel mode, on results
 * staying in textures, and on every CPU fallback being counted. headless-gl needs an X display: CI runs the
 * tests under `xvfb-run -a` and fails without GL; elsewhere this file is skipped with the reason.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { GlStorage } from '../src/backends/gpujs/storage.ts';
import { checkFixture, LIMITS } from '../src/verify/fixture-check.ts';
import { main } from '../src/cli/main.ts';
import { openBackend } from '../src/cli/devices.ts';

async function startGpujs(): Promise<P.GpujsBackend | null> {
  try {
    return (await openBackend('gpujs')) as P.GpujsBackend;
  } catch (e) {
    if (process.env.CI) throw e;
    console.warn(`gpujs could not start (${(e as Error).message}); test/gpujs.test.ts is skipped`);
    return null;
  }
}

const gl = await startGpujs();
const on = { backend: gl! };
const FIXTURES = join(import.meta.dirname, 'fixtures/hf');

const storageOf = (t: P.Tensor): GlStorage => t.view('test').storage as GlStorage;

/**
 * A 1-layer tiny BERT classifier (random init), its batch (one padded sequence) and one forward + backward;
 * `step` counts the fallbacks of the step alone, not of drawing the weights.
 */
function tinyTrainStep(backend: P.Backend): { loss: number; grads: Map<string, Float32Array>; step: Record<string, number> } {
  const cfg = P.parseBertConfig({
    model_type: 'bert', vocab_size: 64, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 37,
    max_position_embeddings: 16, type_vocab_size: 2, num_labels: 3, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
  });
  const model = new P.BertForSequenceClassification(cfg, { backend, generator: new P.Generator(1) });
  const ids = P.tensor(Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 64), { backend, shape: [2, 8] });
  const attentionMask = P.tensor(Int32Array.from({ length: 16 }, (_, i) => (i < 14 ? 1 : 0)), { backend, shape: [2, 8] });
  const labels = P.tensor(new Int32Array([2, 0]), { backend });
  P.manualSeed(5); // dropout draws from the global generator: both backends must start it at the same state
  gl!.resetFallbackCounts();
  const r = model.forward({ inputIds: ids, attentionMask, labels });
  r.loss!.backward();
  const step = gl!.fallbackCounts();
  const grads = new Map([...model.stateDict()].map(([name, p]) => [name, p.grad!.dataSync() as Float32Array]));
  const loss = r.loss!.item();
  model.dispose();
  return { loss, grads, step };
}

describe.skipIf(!gl)('gpujs backend', () => {
  const backend = gl!;

  it('runs HeadlessGLKernel kernels on headless-gl (ANGLE), proven by the start-up probe', () => {
    expect(backend.kernelMode).toMatchObject({ mode: 'headlessgl', kernelClass: 'HeadlessGLKernel', renderer: 'ANGLE' });
    expect(backend.kernelMode.version).toMatch(/^WebGL 1\.0/);
    expect(backend.kernelMode.maxTextureSize).toBeGreaterThanOrEqual(4096);
    expect(backend.describe()).toMatch(/headlessgl mode \(HeadlessGLKernel kernels\) on ANGLE/);
  });

  it('keeps kernel results in textures and reads back only on request', async () => {
    const x = P.tensor([[1, 2, 3], [4, 5, 6]], on);
    const y = P.exp(P.add(P.mul(P.transpose(x), 0.5), 1));
    const s = storageOf(y);
    expect(s.tex).not.toBeNull();
    expect(s.host).toBeNull();
    const want = [1, 4, 2, 5, 3, 6].map((v) => Math.fround(Math.exp(v * 0.5 + 1)));
    [...(await y.data())].forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-6 * want[i]));
    expect(s.host).not.toBeNull(); // kept for later reads until a kernel writes the storage again
    expect(s.tex).not.toBeNull();
  });

  it('compiles one program per op and rank bucket, not one per shape', () => {
    const reversed = (shape: number[]) => shape.map((_, i) => shape.length - 1 - i);
    const run = (shape: number[]) => P.add(P.randn(shape, on), P.permute(P.randn([...shape].reverse(), on), reversed(shape))).dataSync();
    run([3, 5]);
    const compiled = backend.compiledKernels();
    run([7, 2]);
    run([2, 3, 4]);
    run([33, 65]);
    expect(backend.compiledKernels()).toBe(compiled);
  });

  it('counts each CPU fallback under its op, and nothing for float kernels', () => {
    const x = P.tensor([1, -2, 3], on);
    backend.resetFallbackCounts();
    P.sum(P.softmax(P.matmul(P.reshape(x, [3, 1]), P.reshape(x, [1, 3])))).dataSync();
    expect(backend.fallbackCounts()).toEqual({});
    const labels = P.tensor(new Int32Array([2, -100, 1]), on);
    P.ne(labels, -100);
    P.rand([5], on);
    P.rand([5], on);
    expect(backend.fallbackCounts()).toEqual({ 'binary.ne(int32)': 1, random: 2 });
  });

  it('refuses float64 with a DTypeError naming the backend', () => {
    expect(() => P.zeros([2], { dtype: 'float64', ...on })).toThrow(P.DTypeError);
    expect(() => P.zeros([2], { dtype: 'float64', ...on })).toThrow(/gpujs: float64 is not supported/);
    expect(() => P.cast(P.ones([2], on), 'float64')).toThrow(/gpujs: float64/);
  });

  it('frees a storage’s texture with the storage', () => {
    const [buffers, textures] = [backend.liveBuffers(), backend.liveTextures()];
    P.tidy(() => P.sum(P.mul(P.randn([64, 3], on), 2), 0).dataSync());
    expect([backend.liveBuffers(), backend.liveTextures()]).toEqual([buffers, textures]);
  });

  it('a tiny BERT train step matches the CPU, with only int32 bookkeeping and random draws on the CPU', () => {
    const gpu = tinyTrainStep(gl!);
    const cpu = tinyTrainStep(P.cpuBackend());
    expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-5 * Math.abs(cpu.loss));
    for (const [name, g] of cpu.grads) {
      const d = gpu.grads.get(name)!;
      const scale = Math.max(...g.map(Math.abs), 1e-6);
      g.forEach((v, i) => expect(Math.abs(d[i] - v), name).toBeLessThanOrEqual(1e-4 * scale));
    }
    // dropout: embeddings, attention probabilities, attention output, FFN output, classifier; crossEntropy's
    // label bookkeeping; int32 reads (index range checks) — everything float stays on the GPU
    expect(gpu.step).toMatchObject({ random: 5, 'binary.ne(int32)': 1, 'ternary.where(int32)': 1 });
    expect(Object.keys(gpu.step).every((k) => k === 'random' || k.endsWith('(int32)'))).toBe(true);
  });

  for (const fixture of ['bert_cls', 'bert_reg']) {
    it(`check-fixture ${fixture} passes in float32 (forward ≤ 1e-5, grad ≤ 1e-4)`, async () => {
      const r = await checkFixture(join(FIXTURES, fixture), { dtype: 'float32', backend: gl! });
      expect(LIMITS.float32.forward).toBe(1e-5);
      expect(LIMITS.float32.grad).toBe(1e-4);
      for (const c of r.comparisons) expect(c.error, `${c.part} ${c.name}`).toBeLessThanOrEqual(c.limit);
      expect(r.worst.forward).toBeLessThanOrEqual(1e-5);
      expect(r.worst.grad).toBeLessThanOrEqual(1e-4);
      expect(r.pass).toBe(true);
    });
  }

  it('prilora gradcheck --backend gpujs: every op in float32 against the CPU’s float64', async () => {
    const out: string[] = [];
    try {
      expect(await main(['gradcheck', '--backend', 'gpujs', '--json'], { log: (l) => out.push(l), error: () => {} })).toBe(0);
    } finally {
      P.setDefaultBackend(P.cpuBackend());
    }
    const last = JSON.parse(out[out.length - 1]);
    expect(last).toMatchObject({ pass: true, failed: [] });
    expect(last.ops).toBeGreaterThanOrEqual(50);
  });

  it('prilora bench matmul --backend gpujs reports the kernel mode and fallbacks in its JSON line', async () => {
    const out: string[] = [];
    try {
      const code = await main(['bench', 'matmul', '--backend', 'gpujs', '--n', '48', '--json'], { log: (l) => out.push(l), error: () => {} });
      expect(code).toBe(0);
    } finally {
      P.setDefaultBackend(P.cpuBackend());
    }
    expect(out).toContain('kernel mode: headlessgl (HeadlessGLKernel)');
    expect(out).toContain('CPU fallbacks: random ×2');
    expect(JSON.parse(out[out.length - 1])).toMatchObject({ n: 48, backend: 'gpujs', mode: 'headlessgl', fallbacks: { random: 2 } });
  });
});
