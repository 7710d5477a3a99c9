/** `prilora gradcheck`: every differentiable op against central finite differences in float64. */
import { runGradcheckSuite } from '../autograd/gradcheck-suite.ts';
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
  const suite = runGradcheckSuite(seed);
  for (const { op, result } of suite.results) {
    const w = result.worst;
    io.log(`${result.pass ? 'ok  ' : 'FAIL'} ${op.padEnd(22)} ${String(result.checked).padStart(4)} elements, worst ${w.ratio.toExponential(2)} of tolerance (|Δ| ${w.absError.toExponential(2)})`);
  }
  io.log(`${suite.ops} ops, ${suite.failed.length} failed (backend ${backend}, seed ${seed})`);
  const summary = { pass: suite.pass, ops: suite.ops, failed: suite.failed, worst: suite.worst };
  if (flags.json) io.log(JSON.stringify(summary));
  return suite.pass ? 0 : 1;
}
