/**
 * Checkpoints are one verified unit, and run directories are claimed before anything is written: corrupt,
 * edited, foreign or incomplete state is refused naming the file and the fault; an earlier run is never
 * replaced without --force; --resume without a checkpoint is refused.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { createHash } from 'node:crypto';
import { readSafetensorsFile, serializeSafetensors, writeSafetensorsFile, type SafetensorEntry } from '../src/io/safetensors.ts';
import { readCheckpoint } from '../src/train/checkpoint.ts';
import { readLog } from '../src/train/log.ts';
import type { TrainInput } from '../src/train/options.ts';
import { train } from '../src/train/trainer.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'prilora-ckpt-'));
const quick = (extra: Omit<TrainInput, 'task'> = {}): TrainInput & { out: string } => ({
  task: 'sst2', method: 'prilora', out: tmp(), trainLimit: 64, evalLimit: 16, batch: 16, maxLen: 24, maxSteps: 4, saveEvery: 2, prune: { every: 2 }, ...extra,
});
const silent = { print: () => {} };

async function cli(argv: string[]) {
  const err: string[] = [];
  const code = await main(argv, { log: () => {}, error: (l) => err.push(l) });
  return { code, err };
}

/** A finished quick run and the path of its checkpoint file. */
async function finished(extra: Omit<TrainInput, 'task'> = {}) {
  const o = quick(extra);
  await train(o, silent);
  return { o, file: join(o.out, 'checkpoint', 'state.safetensors') };
}

/** Rewrite the checkpoint through `edit`, keeping (or breaking) its hash as the edit decides. */
function rewrite(file: string, edit: (entries: SafetensorEntry[], meta: Record<string, string>) => void): void {
  const f = readSafetensorsFile(file);
  const entries: SafetensorEntry[] = [...f.tensors].map(([name, info]) => ({ name, dtype: 'F32', shape: info.shape, data: f.getFloat32(name) }));
  const meta = { ...f.metadata };
  edit(entries, meta);
  writeSafetensorsFile(file, entries, meta);
}

describe('checkpoints', () => {
  it('are one file: progress, options and tensors in a single atomic unit', async () => {
    const { o, file } = await finished();
    expect(readdirSync(join(o.out, 'checkpoint'))).toEqual(['state.safetensors']);
    const { stored } = readCheckpoint(join(o.out, 'checkpoint'));
    expect(stored).toMatchObject({ step: 4, adamStep: 4 });
    expect(readSafetensorsFile(file).metadata.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a flipped byte, a truncated file, an edited step or a deleted moment is refused on --resume', async () => {
    const { o, file } = await finished();
    const good = readFileSync(file);
    const resume = () => train({ ...o, resume: true }, silent);

    const flipped = Buffer.from(good);
    flipped[flipped.length - 3] ^= 0x40;
    writeFileSync(file, flipped);
    await expect(resume()).rejects.toThrow(`${file}: the contents do not match the checkpoint's sha256: the file is corrupt or was edited`);

    writeFileSync(file, good.subarray(0, good.length - 100));
    await expect(resume()).rejects.toThrow(file);

    writeFileSync(file, good);
    rewrite(file, (_, meta) => (meta.progress = meta.progress.replace('"step":4', '"step":2')));
    await expect(resume()).rejects.toThrow(/sha256: the file is corrupt or was edited/);

    // a consistent file that lacks a moment (re-hashed as if saved so) is still refused
    writeFileSync(file, good);
    rewrite(file, (entries, meta) => {
      entries.splice(entries.findIndex((e) => e.name.startsWith('adam_v.')), 1);
      const all = serializeSafetensors(entries);
      const n = Number(new DataView(all.buffer, all.byteOffset, 8).getBigUint64(0, true));
      meta.sha256 = createHash('sha256').update(meta.progress).update('\n').update(all.subarray(8 + n)).digest('hex');
    });
    await expect(resume()).rejects.toThrow(/missing 1 tensor\(s\): adam_v\./);
  });

  it('a checkpoint of other options is refused naming each option that differs', async () => {
    const { o } = await finished();
    await expect(train({ ...o, resume: true, weightDecay: 0.1, prune: { every: 2, ratio: 0.25 } }, silent)).rejects.toThrow(
      /made with other options: weightDecay \(checkpoint 0\.01, now 0\.1\); prune\.ratio \(checkpoint 0\.5, now 0\.25\)/,
    );
  });

  it('a diverging run (--lr 1e3) stops at its first bad step, keeps its last good checkpoint, and resumes at a lower rate', async () => {
    const o = quick({ lr: 1e3, maxSteps: 30, saveEvery: 4, trainLimit: 480 });
    const err = (await train(o, silent).catch((e) => e)) as Error;
    const m = /^step (\d+): (loss|gradient norm) is (NaN|Infinity|-Infinity); training stopped, the last good checkpoint \(.*, step (\d+)\) is intact$/.exec(err.message);
    expect(m, err.message).not.toBeNull();
    expect(Number(m![4])).toBe(4 * Math.floor((Number(m![1]) - 1) / 4)); // the last save before the bad step
    expect(readCheckpoint(join(o.out, 'checkpoint')).stored.step).toBe(Number(m![4]));
    // the learning rate may change on resume: the step after the checkpoint runs again, now at 1e-4
    const lines: string[] = [];
    const next = Number(m![4]) + 1;
    await train({ ...o, lr: 1e-4, resume: true }, { print: (l) => lines.push(l), afterStep: (step) => (step === next ? 'stop' : undefined) });
    expect(lines).toContain(`resumed from ${join(o.out, 'checkpoint')} at step ${m![4]}`);
    const step = readLog(join(o.out, 'log.jsonl')).find((l) => l.type === 'step' && l.step === next) as { loss: number; lr: number };
    expect(Number.isFinite(step.loss)).toBe(true);
    expect(step.lr).toBeLessThanOrEqual(1e-4);
  });
});

describe('run directories', () => {
  it('an earlier run is refused without --force; --force replaces it; unrelated files stay', async () => {
    const { o } = await finished();
    writeFileSync(join(o.out, 'notes.txt'), 'mine');
    const again = await cli(['train', '--task', 'sst2', '--out', o.out, '--max-steps', '1', '--train-limit', '16', '--eval-limit', '8']);
    expect(again.code).toBe(1);
    expect(again.err[0]).toMatch(/^prilora train: ConfigError: --out: .* holds an earlier run \(run\.json, log\.jsonl, checkpoint, report\.html\); pass --resume to continue it, --force to replace it, or another --out$/);
    const forced = await cli(['train', '--task', 'sst2', '--out', o.out, '--max-steps', '1', '--train-limit', '16', '--eval-limit', '8', '--force']);
    expect(forced.code, forced.err.join('\n')).toBe(0);
    expect(readCheckpoint(join(o.out, 'checkpoint')).stored.step).toBe(1);
    expect(readFileSync(join(o.out, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('--resume without a checkpoint is refused instead of starting afresh', async () => {
    const out = tmp();
    const r = await cli(['train', '--task', 'sst2', '--out', out, '--resume', '--max-steps', '1']);
    expect(r.err).toEqual([`prilora train: ConfigError: --resume: there is no checkpoint in ${join(out, 'checkpoint')} to resume from`]);
    expect(existsSync(join(out, 'run.json'))).toBe(false);
  });

  it('export-peft never overwrites adapter files without --force', async () => {
    const { o } = await finished();
    const dest = tmp();
    writeFileSync(join(dest, 'adapter_config.json'), '{}');
    const r = await cli(['export-peft', o.out, dest]);
    expect(r.err).toEqual([`prilora export-peft: ConfigError: export-peft: ${dest} already holds adapter_config.json; pass --force to replace them`]);
    expect(readFileSync(join(dest, 'adapter_config.json'), 'utf8')).toBe('{}');
    expect((await cli(['export-peft', o.out, dest, '--force'])).code).toBe(0);
    expect(JSON.parse(readFileSync(join(dest, 'adapter_config.json'), 'utf8')).peft_type).toBe('LORA');
  });
});
