/**
 * AdamW's parameter groups: a group's lrScale moves its parameters exactly as the same update at
 * lr · lrScale would (float64 loops written out here, torch.optim.AdamW's rule), the other groups at lr.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { paramGroups } from '../src/optim/param-groups.ts';

const f64 = { dtype: 'float64' as const, backend: P.cpuBackend() };

function referenceAdamW(p: number[], grads: number[][], lr: number, wd: number, [b1, b2, eps] = [0.9, 0.999, 1e-8]): number[] {
  const m = p.map(() => 0), v = p.map(() => 0), x = [...p];
  grads.forEach((g, t) => {
    for (let i = 0; i < x.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      x[i] *= 1 - lr * wd;
      x[i] -= ((m[i] / (1 - b1 ** (t + 1))) / (Math.sqrt(v[i] / (1 - b2 ** (t + 1))) + eps)) * lr;
    }
  });
  return x;
}

describe('AdamW parameter groups', () => {
  it("a group's lrScale multiplies its learning rate, weight decay included; the others keep lr", async () => {
    const start = { a: [0.5, -1, 2], b: [1.5, 0.25] };
    const grads = { a: [[0.1, -0.3, 0.7], [0.2, 0.2, -0.1], [-0.4, 0.05, 0.3]], b: [[1, -2], [0.5, 0.5], [-1, 3]] };
    const a = P.tensor(start.a, f64), b = P.tensor(start.b, f64);
    a.requiresGrad = b.requiresGrad = true;
    const opt = new P.AdamW([{ params: [a], weightDecay: 0.1 }, { params: [b], weightDecay: 0.1, lrScale: 0.25 }], { lr: 0.05 });
    for (let t = 0; t < 3; t++) {
      a.grad = P.tensor(grads.a[t], f64);
      b.grad = P.tensor(grads.b[t], f64);
      opt.update();
      opt.zeroGrad();
    }
    const close = (got: ArrayLike<number>, want: number[]) => want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThan(1e-12));
    close(await a.data(), referenceAdamW(start.a, grads.a, 0.05, 0.1));
    close(await b.data(), referenceAdamW(start.b, grads.b, 0.0125, 0.1));
    expect(Math.abs((await b.data())[0] - referenceAdamW(start.b, grads.b, 0.05, 0.1)[0])).toBeGreaterThan(1e-3);
  });

  it('paramGroups puts the matching parameters in scaled groups, decayed or not as before', () => {
    const cfg = P.parseBertConfig({ model_type: 'bert', vocab_size: 30, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16, num_labels: 2 });
    const model = new P.BertForSequenceClassification(cfg, { generator: new P.Generator(0) });
    const names = new Map([...model.namedParameters()].map(([n, p]) => [p, n]));
    const groups = paramGroups(model, 0.01, { match: /(^|\.)embeddings\./, lrScale: 0.1 });
    const summary = groups.map((g) => ({ wd: g.weightDecay, scale: g.lrScale ?? 1, names: g.params.map((p) => names.get(p)!) }));
    expect(summary.map((g) => [g.wd, g.scale])).toEqual([[0.01, 1], [0, 1], [0.01, 0.1], [0, 0.1]]);
    expect(summary[2].names.sort()).toEqual(['bert.embeddings.position_embeddings.weight', 'bert.embeddings.token_type_embeddings.weight', 'bert.embeddings.word_embeddings.weight']);
    expect(summary[3].names.sort()).toEqual(['bert.embeddings.LayerNorm.bias', 'bert.embeddings.LayerNorm.weight']);
    expect(summary.slice(0, 2).flatMap((g) => g.names).some((n) => n.includes('embeddings.'))).toBe(false);
    // no scaled groups unless asked for: two groups as before, so checkpointed optimiser state keeps its order
    const plain = paramGroups(model, 0.01);
    expect(plain.map((g) => g.params.length)).toEqual([summary[0].names.length + summary[2].names.length, summary[1].names.length + summary[3].names.length]);
  });
});
