import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { log: (l) => out.push(l), error: (l) => err.push(l) });
  return { code, out, err };
}

describe('prilora CLI', () => {
  it('gradcheck --json ends with the summary line of CLI.md', async () => {
    const r = await run(['gradcheck', '--seed', '3', '--json']);
    expect(r.code).toBe(0);
    const last = JSON.parse(r.out[r.out.length - 1]);
    expect(last.pass).toBe(true);
    expect(last.failed).toEqual([]);
    expect(last.ops).toBeGreaterThanOrEqual(50);
    expect(last.worst).toBeLessThanOrEqual(1);
  });

  it('bench matmul --json reports GFLOP/s', async () => {
    const r = await run(['bench', 'matmul', '--n', '64', '--json']);
    expect(r.code).toBe(0);
    const last = JSON.parse(r.out[r.out.length - 1]);
    expect(last).toMatchObject({ n: 64, backend: 'cpu' });
    expect(last.gflops).toBeGreaterThan(0);
  });

  it('check-fixture --json passes the BERT fixtures and the metrics fixture', async () => {
    for (const dtype of ['f32', 'f64']) {
      const r = await run(['check-fixture', 'test/fixtures/hf/bert_cls', '--dtype', dtype, '--json']);
      const last = JSON.parse(r.out[r.out.length - 1]);
      expect(r.code).toBe(0);
      expect(last.pass).toBe(true);
      expect(last.worst.forward).toBeLessThanOrEqual(dtype === 'f32' ? 1e-5 : 1e-10);
    }
    const m = await run(['check-fixture', 'test/fixtures/hf/metrics.json', '--json']);
    expect(m.code).toBe(0);
    expect(JSON.parse(m.out[m.out.length - 1]).worst).toBeLessThanOrEqual(1e-9);
    const missing = await run(['check-fixture', 'no/such/dir']);
    expect(missing.code).toBe(1);
    expect(missing.err[0]).toBe('prilora check-fixture: ConfigError: check-fixture: no/such/dir does not exist');
  });

  it('bad flags give a clear message and a non-zero status', async () => {
    const r = await run(['bench', 'matmul', '--n', 'big']);
    expect(r.code).toBe(1);
    expect(r.err[0]).toBe('prilora bench matmul: ConfigError: --n must be an integer, got "big"');
    expect((await run(['bench', 'matmul', '--n', '0'])).err[0]).toBe('prilora bench matmul: ConfigError: --n must be an integer ≥ 1, got 0');
    expect((await run(['nonsense'])).code).toBe(2);
  });

  it('the bin script runs the TypeScript sources directly', () => {
    const out = execFileSync(process.execPath, ['bin/prilora.js', 'gradcheck', '--json'], { encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!).pass).toBe(true);
  });
});
