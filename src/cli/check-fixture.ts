/** `prilora check-fixture <dir | metrics.json>`: the engine against the Python stack's float64 references. */
import { statSync } from 'node:fs';
import { ConfigError } from '../core/errors.ts';
import { bool, choice, resolve } from '../core/spine.ts';
import { checkMetricsFixture } from '../data/metrics.ts';
import { LIMITS, PARTS, checkFixture } from '../verify/fixture-check.ts';
import type { Command } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';

const FIXTURE_SPINE = {
  dtype: choice(['f32', 'f64'] as const, { help: 'the model dtype the comparison runs in', default: 'f32' }),
  verbose: bool({ help: 'list every compared tensor, not only failures', default: false }),
} as const;

export const checkFixtureCommand: Command = {
  usage: 'check-fixture <dir | metrics.json> [--dtype f32|f64] [--backend B]',
  summary: 'compare the engine with float64 references from transformers + PEFT + torch (or sklearn/scipy metrics)',
  spines: [FIXTURE_SPINE, DEVICE_SPINE],
  async run({ given: [opts, device], positionals, json }, io) {
    const path = positionals[0];
    if (!path || positionals.length > 1) throw new ConfigError('check-fixture: expected one fixture directory or metrics.json');
    const o = resolve(FIXTURE_SPINE, opts);
    const { backend, options } = await useDevice(device);
    const dtype = o.dtype === 'f64' ? 'float64' : 'float32';
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new ConfigError(`check-fixture: ${path} does not exist`);
    }
    if (!isDir) {
      const r = checkMetricsFixture(path);
      io.log(`metrics: ${r.pass ? 'pass' : 'FAIL'}, worst absolute error ${r.worst.toExponential(2)} (limit 1e-9)`);
      if (json) io.log(JSON.stringify({ pass: r.pass, worst: r.worst }));
      return r.pass ? 0 : 1;
    }
    const report = await checkFixture(path, { dtype, backend });
    for (const part of PARTS) {
      const mine = report.comparisons.filter((c) => c.part === part);
      const w = report.worst[part];
      if (typeof w !== 'number') {
        io.log(`${part.padEnd(8)} not checked`);
        continue;
      }
      const ok = mine.every((c) => c.error <= c.limit);
      io.log(`${part.padEnd(8)} ${ok ? 'pass' : 'FAIL'}  worst ${w.toExponential(2)} (limit ${LIMITS[dtype][part].toExponential(0)}) over ${mine.length} tensors`);
      for (const c of mine) if (o.verbose || !(c.error <= c.limit)) io.log(`         ${c.error <= c.limit ? '    ' : 'FAIL'} ${c.name}: ${c.error.toExponential(2)} (limit ${c.limit.toExponential(0)})`);
    }
    io.log(`${path}: ${report.pass ? 'pass' : 'FAIL'} (${dtype} on ${options.backend})`);
    if (json) io.log(JSON.stringify({ pass: report.pass, worst: report.worst }));
    return report.pass ? 0 : 1;
  },
};
