/**
 * `prilora gradcheck`: every differentiable op against central finite differences in float64. A backend
 * without float64 (webgpu) is checked in float32 against the CPU's float64 values and gradients at the
 * same inputs, which are themselves checked against finite differences.
 */
import { runDeviceGradcheckSuite, runGradcheckSuite } from '../autograd/gradcheck-suite.ts';
import { backendFlag, intFlag, parseFlags } from './args.ts';
import type { CommandIO } from './main.ts';

export async function gradcheckCommand(argv: string[], io: CommandIO): Promise<number> {
  const { flags } = parseFlags('gradcheck', argv, {
    backend: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
  });
  const backend = await backendFlag(flags);
  const seed = intFlag(flags, 'seed', 0);
  const suite = backend === 'cpu' ? runGradcheckSuite(seed) : await runDeviceGradcheckSuite(backend, seed);
  for (const { op, result } of suite.results) {
    const w = result.worst;
    io.log(`${result.pass ? 'ok  ' : 'FAIL'} ${op.padEnd(22)} ${String(result.checked).padStart(4)} elements, worst ${w.ratio.toExponential(2)} of tolerance (|Δ| ${w.absError.toExponential(2)})`);
  }
  const how = backend === 'cpu' ? '' : ', float32 against cpu float64';
  io.log(`${suite.ops} ops, ${suite.failed.length} failed (backend ${backend}${how}, seed ${seed})`);
  const summary = { pass: suite.pass, ops: suite.ops, failed: suite.failed, worst: suite.worst };
  if (flags.json) io.log(JSON.stringify(summary));
  return suite.pass ? 0 : 1;
}
