// The esbuild settings both example pages share (esbuild comes with tsx). Node built-ins are replaced by
// an empty module: library files that also serve Node (safetensors, config and GLUE readers, Dawn's
// loader) import them at the top but a page never calls those paths. The `webgpu` package (Dawn) stays an
// unresolved dynamic import that a browser never reaches, because `navigator.gpu` exists there.
import { build } from 'esbuild';

const nodeBuiltinsAbsent = {
  name: 'node-builtins-absent',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-absent' }));
    b.onLoad({ filter: /.*/, namespace: 'node-absent' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

/** esbuild's `build` for a browser ES module bundle; `options` names the entry points and output. */
export const bundleForBrowser = (options) => build({
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  external: ['webgpu'],
  plugins: [nodeBuiltinsAbsent],
  ...options,
});
