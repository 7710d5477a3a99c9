/**
 * One optimiser step's contract with the device: the host waits on it once (loss and gradient norm read
 * together, after backward, so a GPU is never left idle while the backward pass is recorded), and no
 * weight moves unless both are finite.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { optimizerStep } from '../src/train/step.ts';

function setup(input: number) {
  const gen = new P.Generator(0);
  const w = P.keep(P.randn([3, 4], { generator: gen }));
  w.requiresGrad = true;
  const x = P.keep(P.add(P.randn([5, 4], { generator: gen }), input));
  const opt = new P.AdamW([{ params: [w], weightDecay: 0 }], { lr: 0.1 });
  const loss = () => P.mean(P.mul(P.linear(x, w), P.linear(x, w)));
  const nonFinite = (what: string, value: number) => new Error(`${what} is ${value}`);
  return { w, opt, step: () => optimizerStep({ loss, opt, clip: 1, lr: 0.1, nonFinite }) };
}

describe('optimizerStep', () => {
  it('reads the device once per step, after backward: loss and gradient norm together', async () => {
    const backend = P.cpuBackend();
    const { w, step } = setup(0);
    const reads: boolean[] = [];
    const read = backend.read;
    backend.read = (s) => (reads.push(w.grad !== null), read.call(backend, s));
    try {
      const r = await step();
      expect(r.loss).toBeGreaterThan(0);
      expect(r.gradNorm).toBeGreaterThan(0);
    } finally {
      backend.read = read;
    }
    expect(reads).toEqual([true, true]);
  });

  it('a non-finite loss stops the step before the update: the weights are as they were', async () => {
    const { w, opt, step } = setup(NaN);
    const before = Float32Array.from(await w.data());
    await expect(step()).rejects.toThrow(/^loss is NaN$/);
    expect(Float32Array.from(await w.data())).toEqual(before);
    expect(opt.step).toBe(0);
    expect(w.grad).toBeNull();
  });
});
