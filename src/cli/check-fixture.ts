/** `prilora check-fixture <dir | metrics.json>`: the engine against the Python stack's float64 references. */
import { statSync } from 'node:fs';
import { checkMetricsFixture } from '../data/metrics.ts';
import { ConfigError } from '../errors.ts';
import { backendFlag, choiceFlag, parseFlags } from './args.ts';
import { LIMITS, PARTS, checkFixture } from './fixture-check.ts';
import type { CommandIO } from './main.ts';

export async function checkFixtureCommand(argv: string[], io: CommandIO): Promise<number> {
  const { flags, positionals } = parseFlags('check-fixture', argv, {
    backend: { type: 'string' },
    dtype: { type: 'string' },
    json: { type: 'boolean' },
    verbose: { type: 'boolean' },
  });
  const path = positionals[0];
  if (!path || positionals.length > 1) throw new ConfigError('check-fixture: expected one fixture directory or metrics.json');
  const backend = await backendFlag(flags);
  const dtype = choiceFlag(flags, 'dtype', ['f32', 'f64'], 'f32') === 'f64' ? 'float64' : 'float32';
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new ConfigError(`check-fixture: ${path} does not exist`);
  }
  if (!isDir) {
    const r = checkMetricsFixture(path);
    io.log(`metrics: ${r.pass ? 'pass' : 'FAIL'}, worst absolute error ${r.worst.toExponential(2)} (limit 1e-9)`);
    if (flags.json) io.log(JSON.stringify({ pass: r.pass, worst: r.worst }));
    return r.pass ? 0 : 1;
  }
  const report = await checkFixture(path, { dtype, backend });
  for (const part of PARTS) {
    const mine = report.comparisons.filter((c) => c.part === part);
    const w = report.worst[part];
    const limit = LIMITS[dtype][part];
    if (typeof w !== 'number') {
      io.log(`${part.padEnd(8)} not checked`);
      continue;
    }
    const ok = mine.every((c) => c.error <= c.limit);
    io.log(`${part.padEnd(8)} ${ok ? 'pass' : 'FAIL'}  worst ${w.toExponential(2)} (limit ${limit.toExponential(0)}) over ${mine.length} tensors`);
    for (const c of mine) if (flags.verbose || !(c.error <= c.limit)) io.log(`         ${c.error <= c.limit ? '    ' : 'FAIL'} ${c.name}: ${c.error.toExponential(2)} (limit ${c.limit.toExponential(0)})`);
  }
  io.log(`${path}: ${report.pass ? 'pass' : 'FAIL'} (${dtype} on ${backend})`);
  if (flags.json) io.log(JSON.stringify({ pass: report.pass, worst: report.worst }));
  return report.pass ? 0 : 1;
}
