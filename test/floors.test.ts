/**
 * The architecture as the folders show it: each folder of src/ imports only from its own floor or below
 * (type imports included), src/cli has no import cycles, files stay small, and the README's architecture
 * table names every folder.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../src');

/** Floors from the bottom; a folder may import from folders of the same or a lower floor. */
const FLOORS: Record<string, number> = {
  core: 0, backends: 1, tensor: 2, autograd: 3, ops: 4, io: 4, data: 4, hub: 4, nn: 5, optim: 6, prilora: 7,
  train: 8, pretrain: 9, verify: 9, cli: 10, 'index.ts': 11,
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const folderOf = (file: string) => relative(SRC, file).split('/')[0];

/** Relative imports of a file (static, dynamic and type-only) as absolute paths. */
function imports(file: string): { target: string; typeOnly: boolean }[] {
  const s = readFileSync(file, 'utf8');
  const out: { target: string; typeOnly: boolean }[] = [];
  for (const m of s.matchAll(/(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^;'"]*?\s+from\s+)?'(\.[^']+)'/g)) out.push({ target: normalize(join(dirname(file), m[2])), typeOnly: Boolean(m[1]) });
  for (const m of s.matchAll(/import\('(\.[^']+)'\)/g)) out.push({ target: normalize(join(dirname(file), m[1])), typeOnly: false });
  return out;
}

describe('floors', () => {
  const all = files(SRC);

  it('every folder of src/ has a floor, and nothing imports from a higher one', () => {
    const folders = new Set(all.map(folderOf));
    for (const f of folders) expect(FLOORS, `src/${f} has no floor in this test`).toHaveProperty([f]);
    const upward: string[] = [];
    for (const file of all) {
      for (const { target } of imports(file)) {
        const from = folderOf(file), to = folderOf(target);
        if (FLOORS[to] > FLOORS[from]) upward.push(`${relative(SRC, file)} → ${relative(SRC, target)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('src/cli has no import cycle', () => {
    const cli = all.filter((f) => folderOf(f) === 'cli');
    const deps = new Map(cli.map((f) => [f, imports(f).filter((i) => !i.typeOnly && folderOf(i.target) === 'cli').map((i) => i.target)]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') return void cycles.push([...path, f].map((p) => relative(SRC, p)).join(' → '));
      state.set(f, 'open');
      for (const d of deps.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of cli) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('no file in src/ is over 400 lines', () => {
    const long = all.map((f) => [relative(SRC, f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 400);
    expect(long).toEqual([]);
  });

  it("the README's architecture table names every folder of src/", () => {
    const readme = readFileSync(join(SRC, '../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Architecture'));
    for (const f of new Set(all.map(folderOf))) if (f !== 'index.ts') expect(table, f).toContain(`| \`src/${f}\``);
  });
});
