/**
 * The pretraining text: the bundled Brown corpus and WikiText-2 (valid, test), plus the text of the GLUE
 * training splits we hold — never dev or test text, which fine-tuning evaluates on. Documents are lists
 * of sentences; a fixed share of documents is held out to measure masked-token accuracy.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { loadGlueSplit } from '../data/glue.ts';
import { GLUE_TASK_SPECS } from '../data/glue-tasks.ts';
import { HostRng } from '../tensor/random.ts';

export type Document = string[];

export function corpusDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../data/corpus');
}

const read = (file: string) => gunzipSync(readFileSync(join(corpusDir(), file))).toString('utf8');

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

export interface Corpus {
  train: Document[];
  heldOut: Document[];
}

/** All sources, shuffled by `seed`; `heldOutShare` of the Brown and WikiText documents kept for evaluation. */
export function loadCorpus(seed: number, heldOutShare = 0.02): Corpus {
  const prose = [...brown(), ...wikitext('wikitext-2-valid.txt.gz'), ...wikitext('wikitext-2-test.txt.gz')];
  const rng = new HostRng(seed ^ 0x5eed);
  const heldOut: Document[] = [];
  const train: Document[] = [];
  for (const d of prose) (rng.next() < heldOutShare ? heldOut : train).push(d);
  return { train: [...train, ...glueTrain()], heldOut };
}
