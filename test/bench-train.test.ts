/** `prilora bench train-step` and `bench matmul --threads`: flags, JSON last line, the three methods. */
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { cpuInfo, setCpuThreads } from '../src/backends/cpu/index.ts';
import { defaultThreads } from '../src/backends/cpu/wasm/runtime.ts';

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { log: (l) => out.push(l), error: (l) => err.push(l) });
  return { code, out, err };
}

describe('bench train-step', () => {
  it.each(['lora', 'prilora', 'full'])('--method %s prints {…, "seq_per_s", "step_s"} last', async (method) => {
    const r = await run(['bench', 'train-step', '--size', 'tiny', '--method', method, '--batch', '2', '--seq', '16', '--steps', '2', '--warmup', '0', '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    const line = r.out[r.out.length - 1];
    const json = JSON.parse(line);
    expect(json).toMatchObject({ size: 'tiny', method, batch: 2, seq: 16, backend: 'cpu' });
    expect(Object.keys(json).slice(-2)).toEqual(['seq_per_s', 'step_s']);
    expect(json.seq_per_s).toBeCloseTo(2 / json.step_s, 6);
    // LoRA r = 8 on six maps of two 128-wide layers (+ the classifier) vs everything
    expect(json.trainable).toEqual(method === 'full' ? 4386178 : method === 'lora' ? 37122 : expect.any(Number));
  });

  it('rejects bad flags with one clear line', async () => {
    expect((await run(['bench', 'train-step', '--size', 'huge'])).err[0]).toMatch(/--size must be one of tiny, mini, base/);
    expect((await run(['bench', 'train-step', '--seq', '600'])).err[0]).toMatch(/--seq must be an integer in \[2, 512\], got 600/);
    expect((await run(['bench', 'train-step', '--dropout', '1'])).err[0]).toMatch(/--dropout must be a number in \[0, 1\), got 1/);
  });

  it('bench matmul --threads sets the CPU threads and reports them', async () => {
    const r = await run(['bench', 'matmul', '--n', '96', '--threads', '1', '--json']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out[r.out.length - 1]);
    expect(json).toMatchObject({ n: 96, backend: 'cpu', threads: 1 });
    if (cpuInfo().enabled) expect(json.cpu_path).toBe('wasm-simd');
    setCpuThreads(defaultThreads());
  });
});
