// Builds the fine-tuning page into examples/finetune/dist/, a folder of plain files that any static server
// can host: index.html, main.js (the page), worker.js (the engine), model/ (the bundled default model, or
// the directory given as the first argument) and data/SST-2/. `node examples/finetune/build.mjs [model dir]`
//
// esbuild comes with tsx. Node built-ins are replaced by an empty module: library files that also serve
// Node (safetensors, config and GLUE readers, Dawn's loader) import them at the top but the page never
// calls those paths. The `webgpu` package (Dawn) stays an unresolved dynamic import a browser never reaches.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const out = join(here, 'dist');
const modelDir = resolve(process.argv[2] ?? join(root, 'assets/models/default'));

const nodeBuiltinsAbsent = {
  name: 'node-builtins-absent',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-absent' }));
    b.onLoad({ filter: /.*/, namespace: 'node-absent' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: { main: join(here, 'src/main.ts'), worker: join(here, 'src/worker.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  external: ['webgpu'],
  plugins: [nodeBuiltinsAbsent],
  logLevel: 'warning',
});
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));

// the model is read generically (its config.json says how big it is); tokenizer_config.json is optional
mkdirSync(join(out, 'model'));
for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
  if (!existsSync(join(modelDir, f))) throw new Error(`${modelDir}: no ${f} (the page needs config.json, model.safetensors and tokenizer.json)`);
}
for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
  if (existsSync(join(modelDir, f))) copyFileSync(join(modelDir, f), join(out, 'model', f));
}
mkdirSync(join(out, 'data/SST-2'), { recursive: true });
for (const split of ['train', 'dev']) copyFileSync(join(root, `data/glue/SST-2/${split}.tsv.gz`), join(out, `data/SST-2/${split}.tsv.gz`));
console.log(`built ${out} (model from ${modelDir})`);
