/**
 * Kill soak: start `prilora train` or `prilora pretrain` as a child process, SIGKILL it at random moments,
 * restart it each time (`--resume` once a checkpoint exists, `--force` before), and when a run finally ends
 * by itself compare it with an uninterrupted run of the same command: the sha256 of the final checkpoint
 * file, of the trained parameters alone, of the exported model (pretrain), and of the log with its
 * wall-clock fields left out (every step, evaluation and pruning record, none lost or repeated).
 *
 *   npx tsx scripts/soak.ts [--command train|pretrain|both] [--kills 50] [--per-run 10] [--seed 1] [--out DIR] [--json]
 *
 * Kill moments are drawn from a seeded generator: one kill in five falls in start-up (uniformly over the
 * uninterrupted run's time to its first step: loading, tokenizing, reading the checkpoint, cutting the
 * log), the others in the steps, uniformly over the time the steps left after the resumed checkpoint took
 * the uninterrupted run, counted from the process's first progress line (start-up takes most of a small
 * pretraining run, and varies with the machine's load). So kills land in steps, checkpoint writes,
 * evaluations, pruning, epoch ends, the report and the final export, and a resumed run gets ahead. Each
 * kill is recorded (its delay, the step on disk before and after, the last line the process printed), so a
 * failing soak names the kill that broke it. A run is killed at most `--per-run` times (10), then left to
 * end and compared, so a soak of 50 kills compares at least five finals. The vitest suite runs a short one (test/soak.test.ts).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { HostRng } from '../src/core/random.ts';
import { readSafetensorsFile } from '../src/io/safetensors.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../bin/prilora.js');

/**
 * The soaked commands: small enough that one run takes seconds, with checkpoints every other step (so a
 * resume usually redoes steps the killed process had already taken), evaluations that fall on checkpoint
 * steps and epoch ends, pruning, and several epochs (train) or a final export (pretrain).
 */
export const SOAK_COMMANDS = {
  train: ['train', '--task', 'sst2', '--method', 'prilora', '--train-limit', '64', '--eval-limit', '16', '--batch', '8', '--max-len', '24',
    '--epochs', '3', '--save-every', '2', '--eval-every', '4', '--prune-every', '2', '--log-every', '1', '--seed', '3', '--threads', '1'],
  pretrain: ['pretrain', '--corpus', 'wikitext', '--vocab-size', '2600', '--hidden', '16', '--layers', '1', '--heads', '2', '--ffn', '32',
    '--max-len', '32', '--positions', '32', '--batch', '4', '--warmup', '2', '--steps', '24', '--eval-every', '6', '--save-every', '3',
    '--log-every', '1', '--threads', '1'],
} as const;
export type SoakCommand = keyof typeof SOAK_COMMANDS;

export interface Kill {
  /** 1-based, over the whole soak */
  n: number;
  episode: number;
  /** start-up: `delayMs` after the start; steps: `delayMs` after the first progress line */
  phase: 'start-up' | 'steps';
  delayMs: number;
  /** the checkpoint's step on disk before the process started and after it was killed (null: none) */
  stepBefore: number | null;
  stepAfter: number | null;
  /** the last line the killed process printed ('' when it had printed nothing) */
  lastLine: string;
}

export interface Fingerprint {
  checkpoint: string;
  params: string;
  log: string;
  /** pretrain: the exported model.safetensors */
  model?: string;
  /** files a crash left behind (temporary checkpoint files, replaced model directories) */
  leftovers: string[];
}

export interface Episode {
  n: number;
  kills: number;
  /** processes started (kills + the one that finished) */
  starts: number;
  final: Fingerprint | null;
  identical: boolean;
  /** how the episode failed: a restart that exited with an error, with its output's tail */
  failure?: string;
}

export interface SoakResult {
  command: SoakCommand;
  args: string[];
  seed: number;
  reference: Fingerprint & { seconds: number };
  kills: Kill[];
  episodes: Episode[];
  /** kills after which the run went on and ended identical to the reference */
  survived: number;
  seconds: number;
}

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** The step of the checkpoint in `out`, or null when there is none (or it cannot be read). */
function stepOnDisk(out: string): number | null {
  const path = join(out, 'checkpoint', 'state.safetensors');
  if (!existsSync(path)) return null;
  try {
    return (JSON.parse(readSafetensorsFile(path).metadata.progress) as { step: number }).step;
  } catch {
    return null;
  }
}

/** What a finished run left: hashes of its state, parameters, log and model, and any leftovers. */
export function fingerprint(out: string): Fingerprint {
  const ckpt = join(out, 'checkpoint', 'state.safetensors');
  const bytes = readFileSync(ckpt);
  const file = readSafetensorsFile(ckpt);
  const h = createHash('sha256');
  for (const name of [...file.tensors.keys()].filter((n) => n.startsWith('param.')).sort()) h.update(name).update(file.getBytes(name));
  // wall-clock fields differ between any two runs; everything else in the log must not
  const records = readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => {
    const { seconds: _s, seqPerS: _q, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return JSON.stringify(rest);
  });
  const model = join(out, 'model', 'model.safetensors');
  const leftovers = [
    ...readdirSync(join(out, 'checkpoint')).filter((f) => f.endsWith('.tmp')).map((f) => `checkpoint/${f}`),
    ...readdirSync(out).filter((f) => f.endsWith('.tmp') || f.endsWith('.old')),
  ];
  return { checkpoint: sha(bytes), params: h.digest('hex'), log: sha(records.join('\n')), ...(existsSync(model) ? { model: sha(readFileSync(model)) } : {}), leftovers };
}

const same = (a: Fingerprint, b: Fingerprint) => a.checkpoint === b.checkpoint && a.params === b.params && a.log === b.log && a.model === b.model;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  lastLine: string;
  tail: string;
  ms: number;
  /** when the first step's progress line came, and the planned steps it named (null: none came) */
  firstStep: { ms: number; total: number } | null;
}

/** When to kill a process: so long after its start, or after its first progress line. */
type KillPlan = { phase: Kill['phase']; ms: number } | null;

/** Run the CLI once in `out`, SIGKILLed as `plan` says unless it ends first. */
function runOnce(args: readonly string[], out: string, flags: string[], plan: KillPlan): Promise<Exit> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args, '--out', out, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = () => child.kill('SIGKILL');
    let timer: NodeJS.Timeout | null = plan?.phase === 'start-up' ? setTimeout(kill, plan.ms) : null;
    let text = '';
    let firstStep: Exit['firstStep'] = null;
    child.stdout.on('data', (d: Buffer) => {
      text = (text + d.toString()).slice(-4000);
      const m = firstStep ? null : /^step \d+\/(\d+)/m.exec(text);
      if (m) firstStep = { ms: performance.now() - t0, total: Number(m[1]) };
      if (plan?.phase === 'steps' && !timer && /^(step \d+\/|resumed from )/m.test(text)) timer = setTimeout(kill, plan.ms);
    });
    child.stderr.on('data', (d: Buffer) => (text = (text + d.toString()).slice(-4000)));
    child.on('error', fail);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const lines = text.split('\n').filter(Boolean);
      done({ code, signal, lastLine: lines[lines.length - 1] ?? '', tail: lines.slice(-30).join('\n'), ms: performance.now() - t0, firstStep });
    });
  });
}

/** How a restart must be told about the directory: resume a checkpoint, replace a start that saved none. */
const restartFlags = (out: string): string[] => (stepOnDisk(out) !== null ? ['--resume'] : existsSync(out) ? ['--force'] : []);

export interface SoakOptions {
  command: SoakCommand;
  kills: number;
  seed: number;
  /** at most this many kills per run, which then ends unkilled and is compared (default 10) */
  perEpisode?: number;
  /** the command line without --out (default: SOAK_COMMANDS[command]) */
  args?: readonly string[];
  /** where the runs go (default: a fresh temporary directory) */
  root?: string;
  /** a line per kill and per episode */
  print?: (line: string) => void;
}

export async function soak(o: SoakOptions): Promise<SoakResult> {
  const t0 = performance.now();
  const args = [...(o.args ?? SOAK_COMMANDS[o.command])];
  const root = o.root ?? mkdtempSync(join(tmpdir(), `prilora-soak-${o.command}-`));
  mkdirSync(root, { recursive: true });
  const print = o.print ?? (() => {});
  const refOut = join(root, 'reference');
  const ref = await runOnce(args, refOut, ['--force'], null);
  if (ref.code !== 0) throw new Error(`soak ${o.command}: the uninterrupted run failed (exit ${ref.code}):\n${ref.tail}`);
  const reference = { ...fingerprint(refOut), seconds: ref.ms / 1000 };
  if (!ref.firstStep) throw new Error(`soak ${o.command}: the uninterrupted run printed no step line (--log-every 1 expected)`);
  const { ms: startup, total } = ref.firstStep;
  /** how long the steps after checkpoint step `from` took the uninterrupted run, and one more for the end */
  const stepsLeft = (from: number | null) => ((ref.ms - startup) * (total - (from ?? 0) + 1)) / total;
  print(`${o.command}: uninterrupted run ${reference.seconds.toFixed(1)} s, checkpoint sha256 ${reference.checkpoint.slice(0, 16)}…`);
  // seeded, so a soak's kill delays can be drawn again from its seed
  const rng = new HostRng(o.seed);
  const kills: Kill[] = [];
  const episodes: Episode[] = [];
  while (kills.length < o.kills) {
    const ep: Episode = { n: episodes.length + 1, kills: 0, starts: 0, final: null, identical: false };
    episodes.push(ep);
    const out = join(root, `episode-${ep.n}`);
    for (;;) {
      const wantKill = kills.length < o.kills && ep.kills < (o.perEpisode ?? 10);
      const stepBefore = stepOnDisk(out);
      const phase: Kill['phase'] = rng.next() < 0.2 ? 'start-up' : 'steps';
      const delayMs = Math.round(rng.next() * (phase === 'start-up' ? startup : stepsLeft(stepBefore)));
      const r = await runOnce(args, out, restartFlags(out), wantKill ? { phase, ms: delayMs } : null);
      ep.starts++;
      if (r.signal === 'SIGKILL') {
        ep.kills++;
        const k: Kill = { n: kills.length + 1, episode: ep.n, phase, delayMs, stepBefore, stepAfter: stepOnDisk(out), lastLine: r.lastLine };
        kills.push(k);
        print(`kill ${k.n} (episode ${ep.n}) ${phase} +${delayMs} ms: step on disk ${k.stepBefore ?? '-'} → ${k.stepAfter ?? '-'}; last line "${k.lastLine.slice(0, 70)}"`);
        continue;
      }
      if (r.code !== 0) ep.failure = `exit ${r.code} after kill ${kills.length}:\n${r.tail}`;
      else {
        ep.final = fingerprint(out);
        ep.identical = same(ep.final, reference);
      }
      break;
    }
    print(`episode ${ep.n}: ${ep.kills} kills, ${ep.failure ? `FAILED: ${ep.failure}` : ep.identical ? 'final identical to the uninterrupted run' : 'final DIFFERS'}`);
  }
  const survived = kills.filter((k) => episodes[k.episode - 1].identical).length;
  return { command: o.command, args, seed: o.seed, reference, kills, episodes, survived, seconds: (performance.now() - t0) / 1000 };
}

/** One row per command: the figures README's Reliability section quotes. */
export function summary(r: SoakResult): string {
  const finals = r.episodes.filter((e) => e.identical).length;
  const leftovers = new Set(r.episodes.flatMap((e) => e.final?.leftovers ?? []));
  return `| ${r.command} | ${r.kills.length} | seed ${r.seed} | ${r.survived}/${r.kills.length} | ${finals}/${r.episodes.length} | ${leftovers.size} | ${r.seconds.toFixed(0)} s |`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: { command: { type: 'string', default: 'both' }, kills: { type: 'string', default: '50' }, seed: { type: 'string', default: '1' }, 'per-run': { type: 'string', default: '10' }, out: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const commands: SoakCommand[] = values.command === 'both' ? ['train', 'pretrain'] : [values.command as SoakCommand];
  if (!commands.every((c) => c in SOAK_COMMANDS)) throw new Error(`soak: --command is train, pretrain or both, not ${values.command}`);
  const results: SoakResult[] = [];
  for (const command of commands) {
    const root = values.out ? join(values.out, command) : undefined;
    results.push(await soak({ command, kills: Number(values.kills), seed: Number(values.seed), perEpisode: Number(values['per-run']), root, print: (l) => console.log(l) }));
  }
  console.log('\n| command | kills | kill delays | kills survived | identical finals | leftover files | wall time |\n|---|---|---|---|---|---|---|');
  for (const r of results) console.log(summary(r));
  if (values.out) writeFileSync(join(values.out, 'soak.json'), JSON.stringify(results, null, 1));
  if (values.json) console.log(JSON.stringify(results.map(({ kills: _k, ...r }) => r)));
  process.exitCode = results.every((r) => r.survived === r.kills.length && r.episodes.every((e) => e.identical)) ? 0 : 1;
}
