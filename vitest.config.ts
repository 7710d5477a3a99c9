import { defineConfig } from 'vitest/config';

// The gpujs op suites run in processes of their own: headless-gl (GLX) and the webgpu backend's Dawn
// OpenGL adapter (EGL) cannot both hold a context on one thread. They need an X display (CI: xvfb-run);
// without one, and outside CI, the project is left out rather than reported empty.
const gpujsSuites = Boolean(process.env.DISPLAY || process.env.CI);

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'] } },
      ...(gpujsSuites ? [{ extends: true, test: { name: 'gpujs', include: ['test/ops-*.test.ts'], env: { PRILORA_TEST_GPU: 'gpujs' } } }] : []),
    ],
  },
});
