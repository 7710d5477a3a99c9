/**
 * Which modules get adapters and with which rank/alpha, matched exactly as PEFT matches them, so that
 * adapter_config.json files mean the same thing here and in Python.
 */
import { ConfigError } from '../core/errors.ts';

/** PEFT's default targets for BERT and DeBERTa: the six linear maps of every layer. */
export const DEFAULT_TARGETS =
  '.*encoder\\.layer\\.\\d+\\.(attention\\.self\\.(query|key|value|query_proj|key_proj|value_proj)|attention\\.output\\.dense|intermediate\\.dense|output\\.dense)';

/**
 * PEFT's `check_target_module_exists`: a string is a regex that must match the whole module name
 * (re.fullmatch); a list matches a name equal to an entry or ending in "." + entry.
 */
export function isTarget(targets: string | readonly string[], name: string): boolean {
  if (typeof targets === 'string') return regex(`^(?:${targets})$`, targets).test(name);
  return targets.some((t) => name === t || name.endsWith(`.${t}`));
}

/**
 * PEFT's `get_pattern_key`: the first key (in insertion order) for which
 * re.match(rf"(.*\.)?({key})$", name) succeeds, or undefined.
 */
export function patternKey(pattern: Record<string, number>, name: string): string | undefined {
  return Object.keys(pattern).find((key) => regex(`^(?:.*\\.)?(?:${key})$`, key).test(name));
}

export function patternValue(pattern: Record<string, number>, name: string, fallback: number): number {
  const key = patternKey(pattern, name);
  return key === undefined ? fallback : pattern[key];
}

/** The layer index in a module path (`….layer.7.…`), or null outside the layer stack. */
export function layerIndex(name: string): number | null {
  const m = /(?:^|\.)layer\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

/** A regex from a config's text; an invalid one is a ConfigError quoting it. */
function regex(source: string, given: string): RegExp {
  try {
    return new RegExp(source);
  } catch (e) {
    throw new ConfigError(`invalid regular expression ${JSON.stringify(given)} in a target or pattern: ${(e as Error).message}`);
  }
}
