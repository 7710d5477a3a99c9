/**
 * Checkpoints saved in shards (transformers' `model.safetensors.index.json` + `model-0000k-of-0000n.safetensors`)
 * read as one: the index's weight_map says which shard holds which tensor; every shard's header is
 * validated, and a tensor the index places in a shard that lacks it (or two shards that both hold one) is an
 * error naming the files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FormatError } from '../core/errors.ts';
import { readSafetensorsFile, type SafetensorInfo, type SafetensorsFile } from './safetensors.ts';

/** What checkpoint loaders read: one safetensors file, or shards seen as one. */
export interface TensorSource {
  readonly fileName: string;
  readonly tensors: ReadonlyMap<string, SafetensorInfo>;
  info(name: string): SafetensorInfo;
  getFloat32(name: string): Float32Array;
  getFloat64(name: string): Float64Array;
  getInt32(name: string): Int32Array;
}

export class ShardedSafetensors implements TensorSource {
  readonly tensors = new Map<string, SafetensorInfo>();
  private readonly owner = new Map<string, SafetensorsFile>();

  constructor(readonly fileName: string) {
    let index: { weight_map?: Record<string, unknown> };
    try {
      index = JSON.parse(readFileSync(fileName, 'utf8')) as typeof index;
    } catch (e) {
      throw new FormatError(`${fileName}: not a readable JSON index (${(e as Error).message})`);
    }
    const map = index.weight_map;
    if (!map || typeof map !== 'object') throw new FormatError(`${fileName}: no weight_map object`);
    const shards = new Map<string, SafetensorsFile>();
    for (const [name, shard] of Object.entries(map)) {
      if (typeof shard !== 'string' || shard.split(/[\\/]/).includes('..')) throw new FormatError(`${fileName}: weight_map[${JSON.stringify(name)}] is not a shard file name`);
      let file = shards.get(shard);
      if (!file) {
        const path = join(dirname(fileName), shard);
        if (!existsSync(path)) throw new FormatError(`${fileName}: names the shard ${shard}, which is not in ${dirname(fileName)}`);
        file = readSafetensorsFile(path);
        shards.set(shard, file);
      }
      const info = file.tensors.get(name);
      if (!info) throw new FormatError(`${fileName}: places ${name} in ${shard}, which does not hold it`);
      this.tensors.set(name, info);
      this.owner.set(name, file);
    }
    for (const [shard, file] of shards) {
      for (const name of file.tensors.keys()) {
        if (this.owner.get(name) !== file) throw new FormatError(`${join(dirname(fileName), shard)}: holds ${name}, which the index places elsewhere or not at all`);
      }
    }
  }

  private file(name: string): SafetensorsFile {
    const f = this.owner.get(name);
    if (!f) throw new FormatError(`${this.fileName}: no tensor named ${JSON.stringify(name)} in the index`);
    return f;
  }

  info(name: string): SafetensorInfo {
    return this.file(name).info(name);
  }

  getFloat32(name: string): Float32Array {
    return this.file(name).getFloat32(name);
  }

  getFloat64(name: string): Float64Array {
    return this.file(name).getFloat64(name);
  }

  getInt32(name: string): Int32Array {
    return this.file(name).getInt32(name);
  }
}
