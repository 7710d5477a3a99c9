/**
 * Training checkpoints: everything a resumed run needs to continue bit for bit — trainable parameters,
 * AdamW moments, pruning masks, input statistics, the dropout generator's position and the place in the
 * data — in ONE file (`state.safetensors`: tensors, with the progress and a sha256 of progress and tensor
 * bytes in its metadata), written atomically (temp file, fsync, rename). A crash at any moment leaves the previous
 * checkpoint or the new one, never a mix; loading verifies the hash, the options and every tensor, and
 * refuses with a message naming the file and what is wrong.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { parseSafetensors, serializeSafetensors, writeSafetensorsFile, type SafetensorEntry, type SafetensorsFile } from '../io/safetensors.ts';
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
  /**
   * the latest evaluation, so that a run resumed where it had just evaluated (an epoch's or the run's end)
   * does not evaluate and log it again; absent in checkpoints of earlier versions (read as none)
   */
  lastEval?: { step: number; metrics: Record<string, number> } | null;
  /** the options a resume must match (JSON of an object) */
  fingerprint: string;
}

export interface Stored extends Progress {
  adamStep: number;
  statUpdates: number[];
}

const FORMAT = 'prilora-checkpoint/2';
export const CHECKPOINT_FILE = 'state.safetensors';

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

/** The checkpoint's hash covers its progress record and its tensor bytes. */
const sha256 = (progress: string, data: Uint8Array) => createHash('sha256').update(progress).update('\n').update(data).digest('hex');

/** The tensor bytes of a safetensors file: everything after its 8-byte length and JSON header. */
function dataSection(bytes: Uint8Array): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return bytes.subarray(8 + n);
}

export async function saveCheckpoint(dir: string, model: Module, adapters: readonly LoraAdapter[], opt: AdamW, progress: Progress): Promise<void> {
  const entries = await Promise.all(stateTensors(model, adapters, opt).map(([n, t]) => entry(n, t)));
  mkdirSync(dir, { recursive: true });
  writeCheckpointFile(join(dir, CHECKPOINT_FILE), entries, { ...progress, adamStep: opt.step, statUpdates: adapters.map((a) => a.statUpdates) });
}

/** Tensors and progress as one checkpoint file (atomically), hashed for readCheckpoint. */
export function writeCheckpointFile(path: string, entries: readonly SafetensorEntry[], stored: Stored): void {
  const record = JSON.stringify(stored);
  const hash = sha256(record, dataSection(serializeSafetensors(entries)));
  writeSafetensorsFile(path, entries, { format: FORMAT, progress: record, sha256: hash });
}

/**
 * Delete the temporary files of checkpoint writes whose process is gone (a kill during a save leaves one,
 * as large as a checkpoint; writeSafetensorsFile names them `.<file>.<pid>.<random>.tmp`). A live
 * process's are left alone, should two runs share a directory.
 */
export function removeStaleTemporaries(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  const prefix = `.${CHECKPOINT_FILE}.`;
  for (const f of readdirSync(dir)) {
    const pid = f.startsWith(prefix) && f.endsWith('.tmp') ? Number(f.slice(prefix.length).split('.')[0]) : NaN;
    if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
    rmSync(join(dir, f), { force: true });
    removed.push(f);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM'; // exists, someone else's
  }
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE));
}

/** Options that differ between two fingerprints, as "name (checkpoint X, now Y)". */
function differences(saved: string, now: string): string[] {
  const a = JSON.parse(saved) as Record<string, unknown>, b = JSON.parse(now) as Record<string, unknown>;
  const out: string[] = [];
  const walk = (x: Record<string, unknown>, y: Record<string, unknown>, prefix: string) => {
    for (const k of new Set([...Object.keys(x ?? {}), ...Object.keys(y ?? {})])) {
      const [u, v] = [x?.[k], y?.[k]];
      const path = prefix ? `${prefix}.${k}` : k;
      const plain = (o: unknown) => o !== null && typeof o === 'object' && !Array.isArray(o);
      if (plain(u) && plain(v)) walk(u as Record<string, unknown>, v as Record<string, unknown>, path);
      else if (JSON.stringify(u) !== JSON.stringify(v)) out.push(`${path} (checkpoint ${JSON.stringify(u)}, now ${JSON.stringify(v)})`);
    }
  };
  walk(a, b, '');
  return out;
}

/** The checkpoint file, verified: readable, of this format, its tensor bytes unchanged since saving. */
export function readCheckpoint(dir: string): { file: SafetensorsFile; stored: Stored } {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) {
    const legacy = existsSync(join(dir, 'state.json')) ? ' (state.json is an older prilora\'s checkpoint, which could mix two steps: it cannot be resumed)' : '';
    throw new ConfigError(`${path}: no checkpoint there${legacy}`);
  }
  const bytes = new Uint8Array(readFileSync(path));
  const file = parseSafetensors(bytes, path);
  const meta = file.metadata;
  if (meta.format !== FORMAT) throw new ConfigError(`${path}: not a prilora checkpoint (metadata format ${JSON.stringify(meta.format)}, expected ${FORMAT})`);
  if (sha256(meta.progress ?? '', dataSection(bytes)) !== meta.sha256) throw new ConfigError(`${path}: the contents do not match the checkpoint's sha256: the file is corrupt or was edited`);
  let stored: Stored;
  try {
    stored = JSON.parse(meta.progress ?? '') as Stored;
  } catch {
    throw new ConfigError(`${path}: the progress record in the metadata is not JSON`);
  }
  for (const k of ['step', 'epoch', 'batchInEpoch', 'dropoutOffset', 'logLines', 'adamStep'] as const) {
    if (!Number.isInteger(stored[k]) || stored[k] < 0) throw new ConfigError(`${path}: progress field ${k} is ${JSON.stringify(stored[k])}, not a count`);
  }
  if (typeof stored.fingerprint !== 'string' || !Array.isArray(stored.statUpdates)) throw new ConfigError(`${path}: the progress record lacks its options or statistics counts`);
  const ev = stored.lastEval;
  if (ev != null && (!Number.isInteger(ev.step) || ev.step < 0 || ev.step > stored.step || typeof ev.metrics !== 'object' || ev.metrics === null)) {
    throw new ConfigError(`${path}: progress field lastEval is ${JSON.stringify(ev)}, not an evaluation at or before step ${stored.step}`);
  }
  return { file, stored };
}

/**
 * Restore a run's state saved by saveCheckpoint into a model, adapters and optimiser set up alike. Every
 * trainable parameter must be there, with its moments once the optimiser has stepped, and nothing else;
 * a checkpoint of other options is refused naming the options that differ.
 */
export function loadCheckpoint(dir: string, model: Module, adapters: readonly LoraAdapter[], opt: AdamW, fingerprint: string): Progress {
  const { file, stored } = readCheckpoint(dir);
  const where = file.fileName;
  if (stored.fingerprint !== fingerprint) {
    throw new ConfigError(`${where}: this checkpoint was made with other options: ${differences(stored.fingerprint, fingerprint).join('; ')}; resume with the same options or use another --out`);
  }
  const params = new Map([...model.namedParameters()].filter(([, p]) => p.requiresGrad));
  const expected = new Set([...params.keys()].map((n) => `param.${n}`));
  if (stored.adamStep > 0) for (const n of params.keys()) expected.add(`adam_m.${n}`).add(`adam_v.${n}`);
  for (const ad of adapters) if (ad.stats) expected.add(`stats.${ad.name}`);
  const missing = [...expected].filter((n) => !file.tensors.has(n));
  if (missing.length) throw new ConfigError(`${where}: missing ${missing.length} tensor(s): ${missing.slice(0, 5).join(', ')}`);
  // read and check everything before changing anything, so a refused checkpoint leaves the run as it was
  const made: Tensor[] = [];
  let plan: (() => void)[];
  try {
    plan = restorePlan(file, params, adapters, opt, made);
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
  for (const apply of plan) apply();
  opt.step = stored.adamStep;
  adapters.forEach((a, i) => (a.statUpdates = stored.statUpdates[i] ?? 0));
  const { adamStep: _a, statUpdates: _s, ...progress } = stored;
  return progress;
}

/** One closure per stored tensor that puts it in place; every tensor read is also pushed to `made`. */
function restorePlan(file: SafetensorsFile, params: Map<string, Tensor>, adapters: readonly LoraAdapter[], opt: AdamW, made: Tensor[]): (() => void)[] {
  const where = file.fileName;
  const read = (name: string, like: Tensor) => {
    const info = file.info(name);
    if (info.shape.join() !== like.shape.join()) throw new ConfigError(`${where}: ${name} has shape [${info.shape.join(', ')}], the run's is [${like.shape.join(', ')}]`);
    const data = info.dtype === 'F64' ? file.getFloat64(name) : info.dtype === 'I32' ? file.getInt32(name) : file.getFloat32(name);
    if (!info.dtype.startsWith('I')) for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new ConfigError(`${where}: ${name} holds a non-finite value at element ${i}`);
    const t = tensor(data, { shape: info.shape, dtype: like.dtype, backend: like.backend });
    made.push(t);
    return t;
  };
  const plan: (() => void)[] = [];
  for (const name of file.tensors.keys()) {
    const [kind, ...rest] = name.split('.');
    const target = rest.join('.');
    if (kind === 'stats') {
      const ad = adapters.find((a) => a.name === target);
      if (!ad?.stats) throw new ConfigError(`${where}: ${name}: the run has no adapter statistics for ${target}`);
      const t = read(name, ad.stats);
      plan.push(() => ad.stats!.assignFrom(t));
      continue;
    }
    const p = params.get(target);
    if (!p) throw new ConfigError(`${where}: ${name} names no trainable parameter of the run`);
    const t = read(name, p);
    if (kind === 'param') plan.push(() => p.assignFrom(t));
    else if (kind === 'adam_m' || kind === 'adam_v') plan.push(() => opt.restoreMoment(p, kind === 'adam_m' ? 'm' : 'v', t));
    else if (kind === 'mask') plan.push(() => opt.setMask(p, t));
    else throw new ConfigError(`${where}: unknown state entry ${name}`);
  }
  return plan;
}
