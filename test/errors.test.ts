import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { openBackend, type BackendName } from '../src/cli/devices.ts';

const err = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

describe('bad input gives typed errors naming the op and the shapes / dtypes', () => {
  it('ShapeError: broadcasting, matmul, reshape, axes', () => {
    const e1 = err(() => P.add(P.ones([2, 3]), P.ones([4])));
    expect(e1).toBeInstanceOf(P.ShapeError);
    expect(e1.message).toBe('add: shapes [2, 3] and [4] do not broadcast');
    const e2 = err(() => P.matmul(P.ones([2, 3]), P.ones([4, 5])));
    expect(e2).toBeInstanceOf(P.ShapeError);
    expect(e2.message).toBe('matmul: inner sizes differ: [2, 3] @ [4, 5]');
    expect(err(() => P.reshape(P.ones([2, 3]), [4])).message).toBe('reshape: cannot view 6 elements as [4]');
    expect(err(() => P.sum(P.ones([2]), 3)).message).toBe('sum: axis 3 out of range for a 1-d tensor');
    expect(err(() => P.layerNorm(P.ones([2, 3]), P.ones([4]), P.ones([3]))).message).toMatch(/layerNorm: weight \[4\] \/ bias \[3\] do not match input \[2, 3\]/);
  });

  it('DTypeError: mixed dtypes, int indices, gradcheck precision', () => {
    const e = err(() => P.mul(P.ones([2]), P.ones([2], { dtype: 'float64' })));
    expect(e).toBeInstanceOf(P.DTypeError);
    expect(e.message).toBe('mul: dtype mismatch float32 vs float64');
    expect(err(() => P.embedding(P.ones([3, 2]), P.ones([2]))).message).toBe('embedding: ids must be int32, got float32');
    expect(err(() => P.exp(P.ones([2], { dtype: 'int32' }))).message).toBe('exp: expected a float dtype, got int32');
  });

  it('IndexError: gather / embedding out of range', () => {
    const e = err(() => P.embedding(P.ones([3, 2]), P.tensor(Int32Array.from([0, 3]))));
    expect(e).toBeInstanceOf(P.IndexError);
    expect(e.message).toBe('gather: index 3 out of range [0, 3)');
  });

  it('DisposedError: use after dispose and after the end of a scope', () => {
    const x = P.ones([2, 2]);
    x.dispose();
    const e = err(() => P.add(x, 1));
    expect(e).toBeInstanceOf(P.DisposedError);
    expect(e.message).toMatch(/^add: tensor #\d+ \[2, 2\] float32 was disposed$/);
    let inner: P.Tensor | null = null;
    P.tidy(() => {
      inner = P.ones([3]);
      return null;
    });
    expect(() => P.sum(inner!)).toThrow(P.DisposedError);
  });

  it('BackendError: operands on two backends; an unknown backend name is a ConfigError listing the names', () => {
    const other = new P.CpuBackend();
    const e = err(() => P.add(P.ones([2]), P.ones([2], { backend: other })));
    expect(e).toBeInstanceOf(P.BackendError);
    expect(e.message).toBe('add: operands on backends cpu and cpu');
    expect(() => openBackend('nope' as BackendName)).toThrow(/^backend must be one of cpu, webgpu, gpujs, got "nope"$/);
  });

  it('backward on a non-scalar without a seed names the shape', () => {
    const x = P.ones([2], { dtype: 'float64', requiresGrad: true });
    expect(err(() => P.mul(x, 2).backward()).message).toBe('backward: a seed gradient is needed for a non-scalar root of shape [2]');
  });
});
