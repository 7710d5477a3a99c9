// Bundles main.ts for the browser with esbuild (installed with tsx). Node built-ins are replaced by an
// empty module: library files that also serve Node (safetensors, config readers, Dawn's loader) import
// them at the top but never call them on the paths the page uses. The `webgpu` package (Dawn) stays an
// unresolved dynamic import that a browser never reaches, because `navigator.gpu` exists there.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const nodeBuiltinsAbsent = {
  name: 'node-builtins-absent',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-absent' }));
    b.onLoad({ filter: /.*/, namespace: 'node-absent' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

await build({
  entryPoints: [join(here, 'main.ts')],
  outfile: join(here, 'dist/main.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  external: ['webgpu'],
  plugins: [nodeBuiltinsAbsent],
  logLevel: 'info',
});
