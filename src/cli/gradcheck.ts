/**
 * `prilora gradcheck`: every differentiable op against central finite differences in float64. A backend
 * without float64 (webgpu) is checked in float32 against the CPU's float64 values and gradients at the
 * same inputs, which are themselves checked against finite differences.
 */
import { int, resolve } from '../core/spine.ts';
import { runDeviceGradcheckSuite, runGradcheckSuite } from '../verify/gradcheck-suite.ts';
import type { Command } from './command.ts';
import { DEVICE_SPINE, useDevice } from './devices.ts';

const GRADCHECK_SPINE = { seed: int({ help: 'seed of the random shapes and values', default: 0, min: 0 }) } as const;

export const gradcheckCommand: Command = {
  usage: 'gradcheck [--seed N] [--backend B]',
  summary: 'every differentiable op against central finite differences in float64',
  spines: [GRADCHECK_SPINE, DEVICE_SPINE],
  async run({ given: [opts, device], json }, io) {
    const { seed } = resolve(GRADCHECK_SPINE, opts);
    const { backend, options } = await useDevice(device);
    const suite = options.backend === 'cpu' ? runGradcheckSuite(seed) : await runDeviceGradcheckSuite(backend, seed);
    for (const { op, result } of suite.results) {
      const w = result.worst;
      io.log(`${result.pass ? 'ok  ' : 'FAIL'} ${op.padEnd(22)} ${String(result.checked).padStart(4)} elements, worst ${w.ratio.toExponential(2)} of tolerance (|Δ| ${w.absError.toExponential(2)})`);
    }
    const how = options.backend === 'cpu' ? '' : ', float32 against cpu float64';
    io.log(`${suite.ops} ops, ${suite.failed.length} failed (backend ${options.backend}${how}, seed ${seed})`);
    if (json) io.log(JSON.stringify({ pass: suite.pass, ops: suite.ops, failed: suite.failed, worst: suite.worst }));
    return suite.pass ? 0 : 1;
  },
};
