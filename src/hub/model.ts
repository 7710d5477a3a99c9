/**
 * Hub ids for `--model` and `--adapter`: `org/name` (or a legacy one-word id such as `bert-base-uncased`)
 * with an optional `@revision` (a branch, tag, commit hash or `refs/pr/N`). A model is config.json, its
 * weights as model.safetensors or the shards its index names, and the tokenizer files; nothing else is
 * fetched (pickled `pytorch_model.bin` files are never loaded: a repository holding only those gets a
 * message saying so). Everything comes from one commit, so the files land in one snapshot directory, which
 * is what the loaders read.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ConfigError, HubError } from '../core/errors.ts';
import { COMMIT_HASH, RepoCache } from './cache.ts';
import { hubFile, type HubOptions } from './download.ts';
import { fileMetadata, type FileRef } from './http.ts';
import { hubSettings } from './settings.ts';

export interface HubRef {
  repo: string;
  revision: string;
}

/** Files a tokenizer may need (transformers' AutoTokenizer reads these); each is optional. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'spm.model', 'added_tokens.json'] as const;

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;

/** `org/name[@revision]` → its parts; null when the string cannot be a hub id. */
export function parseHubId(s: string): HubRef | null {
  const at = s.indexOf('@');
  const id = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? 'main' : s.slice(at + 1);
  if (!revision || /\s/.test(revision) || revision.split('/').some((p) => p === '' || p === '.' || p === '..')) return null;
  const parts = id.split('/');
  if (parts.length > 2 || !parts.every((p) => NAME.test(p) && !p.includes('--') && !p.includes('..'))) return null;
  return { repo: id, revision };
}

/** The hub id of a snapshot directory of the cache (`…/models--org--name/snapshots/<commit>`), or null. */
export function hubIdOfSnapshot(dir: string): { repo: string; commit: string } | null {
  const m = /(?:^|[\\/])models--([^\\/]+)[\\/]snapshots[\\/]([0-9a-f]{40})[\\/]?$/.exec(resolve(dir));
  return m ? { repo: m[1].split('--').join('/'), commit: m[2] } : null;
}

type Need = 'required' | 'weights' | 'optional';

/** The file's path, or null when the repository does not have it (optional files also when offline and not cached). */
async function maybe(ref: FileRef, need: Need, o: HubOptions): Promise<string | null> {
  try {
    return await hubFile(ref, o);
  } catch (e) {
    if (!(e instanceof HubError) || need === 'required') throw e;
    if (e.code === 'entry-not-found') return null;
    if (need === 'optional' && (e.code === 'offline' || e.code === 'network')) return null;
    throw e;
  }
}

/** Whether the repository has `file`, asked without downloading it (from the cache when offline). */
async function has(ref: FileRef, o: HubOptions): Promise<boolean> {
  const s = o.settings ?? hubSettings();
  const cache = new RepoCache(s.cacheDir, ref.repo);
  const commit = cache.commitFor(ref.revision);
  if (commit && existsSync(cache.pointer(commit, ref.file))) return true;
  if (s.offline) return false;
  try {
    return (await fileMetadata(s, ref)).kind === 'found';
  } catch {
    return false;
  }
}

export interface HubModel {
  /** the snapshot directory: config.json, the weights and the tokenizer files side by side */
  dir: string;
  commit: string;
  files: string[];
}

/** A model repository's config, weights and tokenizer files, fetched into the cache as needed. */
export async function hubModel(ref: HubRef, o: HubOptions = {}): Promise<HubModel> {
  const config = await hubFile({ ...ref, file: 'config.json' }, o);
  const commit = basename(dirname(config));
  const at = (file: string): FileRef => ({ repo: ref.repo, revision: COMMIT_HASH.test(commit) ? commit : ref.revision, file });
  const files = ['config.json'];
  if (await maybe(at('model.safetensors'), 'weights', o)) files.push('model.safetensors');
  else {
    const index = await maybe(at('model.safetensors.index.json'), 'weights', o);
    if (!index) throw await noWeights(ref, at, o);
    files.push('model.safetensors.index.json');
    for (const shard of shardNames(index)) {
      await hubFile(at(shard), o);
      files.push(shard);
    }
  }
  for (const f of TOKENIZER_FILES) if (await maybe(at(f), 'optional', o)) files.push(f);
  return { dir: dirname(config), commit, files };
}

/** The shard files a model.safetensors.index.json names (in first-use order). */
export function shardNames(indexPath: string): string[] {
  let index: { weight_map?: Record<string, string> };
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8')) as typeof index;
  } catch (e) {
    throw new ConfigError(`${indexPath}: not JSON (${(e as Error).message})`);
  }
  if (!index.weight_map || typeof index.weight_map !== 'object') throw new ConfigError(`${indexPath}: no weight_map`);
  const names = [...new Set(Object.values(index.weight_map))];
  const bad = names.find((n) => typeof n !== 'string' || !n.endsWith('.safetensors') || n.split('/').includes('..'));
  if (bad !== undefined) throw new ConfigError(`${indexPath}: weight_map names ${JSON.stringify(bad)}, not a .safetensors file of the repository`);
  return names;
}

async function noWeights(ref: HubRef, at: (f: string) => FileRef, o: HubOptions): Promise<HubError> {
  const pickled = (await has(at('pytorch_model.bin'), o)) || (await has(at('pytorch_model.bin.index.json'), o));
  const id = `${ref.repo}${ref.revision === 'main' ? '' : `@${ref.revision}`}`;
  if (pickled) {
    return new HubError(
      `${id} has its weights only as pytorch_model.bin, a Python pickle, which prilora does not load (unpickling can run code). ` +
        `Convert it once: python -c "from transformers import AutoModel; AutoModel.from_pretrained('${ref.repo}').save_pretrained('DIR', safe_serialization=True)" ` +
        `and pass --model DIR, or use a revision with model.safetensors (the hub's conversion bot often offers one as a pull request: --model ${ref.repo}@refs/pr/N)`,
      'unsupported',
    );
  }
  return new HubError(`${id} has no model.safetensors (nor model.safetensors.index.json): is it a model repository?`, 'entry-not-found');
}

/** A PEFT adapter repository: adapter_config.json + adapter_model.safetensors. */
export async function hubAdapter(ref: HubRef, o: HubOptions = {}): Promise<string> {
  const config = await hubFile({ ...ref, file: 'adapter_config.json' }, o);
  const commit = basename(dirname(config));
  const at = (file: string): FileRef => ({ repo: ref.repo, revision: commit, file });
  if (!(await maybe(at('adapter_model.safetensors'), 'weights', o))) {
    const pickled = await has(at('adapter_model.bin'), o);
    throw new HubError(
      pickled
        ? `${ref.repo} has its adapter only as adapter_model.bin, a Python pickle, which prilora does not load: save it again with PEFT's save_pretrained(DIR, safe_serialization=True)`
        : `${ref.repo} has adapter_config.json but no adapter_model.safetensors`,
      pickled ? 'unsupported' : 'entry-not-found',
    );
  }
  return dirname(config);
}

export interface Resolved {
  dir: string;
  /** set when the directory came from the hub */
  hub: (HubRef & { commit: string }) | null;
}

/**
 * A `--model` / `--adapter` value: an existing directory as it is, else a hub id fetched into the cache.
 * ConfigErrors name `field`.
 */
export async function resolveModelSource(value: string, kind: 'model' | 'adapter', o: HubOptions & { field?: string } = {}): Promise<Resolved> {
  const field = o.field ?? kind;
  if (existsSync(value)) {
    if (!statSync(value).isDirectory()) throw new ConfigError(`${field} ${value} is a file; give the directory that holds it`, field);
    return { dir: resolve(value), hub: null };
  }
  const ref = parseHubId(value);
  if (!ref) throw new ConfigError(`${field} ${value}: no such directory, and not a hub id (org/name or org/name@revision)`, field);
  try {
    if (kind === 'model') {
      const m = await hubModel(ref, o);
      return { dir: m.dir, hub: { ...ref, commit: m.commit } };
    }
    const dir = await hubAdapter(ref, o);
    return { dir, hub: { ...ref, commit: basename(dir) } };
  } catch (e) {
    if (e instanceof HubError && e.code === 'repo-not-found') throw new HubError(`${e.message}; nor is there a directory ${value} here`, e.code);
    throw e;
  }
}
