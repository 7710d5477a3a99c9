/**
 * The progress bar on a real terminal (a pseudo-terminal from util-linux `script`, 80 columns): it redraws
 * while the run is busy, the lines logged above it (evaluations) appear, and no frame is wider than the
 * terminal, so the ETA is never cut off.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const hasScript = spawnSync('script', ['--version']).status === 0;

describe('progress on a terminal', () => {
  it.skipIf(!hasScript && !process.env.CI)('redraws during the run, shows evaluation lines and fits 80 columns', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prilora-tty-'));
    const cmd = `stty cols 80; ${process.execPath} ${join(ROOT, 'bin/prilora.js')} train --task sst2 --train-limit 640 --epochs 3 --eval-limit 32 --eval-every 20 --out ${join(dir, 'run')}`;
    const r = spawnSync('script', ['-qfc', cmd, join(dir, 'tty.log')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const raw = readFileSync(join(dir, 'tty.log'), 'utf8');
    const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, ''); // eslint-disable-line no-control-regex
    const frames = raw.split(/\x1b\[1G|\r|\n/).map(plain).filter((l) => l.startsWith('train |')); // eslint-disable-line no-control-regex
    const steps = new Set(frames.map((f) => /\| (\d+)\/60 \|/.exec(f)?.[1]).filter(Boolean));
    expect(steps.size).toBeGreaterThanOrEqual(5); // many intermediate frames, not one at the end
    expect(frames.every((f) => f.includes('ETA'))).toBe(true);
    expect(Math.max(...frames.map((f) => f.length))).toBeLessThanOrEqual(80);
    for (const s of [20, 40, 60]) expect(plain(raw)).toMatch(new RegExp(`eval at step ${s}: accuracy \\d\\.\\d{4}`));
  });
});
