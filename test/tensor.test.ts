import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { philox4x32 } from '../src/core/random.ts';

describe('Philox-4x32-10', () => {
  // known-answer vectors published with Random123 (kat_vectors: philox4x32_10)
  const KAT: [number[], number[], number[]][] = [
    [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  ];
  it.each(KAT)('counter %j key %j', (ctr, key, expected) => {
    const out = new Uint32Array(4);
    philox4x32(Uint32Array.from(ctr), key[0], key[1], out);
    expect([...out]).toEqual(expected);
  });

  it('draws are reproducible, identical across dtypes, and move the generator on', () => {
    const g1 = new P.Generator(42);
    const a = P.rand([10], { generator: g1 });
    const b = P.rand([10], { generator: g1 });
    const c = P.rand([10], { dtype: 'float64', generator: new P.Generator(42) });
    expect([...a.dataSync()]).toEqual([...c.dataSync()].map(Math.fround));
    expect([...a.dataSync()]).not.toEqual([...b.dataSync()]);
    expect(g1.offset).toBe(6);
  });

  it('normal draws have mean ≈ 0 and variance ≈ 1', () => {
    const x = P.randn([20000], { dtype: 'float64', generator: new P.Generator(3) });
    expect(Math.abs(P.mean(x).item())).toBeLessThan(0.03);
    expect(Math.abs(P.variance(x).item() - 1)).toBeLessThan(0.04);
  });
});

describe('tensor basics', () => {
  it('creation: nested arrays, typed arrays, full, arange, dtypes', () => {
    expect(P.tensor([[1, 2], [3, 4]]).shape).toEqual([2, 2]);
    expect(P.tensor(new Float64Array([1, 2, 3])).dtype).toBe('float64');
    expect(P.full([2], 7, { dtype: 'int32' }).toArraySync()).toEqual([7, 7]);
    expect(P.arange(5).toArraySync()).toEqual([0, 1, 2, 3, 4]);
    expect(P.arange(5).dtype).toBe('int32');
    expect(P.arange(0, 1, 0.25).toArraySync()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(P.zeros([0, 3]).size).toBe(0);
    expect(P.scalar(3).item()).toBe(3);
  });

  it('views share storage; contiguous() copies only non-contiguous views', async () => {
    const x = P.tensor([[1, 2, 3], [4, 5, 6]]);
    const t = P.transpose(x);
    expect(t.isContiguous).toBe(false);
    expect(t.layout.strides).toEqual([1, 3]);
    expect(await t.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(P.contiguous(t).layout.strides).toEqual([2, 1]);
    const before = x.backend.liveBuffers();
    const v = P.reshape(x, [3, 2]);
    expect(x.backend.liveBuffers()).toBe(before);
    v.dispose();
    expect(x.isDisposed).toBe(false);
    expect(await x.data()).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
  });

  it('tidy disposes intermediates, keeps results and kept tensors', () => {
    const live = P.liveTensors();
    let kept: P.Tensor | null = null;
    const out = P.tidy(() => {
      const a = P.ones([3]);
      kept = P.keep(P.add(a, 1));
      return { y: P.mul(a, 2) };
    });
    // y and kept, each with the 0-d constant it was computed from (owned by it, disposed with it)
    expect(P.liveTensors()).toBe(live + 4);
    expect(out.y.toArraySync()).toEqual([2, 2, 2]);
    out.y.dispose();
    kept!.dispose();
    expect(P.liveTensors()).toBe(live);
  });

  it('backward with a seed gradient, accumulation into .grad, detach and noGrad', () => {
    const x = P.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const y = P.mul(x, x);
    y.backward(P.tensor([1, 1, 2], { dtype: 'float64' }));
    expect(x.grad!.toArraySync()).toEqual([2, 4, 12]);
    P.sum(P.mul(x, 3)).backward();
    expect(x.grad!.toArraySync()).toEqual([5, 7, 15]);
    expect(P.mul(x.detach(), 2).requiresGrad).toBe(false);
    expect(P.noGrad(() => P.mul(x, 2)).requiresGrad).toBe(false);
    expect(() => y.backward(P.tensor([1, 1, 1], { dtype: 'float64' }))).toThrow(/graph was already used/);
  });

  it('broadcast gradients are summed back to each input shape', () => {
    const a = P.tensor([[1], [2]], { dtype: 'float64', requiresGrad: true });
    const b = P.tensor([10, 20, 30], { dtype: 'float64', requiresGrad: true });
    P.sum(P.mul(a, b)).backward();
    expect(a.grad!.toArraySync()).toEqual([[60], [60]]);
    expect(b.grad!.toArraySync()).toEqual([3, 3, 3]);
  });
});
