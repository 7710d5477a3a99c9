import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { GRADCHECK_CASES, NON_DIFFERENTIABLE, runGradcheckSuite } from '../src/verify/gradcheck-suite.ts';
import { record } from '../src/autograd/record.ts';

describe('gradcheck suite', () => {
  it('covers every exported differentiable op', () => {
    const exported = Object.entries(P.ops)
      .filter(([, v]) => typeof v === 'function')
      .map(([k]) => k)
      .filter((k) => !NON_DIFFERENTIABLE.has(k));
    const covered = new Set(GRADCHECK_CASES.map((c) => c.op));
    expect(exported.filter((k) => !covered.has(k))).toEqual([]);
  });

  for (const seed of [0, 1, 2, 3, 4, 5, 6, 7]) {
    it(`passes for every op with shapes drawn from seed ${seed}`, () => {
      const r = runGradcheckSuite(seed);
      const failures = r.results.filter((x) => !x.result.pass).map((x) => `${x.op}: ${JSON.stringify(x.result.worst)}`);
      expect(failures).toEqual([]);
      expect(r.ops).toBe(GRADCHECK_CASES.length);
    });
  }

  it('catches a wrong gradient rule and reports the worst element', () => {
    // x² with the rule 3x instead of 2x
    const badSquare = (x: P.Tensor) => record('badSquare', P.noGrad(() => P.mul(x, x)), [x], (g) => [P.mul(g, P.mul(x, 3))]);
    const x = P.tensor([0.5, -1.5, 2], { dtype: 'float64' });
    const r = P.gradcheck(badSquare, [x]);
    expect(r.pass).toBe(false);
    expect(r.checked).toBe(3);
    expect(Math.abs(r.worst.analytic / r.worst.numeric)).toBeCloseTo(1.5, 5);
    expect(r.worst.ratio).toBeGreaterThan(1);
  });

  it('rejects float32 inputs (finite differences need float64)', () => {
    expect(() => P.gradcheck((x) => x, [P.ones([2])])).toThrow(P.DTypeError);
  });
});
