/**
 * A small WordPiece vocabulary for a small model: bert-base-uncased's tokens ranked by frequency on the
 * pretraining corpus, keeping every single character and every "##" character so that any word
 * bert-base-uncased can spell is still spelled (nothing new becomes [UNK]). The tokenizer.json written
 * with it is bert-base-uncased's with the vocabulary and special-token ids replaced.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { TextTokenizer, defaultVocabDir } from '../data/tokenizer.ts';
import type { Document } from './corpus.ts';

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/** Tokens of the new vocabulary in id order. */
export function chooseVocabulary(baseVocab: readonly string[], counts: ReadonlyMap<number, number>, size: number): string[] {
  const special = new Set<string>(SPECIAL_TOKENS);
  const isChar = (t: string) => !special.has(t) && ([...t].length === 1 || (t.startsWith('##') && [...t].length === 3));
  const chars = baseVocab.filter(isChar);
  if (size < SPECIAL_TOKENS.length + chars.length) {
    throw new ConfigError(`vocabSize ${size} cannot hold the ${SPECIAL_TOKENS.length} special and ${chars.length} character tokens`, "vocabSize");
  }
  const rest = baseVocab
    .map((t, id) => ({ t, id, n: counts.get(id) ?? 0 }))
    .filter(({ t, n }) => n > 0 && !special.has(t) && !isChar(t) && !/^\[unused\d+\]$/.test(t))
    .sort((a, b) => b.n - a.n || a.id - b.id)
    .slice(0, size - SPECIAL_TOKENS.length - chars.length)
    .map(({ t }) => t);
  return [...SPECIAL_TOKENS, ...chars, ...rest];
}

/** Count bert-base-uncased token ids over the corpus. */
export function countTokens(tok: TextTokenizer, docs: readonly Document[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const d of docs) for (const s of d) for (const id of tok.tokenizeIds(s)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Write vocab.txt, tokenizer.json and tokenizer_config.json for `vocab` into `dir`. */
export function writeTokenizerFiles(dir: string, vocab: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  const base = JSON.parse(readFileSync(join(defaultVocabDir(), 'tokenizer.json'), 'utf8'));
  const ids = new Map(vocab.map((t, i) => [t, i]));
  base.model.vocab = Object.fromEntries(vocab.map((t, i) => [t, i]));
  base.added_tokens = base.added_tokens
    .filter((a: { content: string }) => ids.has(a.content))
    .map((a: { content: string }) => ({ ...a, id: ids.get(a.content) }));
  for (const [name, sp] of Object.entries(base.post_processor.special_tokens as Record<string, { ids: number[] }>)) sp.ids = [ids.get(name)!];
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(base));
  writeFileSync(join(dir, 'vocab.txt'), `${vocab.join('\n')}\n`);
  copyFileSync(join(defaultVocabDir(), 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  copyFileSync(join(defaultVocabDir(), 'special_tokens_map.json'), join(dir, 'special_tokens_map.json'));
}

export function buildVocabulary(docs: readonly Document[], size: number, dir: string): TextTokenizer {
  const base = TextTokenizer.fromFile(join(defaultVocabDir(), 'tokenizer.json'));
  const baseVocab = readFileSync(join(defaultVocabDir(), 'vocab.txt'), 'utf8').split('\n').filter((l, i, a) => l || i < a.length - 1);
  const vocab = chooseVocabulary(baseVocab, countTokens(base, docs), size);
  writeTokenizerFiles(dir, vocab);
  return TextTokenizer.fromFile(join(dir, 'tokenizer.json'));
}
