/** report.html's axes (flat series, short runs, bounded metrics) and its hyper-parameter table. */
import { describe, expect, it } from 'vitest';
import { axis, renderReport, tickLabels, type RunInfo } from '../src/train/report.ts';
import type { LogRecord } from '../src/train/log.ts';

/** The tick labels of each chart, by caption. */
function ticksOf(html: string): Map<string, { y: string[]; x: string[] }> {
  const out = new Map<string, { y: string[]; x: string[] }>();
  for (const [, caption, svg] of html.matchAll(/<figcaption>([^<]*)<\/figcaption><svg[^>]*>(.*?)<\/svg>/g)) {
    const y = [...svg.matchAll(/text-anchor="end">([^<]*)</g)].map((m) => m[1]);
    const x = [...svg.matchAll(/class="tick" text-anchor="middle">([^<]*)</g)].map((m) => m[1]).filter((t) => t !== 'step');
    out.set(caption, { y, x });
  }
  return out;
}

const step = (n: number, loss: number, lr: number): LogRecord => ({ type: 'step', step: n, epoch: 0, loss, lr, gradNorm: 1.5, seqPerS: 10, seconds: 0.1 });

describe('report', () => {
  it('a flat series is padded around its value and kept in the metric\'s range', () => {
    const a = axis(0.48, 0.48, [0, 1]);
    expect(a.lo).toBeCloseTo(0.4, 12);
    expect(a.hi).toBeCloseTo(0.55, 12);
    expect(a.labels).toEqual(['0.40', '0.45', '0.50', '0.55']);
    const top = axis(1, 1, [0, 1]);
    expect([top.lo, top.hi]).toEqual([0.9, 1]);
    const zero = axis(0, 0, [-1, 1]);
    expect([zero.lo, zero.hi]).toEqual([-1, 1]);
    const atBound = axis(0, 0, [0, 1]);
    expect([atBound.lo, atBound.hi]).toEqual([0, 1]);
    // unbounded series keep their scale: a flat 3e-5 learning rate is not drawn over ±1
    const lr = axis(3e-5, 3e-5, [0, Infinity]);
    expect(lr.lo).toBeGreaterThan(2e-5);
    expect(lr.hi).toBeLessThan(4e-5);
  });

  it('tick labels are distinct on short runs and narrow spans', () => {
    expect(axis(1, 2, [0, Infinity], 5, true).labels).toEqual(['1', '2']);
    expect(axis(3, 3, [0, Infinity], 5, true).labels).toEqual(['2', '3', '4']);
    const narrow = axis(0.69312, 0.69318, [0, Infinity]);
    expect(new Set(narrow.labels).size).toBe(narrow.labels.length);
    expect(narrow.labels.length).toBeGreaterThanOrEqual(3);
    expect(tickLabels([0, 2e-6, 4e-6], 2e-6)).toEqual(['0', '2e-6', '4e-6']);
    expect(tickLabels([0.6, 0.7, 0.8], 0.1)).toEqual(['0.6', '0.7', '0.8']);
  });

  it('renders a two-step run with a flat accuracy: axes within range, no repeated tick, the hyper-parameters shown', () => {
    const records: LogRecord[] = [
      { type: 'start', task: 'sst2', method: 'lora', totalSteps: 2, trainable: 1234, ranks: [] },
      step(1, 0.7, 1e-4), step(2, 0.69, 5e-5),
      { type: 'eval', step: 1, epoch: 0, metrics: { accuracy: 0.48 } },
      { type: 'eval', step: 2, epoch: 0, metrics: { accuracy: 0.48 } },
      { type: 'end', step: 2, metrics: { accuracy: 0.48 }, seconds: 1.5 },
    ];
    const run: RunInfo = { options: { task: 'sst2', lr: 1e-4, batch: 16, adapter: { rank: 8, targets: 'a<b' } }, backend: 'cpu', totalSteps: 2, warmup: 0 };
    const html = renderReport(records, run);
    const charts = ticksOf(html);
    const dev = charts.get('dev metrics')!;
    expect(dev.y).toEqual(['0.40', '0.45', '0.50', '0.55']);
    for (const [caption, t] of charts) {
      expect(new Set(t.y).size, caption).toBe(t.y.length);
      expect(new Set(t.x).size, caption).toBe(t.x.length);
      expect(t.x).toEqual(['1', '2']);
    }
    expect(charts.get('learning rate')!.y.every((l) => !l.startsWith('-'))).toBe(true);
    expect(html).toContain('<tr><th>lr</th><td>0.0001</td></tr>');
    expect(html).toContain('<tr><th>adapter.rank</th><td>8</td></tr>');
    expect(html).toContain('<tr><th>adapter.targets</th><td>a&lt;b</td></tr>');
    expect(html).toContain('<tr><th>steps planned</th><td>2</td></tr>');
    expect(renderReport(records)).not.toContain('hyper-parameters');
  });
});
