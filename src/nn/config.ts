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

/** The most elements one tensor may have (4 GiB of float32: the CPU fast path's whole heap). */
export const MAX_TENSOR_ELEMENTS = 2 ** 30;
/** The most parameters a model may have (8 GiB of float32). */
export const MAX_MODEL_PARAMETERS = 2 ** 31;

/**
 * Refuse a config whose weights could not be allocated, before anything is: `tensors` names the largest
 * weight matrices by the fields that size them, with their element counts.
 */
export function checkModelSize(file: string, tensors: Record<string, number>, total: number): void {
  for (const [what, n] of Object.entries(tensors)) {
    if (!(n <= MAX_TENSOR_ELEMENTS)) throw new ConfigError(`${file}: ${what} would have ${n.toExponential(3)} elements, more than the ${MAX_TENSOR_ELEMENTS.toExponential(3)} one tensor may hold`);
  }
  if (!(total <= MAX_MODEL_PARAMETERS)) throw new ConfigError(`${file}: the model would have ${total.toExponential(3)} parameters, more than the ${MAX_MODEL_PARAMETERS.toExponential(3)} this engine allocates`);
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

  /** A probability in [0, 1) (dropout). */
  prob(name: string, fallback: number): number {
    const v = this.num(name, fallback);
    if (v < 0 || v >= 1) throw new ConfigError(`${this.file}: "${name}" must be in [0, 1), got ${v}`);
    return v;
  }

  /** A number > 0 (layer-norm epsilon, initialiser range). */
  positive(name: string, fallback: number): number {
    const v = this.num(name, fallback);
    if (!(v > 0)) throw new ConfigError(`${this.file}: "${name}" must be > 0, got ${v}`);
    return v;
  }

  /** Number of labels as transformers derives it: num_labels, else the size of id2label, else 2. */
  numLabels(): number {
    if (this.json.num_labels !== undefined) return this.int('num_labels', undefined, 1);
    const id2label = this.json.id2label;
    if (id2label && typeof id2label === 'object') return Math.max(1, Object.keys(id2label).length);
    return 2;
  }
}
