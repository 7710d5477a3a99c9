/**
 * The pretraining text: the bundled Brown corpus and WikiText-2 (valid, test), the text of the GLUE
 * training splits we hold — never dev or test text, which fine-tuning evaluates on — and, when fetched
 * (scripts/fetch-corpus.ts), the texts of 50,000 IMDb movie reviews. Documents are lists of sentences; a
 * fixed share of the Brown and WikiText documents is held out to measure masked-token accuracy (the same
 * documents whatever else is added, so runs on other source lists stay comparable).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { loadGlueSplit } from '../data/glue.ts';
import { GLUE_TASK_SPECS } from '../data/glue-tasks.ts';
import { ConfigError } from '../core/errors.ts';
import { HostRng } from '../core/random.ts';

export type Document = string[];

export function corpusDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../data/corpus');
}

const read = (file: string) => gunzipSync(readFileSync(join(corpusDir(), file))).toString('utf8');

export const CORPUS_SOURCES = ['brown', 'wikitext', 'glue', 'imdb'] as const;
export type CorpusSource = (typeof CORPUS_SOURCES)[number];
/** The bundled sources: what `pretrain` reads unless told otherwise. */
export const BUNDLED_SOURCES: readonly CorpusSource[] = ['brown', 'wikitext', 'glue'];

/** Where a fetched (not bundled) source lives. */
export function extraCorpusFile(source: 'imdb'): string {
  return join(corpusDir(), 'extra', `${source}-reviews.txt.gz`);
}

/** Brown: one sentence per line, documents of 20 consecutive sentences (the file keeps text order). */
function brown(): Document[] {
  const lines = read('brown.txt.gz').split('\n').map((l) => l.trim()).filter(Boolean);
  const docs: Document[] = [];
  for (let i = 0; i < lines.length; i += 20) docs.push(lines.slice(i, i + 20));
  return docs;
}

/** WikiText-2: paragraphs are documents; their sentences split at " . " boundaries. */
function wikitext(file: string): Document[] {
  const docs: Document[] = [];
  for (const raw of read(file).split('\n')) {
    const line = raw.trim();
    if (!line || /^=.*=$/.test(line)) continue;
    const text = line.replace(/ @-@ /g, '-').replace(/ @,@ /g, ',').replace(/ @\.@ /g, '.').replace(/<unk>/g, '[UNK]');
    const sentences = text.split(/(?<= [.!?]) /).map((s) => s.trim()).filter(Boolean);
    if (sentences.length) docs.push(sentences);
  }
  return docs;
}

/** Each GLUE training example is a small document: its one or two texts. */
function glueTrain(): Document[] {
  const docs: Document[] = [];
  for (const spec of Object.values(GLUE_TASK_SPECS)) {
    if (!spec.bundledSplits.includes('train')) continue;
    for (const e of loadGlueSplit(spec.task, 'train')) docs.push(e.textB ? [e.textA, e.textB] : [e.textA]);
  }
  return docs;
}

/** IMDb reviews, one per line: each review a document, split into sentences after . ! ? */
function imdb(): Document[] {
  const file = extraCorpusFile('imdb');
  if (!existsSync(file)) throw new ConfigError(`corpus source imdb: ${file} is missing; fetch it with: npx tsx scripts/fetch-corpus.ts`);
  const docs: Document[] = [];
  for (const line of gunzipSync(readFileSync(file)).toString('utf8').split('\n')) {
    const sentences = line.split(/(?<=[.!?])\s+(?=["'(A-Z0-9])/).map((x) => x.trim()).filter(Boolean);
    if (sentences.length) docs.push(sentences);
  }
  return docs;
}

export interface Corpus {
  train: Document[];
  heldOut: Document[];
}

/**
 * The chosen sources; `heldOutShare` of the Brown and WikiText documents (drawn with `seed`, whatever the
 * other sources) kept for evaluation. Instances are shuffled later, so source order does not matter.
 */
export function loadCorpus(seed: number, sources: readonly CorpusSource[] = BUNDLED_SOURCES, heldOutShare = 0.02): Corpus {
  const prose: [CorpusSource, Document][] = [
    ...brown().map((d) => ['brown', d] as [CorpusSource, Document]),
    ...[...wikitext('wikitext-2-valid.txt.gz'), ...wikitext('wikitext-2-test.txt.gz')].map((d) => ['wikitext', d] as [CorpusSource, Document]),
  ];
  const rng = new HostRng(seed ^ 0x5eed);
  const heldOut: Document[] = [];
  const train: Document[] = [];
  for (const [source, d] of prose) {
    if (rng.next() < heldOutShare) heldOut.push(d);
    else if (sources.includes(source)) train.push(d);
  }
  if (sources.includes('glue')) train.push(...glueTrain());
  if (sources.includes('imdb')) train.push(...imdb());
  return { train, heldOut };
}
