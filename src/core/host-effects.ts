/**
 * Host state a step changes besides its tensors (a count of statistics updates) goes through `hostEffect`,
 * so that a replayed step (src/train/replayed-step.ts), which runs none of the step's JavaScript, can make
 * the same change again.
 */
let collecting: (() => void)[] | null = null;

/** Do `fn` now, and again at each replay of the step being recorded. */
export function hostEffect(fn: () => void): void {
  fn();
  collecting?.push(fn);
}

/** `body()`'s result and the host effects it made, in order. */
export function collectHostEffects<T>(body: () => T): { result: T; effects: (() => void)[] } {
  const outer = collecting;
  const effects: (() => void)[] = [];
  collecting = effects;
  try {
    return { result: body(), effects };
  } finally {
    collecting = outer;
  }
}
