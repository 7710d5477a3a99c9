import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';

const f64 = (shape: number[], gen: P.Generator, scale = 1) => P.keep(P.mul(P.randn(shape, { dtype: 'float64', generator: gen }), scale));

/** A few SGD steps; before each, autograd's gradient must equal central finite differences. */
function trainChecked(params: P.Tensor[], loss: (...ps: P.Tensor[]) => P.Tensor, steps: number, lr: number): number[] {
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const check = P.gradcheck(loss, params, { seed: s });
    expect(check.pass, `step ${s}: ${JSON.stringify(check.worst)}`).toBe(true);
    const next = P.tidy(() => {
      const ps = params.map((p) => P.tensor(p.dataSync(), { shape: p.shape, dtype: 'float64', requiresGrad: true }));
      const l = loss(...ps);
      losses.push(l.item());
      l.backward();
      return P.noGrad(() => ps.map((p) => P.sub(p, P.mul(p.grad!, lr))));
    });
    params.forEach((p, i) => p.dispose());
    params = next.map((t) => P.keep(t));
  }
  return losses;
}

describe('composite models: gradients equal finite differences while training', () => {
  it('a 2-layer MLP with GELU and cross-entropy', () => {
    const gen = new P.Generator(11);
    const x = f64([6, 5], gen);
    const labels = P.tensor(Int32Array.from([0, 2, 1, 1, 0, 2]));
    const params = [f64([8, 5], gen, 0.5), f64([8], gen, 0.1), f64([3, 8], gen, 0.5), f64([3], gen, 0.1)];
    const loss = (w1: P.Tensor, b1: P.Tensor, w2: P.Tensor, b2: P.Tensor) => P.crossEntropy(P.linear(P.gelu(P.linear(x, w1, b1)), w2, b2), labels);
    const losses = trainChecked(params, loss, 5, 0.5);
    expect(losses[4]).toBeLessThan(losses[0]);
  });

  it('one attention block softmax(QKᵀ/√d + mask)V with residual and layer norm', () => {
    const gen = new P.Generator(12);
    const [b, t, d] = [2, 4, 6];
    const x = f64([b, t, d], gen);
    // the second sequence has two padding positions, masked additively as BERT does
    const mask = P.tensor([0, 0, 0, 0, 0, 0, -1e4, -1e4], { dtype: 'float64', shape: [b, 1, 1, t] });
    const target = f64([b, t, d], gen);
    const heads = 2;
    const split = (y: P.Tensor) => P.permute(P.reshape(y, [b, t, heads, d / heads]), [0, 2, 1, 3]);
    const params = [f64([d, d], gen, 0.4), f64([d, d], gen, 0.4), f64([d, d], gen, 0.4), f64([d], gen), f64([d], gen, 0.1)];
    const loss = (wq: P.Tensor, wk: P.Tensor, wv: P.Tensor, lnw: P.Tensor, lnb: P.Tensor) => {
      const { out } = P.attention(split(P.linear(x, wq)), split(P.linear(x, wk)), split(P.linear(x, wv)), mask);
      const merged = P.reshape(P.permute(out, [0, 2, 1, 3]), [b, t, d]);
      return P.mseLoss(P.layerNorm(P.add(x, merged), lnw, lnb, 1e-12), target);
    };
    const losses = trainChecked(params, loss, 4, 0.2);
    expect(losses[3]).toBeLessThan(losses[0]);
  });
});
