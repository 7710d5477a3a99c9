/**
 * Masked-LM pretraining on the shared step loop: a tiny model on one bundled source, resumed runs equal to
 * uninterrupted ones, and a packed state (the form committed beside the default model) that a fresh
 * directory continues from.
 */
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { packState, PACKED_FILE } from '../src/pretrain/packed.ts';
import { pretrain } from '../src/pretrain/pretrainer.ts';
import { readCheckpoint } from '../src/train/checkpoint.ts';
import { readLog } from '../src/train/log.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'prilora-pretrain-'));
const RECIPE = { corpus: ['wikitext'] as const, vocabSize: 2600, hidden: 16, layers: 1, heads: 2, ffn: 32, maxLen: 32, positions: 32, batch: 4, warmup: 2, evalEvery: 3, saveEvery: 2 };
const silent = { print: () => {} };
const stateBytes = (out: string) => readFileSync(join(out, 'checkpoint', 'state.safetensors'));

describe('prilora pretrain', () => {
  it('trains, evaluates held-out masked tokens, exports a model (an interrupted export redone on resume); a resumed run ends bit-identical', async () => {
    const a = tmp();
    const r = await pretrain({ ...RECIPE, out: a, steps: 6 }, silent);
    expect(r.step).toBe(6);
    expect(r.metrics!.mlm_accuracy).toBeGreaterThanOrEqual(0);
    expect(r.metrics!.masked_tokens).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(a, 'model', 'config.json'), 'utf8'))).toMatchObject({ hidden_size: 16, max_position_embeddings: 32, hidden_dropout_prob: 0.1 });
    expect(readLog(join(a, 'log.jsonl')).filter((l) => l.type === 'step').length).toBe(6);
    const weights = readFileSync(join(a, 'model', 'model.safetensors'));

    // an export killed between its two renames: the old directory moved aside, the new one half written
    renameSync(join(a, 'model'), join(a, 'model.old'));
    cpSync(join(a, 'model.old'), join(a, 'model.tmp'), { recursive: true });
    writeFileSync(join(a, 'model.tmp', 'model.safetensors'), 'half');
    await pretrain({ ...RECIPE, out: a, steps: 6, resume: true }, silent);
    expect(readdirSync(a).filter((f) => f.startsWith('model')).sort()).toEqual(['model']);
    expect(Buffer.compare(readFileSync(join(a, 'model', 'model.safetensors')), weights)).toBe(0);
    expect(readdirSync(join(a, 'model'))).toContain('pretrain-log.jsonl');

    const b = tmp();
    await pretrain({ ...RECIPE, out: b, steps: 6 }, { ...silent, afterStep: (s) => (s === 5 ? 'stop' : undefined) }); // killed after step 5
    await pretrain({ ...RECIPE, out: b, steps: 6, resume: true }, silent);
    expect(Buffer.compare(stateBytes(a), stateBytes(b))).toBe(0);
    expect(readLog(join(b, 'log.jsonl')).filter((l) => l.type === 'step').map((l) => (l as { step: number }).step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a packed state (float16 weights, bfloat16 moments) continues in a fresh directory; other recipes are refused', async () => {
    const run = tmp();
    await pretrain({ ...RECIPE, out: run, steps: 6 }, { ...silent, afterStep: (s) => (s === 4 ? 'stop' : undefined) });
    const modelDir = join(run, 'packed');
    mkdirSync(modelDir);
    // what a finished run's model directory holds besides the weights
    for (const f of ['tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(run, 'tokenizer', f), join(modelDir, f));
    copyFileSync(join(run, 'log.jsonl'), join(modelDir, 'pretrain-log.jsonl'));
    const packed = packState(run, modelDir);
    const f = readSafetensorsFile(packed);
    expect(new Set([...f.tensors.values()].map((i) => i.dtype))).toEqual(new Set(['F16', 'BF16']));
    expect(f.info([...f.tensors.keys()].find((n) => n.startsWith('adam_v.'))!).dtype).toBe('BF16');

    const next = tmp();
    const r = await pretrain({ ...RECIPE, out: next, steps: 6, from: modelDir }, silent);
    expect(r.step).toBe(6);
    expect(readCheckpoint(join(next, 'checkpoint')).stored.step).toBe(6);
    expect(readLog(join(next, 'log.jsonl')).filter((l) => l.type === 'step').length).toBe(6);
    await expect(pretrain({ ...RECIPE, lr: 1e-3, out: tmp(), steps: 6, from: modelDir }, silent)).rejects.toThrow(/other options: lr \(checkpoint 0\.0005, now 0\.001\)/);
    expect(PACKED_FILE).toBe('pretrain-state.safetensors');
  });
});
