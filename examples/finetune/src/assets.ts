/**
 * The bundled files, fetched next to the worker script (build.mjs copies them into dist/): the model
 * directory (config.json, model.safetensors, tokenizer.json and, where present, tokenizer_config.json)
 * and SST-2's train/dev TSVs, gzip-compressed as they are in data/glue. Nothing about the model's size is
 * assumed here: layers, widths and vocabulary come from its config.json.
 */
import { ConfigError } from '../../../src/core/errors.ts';
import { parseGlueTsv, type GlueExample } from '../../../src/data/glue.ts';
import { TextTokenizer } from '../../../src/data/tokenizer.ts';
import { parseSafetensors, type SafetensorsFile } from '../../../src/io/safetensors.ts';
import type { Json } from '../../../src/nn/config.ts';

export interface ModelFiles {
  config: Json;
  weights: SafetensorsFile;
  tokenizer: TextTokenizer;
}

async function fetchOk(url: URL, optional = false): Promise<Response | null> {
  const r = await fetch(url);
  if (r.ok) return r;
  if (optional && r.status === 404) return null;
  throw new Error(`${url.pathname}: HTTP ${r.status} (build the page with examples/finetune/build.mjs and serve dist/)`);
}

export async function loadModelFiles(base: URL): Promise<ModelFiles> {
  const at = (name: string) => new URL(name, base);
  const [configR, weightsR, tokR, tokCfgR] = await Promise.all([
    fetchOk(at('config.json')), fetchOk(at('model.safetensors')), fetchOk(at('tokenizer.json')), fetchOk(at('tokenizer_config.json'), true),
  ]);
  const config = (await configR!.json()) as Json;
  const weights = parseSafetensors(new Uint8Array(await weightsR!.arrayBuffer()), 'model.safetensors');
  const tokenizer = TextTokenizer.fromJSON(await tokR!.json(), tokCfgR ? await tokCfgR.json() : {});
  const rows = Number(config.vocab_size);
  // as loadRunModel checks in Node: an id past the embedding table would read out of bounds
  if (tokenizer.vocabSize > rows) throw new ConfigError(`tokenizer.json has ${tokenizer.vocabSize} tokens but the embedding table only ${rows} rows`);
  return { config, weights, tokenizer };
}

/** A gzip file's text, through the browser's own decompressor. */
async function gunzipText(r: Response): Promise<string> {
  const stream = r.body!.pipeThrough(new DecompressionStream('gzip'));
  return new Response(stream).text();
}

export async function loadSst2(base: URL): Promise<{ train: GlueExample[]; dev: GlueExample[] }> {
  const [train, dev] = await Promise.all(['train', 'dev'].map(async (split) => {
    const r = await fetchOk(new URL(`${split}.tsv.gz`, base));
    return parseGlueTsv('sst2', await gunzipText(r!), `SST-2/${split}.tsv.gz`);
  }));
  return { train, dev };
}

/** A dropped TSV in SST-2's GLUE layout (header, then `sentence<TAB>label`): the parser's errors name the line. */
export function parseDroppedTsv(name: string, text: string): GlueExample[] {
  const rows = parseGlueTsv('sst2', text, name);
  if (rows.length === 0) throw new ConfigError(`${name}: no examples after the header`);
  return rows;
}
