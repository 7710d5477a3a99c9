/**
 * The options spines and the wiring: one declaration per option gives the flags, defaults, checks (errors
 * naming the field, told as flags by the CLI), --help and the JSON echo; the engine works when one op module
 * is imported alone; devices are chosen once by the CLI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { cpuInfo, setCpuThreads } from '../src/backends/cpu/index.ts';
import { defaultThreads } from '../src/backends/cpu/wasm/runtime.ts';
import { leaves } from '../src/core/spine.ts';
import { COMMANDS, main } from '../src/cli/main.ts';
import { flagTable, parseFlags } from '../src/cli/flags.ts';
import { DEVICE_SPINE, useDevice } from '../src/cli/devices.ts';
import { PRETRAIN_SPINE, pretrainOptions } from '../src/pretrain/options.ts';
import { TRAIN_SPINE, trainOptions } from '../src/train/options.ts';
import { resolveTrainOptions } from '../src/train/trainer.ts';

const ROOT = join(import.meta.dirname, '..');

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { log: (l) => out.push(l), error: (l) => err.push(l) });
  return { code, out, err };
}

/** `prilora pretrain` flags as the command reads them, checked, without pretraining. */
const pretrainFlags = (argv: string[]) => pretrainOptions(parseFlags('pretrain', argv, [PRETRAIN_SPINE]).given[0]);

describe('options spines', () => {
  it('pretrain accepts 0 where 0 means something (seed, warm-up, weight decay) and refuses what cannot run', () => {
    expect(pretrainFlags(['--seed', '0', '--warmup', '0', '--weight-decay', '0'])).toMatchObject({ seed: 0, warmup: 0, weightDecay: 0 });
    const refuse = (argv: string[], message: string) => expect(() => pretrainFlags(argv)).toThrow(message);
    refuse(['--max-len', '256'], 'maxLen 256 exceeds positions 128');
    refuse(['--layers', '2.5'], 'layers must be an integer, got 2.5');
    refuse(['--mask-prob', '1.5'], 'maskProb must be a number in (0, 1), got 1.5');
    refuse(['--heads', '3'], 'heads 3 does not divide hidden 128');
    refuse(['--corpus', 'brown,novels'], 'corpus must be a list of brown, wikitext, glue, imdb');
    // and a longer position table makes the longer instances legal
    expect(pretrainFlags(['--max-len', '256', '--positions', '256']).maxLen).toBe(256);
  });

  it('library errors name the field; the CLI tells them as flags', async () => {
    const e = (() => {
      try {
        trainOptions({ task: 'sst2', prune: { ratio: 1.5 } });
      } catch (x) {
        return x as P.ConfigError;
      }
    })()!;
    expect(e).toBeInstanceOf(P.ConfigError);
    expect(e.message).toBe('prune.ratio must be a number in [0, 1), got 1.5');
    expect(e.field).toBe('prune.ratio');
    const r = await cli(['train', '--task', 'sst2', '--prune-ratio', '1.5']);
    expect(r).toMatchObject({ code: 1, err: ['prilora train: ConfigError: --prune-ratio must be a number in [0, 1), got 1.5'] });
    expect(() => trainOptions({ task: 'sst2', adapter: { alpha: -3 } })).toThrow('adapter.alpha must be a number > 0, got -3');
    expect(() => trainOptions({ task: 'sst2', clip: 0 })).toThrow('clip must be a number > 0, got 0');
    expect(() => trainOptions({ task: 'sst2', warmup: -0.5 })).toThrow('warmup must be a number ≥ 0, got -0.5');
    expect(() => trainOptions({ task: 'sst2', trainLimit: 0 })).toThrow('trainLimit must be an integer ≥ 1, got 0');
    expect(() => trainOptions({ task: 'sst2', batchSize: 3 } as never)).toThrow('unknown option batchSize');
    expect(() => trainOptions({ task: 'sst-9' as P.GlueTask })).toThrow('task: unknown GLUE task "sst-9"');
    expect(trainOptions({ task: 'SST-2' as P.GlueTask }).task).toBe('sst2');
  });

  it('pruning is an option of any adapter method; full refuses it, and contradicting flags are refused', async () => {
    expect(trainOptions({ task: 'sst2', method: 'prilora' }).prune.enabled).toBe(true);
    expect(trainOptions({ task: 'sst2', method: 'lora' }).prune.enabled).toBe(false);
    expect(trainOptions({ task: 'sst2', method: 'lora', prune: { enabled: true } }).prune.enabled).toBe(true);
    expect(() => trainOptions({ task: 'sst2', method: 'full', prune: { enabled: true } })).toThrow('prune.enabled: method full has no adapters to prune');
    expect((await cli(['train', '--task', 'sst2', '--prune', '--no-prune'])).err).toEqual(['prilora train: ConfigError: --prune and --no-prune contradict each other']);
    // an option the method would ignore is refused instead of ignored
    expect(() => trainOptions({ task: 'sst2', method: 'lora', adapter: { rankEnd: 16 } })).toThrow('adapter.rankEnd has no effect with method lora');
    expect(() => trainOptions({ task: 'sst2', method: 'prilora', adapter: { rank: 16 } })).toThrow('adapter.rank has no effect with method prilora');
  });

  it('defaults depend on the task and the method as documented', () => {
    const sst2 = trainOptions({ task: 'sst2' });
    expect(sst2).toMatchObject({ method: 'prilora', lr: 2e-3, epochs: 1, maxLen: 128, warmup: 0.06, weightDecay: 0.01, out: 'runs/sst2-prilora' });
    expect(sst2.adapter).toMatchObject({ rank: 8, alpha: 16, rankStart: 4, rankEnd: 12, statDecay: 0.9, modulesToSave: ['classifier'] });
    // a run adds what its model recommends (prilora.json): the bundled model's word embeddings; a model
    // without recommendations trains the classifier beside the adapters, and a given list is kept
    expect(resolveTrainOptions({ task: 'sst2' }).adapter.modulesToSave).toEqual(['classifier', 'bert.embeddings.word_embeddings']);
    expect(resolveTrainOptions({ task: 'sst2', model: 'test/fixtures/hf/bert_cls' }).adapter.modulesToSave).toEqual(['classifier']);
    expect(resolveTrainOptions({ task: 'sst2', adapter: { modulesToSave: ['classifier'] } }).adapter.modulesToSave).toEqual(['classifier']);
    // and the embedding rate it recommends, for the adapter methods only; a given rate is kept
    const recommended = JSON.parse(readFileSync(join(import.meta.dirname, '../assets/models/default/prilora.json'), 'utf8')).embedding_lr;
    expect(recommended).toBeLessThan(sst2.lr);
    expect(sst2.embeddingLr).toBeNull();
    expect(resolveTrainOptions({ task: 'sst2' }).embeddingLr).toBe(recommended);
    expect(resolveTrainOptions({ task: 'sst2', method: 'full' }).embeddingLr).toBeNull();
    expect(resolveTrainOptions({ task: 'sst2', embeddingLr: 1e-4 }).embeddingLr).toBe(1e-4);
    expect(resolveTrainOptions({ task: 'sst2', model: 'test/fixtures/hf/bert_cls' }).embeddingLr).toBeNull();
    for (const [bad, rule] of [[{ embedding_lr: -1 }, /prilora\.json: embedding_lr must be a positive number/], [{ modules_to_save: 'classifier' }, /prilora\.json: modules_to_save must be a list/], ['{', /prilora\.json: not JSON/]] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'prilora-rec-'));
      writeFileSync(join(dir, 'prilora.json'), typeof bad === 'string' ? bad : JSON.stringify(bad));
      expect(() => resolveTrainOptions({ task: 'sst2', model: dir })).toThrow(rule);
    }
    expect(sst2.prune).toEqual({ enabled: true, every: 10, start: null, end: null, ratio: 0.5, mode: 'temporary', importance: 'weight-times-stat' });
    expect(trainOptions({ task: 'cola', method: 'full' })).toMatchObject({ lr: 3e-4, epochs: 3, maxLen: 64, weightDecay: 0 });
    expect(trainOptions({ task: 'mrpc' }).warmup).toBe(0.1);
  });

  it('every option is one flag, every command has --help listing all of its flags', async () => {
    for (const [name, cmd] of Object.entries(COMMANDS)) {
      const r = await cli([...name.split(' '), '--help']);
      expect(r.code, name).toBe(0);
      const text = r.out.join('\n');
      for (const { flag } of cmd.spines.flatMap(flagTable)) expect(text, `${name} --${flag}`).toContain(`--${flag}`);
    }
    // the contract's flags (docs/CLI.md, README) keep their names
    const trainFlags = flagTable(TRAIN_SPINE).map((e) => e.flag);
    for (const f of ['task', 'method', 'model', 'data', 'out', 'seed', 'max-steps', 'epochs', 'lr', 'batch', 'max-len', 'train-limit', 'eval-limit', 'warmup',
      'weight-decay', 'clip', 'bucket', 'resume', 'save-every', 'eval-every', 'rank', 'lora-alpha', 'rank-start', 'rank-end', 'alpha-per-rank', 'lora-dropout',
      'stat-decay', 'prune', 'prune-every', 'prune-start', 'prune-end', 'prune-ratio', 'prune-mode', 'importance']) expect(trainFlags).toContain(f);
    expect(leaves(TRAIN_SPINE).length).toBe(trainFlags.length);
  });

  it('--threads is applied (cpu) or refused (other backends), never ignored', async () => {
    const { backend } = await useDevice({ backend: 'cpu', threads: 1 });
    expect(backend).toBe(P.cpuBackend());
    if (cpuInfo().enabled) expect(cpuInfo().threads).toBe(1);
    setCpuThreads(defaultThreads());
    if (process.env.PRILORA_TEST_WEBGPU !== '0') {
      const r = await cli(['train', '--task', 'sst2', '--backend', 'webgpu', '--threads', '2']);
      expect(r.err).toEqual(['prilora train: ConfigError: --threads applies to the cpu backend only (backend webgpu)']);
      P.setDefaultBackend(P.cpuBackend());
    }
    for (const cmd of ['train', 'pretrain', 'gradcheck', 'check-fixture', 'bench matmul', 'bench train-step', 'export-peft']) {
      expect(COMMANDS[cmd].spines, cmd).toContain(DEVICE_SPINE);
    }
  });

  it('train --json echoes the resolved options, equal to what the library resolves', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prilora-opts-'));
    const argv = ['train', '--task', 'sst2', '--method', 'lora', '--prune', '--out', out, '--train-limit', '32', '--eval-limit', '16', '--batch', '16', '--max-len', '24', '--max-steps', '2', '--json'];
    const r = await cli(argv);
    expect(r.code, r.err.join('\n')).toBe(0);
    const json = JSON.parse(r.out[r.out.length - 1]);
    expect(json.options).toEqual(JSON.parse(JSON.stringify(resolveTrainOptions({ task: 'sst2', method: 'lora', prune: { enabled: true }, out, trainLimit: 32, evalLimit: 16, batch: 16, maxLen: 24, maxSteps: 2 }))));
  });
});

describe('explicit engine wiring', () => {
  it('a script importing one op module and the engine runs forward and backward (no import-order set-up)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prilora-wiring-'));
    const file = join(dir, 'main.mts');
    writeFileSync(file, `
      import { mul, add } from '${ROOT}/src/ops/elementwise.ts';
      import { tensor } from '${ROOT}/src/tensor/create.ts';
      import { backward } from '${ROOT}/src/autograd/backward.ts';
      const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
      const y = add(mul(x, x), 1);            // broadcast add of a constant: the engine reduces nothing here
      backward(y, tensor([1, 1, 1], { dtype: 'float64' }));
      const g1 = [...x.grad.dataSync()];
      x.grad = null;
      add(mul(x, 3), tensor([[1], [2]], { dtype: 'float64' })).sum().backward(); // method sugar, broadcast gradient
      console.log(JSON.stringify({ g1, g2: [...x.grad.dataSync()], backend: x.backend.name }));
    `);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ g1: [2, 4, 6], g2: [6, 6, 6], backend: 'cpu' });
  });
});
