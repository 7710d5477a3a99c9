/**
 * Flags from option spines (core/spine.ts): every option of a command's spines is a flag (`--prune-ratio`
 * for `prune.ratio`: the key in kebab case unless the spec names its flag; a bool also has `--no-…`), its
 * --help line comes from the spec, and a ConfigError naming a field is told in flag terms. Only the CLI
 * speaks of flags; the library's errors name fields.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.ts';
import { leaves, type Spec, type Spine } from '../core/spine.ts';

export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export interface FlagEntry {
  flag: string;
  /** dotted path inside its spine */
  path: string;
  spec: Spec<unknown>;
}

/** The flags of a spine; two options with one flag name are a programming error. */
export function flagTable(spine: Spine): FlagEntry[] {
  const seen = new Set<string>();
  return leaves(spine).map(({ path, key, spec }) => {
    const flag = spec.flag ?? kebab(key);
    if (seen.has(flag)) throw new Error(`flag --${flag} is declared twice (${path})`);
    seen.add(flag);
    return { flag, path, spec };
  });
}

export interface Parsed {
  /** per spine: the given values, nested as the spine */
  given: Record<string, unknown>[];
  positionals: string[];
  json: boolean;
  help: boolean;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let at = target;
  for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
  at[parts[parts.length - 1]] = value;
}

function convert(e: FlagEntry, raw: string): unknown {
  switch (e.spec.kind) {
    case 'int':
    case 'number': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      if (Number.isNaN(n)) throw new ConfigError(`--${e.flag} must be ${e.spec.kind === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
      return n;
    }
    case 'list':
      return raw.split(',').map((x) => x.trim()).filter(Boolean);
    default:
      return raw;
  }
}

/** Parse `argv` against the spines (strictly: an unknown flag is an error naming the command). */
export function parseFlags(command: string, argv: readonly string[], spines: readonly Spine[]): Parsed {
  const tables = spines.map(flagTable);
  const options: Record<string, { type: 'string' | 'boolean' }> = { json: { type: 'boolean' }, help: { type: 'boolean' } };
  for (const e of tables.flat()) {
    if (options[e.flag]) throw new Error(`flag --${e.flag} is declared twice`);
    options[e.flag] = { type: e.spec.kind === 'bool' ? 'boolean' : 'string' };
    if (e.spec.kind === 'bool') options[`no-${e.flag}`] = { type: 'boolean' };
  }
  let values: Record<string, string | boolean | undefined>, positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (e) {
    throw new ConfigError(`${command}: ${(e as Error).message}`);
  }
  const given = tables.map((table) => {
    const out: Record<string, unknown> = {};
    for (const e of table) {
      const on = values[e.flag];
      const off = e.spec.kind === 'bool' ? values[`no-${e.flag}`] : undefined;
      if (on !== undefined && off !== undefined) throw new ConfigError(`--${e.flag} and --no-${e.flag} contradict each other`);
      if (off !== undefined) setPath(out, e.path, false);
      else if (on !== undefined) setPath(out, e.path, typeof on === 'boolean' ? on : convert(e, on));
    }
    return out;
  });
  return { given, positionals, json: Boolean(values.json), help: Boolean(values.help) };
}

function showDefault(s: Spec<unknown>): string {
  if (s.defaultHelp) return ` (default: ${s.defaultHelp})`;
  if (s.default === undefined || typeof s.default === 'function') return '';
  const v = s.default;
  return ` (default: ${Array.isArray(v) ? v.join(',') : typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v)})`;
}

function placeholder(s: Spec<unknown>): string {
  if (s.kind === 'bool') return '';
  if (s.kind === 'choice') return ` ${s.choices!.join('|')}`;
  return ` <${s.kind === 'list' ? 'a,b,…' : s.kind === 'int' ? 'N' : s.kind === 'number' ? 'X' : 'TEXT'}>`;
}

/** The --help text: usage, then one line per flag (bools also take --no-…), grouped as the spines are. */
export function helpText(usage: string, spines: readonly Spine[]): string {
  const lines = [`usage: ${usage}`];
  for (const table of spines.map(flagTable)) {
    let group = '';
    lines.push('');
    for (const e of table) {
      const g = e.path.includes('.') ? e.path.split('.')[0] : '';
      if (g !== group) lines.push('', `${g} options:`);
      group = g;
      const name = `--${e.flag}${e.spec.kind === 'bool' ? ` / --no-${e.flag}` : ''}${placeholder(e.spec)}`;
      lines.push(`  ${name.padEnd(34)} ${e.spec.help}${showDefault(e.spec)}`);
    }
  }
  lines.push('', `  ${'--json'.padEnd(34)} print one JSON object as the last line`, `  ${'--help'.padEnd(34)} this text`);
  return lines.join('\n');
}

/** A ConfigError that names a field of these spines, told with the field's flag. */
export function inFlagTerms(e: ConfigError, spines: readonly Spine[]): ConfigError {
  if (!e.field) return e;
  const entry = spines.flatMap(flagTable).find((x) => x.path === e.field);
  if (!entry) return e;
  const message = e.message.startsWith(e.field) ? `--${entry.flag}${e.message.slice(e.field.length)}` : `${e.message} (--${entry.flag})`;
  return new ConfigError(message, e.field);
}
