/**
 * Options declared once. A spine is a tree of option specs (kind, default, range, help); from it come the
 * options' type (`Values<S>`), their defaults and validation (`resolve`, with ConfigErrors that name the
 * field: `prune.ratio must be in [0, 1), got 1.5`), and, in src/cli/flags.ts, the flags, `--help` and the
 * JSON echo. Defaults may depend on other options (a task's learning rate): they are then functions of a
 * context the caller passes (e.g. { task, method }).
 */
import { ConfigError } from './errors.ts';

export type Kind = 'int' | 'number' | 'bool' | 'string' | 'choice' | 'list';
/** What dependent defaults read: options resolved before the spine (e.g. the task). */
export type SpineContext = Readonly<Record<string, unknown>>;

export interface Spec<T> {
  readonly kind: Kind;
  readonly help: string;
  /** the flag's name, when it is not the key in kebab case */
  readonly flag?: string;
  /** a value, a function of the context, or absent: then the option is optional (undefined) or nullable */
  readonly default?: T | ((ctx: SpineContext) => T);
  /** how --help shows a default that is a function */
  readonly defaultHelp?: string;
  readonly min?: number;
  readonly max?: number;
  readonly minExclusive?: boolean;
  readonly maxExclusive?: boolean;
  readonly choices?: readonly string[];
  /** null is a value: "decide automatically" (the help says how) */
  readonly nullable?: boolean;
  /** absent stays undefined */
  readonly optional?: boolean;
  /** type carrier only */
  readonly __type?: T;
}

export interface Spine {
  readonly [key: string]: Spec<unknown> | Spine;
}

export type Values<S> = { -readonly [K in keyof S]: S[K] extends Spec<infer T> ? T : Values<S[K]> };
/** What callers may give: any subset, groups included. */
export type Given<S> = { [K in keyof S]?: S[K] extends Spec<infer T> ? T : Given<S[K]> };

type Range = Pick<Spec<number>, 'min' | 'max' | 'minExclusive' | 'maxExclusive'>;
type Common<T> = { help: string; flag?: string; default?: T | ((ctx: SpineContext) => T); defaultHelp?: string };

export const int = (o: Common<number> & Range): Spec<number> => ({ kind: 'int', ...o });
export const num = (o: Common<number> & Range): Spec<number> => ({ kind: 'number', ...o });
export const bool = (o: Common<boolean>): Spec<boolean> => ({ kind: 'bool', ...o });
export const str = (o: Common<string>): Spec<string> => ({ kind: 'string', ...o });
export const choice = <C extends string>(choices: readonly C[], o: Common<C>): Spec<C> => ({ kind: 'choice', choices, ...o });
export const list = <C extends string = string>(o: Common<readonly C[]> & { choices?: readonly C[] }): Spec<readonly C[]> => ({ kind: 'list', ...o });
/** No default: undefined unless given. */
export const optional = <T>(s: Spec<T>): Spec<T | undefined> => ({ ...s, optional: true }) as Spec<T | undefined>;
/** No default: null ("automatic") unless given. */
export const nullable = <T>(s: Spec<T>): Spec<T | null> => ({ ...s, nullable: true }) as Spec<T | null>;

export function isSpec(x: Spec<unknown> | Spine): x is Spec<unknown> {
  return typeof (x as Spec<unknown>).kind === 'string' && typeof (x as Spec<unknown>).help === 'string';
}

/** Every option of a spine with its dotted path, in declaration order. */
export function leaves(spine: Spine, prefix = ''): { path: string; key: string; spec: Spec<unknown> }[] {
  const out: { path: string; key: string; spec: Spec<unknown> }[] = [];
  for (const [key, v] of Object.entries(spine)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isSpec(v)) out.push({ path, key, spec: v });
    else out.push(...leaves(v, path));
  }
  return out;
}

function describeRange(s: Spec<unknown>): string {
  const lo = s.min === undefined ? '' : `${s.minExclusive ? '(' : '['}${s.min}`;
  const hi = s.max === undefined ? '' : `${s.max}${s.maxExclusive ? ')' : ']'}`;
  if (lo && hi) return `in ${lo}, ${hi}`;
  if (lo) return s.minExclusive ? `> ${s.min}` : `≥ ${s.min}`;
  return s.maxExclusive ? `< ${s.max}` : `≤ ${s.max}`;
}

/** Check one value against its spec; throws a ConfigError naming `path`. */
export function check(path: string, s: Spec<unknown>, v: unknown): void {
  if (v === undefined && s.optional) return;
  if (v === null && s.nullable) return;
  const fail = (what: string) => {
    throw new ConfigError(`${path} must be ${what}, got ${JSON.stringify(v) ?? String(v)}`, path);
  };
  switch (s.kind) {
    case 'int':
    case 'number': {
      if (typeof v !== 'number' || Number.isNaN(v)) fail(s.kind === 'int' ? 'an integer' : 'a number');
      const n = v as number;
      if (s.kind === 'int' && !Number.isInteger(n)) fail('an integer');
      const below = s.min !== undefined && (s.minExclusive ? n <= s.min : n < s.min);
      const above = s.max !== undefined && (s.maxExclusive ? n >= s.max : n > s.max);
      if (below || above) fail(`${s.kind === 'int' ? 'an integer' : 'a number'} ${describeRange(s)}`);
      return;
    }
    case 'bool':
      if (typeof v !== 'boolean') fail('true or false');
      return;
    case 'string':
      if (typeof v !== 'string' || !v) fail('a non-empty string');
      return;
    case 'choice':
      if (!s.choices!.includes(v as string)) fail(`one of ${s.choices!.join(', ')}`);
      return;
    case 'list':
      if (!Array.isArray(v) || !v.length || v.some((x) => typeof x !== 'string' || !x)) fail('a non-empty list of names');
      if (s.choices && (v as string[]).some((x) => !s.choices!.includes(x))) fail(`a list of ${s.choices.join(', ')}`);
  }
}

/**
 * Defaults filled in and every value checked. `given` may hold any subset (groups as nested objects);
 * a key the spine does not declare is an error, so a misspelt option never passes silently.
 */
export function resolve<S extends Spine>(spine: S, given: Given<S> | undefined, ctx: SpineContext = {}, prefix = ''): Values<S> {
  const input = (given ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(input)) {
    if (!(k in spine)) throw new ConfigError(`unknown option ${prefix ? `${prefix}.${k}` : k}`, prefix ? `${prefix}.${k}` : k);
  }
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(spine)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (!isSpec(s)) {
      out[key] = resolve(s, input[key] as Given<Spine>, ctx, path);
      continue;
    }
    let v = input[key];
    if (v === undefined) {
      if (s.default !== undefined) v = typeof s.default === 'function' ? (s.default as (c: SpineContext) => unknown)(ctx) : s.default;
      else if (s.nullable) v = null;
      else if (!s.optional) throw new ConfigError(`${path} is required`, path);
    }
    check(path, s, v);
    out[key] = Array.isArray(v) ? [...v] : v;
  }
  return out as Values<S>;
}
