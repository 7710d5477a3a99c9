/**
 * Module: a tree of named parameters and sub-modules with PyTorch's naming, so that a HuggingFace
 * state dict maps onto it key for key (`bert.encoder.layer.0.attention.self.query.weight`).
 */
import type { Backend } from '../backends/backend.ts';
import { ConfigError, ShapeError, fmtShape } from '../core/errors.ts';
import { tensor } from '../tensor/create.ts';
import type { DType, TypedArray } from '../core/dtype.ts';
import { sameShape } from '../core/layout.ts';
import { keep } from '../tensor/scope.ts';
import { Tensor } from '../tensor/tensor.ts';

export interface LoadOptions {
  /** Names that may be absent from the source (they keep their current values). */
  allowMissing?: (name: string) => boolean;
  /** Source names to skip silently (e.g. the heads of another task). */
  ignoreUnexpected?: (name: string) => boolean;
}

export interface LoadReport {
  loaded: string[];
  missing: string[];
  ignored: string[];
}

/** Values for `loadStateDict`: tensors, or host arrays with their shape. */
export type StateValue = Tensor | { data: TypedArray; shape: readonly number[] };

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Register a trainable parameter (kept out of tidy scopes; lives until the module is disposed). */
  protected param(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.params.set(name, keep(t));
    return t;
  }

  protected module<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Attach a sub-module after construction (adapters use this; names follow PEFT's). */
  addModule<M extends Module>(name: string, m: M): M {
    if (this.children.has(name)) throw new ConfigError(`addModule: "${name}" already exists`);
    return this.module(name, m);
  }

  removeModule(name: string): void {
    this.children.delete(name);
  }

  child(name: string): Module | undefined {
    return this.children.get(name);
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, m] of this.children) yield* m.namedModules(prefix ? `${prefix}.${n}` : n);
  }

  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [n, p] of this.params) yield [prefix ? `${prefix}.${n}` : n, p];
    for (const [n, m] of this.children) yield* m.namedParameters(prefix ? `${prefix}.${n}` : n);
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /** Module at a dotted path ('' is this module). */
  get(path: string): Module {
    let m: Module | undefined = this;
    for (const part of path ? path.split('.') : []) m = m?.children.get(part);
    if (!m) throw new ConfigError(`no module at "${path}"`);
    return m;
  }

  /**
   * Copy values into the parameters by name, strictly: a missing, unexpected or mis-shaped entry is an
   * error naming the parameter (unless `opts` allows it). Parameters keep their identity (optimisers
   * holding them see the new values) and their dtype (values are converted).
   */
  loadStateDict(source: Map<string, StateValue>, opts: LoadOptions = {}): LoadReport {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !source.has(k));
    const badMissing = missing.filter((k) => !opts.allowMissing?.(k));
    if (badMissing.length) throw new ConfigError(`loadStateDict: missing ${badMissing.length} parameter(s): ${badMissing.slice(0, 10).join(', ')}`);
    const unexpected = [...source.keys()].filter((k) => !own.has(k));
    const badUnexpected = unexpected.filter((k) => !opts.ignoreUnexpected?.(k));
    if (badUnexpected.length) throw new ConfigError(`loadStateDict: unexpected parameter(s) ${badUnexpected.slice(0, 10).join(', ')}`);
    for (const [name, value] of source) {
      const p = own.get(name);
      if (!p) continue;
      const shape = value.shape;
      if (!sameShape(shape, p.shape)) throw new ShapeError(`loadStateDict: ${name} has shape ${fmtShape(shape)} in the source but ${fmtShape(p.shape)} in the model`);
    }
    const loaded: string[] = [];
    for (const [name, value] of source) {
      const p = own.get(name);
      if (!p) continue;
      p.assignFrom(value instanceof Tensor ? copyFor(p, value) : tensor(value.data, { shape: p.shape, dtype: p.dtype, backend: p.backend }));
      loaded.push(name);
    }
    return { loaded, missing, ignored: unexpected };
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Free every parameter's storage. */
  dispose(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.dispose();
    }
  }

  /** Parameter count (all, or only those that currently require grad). */
  countParameters(trainableOnly = false): number {
    return this.parameters().filter((p) => !trainableOnly || p.requiresGrad).reduce((s, p) => s + p.size, 0);
  }
}

/**
 * A copy of `value` in `p`'s dtype on `p`'s backend. On the same backend it stays on the device (a GPU
 * backend has no synchronous read); from another backend it goes through the host, which needs a source
 * that reads synchronously (the CPU).
 */
function copyFor(p: Tensor, value: Tensor): Tensor {
  if (value.backend === p.backend) return Tensor.fromStorage(p.backend, p.backend.copy(value.view('loadStateDict'), p.dtype), p.shape);
  return tensor(value.dataSync(), { shape: p.shape, dtype: p.dtype, backend: p.backend });
}

