/**
 * Kills and resumes: a finished run resumed again changes nothing, and a short kill soak (scripts/soak.ts,
 * real SIGKILLs of the CLI at random moments) ends bit-identical to an uninterrupted run, for train and
 * pretrain (5 and 3 kills). The full soak (50 kills each) is `npx tsx scripts/soak.ts`; README's Reliability section.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pretrain } from '../src/pretrain/pretrainer.ts';
import { readCheckpoint, removeStaleTemporaries } from '../src/train/checkpoint.ts';
import { readLog } from '../src/train/log.ts';
import { train } from '../src/train/trainer.ts';
import { SOAK_COMMANDS, soak } from '../scripts/soak.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'prilora-soak-'));
const silent = { print: () => {} };
const state = (out: string) => readFileSync(join(out, 'checkpoint', 'state.safetensors'));
const evalSteps = (out: string) => readLog(join(out, 'log.jsonl')).filter((r) => r.type === 'eval').map((r) => r.step);

describe('kill and resume', () => {
  // a kill after the final checkpoint (during the report or the model export) is resumed as a finished
  // run; it evaluated and logged the last step again and saved a checkpoint that differed
  it('a finished run resumed again evaluates nothing twice and leaves its checkpoint as it was', async () => {
    const recipe = { corpus: ['wikitext'] as const, vocabSize: 2600, hidden: 16, layers: 1, heads: 2, ffn: 32, maxLen: 32, positions: 32, batch: 4, warmup: 2, evalEvery: 3, saveEvery: 3, steps: 6 };
    const p = tmp();
    await pretrain({ ...recipe, out: p }, silent);
    const before = state(p);
    expect(evalSteps(p)).toEqual([3, 6]);
    const again = await pretrain({ ...recipe, out: p, resume: true }, silent);
    expect(evalSteps(p)).toEqual([3, 6]);
    expect(Buffer.compare(before, state(p))).toBe(0);
    expect(again.metrics?.mlm_accuracy).toBe(readCheckpoint(join(p, 'checkpoint')).stored.lastEval?.metrics.mlm_accuracy);

    const t = { task: 'sst2' as const, method: 'lora' as const, out: tmp(), trainLimit: 32, evalLimit: 16, batch: 8, maxLen: 24, epochs: 2, saveEvery: 2, evalEvery: 4 };
    const first = await train(t, silent);
    const bytes = state(t.out);
    expect(evalSteps(t.out)).toEqual([4, 8]);
    const resumed = await train({ ...t, resume: true }, silent);
    expect(evalSteps(t.out)).toEqual([4, 8]);
    expect(Buffer.compare(bytes, state(t.out))).toBe(0);
    expect(resumed.metrics).toEqual(first.metrics);
    expect(Object.keys(first.metrics)).toContain('accuracy');
  });

  // found by the soak: the last step's checkpoint (--save-every) comes before the epoch is closed; a run
  // killed between the two resumed past the step limit and never closed it (another progress record)
  it('a run killed after its last step\'s checkpoint, before the epoch closed, ends as an uninterrupted one', async () => {
    const t = { task: 'sst2' as const, method: 'prilora' as const, trainLimit: 32, evalLimit: 16, batch: 8, maxLen: 24, epochs: 2, saveEvery: 2, evalEvery: 4, prune: { every: 2 } };
    const whole = { ...t, out: tmp() };
    await train(whole, silent);
    const cut = { ...t, out: tmp() };
    await train(cut, { ...silent, afterStep: (s) => (s === 8 ? 'stop' : undefined) });
    expect(readCheckpoint(join(cut.out, 'checkpoint')).stored).toMatchObject({ step: 8, epoch: 1, batchInEpoch: 4 });
    await train({ ...cut, resume: true }, silent);
    expect(readCheckpoint(join(cut.out, 'checkpoint')).stored).toMatchObject({ step: 8, epoch: 2, batchInEpoch: 0 });
    expect(Buffer.compare(state(whole.out), state(cut.out))).toBe(0);
    expect(evalSteps(cut.out)).toEqual([4, 8]);
  });

  it('temporary files of checkpoint writes killed midway are removed; a live process\'s are kept', () => {
    const dir = join(tmp(), 'checkpoint');
    mkdirSync(dir);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    for (const f of [`.state.safetensors.${dead}.ab12.tmp`, `.state.safetensors.${process.pid}.cd34.tmp`, 'state.safetensors', 'notes.tmp']) writeFileSync(join(dir, f), 'x');
    expect(removeStaleTemporaries(dir)).toEqual([`.state.safetensors.${dead}.ab12.tmp`]);
    expect(readdirSync(dir).sort()).toEqual([`.state.safetensors.${process.pid}.cd34.tmp`, 'notes.tmp', 'state.safetensors']);
  });

  // shorter runs than the full soak's (start-up is most of a small pretraining run: each restart pays it);
  // the two soaks are child processes, so they share the machine's cores
  const SHORT = { train: { kills: 5, flags: { '--epochs': '2' } }, pretrain: { kills: 3, flags: { '--steps': '12', '--eval-every': '12' } } } as const;
  it.concurrent.each(['train', 'pretrain'] as const)('%s: SIGKILLs at random moments, each resumed, end bit-identical to an uninterrupted run', { timeout: 240_000 }, async (command) => {
    const { kills, flags } = SHORT[command];
    const args = SOAK_COMMANDS[command].map((a, i, all) => (flags as Record<string, string>)[all[i - 1]] ?? a);
    expect(args).not.toEqual([...SOAK_COMMANDS[command]]);
    const r = await soak({ command, kills, seed: command === 'train' ? 11 : 12, args });
    expect(r.kills.length).toBe(kills);
    expect(r.episodes.map((e) => e.failure ?? 'ok')).toEqual(r.episodes.map(() => 'ok'));
    expect(r.episodes.every((e) => e.identical)).toBe(true);
    expect(r.survived).toBe(kills);
    expect(r.episodes.flatMap((e) => e.final?.leftovers ?? [])).toEqual([]);
    expect(r.reference.params).toMatch(/^[0-9a-f]{64}$/);
    if (command === 'pretrain') expect(r.reference.model).toMatch(/^[0-9a-f]{64}$/);
    expect(r.args).toEqual(args);
  });
});
