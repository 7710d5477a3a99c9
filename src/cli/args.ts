/** Flag parsing shared by the commands (node:util parseArgs with typed, validated numbers). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { getBackend, registeredBackends, setDefaultBackend } from '../backends/backend.ts';
import { ConfigError } from '../errors.ts';

export type Flags = Record<string, string | boolean | undefined>;

export function parseFlags(command: string, argv: string[], options: NonNullable<ParseArgsConfig['options']>): { flags: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { flags: values as Flags, positionals };
  } catch (e) {
    throw new ConfigError(`${command}: ${(e as Error).message}`);
  }
}

export function intFlag(flags: Flags, name: string, fallback: number, min = 0): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

export function choiceFlag<T extends string>(flags: Flags, name: string, choices: readonly T[], fallback: T): T {
  const v = flags[name];
  if (v === undefined) return fallback;
  if (!choices.includes(v as T)) throw new ConfigError(`--${name} must be one of ${choices.join(', ')}, got "${v}"`);
  return v as T;
}

/** Backends whose device line has been printed (once per process, however many commands run). */
const described = new Set<string>();

/**
 * --backend NAME among the registered backends (started before use); default cpu. A backend that can say
 * which device it runs on (webgpu: vendor / architecture / API) says it once, on stderr, so that stdout
 * keeps its JSON-last-line contract.
 */
export async function backendFlag(flags: Flags): Promise<string> {
  const name = choiceFlag(flags, 'backend', registeredBackends(), 'cpu');
  await setDefaultBackend(name);
  const b = getBackend(name) as { describe?: () => string };
  if (typeof b.describe === 'function' && !described.has(name)) {
    described.add(name);
    console.error(`${name}: ${b.describe()}`);
  }
  return name;
}
