import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../src/index.ts';
import { writeTokenizerFiles } from '../src/pretrain/vocab.ts';
import { train } from '../src/train/trainer.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures/hf/deberta_cls');

describe('prilora train --model <deberta dir>', () => {
  it('fine-tunes the DeBERTa-v3 fixture model with PRILoRA end to end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prilora-deberta-'));
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(FIXTURE, f), join(dir, f));
    // a character-level WordPiece vocabulary that fits the fixture's 101-token embedding table
    const chars = [...'abcdefghijklmnopqrstuvwxyz0123456789'];
    writeTokenizerFiles(dir, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...chars, ...chars.map((c) => `##${c}`), '.', ',', "'", '-', '!', '?']);
    const out = mkdtempSync(join(tmpdir(), 'prilora-deberta-run-'));
    const r = await train(
      { task: 'rte', method: 'prilora', model: dir, out, maxSteps: 4, trainLimit: 32, evalLimit: 16, batch: 8, maxLen: 24, prune: { every: 2 } },
      { print: () => {} },
    );
    expect(r.run.model.family).toBe('deberta-v2');
    expect([...r.setup.ranks.keys()].filter((n) => n.endsWith('query_proj')).length).toBe(2);
    expect([...r.setup.ranks.values()].map((v) => v.rank)).toEqual(expect.arrayContaining([4, 12]));
    expect(Number.isFinite(r.metrics.accuracy)).toBe(true);
    expect(r.steps).toBe(4);
  });
});
