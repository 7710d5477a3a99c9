/**
 * Browser smoke test: the fixture BERT (test/fixtures/hf/bert_cls) runs one forward pass on `navigator.gpu`
 * through the same WebGPU backend as in Node, and its logits are compared with transformers' float64 ones.
 * Only browser-safe modules are imported (no file-system loaders; the CPU backend comes along as the default, unused); the page's title ends
 * as PASS or FAIL so that a headless browser can report it (see README.md).
 */
import { setDefaultBackend } from '../../src/backends/default.ts';
import { createWebGPUBackend } from '../../src/backends/webgpu/index.ts';
import { parseSafetensors, type SafetensorsFile } from '../../src/io/safetensors.ts';
import { BertForSequenceClassification, parseBertConfig } from '../../src/nn/bert.ts';
import { tensor } from '../../src/tensor/create.ts';

const FIXTURE = new URL('../../test/fixtures/hf/bert_cls/', location.href);
/** The fixtures' float32 limit for forward values (test/fixtures/hf/README.md). */
const FORWARD_LIMIT = 1e-5;

function log(line: string): void {
  document.querySelector('#log')!.textContent += `${line}\n`;
  console.log(line);
}

async function fetchBytes(name: string): Promise<Uint8Array> {
  const r = await fetch(new URL(name, FIXTURE));
  if (!r.ok) throw new Error(`${name}: HTTP ${r.status} (serve the repository root, see README.md)`);
  return new Uint8Array(await r.arrayBuffer());
}

async function safetensors(name: string): Promise<SafetensorsFile> {
  return parseSafetensors(await fetchBytes(name), name);
}

/** ‖ours − ref‖ / ‖ref‖, the fixtures' error measure. */
function relativeError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  let d = 0, r = 0;
  for (let i = 0; i < ref.length; i++) {
    d += (ours[i] - ref[i]) ** 2;
    r += ref[i] ** 2;
  }
  return Math.sqrt(d) / Math.sqrt(r);
}

async function run(): Promise<boolean> {
  if (!('gpu' in navigator)) throw new Error('navigator.gpu is missing: this browser or context has no WebGPU');
  const backend = await createWebGPUBackend();
  setDefaultBackend(backend);
  log(`adapter: ${backend.describe()}`);

  const config = parseBertConfig(JSON.parse(new TextDecoder().decode(await fetchBytes('config.json'))), 'config.json');
  const [weights, inputs, reference] = await Promise.all(['model.safetensors', 'inputs.safetensors', 'full.safetensors'].map(safetensors));
  const model = new BertForSequenceClassification(config, { backend }).eval();
  const state = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, info] of weights.tensors) if (!name.endsWith('position_ids')) state.set(name, { data: weights.getFloat32(name), shape: info.shape });
  model.loadStateDict(state);

  const ids = (name: string) => tensor(inputs.getInt32(name), { shape: inputs.info(name).shape, backend });
  const t0 = performance.now();
  const out = model.forward({ inputIds: ids('input_ids'), attentionMask: ids('attention_mask'), tokenTypeIds: ids('token_type_ids') });
  const logits = await out.logits.data();
  const ms = performance.now() - t0;
  const err = relativeError(logits, reference.getFloat64('logits'));
  log(`logits [${out.logits.shape.join(', ')}]: ${[...logits].map((v) => v.toFixed(5)).join(' ')}`);
  log(`forward ${ms.toFixed(1)} ms; relative error against transformers (float64): ${err.toExponential(2)} (limit ${FORWARD_LIMIT})`);
  return err <= FORWARD_LIMIT;
}

run().then(
  (pass) => {
    log(pass ? 'PASS' : 'FAIL');
    document.title = pass ? 'PASS' : 'FAIL';
  },
  (e: Error) => {
    log(`ERROR ${e.message}`);
    document.title = 'ERROR';
  },
);
