/** config.json as HuggingFace writes it: parsing with errors that name the file and the field. */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.ts';

export type Json = Record<string, unknown>;

export function readJsonFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ConfigError(`${path}: expected a JSON object`);
  return obj as Json;
}

/** Typed field access that names the file and field in every error. */
export class ConfigReader {
  constructor(readonly json: Json, readonly file: string) {}

  int(name: string, fallback?: number, min = 0): number {
    const v = this.json[name] ?? fallback;
    if (v === undefined) throw new ConfigError(`${this.file}: missing field "${name}"`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ConfigError(`${this.file}: "${name}" must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v;
  }

  num(name: string, fallback?: number): number {
    const v = this.json[name] ?? fallback;
    if (v === undefined) throw new ConfigError(`${this.file}: missing field "${name}"`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${this.file}: "${name}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  str(name: string, fallback?: string): string {
    const v = this.json[name] ?? fallback;
    if (v === undefined) throw new ConfigError(`${this.file}: missing field "${name}"`);
    if (typeof v !== 'string') throw new ConfigError(`${this.file}: "${name}" must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  oneOf<T extends string>(name: string, choices: readonly T[], fallback?: T): T {
    const v = this.str(name, fallback);
    if (!choices.includes(v as T)) throw new ConfigError(`${this.file}: unsupported ${name} "${v}" (supported: ${choices.join(', ')})`);
    return v as T;
  }

  /** Number of labels as transformers derives it: num_labels, else the size of id2label, else 2. */
  numLabels(): number {
    if (this.json.num_labels !== undefined) return this.int('num_labels', undefined, 1);
    const id2label = this.json.id2label;
    if (id2label && typeof id2label === 'object') return Math.max(1, Object.keys(id2label).length);
    return 2;
  }
}
