// Builds the fine-tuning page into examples/finetune/dist/, a folder of plain files that any static server
// can host: index.html, main.js (the page), worker.js (the engine), model/ (the bundled default model, or
// the directory given as the first argument) and data/SST-2/. `node examples/finetune/build.mjs [model dir]`
// (examples/browser-bundle.mjs says how the bundle is built)
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForBrowser } from '../browser-bundle.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const out = join(here, 'dist');
const modelDir = resolve(process.argv[2] ?? join(root, 'assets/models/default'));

rmSync(out, { recursive: true, force: true });
await bundleForBrowser({
  entryPoints: { main: join(here, 'src/main.ts'), worker: join(here, 'src/worker.ts') },
  outdir: out,
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
