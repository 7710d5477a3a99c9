/**
 * The WebGPU device of a webgpu-only test file. CI must have WebGPU (Mesa's llvmpipe: .ci/run), so there a
 * failure to start fails the file; elsewhere the file is skipped with the reason. (helpers.ts is not used:
 * importing it opens every backend of the shared suites.)
 */
import * as P from '../src/index.ts';
import { openBackend } from '../src/cli/devices.ts';

export async function startWebGPU(file: string): Promise<P.WebGPUBackend | null> {
  try {
    return (await openBackend('webgpu')) as P.WebGPUBackend;
  } catch (e) {
    if (process.env.CI) throw e;
    console.warn(`WebGPU could not start (${(e as Error).message}); ${file} is skipped`);
    return null;
  }
}
