/**
 * One file of a hub repository into the shared cache (huggingface_hub's hf_hub_download): metadata from a
 * HEAD request, the bytes into `blobs/<etag>.incomplete` (resumed with a Range request after an interrupted
 * transfer, within the call and across runs), checked against the etag (sha256 for LFS files, git's blob
 * sha1 for the others) before they become `blobs/<etag>`, then `snapshots/<commit>/<file>` links to it.
 * A cached file is checked against its blob's name each time it is used. Offline (HF_HUB_OFFLINE) or with
 * the hub unreachable, the cache answers alone.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, statfsSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { HubError } from '../core/errors.ts';
import { COMMIT_HASH, RepoCache, verifyBlob } from './cache.ts';
import { baseHeaders, describeRef, fileMetadata, hubRequest, networkError, statusError, type FileMetadata, type FileRef } from './http.ts';
import { hubSettings, type HubSettings } from './settings.ts';

export interface FileProgress {
  repo: string;
  file: string;
  /** bytes in the cache so far, resumed ones included */
  received: number;
  total: number | null;
  /** bytes that were already there when this transfer started */
  resumedFrom: number;
  done: boolean;
}

export interface HubOptions {
  /** default: hubSettings() of process.env */
  settings?: HubSettings;
  onProgress?: (p: FileProgress) => void;
  /** lines for the user: a cache used because the hub is unreachable, a corrupt file downloaded again */
  note?: (line: string) => void;
  /** how often an interrupted transfer is resumed within one call (default 5) */
  retries?: number;
  /** the wait before the first resume, doubling after (default 500 ms) */
  retryDelayMs?: number;
}

class Interrupted extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** Downloads in flight in this process, by blob path (two loads of one model share one transfer). */
const inFlight = new Map<string, Promise<void>>();

/**
 * The local path of `ref.file` at `ref.revision` (a path inside snapshots/<commit>/), downloading it
 * into the cache when it is not there.
 */
export async function hubFile(ref: FileRef, o: HubOptions = {}): Promise<string> {
  const s = o.settings ?? hubSettings();
  const cache = new RepoCache(s.cacheDir, ref.repo);
  if (s.offline) return fromCache(cache, ref, s, 'offline', o);
  if (COMMIT_HASH.test(ref.revision)) {
    // a commit never changes: what the cache holds for it (or knows is absent) needs no request
    const hit = cache.lookup(ref.revision, ref.file);
    if (hit.kind === 'no-exist') return fromCache(cache, ref, s, null, o);
    if (hit.kind === 'file') {
      if (hit.etag === null || (await verifyBlob(hit.path, hit.etag)).ok) return hit.path;
      o.note?.(`${describeRef(ref)}: the cached copy ${cache.blob(hit.etag)} does not match its hash (corrupt); downloading it again`);
      cache.discard(hit.etag, ref.revision, ref.file);
    }
  }
  let m;
  try {
    m = await fileMetadata(s, ref);
  } catch (e) {
    if (e instanceof HubError && e.code === 'network') return fromCache(cache, ref, s, e, o);
    throw e;
  }
  if (m.kind === 'missing') {
    if (m.commit && COMMIT_HASH.test(m.commit)) {
      cache.markNoExist(m.commit, ref.file);
      cache.writeRef(ref.revision, m.commit);
    }
    throw m.error;
  }
  const meta = m.meta;
  cache.writeRef(ref.revision, meta.commit);
  const hit = cache.lookup(meta.commit, ref.file);
  if (hit.kind === 'file' && hit.etag === meta.etag) {
    if ((await verifyBlob(hit.path, meta.etag)).ok) return hit.path;
    o.note?.(`${describeRef(ref)}: the cached copy ${cache.blob(meta.etag)} does not match its hash (corrupt); downloading it again`);
    cache.discard(meta.etag, meta.commit, ref.file);
  } else if (hit.kind === 'file' && hit.etag === null) {
    return hit.path; // a copied file (no symlinks there): nothing names its hash
  } else if (existsSync(cache.blob(meta.etag))) {
    if ((await verifyBlob(cache.blob(meta.etag), meta.etag)).ok) return cache.link(meta.commit, ref.file, meta.etag);
    o.note?.(`${describeRef(ref)}: the cached blob ${cache.blob(meta.etag)} does not match its hash (corrupt); downloading it again`);
    cache.discard(meta.etag);
  }
  const blob = cache.blob(meta.etag);
  let pending = inFlight.get(blob);
  if (!pending) {
    pending = withLock(cache.lock(meta.etag), o, async () => {
      if (!existsSync(blob)) await download(cache, ref, meta, s, o);
    }).finally(() => inFlight.delete(blob));
    inFlight.set(blob, pending);
  }
  await pending;
  return cache.link(meta.commit, ref.file, meta.etag);
}

/** The file from the cache alone (offline, or the hub unreachable), checked against its hash. */
async function fromCache(cache: RepoCache, ref: FileRef, s: HubSettings, why: 'offline' | HubError | null, o: HubOptions): Promise<string> {
  const commit = cache.commitFor(ref.revision);
  const hit = commit ? cache.lookup(commit, ref.file) : { kind: 'absent' as const };
  if (hit.kind === 'file') {
    if (hit.etag !== null && !(await verifyBlob(hit.path, hit.etag)).ok) {
      throw new HubError(
        `${describeRef(ref)}: the cached file ${cache.blob(hit.etag)} does not match its hash (corrupt). Delete it and ${hit.path}, ` +
          `then run again with the network on${s.offline ? ' (HF_HUB_OFFLINE unset)' : ''} to download it anew`,
        'corrupted',
      );
    }
    if (why instanceof HubError) o.note?.(`${why.message}: using the cached ${ref.file} of ${ref.repo} (commit ${commit!.slice(0, 10)})`);
    return hit.path;
  }
  if (hit.kind === 'no-exist') throw new HubError(`${ref.repo} has no file ${ref.file} at revision ${ref.revision} (recorded in the cache when the hub said so)`, 'entry-not-found');
  const where = commit ? `snapshots/${commit.slice(0, 10)}… of ${cache.root}` : `${cache.root} has no refs/${ref.revision}`;
  if (why === 'offline') {
    throw new HubError(
      `${describeRef(ref)} is not in the cache (${where}) and HF_HUB_OFFLINE is set: unset it to download, or fill the cache where there is ` +
        `network (python -c "from huggingface_hub import snapshot_download; snapshot_download('${ref.repo}')") and point HF_HOME or HF_HUB_CACHE at it`,
      'offline',
    );
  }
  throw new HubError(`${(why as HubError).message}, and ${describeRef(ref)} is not in the cache (${where}): check the connection or HF_ENDPOINT (${s.endpoint}), or set HF_HOME / HF_HUB_CACHE to a cache that holds it`, 'network');
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** A lock file between processes of this project (pid inside; a dead holder's lock is taken over). */
async function withLock(path: string, o: HubOptions, fn: () => Promise<void>): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  for (let waited = false; ; ) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(existsSync(path) ? readFileSync(path, 'utf8') : NaN);
      if (!Number.isInteger(pid) || pid === process.pid || !alive(pid)) {
        rmSync(path, { force: true });
        continue;
      }
      if (!waited) o.note?.(`waiting for process ${pid}, which is downloading the same file (lock ${path})`);
      waited = true;
      await sleep(250);
    }
  }
  try {
    await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

function ensureSpace(dir: string, needed: number, ref: FileRef): void {
  let free: number;
  try {
    const st = statfsSync(dir);
    free = Number(st.bavail) * Number(st.bsize);
  } catch {
    return;
  }
  if (needed > free) {
    throw new HubError(`${describeRef(ref)} needs ${mb(needed)} more, and the disk of ${dir} has ${mb(free)} free: free space, or set HF_HUB_CACHE (or HF_HOME) to a disk with room`, 'disk-full');
  }
}

async function download(cache: RepoCache, ref: FileRef, meta: FileMetadata, s: HubSettings, o: HubOptions): Promise<void> {
  const part = cache.incomplete(meta.etag);
  mkdirSync(dirname(part), { recursive: true });
  const retries = o.retries ?? 5;
  for (let failures = 0; ; ) {
    let have = existsSync(part) ? statSync(part).size : 0;
    if (meta.size !== null && have > meta.size) {
      truncateSync(part, 0);
      have = 0;
    }
    if (meta.size === null || have < meta.size || have === 0) {
      ensureSpace(dirname(part), meta.size === null ? 0 : meta.size - have, ref);
      try {
        await transfer(part, have, ref, meta, s, o);
      } catch (e) {
        if (!(e instanceof Interrupted)) throw e;
        const at = existsSync(part) ? statSync(part).size : 0;
        if (++failures > retries) {
          throw new HubError(
            `${describeRef(ref)}: the download broke off ${failures} times (last at ${mb(at)}${meta.size === null ? '' : ` of ${mb(meta.size)}`}: ${e.message}); ` +
              `what arrived stays in ${part} and the next run resumes from there`,
            'network',
          );
        }
        await sleep(Math.min((o.retryDelayMs ?? 500) * 2 ** (failures - 1), 8000));
        continue;
      }
    }
    const size = statSync(part).size;
    if (meta.size !== null && size < meta.size) {
      if (++failures > retries) throw new HubError(`${describeRef(ref)}: the transfers keep ending early (${size} of ${meta.size} bytes); ${part} is kept for the next run`, 'network');
      continue;
    }
    break;
  }
  const { ok, actual } = await verifyBlob(part, meta.etag);
  if (!ok || (meta.size !== null && statSync(part).size !== meta.size)) {
    rmSync(part, { force: true });
    throw new HubError(
      `${describeRef(ref)}: the downloaded bytes do not match the hub's ${meta.etag.length === 64 ? 'sha256' : 'git hash'} ${meta.etag} (got ${actual}); ` +
        'the corrupt download was removed: run again (if it repeats, something between here and the hub alters the file)',
      'corrupted',
    );
  }
  renameSync(part, cache.blob(meta.etag));
}

/** One GET of the bytes from `have` on, appended to `part`; Interrupted when the transfer breaks. */
async function transfer(part: string, have: number, ref: FileRef, meta: FileMetadata, s: HubSettings, o: HubOptions): Promise<void> {
  const what = describeRef(ref);
  const ctrl = new AbortController();
  let timer = setTimeout(() => ctrl.abort(), s.downloadTimeoutMs);
  const poke = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctrl.abort(), s.downloadTimeoutMs);
  };
  const headers = baseHeaders(s);
  if (have > 0) headers.range = `bytes=${have}-`;
  let res: Response, url: string;
  try {
    ({ res, url } = await hubRequest('GET', meta.location, { headers, signal: ctrl.signal, followAll: true, what, tokenOrigin: new URL(s.endpoint).origin }));
  } catch (e) {
    clearTimeout(timer);
    throw new Interrupted((e as Error).message);
  }
  let start = have;
  if (res.status === 416 || (res.status === 206 && !new RegExp(`^bytes ${have}-`).test(res.headers.get('content-range') ?? ''))) {
    clearTimeout(timer);
    await res.body?.cancel();
    truncateSync(part, 0);
    throw new Interrupted(`the server could not resume at byte ${have}`);
  }
  if (res.status >= 500) {
    clearTimeout(timer);
    await res.body?.cancel();
    throw new Interrupted(`HTTP ${res.status}`);
  }
  const error = statusError(res, { ref, settings: s, url });
  if (error) {
    clearTimeout(timer);
    throw error;
  }
  if (res.status === 200) start = 0; // the whole file (a server that ignores Range starts over)
  const fd = openSync(part, start === 0 ? 'w' : 'a');
  let received = start;
  let last = 0;
  const tell = (done: boolean) => o.onProgress?.({ repo: ref.repo, file: ref.file, received, total: meta.size, resumedFrom: start, done });
  tell(false);
  try {
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        poke();
        for (let off = 0; off < chunk.length; ) {
          try {
            off += writeSync(fd, chunk, off, chunk.length - off);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
            throw new HubError(
              `no space left on the disk of ${part} while downloading ${what} (${mb(received)}${meta.size === null ? '' : ` of ${mb(meta.size)}`} written; ` +
                'they stay there and the next run resumes from them): free space, or set HF_HUB_CACHE (or HF_HOME) to a disk with room',
              'disk-full',
            );
          }
        }
        received += chunk.length;
        if (Date.now() - last > 100) {
          last = Date.now();
          tell(false);
        }
      }
    }
  } catch (e) {
    if (e instanceof HubError) throw e;
    throw new Interrupted(ctrl.signal.aborted ? `no data for ${s.downloadTimeoutMs / 1000} s` : networkError(e, url, what).message);
  } finally {
    clearTimeout(timer);
    closeSync(fd);
  }
  tell(true);
}
