/**
 * The WebGPU backend must load in a browser: Dawn and Node built-ins may only be reached through the
 * dynamic import that runs where `navigator.gpu` is missing. The smoke page (examples/browser) also runs
 * when a Chromium is installed (CI installs one, .ci/run); without one it is skipped.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);

describe('the webgpu backend in a browser', () => {
  it('bundles with no static import of a Node built-in or of Dawn', async () => {
    const r = await build({
      entryPoints: [join(root, 'src/backends/webgpu/index.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      splitting: true,
      outdir: join(root, 'examples/browser/dist/check'),
      external: ['node:*', 'webgpu'],
      metafile: true,
      logLevel: 'silent',
    });
    const entry = Object.values(r.metafile.outputs).find((o) => o.entryPoint);
    const imports = entry!.imports;
    const isNodeOnly = (path: string) => path.startsWith('node:') || path === 'webgpu';
    expect(imports.filter((i) => i.kind === 'import-statement' && isNodeOnly(i.path)).map((i) => i.path)).toEqual([]);
    // Dawn's loader is still there, behind the dynamic import
    expect(imports.some((i) => i.kind === 'dynamic-import')).toBe(true);
  });

  it.skipIf(!chromium)('the smoke page runs the fixture BERT on navigator.gpu in headless Chromium and passes', () => {
    const out = execFileSync(process.execPath, [join(root, 'examples/browser/headless.mjs'), chromium!], { encoding: 'utf8', timeout: 150_000 });
    expect(out).toMatch(/page: adapter: /);
    expect(out).toMatch(/page: PASS/);
  });
});
