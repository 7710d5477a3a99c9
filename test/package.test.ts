/**
 * What the published package promises: `--version`, `train` and `NonFiniteError` from the entry, a LICENSE,
 * no pretraining log in the tarball, and type files that compile for a consumer without @types/node (the
 * README's library example, type-checked against the built declarations).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { main, version } from '../src/cli/main.ts';

const ROOT = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string };

/** The README's library example: the ts block under "## Library use". */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Library use'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md: no ts block under "## Library use"');
  return m[1];
}

describe('package', () => {
  it('--version prints package.json\'s version', async () => {
    const out: string[] = [];
    expect(await main(['--version'], { log: (l) => out.push(l), error: () => {} })).toBe(0);
    expect(out).toEqual([`prilora ${pkg.version}`]);
    expect(version()).toBe(pkg.version);
    const cli = spawnSync(process.execPath, ['bin/prilora.js', '-v'], { cwd: ROOT, encoding: 'utf8' });
    expect(cli.stdout.trim()).toBe(`prilora ${pkg.version}`);
    expect(cli.status).toBe(0);
  });

  it('the entry exports train() and NonFiniteError (a PriloraError)', () => {
    expect(typeof P.train).toBe('function');
    const e = new P.NonFiniteError('step 3: loss is NaN');
    expect(e).toBeInstanceOf(P.PriloraError);
    expect(e.name).toBe('NonFiniteError');
    expect(typeof P.trainOptions).toBe('function');
    expect(P.trainOptions({ task: 'sst2' }).method).toBe('prilora');
  });

  it('LICENSE is MIT as package.json says; the tarball leaves out the pretraining log and state', () => {
    expect(pkg.license).toBe('MIT');
    const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} prilora authors\n/);
    const r = spawnSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    expect(files).toContain('LICENSE');
    expect(files).toContain('assets/models/default/model.safetensors');
    expect(files.filter((f) => /pretrain-(log\.jsonl|state\.safetensors)$/.test(f))).toEqual([]);
  });

  it('the built type files compile for a consumer without @types/node (the README example)', () => {
    // a consumer's install: prilora's dist and package.json, no @types/* beside it
    const dir = mkdtempSync(join(tmpdir(), 'prilora-consumer-'));
    const inst = join(dir, 'node_modules', 'prilora');
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    const build = spawnSync(tsc, ['-p', 'tsconfig.build.json', '--outDir', join(inst, 'dist')], { cwd: ROOT, encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    cpSync(join(ROOT, 'package.json'), join(inst, 'package.json'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(dir, 'main.ts'), readmeExample());
    const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['main.ts'] }));
    const check = spawnSync(tsc, ['-p', dir], { cwd: dir, encoding: 'utf8' });
    // skipLibCheck off, so prilora's own type files are checked too (the WebGPU backend's GPU* types come
    // from the default lib's DOM declarations)
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
    // and the check can fail: a consumer's file that needs Node's types does not compile here
    writeFileSync(join(dir, 'main.ts'), `${readmeExample()}\nconst b: Buffer = Buffer.from('x');\n`);
    expect(spawnSync(tsc, ['-p', dir], { cwd: dir, encoding: 'utf8' }).stdout).toMatch(/Cannot find name 'Buffer'/);
  });
});
