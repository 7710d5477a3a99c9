/**
 * Training checkpoints: everything a resumed run needs to continue bit for bit — trainable parameters,
 * AdamW moments, pruning masks, input statistics, the dropout generator's position and the place in the
 * data — written atomically (temp file + rename), so a crash mid-write leaves the previous one intact.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { readSafetensorsFile, writeSafetensorsFile, type SafetensorEntry } from '../io/safetensors.ts';
import type { Module } from '../nn/module.ts';
import type { AdamW } from '../optim/adamw.ts';
import type { LoraAdapter } from '../prilora/lora.ts';
import { tensor } from '../tensor/create.ts';
import type { Tensor } from '../tensor/tensor.ts';

export interface Progress {
  /** optimiser steps taken */
  step: number;
  /** epoch in progress and the next batch in it */
  epoch: number;
  batchInEpoch: number;
  dropoutOffset: number;
  best: { metric: string; value: number; step: number } | null;
  /** lines of log.jsonl written up to this checkpoint */
  logLines: number;
  /** the options a resume must match */
  fingerprint: string;
}

async function entry(name: string, t: Tensor): Promise<SafetensorEntry> {
  const data = await t.data();
  return { name, dtype: data instanceof Float64Array ? 'F64' : data instanceof Int32Array ? 'I32' : 'F32', shape: t.shape, data };
}

/** Tensors of a run's state, by name, in a fixed order. */
function stateTensors(model: Module, adapters: readonly LoraAdapter[], opt: AdamW): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  const trainable = [...model.namedParameters()].filter(([, p]) => p.requiresGrad);
  for (const [name, p] of trainable) out.push([`param.${name}`, p]);
  const moments = opt.momentTensors();
  for (const [name, p] of trainable) {
    const mo = moments.get(p);
    if (mo) out.push([`adam_m.${name}`, mo.m], [`adam_v.${name}`, mo.v]);
    const mask = opt.mask(p);
    if (mask) out.push([`mask.${name}`, mask]);
  }
  for (const ad of adapters) if (ad.stats) out.push([`stats.${ad.name}`, ad.stats]);
  return out;
}

export async function saveCheckpoint(dir: string, model: Module, adapters: readonly LoraAdapter[], opt: AdamW, progress: Progress): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const entries = await Promise.all(stateTensors(model, adapters, opt).map(([n, t]) => entry(n, t)));
  writeSafetensorsFile(join(dir, 'state.safetensors'), entries);
  const meta = { ...progress, adamStep: opt.step, statUpdates: adapters.map((a) => a.statUpdates) };
  const path = join(dir, 'state.json');
  writeFileSync(`${path}.tmp`, JSON.stringify(meta, null, 1));
  renameSync(`${path}.tmp`, path);
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, 'state.json')) && existsSync(join(dir, 'state.safetensors'));
}

/** Restore a run's state saved by saveCheckpoint; the model, adapters and optimiser must be set up alike. */
export function loadCheckpoint(dir: string, model: Module, adapters: readonly LoraAdapter[], opt: AdamW, fingerprint: string): Progress {
  const meta = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Progress & { adamStep: number; statUpdates: number[] };
  if (meta.fingerprint !== fingerprint) {
    throw new ConfigError(`${dir}: this checkpoint was made with other options; resume with the same options or use another --out`);
  }
  const file = readSafetensorsFile(join(dir, 'state.safetensors'));
  const read = (name: string, like: Tensor) => {
    const info = file.info(name);
    const data = info.dtype === 'F64' ? file.getFloat64(name) : info.dtype === 'I32' ? file.getInt32(name) : file.getFloat32(name);
    return tensor(data, { shape: info.shape, dtype: like.dtype, backend: like.backend });
  };
  const params = new Map(model.namedParameters());
  for (const name of file.tensors.keys()) {
    const [kind, ...rest] = name.split('.');
    const target = rest.join('.');
    if (kind === 'stats') {
      const ad = adapters.find((a) => a.name === target);
      if (!ad?.stats) throw new ConfigError(`${file.fileName}: no adapter statistics for ${target}`);
      ad.stats.assignFrom(read(name, ad.stats));
      continue;
    }
    const p = params.get(target);
    if (!p) throw new ConfigError(`${file.fileName}: ${name} names no parameter of the model`);
    if (kind === 'param') p.assignFrom(read(name, p));
    else if (kind === 'adam_m' || kind === 'adam_v') opt.restoreMoment(p, kind === 'adam_m' ? 'm' : 'v', read(name, p));
    else if (kind === 'mask') opt.setMask(p, read(name, p));
    else throw new ConfigError(`${file.fileName}: unknown state entry ${name}`);
  }
  opt.step = meta.adamStep;
  adapters.forEach((a, i) => (a.statUpdates = meta.statUpdates[i] ?? 0));
  return meta;
}
