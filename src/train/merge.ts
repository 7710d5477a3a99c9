/**
 * `merge`: an adapted model folded into a plain HuggingFace model directory — W ← W + (alpha/r)·B·A in
 * every adapted linear map (PEFT's merge_and_unload), the saved heads in place — written as config.json
 * (num_labels, the task's labels, architectures, finetuning_task), model.safetensors (float32, transformers'
 * parameter names) and the base's tokenizer files, so that `train --model`, `predict --model` and
 * transformers' from_pretrained load it. Before returning, the written directory is loaded back and its
 * logits on a probe batch compared with those of base + adapter.
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Backend } from '../backends/backend.ts';
import { ConfigError } from '../core/errors.ts';
import { HostRng } from '../core/random.ts';
import { glueTaskSpec } from '../data/glue-tasks.ts';
import { defaultVocabDir } from '../data/tokenizer.ts';
import { TOKENIZER_FILES } from '../hub/model.ts';
import { huggingFaceOrder, writeSafetensorsFile, type SafetensorEntry } from '../io/safetensors.ts';
import { loadSequenceClassifier } from '../nn/auto.ts';
import type { Json } from '../nn/config.ts';
import type { TokenRow } from './batches.ts';
import type { Adapted } from './inference.ts';
import { runTokenizer } from './model.ts';
import { logitsOf } from './predict.ts';

const ARCHITECTURES: Record<string, string> = { bert: 'BertForSequenceClassification', 'deberta-v2': 'DebertaV2ForSequenceClassification' };

export interface MergeResult {
  out: string;
  files: string[];
  /** adapters folded in */
  adapters: number;
  /** ‖merged − (base + adapter)‖ / ‖base + adapter‖ of the probe batch's logits, the directory read back */
  logitsRelative: number;
  notes: string[];
}

/** Two rows of ids drawn in the vocabulary, the second half as long (padding and masking exercised). */
function probeRows(vocab: number, maxPositions: number): TokenRow[] {
  const rng = new HostRng(20240119);
  const t = Math.max(2, Math.min(16, maxPositions));
  return [t, Math.ceil(t / 2)].map((n) => {
    const ids = Array.from({ length: n }, () => Math.floor(rng.next() * vocab));
    return { ids, typeIds: new Array<number>(n).fill(0) };
  });
}

export function relativeDifference(a: readonly number[][], b: readonly number[][]): number {
  let d = 0, n = 0;
  a.forEach((row, i) => row.forEach((x, j) => {
    d += (x - b[i][j]) ** 2;
    n += b[i][j] ** 2;
  }));
  return n === 0 ? Math.sqrt(d) : Math.sqrt(d / n);
}

function mergedConfig(a: Adapted, provenance: { model: string; adapter: string }): Json {
  const json: Json = { ...a.run.config };
  delete json.prilora_init;
  delete json.label2id;
  json.architectures = [ARCHITECTURES[a.run.model.family] ?? json.architectures];
  json.num_labels = a.numLabels;
  if ('torch_dtype' in json) json.torch_dtype = 'float32';
  if ('dtype' in json) json.dtype = 'float32';
  if (a.task) {
    const spec = glueTaskSpec(a.task);
    json.finetuning_task = a.task;
    if (spec.regression) json.problem_type = 'regression';
    else {
      json.problem_type = 'single_label_classification';
      // GLUE's '0'/'1' say nothing; transformers names those LABEL_0, LABEL_1 itself
      if (spec.labelNames.some((l) => !/^\d+$/.test(l))) {
        json.id2label = Object.fromEntries(spec.labelNames.map((l, i) => [String(i), l]));
        json.label2id = Object.fromEntries(spec.labelNames.map((l, i) => [l, i]));
      }
    }
  }
  json.prilora_merged = provenance;
  return json;
}

/** The tokenizer files to copy: the base's own, else bert-base-uncased's when the model uses that fallback. */
function tokenizerFiles(a: Adapted): { from: string; files: string[] } | null {
  const own = TOKENIZER_FILES.filter((f) => existsSync(join(a.run.dir, f)));
  if (own.includes('tokenizer.json')) return { from: a.run.dir, files: own };
  try {
    runTokenizer(a.run.dir, Number(a.run.config.vocab_size));
  } catch {
    return own.length ? { from: a.run.dir, files: own } : null;
  }
  return { from: defaultVocabDir(), files: TOKENIZER_FILES.filter((f) => existsSync(join(defaultVocabDir(), f))) };
}

export async function mergeAdapted(a: Adapted, outDir: string, o: { backend?: Backend; provenance: { model: string; adapter: string } }): Promise<MergeResult> {
  if (!a.setup) throw new ConfigError('adapter is required: merge folds an adapter into its base model', 'adapter');
  const out = resolve(outDir);
  if (out === resolve(a.run.dir)) throw new ConfigError(`out ${outDir} is the base model's own directory; merge into a new one`, 'out');
  const { model } = a.run;
  const vocab = Number(a.run.config.vocab_size);
  const probe = probeRows(vocab, a.run.maxPositions);
  const batch = { batch: 8, padId: Number(a.run.config.pad_token_id ?? 0), backend: o.backend };
  const before = await logitsOf(model, probe, batch);
  for (const ad of a.setup.adapters) {
    ad.merge();
    ad.detach();
  }
  mkdirSync(out, { recursive: true });
  const entries: SafetensorEntry[] = [];
  for (const [name, p] of model.namedParameters()) entries.push({ name, dtype: 'F32', shape: p.shape, data: Float32Array.from(await p.data()) });
  const files: string[] = [];
  const configPath = join(out, 'config.json');
  writeFileSync(`${configPath}.tmp`, `${JSON.stringify(mergedConfig(a, o.provenance), null, 2)}\n`);
  renameSync(`${configPath}.tmp`, configPath);
  files.push(configPath);
  writeSafetensorsFile(join(out, 'model.safetensors'), huggingFaceOrder(entries), { format: 'pt' });
  files.push(join(out, 'model.safetensors'));
  const notes: string[] = [];
  const tok = tokenizerFiles(a);
  if (tok) {
    for (const f of tok.files) {
      copyFileSync(join(tok.from, f), join(out, f));
      files.push(join(out, f));
    }
  } else notes.push(`${a.run.dir} has no tokenizer files, so ${out} has none either`);
  const reread = loadSequenceClassifier(out, { backend: o.backend });
  const after = await logitsOf(reread.model, probe, batch);
  reread.model.dispose();
  return { out, files, adapters: a.setup.adapters.length, logitsRelative: relativeDifference(after, before), notes };
}
