import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';

describe('memory is explicit', () => {
  it('1,000 forward+backward iterations inside scopes leave the live buffer and tensor counts unchanged', () => {
    const backend = P.cpuBackend();
    const gen = new P.Generator(1);
    const w = P.keep(P.mul(P.randn([16, 8], { generator: gen }), 0.1));
    w.requiresGrad = true;
    const x = P.randn([4, 6, 8], { generator: gen });
    const mask = P.tensor([0, 0, 0, 0, -1e9, -1e9], { shape: [1, 1, 6] });
    const labels = P.tensor(Int32Array.from([1, 0, -100, 3]));
    const step = () =>
      P.tidy(() => {
        const h = P.gelu(P.linear(x, w));
        const att = P.softmax(P.add(P.matmul(h, P.transpose(h)), mask));
        const pooled = P.slice(P.matmul(att, h), 1, 0, 1);
        const loss = P.crossEntropy(P.reshape(pooled, [4, 16]), labels);
        loss.backward();
        const g = w.grad!;
        w.grad = null;
        const updated = P.noGrad(() => P.sub(w, P.mul(g, 0.01)));
        g.dispose();
        w.assignFrom(updated);
      });
    step();
    const buffers = backend.liveBuffers();
    const tensors = P.liveTensors();
    for (let i = 0; i < 1000; i++) step();
    expect(backend.liveBuffers()).toBe(buffers);
    expect(P.liveTensors()).toBe(tensors);
  });
});
