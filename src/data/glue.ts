/**
 * Loaders for the official GLUE TSV files. The files are not CSV: a field may contain `"` (SST-2, CoLA,
 * MRPC, QQP all do) without any quoting, so lines are split on tabs only and quotes stay part of the text,
 * as transformers does by reading them with `quotechar=None`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ConfigError } from '../core/errors.ts';
import { DataError } from '../core/errors.ts';
import {
  glueSplits,
  glueTaskSpec,
  type GlueColumn,
  type GlueSplit,
  type GlueTask,
  type GlueTaskSpec,
} from './glue-tasks.ts';

export * from './glue-tasks.ts';

export interface GlueExample {
  readonly textA: string;
  readonly textB?: string;
  /** Class index in the task's `labelNames` order; the similarity score (0–5) for STS-B. */
  readonly label: number;
  /** 1-based line in the file (a header is line 1), to trace an example back to its source. */
  readonly line: number;
}

export interface GlueLoadOptions {
  /** A directory laid out like the GLUE download (`<dataDir>/MNLI/train.tsv`); default: the bundled data. */
  readonly dataDir?: string;
}

/** Where `src/data/glue.ts` and its build output `dist/data/glue.js` both find `data/glue/`. */
export function bundledGlueDir(): string {
  return fileURLToPath(new URL('../../data/glue/', import.meta.url));
}

/**
 * The file that holds a split: `<split>.tsv` if present, otherwise `<split>.tsv.gz`. Throws a DataError that
 * says where the file was expected (and, for splits that are not bundled, how to supply them).
 */
export function resolveGlueSplitPath(task: GlueTask, split: GlueSplit, opts: GlueLoadOptions = {}): string {
  const spec = glueTaskSpec(task);
  const splits = glueSplits(task);
  if (!splits.includes(split)) {
    throw new ConfigError(`${task} has no "${split}" split; expected one of ${splits.join(', ')}`);
  }
  const relative = `${spec.dir}/${split}.tsv`;
  const plain = join(opts.dataDir ?? bundledGlueDir(), spec.dir, `${split}.tsv`);
  for (const candidate of [plain, `${plain}.gz`]) {
    if (existsSync(candidate)) return candidate;
  }
  if (opts.dataDir === undefined) {
    throw new DataError(`${task} ${split} split not bundled; pass --data DIR containing ${relative}`);
  }
  throw new DataError(`${task} ${split} split not found: expected ${plain} (or ${plain}.gz)`);
}

export function loadGlueSplit(task: GlueTask, split: GlueSplit, opts: GlueLoadOptions = {}): GlueExample[] {
  const file = resolveGlueSplitPath(task, split, opts);
  return parseGlueTsv(task, readGlueText(file), file);
}

function readGlueText(file: string): string {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new DataError(`${file}: cannot read: ${(e as Error).message}`);
  }
  if (file.endsWith('.gz')) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new DataError(`${file}: not a valid gzip file: ${(e as Error).message}`);
    }
  }
  try {
    // fatal: a mis-encoded file should fail loudly rather than feed U+FFFD into the tokenizer.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DataError(`${file}: not valid UTF-8`);
  }
}

/**
 * Parses the text of one split. `file` is used only in error messages. Exposed so that callers holding
 * the text already (tests, streams) need not go through the file system.
 */
export function parseGlueTsv(task: GlueTask, text: string, file: string): GlueExample[] {
  const spec = glueTaskSpec(task);
  const { format } = spec;
  // MRPC's files start with a UTF-8 byte-order mark; without stripping it the header would read "\uFEFFQuality".
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  let end = lines.length;
  while (end > 0 && lines[end - 1]!.trim() === '') end--;

  const where = (lineNo: number): string => `${file}:${lineNo}`;
  let columnCount = format.columns;
  let first = 0;
  if (format.hasHeader) {
    if (end === 0) throw new DataError(`${file}: empty file; expected a ${spec.dir} header line`);
    const header = lines[0]!.split('\t');
    columnCount = checkHeader(spec, header, where(1));
    first = 1;
  }
  if (first >= end) throw new DataError(`${file}: no data rows`);

  const examples: GlueExample[] = [];
  for (let i = first; i < end; i++) {
    const lineNo = i + 1;
    const fields = lines[i]!.split('\t');
    if (fields.length !== columnCount) {
      throw new DataError(
        `${where(lineNo)}: expected ${columnCount} tab-separated columns for ${spec.dir}, found ${fields.length}`,
      );
    }
    const textA = textField(fields, format.textA, where(lineNo));
    const textB = format.textB === undefined ? undefined : textField(fields, format.textB, where(lineNo));
    const label = parseLabel(spec, fields[columnIndex(format.label, fields.length)]!, where(lineNo));
    examples.push(textB === undefined ? { textA, label, line: lineNo } : { textA, textB, label, line: lineNo });
  }
  return examples;
}

function columnIndex(column: GlueColumn, count: number): number {
  return column.index < 0 ? count + column.index : column.index;
}

/** Returns the column count every data row must have. */
function checkHeader(spec: GlueTaskSpec, header: string[], where: string): number {
  const { format } = spec;
  if (format.columns !== undefined && header.length !== format.columns) {
    throw new DataError(
      `${where}: header has ${header.length} tab-separated columns, expected ${format.columns} for ${spec.dir}`,
    );
  }
  const used = [format.textA, format.textB, format.label].filter((c): c is GlueColumn => c !== undefined);
  const needed = Math.max(...used.map((c) => (c.index < 0 ? 0 : c.index + 1)));
  // A negative label column must not land on a text column, so a variable-width header needs one more.
  const minimum = format.label.index < 0 ? needed + 1 : needed;
  if (header.length < minimum) {
    throw new DataError(`${where}: header has ${header.length} columns, ${spec.dir} needs at least ${minimum}`);
  }
  for (const column of used) {
    const index = columnIndex(column, header.length);
    if (column.header !== undefined && header[index] !== column.header) {
      throw new DataError(
        `${where}: header column ${index + 1} is "${header[index]}", expected "${column.header}"` +
          ` (is this a ${spec.dir} file?)`,
      );
    }
  }
  return header.length;
}

function textField(fields: string[], column: GlueColumn, where: string): string {
  const index = columnIndex(column, fields.length);
  const text = fields[index]!;
  // Kept verbatim (SST-2 sentences end in a space); only the emptiness test ignores whitespace.
  if (text.trim() === '') {
    const name = column.header === undefined ? '' : ` (${column.header})`;
    throw new DataError(`${where}: empty sentence in column ${index + 1}${name}`);
  }
  return text;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseLabel(spec: GlueTaskSpec, raw: string, where: string): number {
  if (spec.regression) {
    // Number() alone would accept "", " ", "0x1f" and "Infinity".
    if (!DECIMAL.test(raw)) throw new DataError(`${where}: non-numeric ${spec.dir} score ${JSON.stringify(raw)}`);
    const score = Number(raw);
    if (score < 0 || score > 5) throw new DataError(`${where}: ${spec.dir} score ${raw} outside [0, 5]`);
    return score;
  }
  const index = spec.labelNames.indexOf(raw);
  if (index < 0) {
    throw new DataError(
      `${where}: unknown label ${JSON.stringify(raw)} for ${spec.dir}; expected one of ${spec.labelNames.join(', ')}`,
    );
  }
  return index;
}
