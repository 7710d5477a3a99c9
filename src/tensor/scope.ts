/**
 * Explicit lifetimes. Every tensor created while a `tidy` scope is open belongs to that scope and is
 * disposed when the scope ends, unless it is returned from the scope (it then moves to the enclosing scope)
 * or `keep`-ed (it then belongs to nobody and lives until `dispose()`). Tensors created outside any scope
 * live until disposed. Storage is reference-counted across views, so disposing a view never frees memory
 * another live tensor still reads.
 */
import type { Tensor } from './tensor.ts';

type Scope = Set<Tensor>;

const scopes: Scope[] = [];
let live = 0;

/** Called by the Tensor constructor. */
export function track(t: Tensor): Scope | null {
  live++;
  const s = scopes.length ? scopes[scopes.length - 1] : null;
  s?.add(t);
  return s;
}

/** Called by Tensor.dispose. */
export function untrack(t: Tensor, scope: Scope | null): void {
  live--;
  scope?.delete(t);
}

/** Number of tensors created and not yet disposed (leak tests). */
export function liveTensors(): number {
  return live;
}

/**
 * Run `fn`; dispose every tensor it created except those reachable in its result (a tensor, or an array /
 * plain object of them, searched one level of nesting deep) and those it `keep`-ed.
 */
export function tidy<T>(fn: () => T): T {
  const scope = beginScope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scope.end();
    throw e;
  }
  if (result instanceof Promise) {
    scope.end();
    throw new Error('tidy: the function must be synchronous (use beginScope around asynchronous code)');
  }
  const escaping = new Set<Tensor>();
  collectTensors(result, escaping, 2);
  scope.end(...escaping);
  return result;
}

/**
 * An explicitly ended scope, for asynchronous code that `tidy` cannot wrap (GPU readbacks): every tensor
 * created until `end()` is disposed then, except those passed to `end` (moved to the enclosing scope).
 * Scopes must end in the reverse order they began.
 */
export function beginScope(): { end(...keepTensors: Tensor[]): void } {
  const scope: Scope = new Set();
  scopes.push(scope);
  return {
    end(...keepTensors: Tensor[]) {
      if (scopes[scopes.length - 1] !== scope) throw new Error('beginScope: scopes must end in reverse order');
      scopes.pop();
      const parent = scopes.length ? scopes[scopes.length - 1] : null;
      const escaping = new Set(keepTensors);
      for (const t of scope) {
        if (escaping.has(t)) {
          t._moveToScope(parent);
          parent?.add(t);
        } else {
          t.dispose();
        }
      }
    },
  };
}

/** Take `t` out of every scope: it lives until `dispose()`. Returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  t._moveToScope(null);
  return t;
}

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && (x as { _isTensor?: boolean })._isTensor === true;
}

function collectTensors(x: unknown, out: Set<Tensor>, depth: number): void {
  if (isTensor(x)) {
    out.add(x);
  } else if (depth > 0 && Array.isArray(x)) {
    for (const v of x) collectTensors(v, out, depth - 1);
  } else if (depth > 0 && x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    for (const v of Object.values(x)) collectTensors(v, out, depth - 1);
  }
}
