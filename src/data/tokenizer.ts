/**
 * Tokenization from a Hugging Face `tokenizer.json`: BERT's (WordPiece) and DeBERTa-v3's (Unigram with a
 * Metaspace pre-tokenizer); both templates are `[CLS] a [SEP] b [SEP]`, read from the post-processor.
 *
 * Normalisation, pre-tokenization and the model come from `@huggingface/tokenizers` (a JS port of HF
 * tokenizers). That library has no truncation and treats an empty second text as "no pair", so the
 * special-token template and truncation are done here, following the Rust crate that BertTokenizerFast
 * wraps (`tokenizers/src/utils/truncation.rs`, `TokenizerImpl::post_process`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { ConfigError, FormatError, PriloraError } from '../core/errors.ts';

export interface EncodeOptions {
  /** Upper bound on the final length, special tokens included. */
  maxLength?: number;
}

export interface Encoded {
  ids: number[];
  typeIds: number[];
}

/** Row-major `[batch, seqLen]` arrays, right-padded to the longest row of the batch. */
export interface EncodedBatch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  batch: number;
  seqLen: number;
}

export interface DecodeOptions {
  /** Defaults to false, as in HF's `decode`. */
  skipSpecialTokens?: boolean;
}

type JsonObject = Record<string, unknown>;

type Piece = { special: number[]; typeId: number } | { seq: 'A' | 'B'; typeId: number };

interface Template {
  single: Piece[];
  pair: Piece[];
  addedSingle: number;
  addedPair: number;
}

/** The bundled bert-base-uncased folder. Two levels up from both `src/data/` and `dist/data/`. */
export function defaultVocabDir(): string {
  return fileURLToPath(new URL('../../assets/vocab/bert-base-uncased/', import.meta.url));
}

/**
 * Lengths `[nA, nB]` after HF's `longest_first` truncation of a pair to `budget` content tokens
 * (special tokens already subtracted). The current Rust crate no longer drops one token at a time:
 * the shorter side is kept whole when the longer can absorb the cut, otherwise both get half and the
 * longer one (the second on a tie) takes the odd token.
 */
export function truncateLongestFirst(lenA: number, lenB: number, budget: number): [number, number] {
  if (lenA + lenB <= budget) return [lenA, lenB];
  if (budget === 0) return [0, 0];
  const swap = lenA > lenB;
  let n1 = swap ? lenB : lenA;
  let n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = Math.floor(budget / 2);
    n2 = n1 + (budget % 2);
  }
  // Rust's `Encoding::truncate` past the end is a no-op; min() keeps that even for odd inputs.
  return swap ? [Math.min(lenA, n2), Math.min(lenB, n1)] : [Math.min(lenA, n1), Math.min(lenB, n2)];
}

function readJson(path: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FormatError(`tokenizer: cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as JsonObject;
  } catch (e) {
    throw new FormatError(`tokenizer: ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

function buildTemplate(post: unknown): Template {
  const count = (ps: Piece[]): number => ps.reduce((n, p) => n + ('special' in p ? p.special.length : 0), 0);
  const make = (single: Piece[], pair: Piece[]): Template => ({
    single,
    pair,
    addedSingle: count(single),
    addedPair: count(pair),
  });
  if (post === null || post === undefined) {
    return make([{ seq: 'A', typeId: 0 }], [{ seq: 'A', typeId: 0 }, { seq: 'B', typeId: 1 }]);
  }
  const p = post as JsonObject;
  if (p.type === 'BertProcessing') {
    const cls = [(p.cls as [string, number])[1]];
    const sep = [(p.sep as [string, number])[1]];
    const single: Piece[] = [{ special: cls, typeId: 0 }, { seq: 'A', typeId: 0 }, { special: sep, typeId: 0 }];
    return make(single, [...single, { seq: 'B', typeId: 1 }, { special: sep, typeId: 1 }]);
  }
  if (p.type === 'TemplateProcessing') {
    const specials = (p.special_tokens ?? {}) as Record<string, { ids: number[] }>;
    const parse = (items: unknown): Piece[] =>
      (items as JsonObject[]).map((item): Piece => {
        if ('SpecialToken' in item) {
          const { id, type_id } = item.SpecialToken as { id: string; type_id?: number };
          const entry = specials[id];
          if (!entry) throw new ConfigError(`tokenizer: template names special token ${id} with no ids`);
          return { special: entry.ids, typeId: type_id ?? 0 };
        }
        const { id, type_id } = item.Sequence as { id: 'A' | 'B'; type_id?: number };
        return { seq: id, typeId: type_id ?? 0 };
      });
    return make(parse(p.single), parse(p.pair));
  }
  throw new ConfigError(`tokenizer: unsupported post_processor type ${String(p.type)} (want TemplateProcessing or BertProcessing)`);
}

export class TextTokenizer {
  readonly vocabSize: number;
  readonly padId: number;
  readonly clsId: number;
  readonly sepId: number;
  private readonly tok: Tokenizer;
  private readonly template: Template;

  private constructor(json: JsonObject, config: JsonObject) {
    checkVocabulary(json);
    this.tok = new Tokenizer(json, config);
    this.template = buildTemplate(json.post_processor);
    let maxId = -1;
    for (const id of this.tok.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    const need = (what: string, configKey: string, fallback: string): number => {
      // older tokenizer_config.json files (DeBERTa-v3's among them) store special tokens as AddedToken objects
      const entry = config[configKey] as string | { content?: unknown } | undefined;
      const content = typeof entry === 'object' && entry !== null ? entry.content : entry;
      const name = typeof content === 'string' ? content : fallback;
      const id = this.tok.token_to_id(name);
      if (id === undefined) throw new ConfigError(`tokenizer: ${what} token ${name} is not in the vocabulary`);
      return id;
    };
    const padding = json.padding as { pad_id?: number } | null | undefined;
    this.padId = typeof padding?.pad_id === 'number' ? padding.pad_id : need('pad', 'pad_token', '[PAD]');
    this.clsId = need('cls', 'cls_token', '[CLS]');
    this.sepId = need('sep', 'sep_token', '[SEP]');
  }

  /**
   * Loads `tokenizer.json` (or the one inside a folder) and, when it sits next to it,
   * `tokenizer_config.json`.
   */
  static fromFile(path: string): TextTokenizer {
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'tokenizer.json') : path;
    const configPath = join(dirname(file), 'tokenizer_config.json');
    const [json, config] = [readJson(file), existsSync(configPath) ? readJson(configPath) : {}];
    return typedErrors(`${file}: cannot use this tokenizer`, () => new TextTokenizer(json, config));
  }

  static fromJSON(obj: object, config: object = {}): TextTokenizer {
    return typedErrors('cannot use this tokenizer.json', () => new TextTokenizer(obj as JsonObject, config as JsonObject));
  }

  /** Content ids of one text, no special tokens. */
  tokenizeIds(text: string): number[] {
    return typedErrors('tokenizer', () => this.tok.encode(text, { add_special_tokens: false }).ids);
  }

  tokenize(text: string): string[] {
    return this.tok.tokenize(text, { add_special_tokens: false });
  }

  /**
   * `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` (per the tokenizer's template). `textB === ''` is still
   * a pair, as in HF, so it yields a trailing `[SEP]` of type 1.
   */
  encode(textA: string, textB?: string, opts: EncodeOptions = {}): Encoded {
    let a = this.tokenizeIds(textA);
    let b = textB === undefined ? undefined : this.tokenizeIds(textB);
    if (opts.maxLength !== undefined) {
      const max = opts.maxLength;
      const added = b === undefined ? this.template.addedSingle : this.template.addedPair;
      if (!Number.isInteger(max) || max < added) {
        throw new ConfigError(`tokenizer: maxLength ${max} leaves no room for the ${added} special tokens`);
      }
      if (b === undefined) {
        a = a.slice(0, max - added);
      } else {
        const [na, nb] = truncateLongestFirst(a.length, b.length, max - added);
        a = a.slice(0, na);
        b = b.slice(0, nb);
      }
    }
    const ids: number[] = [];
    const typeIds: number[] = [];
    for (const piece of b === undefined ? this.template.single : this.template.pair) {
      const part = 'special' in piece ? piece.special : piece.seq === 'A' ? a : (b as number[]);
      for (const id of part) {
        ids.push(id);
        typeIds.push(piece.typeId);
      }
    }
    return { ids, typeIds };
  }

  /** Each row truncated to `maxLength`, then all rows right-padded to the longest one. */
  encodeBatch(pairs: Array<[string, string?]>, opts: { maxLength: number }): EncodedBatch {
    const rows = pairs.map(([a, b]) => this.encode(a, b, opts));
    const batch = rows.length;
    const seqLen = rows.reduce((m, r) => Math.max(m, r.ids.length), 0);
    const inputIds = new Int32Array(batch * seqLen).fill(this.padId);
    const attentionMask = new Int32Array(batch * seqLen);
    const tokenTypeIds = new Int32Array(batch * seqLen);
    rows.forEach((r, i) => {
      const off = i * seqLen;
      inputIds.set(r.ids, off);
      tokenTypeIds.set(r.typeIds, off);
      attentionMask.fill(1, off, off + r.ids.length);
    });
    return { inputIds, attentionMask, tokenTypeIds, batch, seqLen };
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    // The library throws on an empty list; HF returns ''.
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }
}

/**
 * The tokenizers library throws plain Errors (and TypeErrors on odd JSON shapes): as FormatErrors, so a
 * broken tokenizer.json is one clear line like every other bad file.
 */
function typedErrors<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof PriloraError) throw e;
    throw new FormatError(`${what}: ${(e as Error)?.message ?? String(e)}`);
  }
}

/** The most tokens a vocabulary may have (and the largest id): far above any real one. */
const MAX_VOCAB = 1 << 24;

/**
 * The vocabulary's shape, checked before the library sees it: the library trusts ids as array indices, so
 * a vocabulary with an id of 10⁹ (or a list of numbers where a map belongs) stalls it for minutes.
 */
function checkVocabulary(json: JsonObject): void {
  const model = json.model as JsonObject | undefined;
  if (typeof model !== 'object' || model === null || Array.isArray(model)) throw new FormatError('tokenizer: "model" must be an object');
  const vocab = model.vocab;
  if (model.type === 'Unigram') {
    const ok = Array.isArray(vocab) && vocab.length <= MAX_VOCAB && vocab.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && Number.isFinite(e[1]));
    if (!ok) throw new FormatError('tokenizer: a Unigram "model.vocab" must be a list of [token, score] pairs');
    return;
  }
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new FormatError(`tokenizer: "model.vocab" of a ${String(model.type)} model must map tokens to ids`);
  const ids = Object.values(vocab);
  if (ids.length > MAX_VOCAB || ids.some((id) => !Number.isInteger(id) || (id as number) < 0 || (id as number) >= MAX_VOCAB)) {
    throw new FormatError(`tokenizer: "model.vocab" ids must be integers in [0, ${MAX_VOCAB})`);
  }
}
