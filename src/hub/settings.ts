/**
 * Where the hub is and where its cache lives, read from the environment exactly as huggingface_hub reads
 * it (`huggingface_hub/constants.py`), so that Python and this project share one cache and one login:
 * HF_HOME (default `$XDG_CACHE_HOME/huggingface`, i.e. `~/.cache/huggingface`), HF_HUB_CACHE (default
 * `$HF_HOME/hub`), HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN (else the token file `huggingface-cli login`
 * writes, `$HF_HOME/token`), HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT (seconds) and
 * HF_HUB_DISABLE_PROGRESS_BARS.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface HubSettings {
  /** e.g. https://huggingface.co (no trailing slash) */
  endpoint: string;
  /** the hub cache: `<cacheDir>/models--org--name/{blobs,refs,snapshots}` */
  cacheDir: string;
  /** HF_HUB_OFFLINE: never reach the network, use the cache only */
  offline: boolean;
  token: string | null;
  /** milliseconds to wait for the answer to a metadata (HEAD) request */
  etagTimeoutMs: number;
  /** milliseconds a download may go without receiving a byte */
  downloadTimeoutMs: number;
  progressBars: boolean;
}

const truthy = (v: string | undefined) => v !== undefined && ['1', 'on', 'yes', 'true'].includes(v.trim().toLowerCase());
const expand = (p: string) => (p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p);
const seconds = (v: string | undefined, fallback: number) => {
  const n = Number(v);
  return v !== undefined && v.trim() !== '' && Number.isFinite(n) && n > 0 ? n * 1000 : fallback * 1000;
};

/** The settings the environment gives (process.env by default). */
// a plain record, not NodeJS.ProcessEnv, so that the published types do not need @types/node
export function hubSettings(env: Record<string, string | undefined> = process.env): HubSettings {
  const home = expand(env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface'));
  const cacheDir = expand(env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || join(home, 'hub'));
  const tokenFile = expand(env.HF_TOKEN_PATH || join(home, 'token'));
  let token: string | null = (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || '').trim() || null;
  if (token === null && existsSync(tokenFile)) token = readFileSync(tokenFile, 'utf8').trim() || null;
  return {
    endpoint: (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, ''),
    cacheDir,
    offline: truthy(env.HF_HUB_OFFLINE) || truthy(env.TRANSFORMERS_OFFLINE),
    token,
    etagTimeoutMs: seconds(env.HF_HUB_ETAG_TIMEOUT, 10),
    downloadTimeoutMs: seconds(env.HF_HUB_DOWNLOAD_TIMEOUT, 10),
    progressBars: !truthy(env.HF_HUB_DISABLE_PROGRESS_BARS),
  };
}
