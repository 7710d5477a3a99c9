/**
 * Host µs per dispatch of a bare chain of kernels on WebGPU (2,000 `add`s of [32, 32] tensors, each
 * reading the last result), for any checkout of this project, as bench/README.md reports it: the loop's
 * time less the time inside queue.submit (where Mesa's llvmpipe runs the kernels), per dispatch; the median
 * and the best of 10 chains after 3 warm-up chains.
 *
 *   npx tsx bench/webgpu-chain.ts [ROOT=.]
 */
import { resolve } from 'node:path';
import { timeSubmits } from './submit-timer.ts';

const root = resolve(process.argv[2] ?? '.');
const P = await import(`${root}/src/index.ts`);
const { openBackend } = await import(`${root}/src/cli/devices.ts`);
const backend = await openBackend('webgpu');
const submits = timeSubmits(backend);
const LENGTH = 2000;
const x = P.ones([32, 32], { backend });
const hostUs: number[] = [];
for (let run = 0; run < 13; run++) {
  const d0 = (backend as { dispatchCount: number }).dispatchCount;
  submits.reset();
  const t0 = performance.now();
  const y = P.tidy(() => {
    let acc = x;
    for (let i = 0; i < LENGTH; i++) {
      const next = P.add(acc, x);
      if (acc !== x) acc.dispose();
      acc = next;
    }
    return acc;
  });
  const ms = performance.now() - t0;
  const dispatches = (backend as { dispatchCount: number }).dispatchCount - d0;
  await y.data();
  y.dispose();
  if (run >= 3) hostUs.push(((ms - submits.ms()) * 1000) / dispatches);
}
hostUs.sort((a, b) => a - b);
console.log(JSON.stringify({ root, dispatches: LENGTH, host_us_median: +hostUs[5].toFixed(1), host_us_best: +hostUs[0].toFixed(1) }));
process.exit(0);
