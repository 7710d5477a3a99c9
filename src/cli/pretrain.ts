/** `prilora pretrain`: masked-LM pretraining of a small BERT on the bundled corpus (see src/pretrain). */
import { ConfigError } from '../errors.ts';
import { CORPUS_SOURCES, type CorpusSource } from '../pretrain/corpus.ts';
import { PRETRAIN_DEFAULTS, pretrain, type PretrainOptions } from '../pretrain/pretrainer.ts';
import { kebab } from '../train/options.ts';
import { backendFlag, parseFlags } from './args.ts';
import type { CommandIO } from './main.ts';

export async function pretrainCommand(argv: string[], io: CommandIO): Promise<number> {
  const numeric = Object.keys(PRETRAIN_DEFAULTS).filter((k) => typeof PRETRAIN_DEFAULTS[k as keyof typeof PRETRAIN_DEFAULTS] === 'number');
  const spec: Record<string, { type: 'string' | 'boolean' }> = { out: { type: 'string' }, backend: { type: 'string' }, resume: { type: 'boolean' }, json: { type: 'boolean' }, threads: { type: 'string' }, corpus: { type: 'string' } };
  for (const k of numeric) spec[kebab(k)] = { type: 'string' };
  const { flags } = parseFlags('pretrain', argv, spec);
  const o: PretrainOptions = { ...PRETRAIN_DEFAULTS, out: typeof flags.out === 'string' ? flags.out : 'runs/pretrain', resume: Boolean(flags.resume) };
  for (const k of numeric) {
    const raw = flags[kebab(k)];
    if (raw === undefined) continue;
    const n = Number(raw);
    const zeroOk = ['seed', 'warmup', 'weightDecay', 'dropout'].includes(k);
    if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk)) throw new ConfigError(`--${kebab(k)} must be a ${zeroOk ? 'non-negative' : 'positive'} number, got "${raw}"`);
    (o as unknown as Record<string, number>)[k] = n;
  }
  if (typeof flags.corpus === 'string') {
    const list = flags.corpus.split(',').map((x) => x.trim());
    const bad = list.filter((x) => !(CORPUS_SOURCES as readonly string[]).includes(x));
    if (bad.length || !list.length) throw new ConfigError(`--corpus must list sources among ${CORPUS_SOURCES.join(', ')}, got "${flags.corpus}"`);
    o.corpus = list as CorpusSource[];
  }
  o.backend = await backendFlag(flags);
  const r = await pretrain(o, (l) => io.log(l));
  if (flags.json) io.log(JSON.stringify({ steps: r.step, metrics: r.metrics, model: `${o.out}/model` }));
  return 0;
}
