/**
 * huggingface_hub's cache layout, read and written as Python reads and writes it (`file_download.py`):
 *
 *   <cache>/models--org--name/blobs/<etag>              the bytes; etag = sha256 (LFS) or git blob sha1
 *   <cache>/models--org--name/blobs/<etag>.incomplete   a download in progress (resumed from its size)
 *   <cache>/models--org--name/refs/<revision>           the commit a branch or tag pointed to (no newline)
 *   <cache>/models--org--name/snapshots/<commit>/<file> a relative symlink to ../../blobs/<etag>
 *   <cache>/models--org--name/.no_exist/<commit>/<file> an empty file: the hub said the file is not there
 *
 * A blob's name is its hash, so a cached file can always be checked against it (`verifyBlob`).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';

export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** `models--org--name`: the repository's folder name in the cache. */
export function repoFolderName(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}

export type CacheHit = { kind: 'file'; path: string; etag: string | null } | { kind: 'no-exist' } | { kind: 'absent' };

export class RepoCache {
  readonly root: string;

  constructor(
    readonly cacheDir: string,
    readonly repo: string,
  ) {
    this.root = join(cacheDir, repoFolderName(repo));
  }

  blob(etag: string): string {
    return join(this.root, 'blobs', etag);
  }

  incomplete(etag: string): string {
    return `${this.blob(etag)}.incomplete`;
  }

  pointer(commit: string, file: string): string {
    return join(this.root, 'snapshots', commit, ...file.split('/'));
  }

  snapshot(commit: string): string {
    return join(this.root, 'snapshots', commit);
  }

  /** This project's own lock beside Python's (`.locks/<repo folder>/<etag>.lock`, which Python flocks). */
  lock(etag: string): string {
    return join(this.cacheDir, '.locks', repoFolderName(this.repo), `${etag}.prilora-lock`);
  }

  private noExist(commit: string, file: string): string {
    return join(this.root, '.no_exist', commit, ...file.split('/'));
  }

  private ref(revision: string): string {
    return join(this.root, 'refs', ...revision.split('/'));
  }

  /** The commit of a revision: itself when it is a commit hash, else what refs/<revision> recorded. */
  commitFor(revision: string): string | null {
    if (COMMIT_HASH.test(revision)) return revision;
    const path = this.ref(revision);
    if (!existsSync(path) || !statSync(path).isFile()) return null;
    const commit = readFileSync(path, 'utf8').trim();
    return COMMIT_HASH.test(commit) ? commit : null;
  }

  /** Record that `revision` points to `commit` (Python writes the hash with no newline). */
  writeRef(revision: string, commit: string): void {
    if (revision === commit || this.commitFor(revision) === commit) return;
    const path = this.ref(revision);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.tmp${process.pid}`, commit);
    renameSync(`${path}.tmp${process.pid}`, path);
  }

  markNoExist(commit: string, file: string): void {
    const path = this.noExist(commit, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, '');
  }

  /** What the cache holds for `file` at `commit`: the file (and its blob's etag when it is a symlink), a recorded absence, or nothing. */
  lookup(commit: string, file: string): CacheHit {
    const pointer = this.pointer(commit, file);
    if (existsSync(pointer)) {
      const etag = lstatSync(pointer).isSymbolicLink() ? basename(readlinkSync(pointer)) : null;
      return { kind: 'file', path: pointer, etag };
    }
    return existsSync(this.noExist(commit, file)) ? { kind: 'no-exist' } : { kind: 'absent' };
  }

  /** snapshots/<commit>/<file> → ../../blobs/<etag>, relative as Python makes it (a copy where symlinks fail). */
  link(commit: string, file: string, etag: string): string {
    const pointer = this.pointer(commit, file);
    const blob = this.blob(etag);
    mkdirSync(dirname(pointer), { recursive: true });
    rmSync(pointer, { force: true });
    try {
      symlinkSync(relative(dirname(pointer), blob), pointer);
    } catch {
      copyFileSync(blob, pointer);
    }
    return pointer;
  }

  /** Remove a blob and the snapshot entry pointing at it (a corrupted file). */
  discard(etag: string, commit?: string, file?: string): void {
    rmSync(this.blob(etag), { force: true });
    if (commit && file) rmSync(this.pointer(commit, file), { force: true });
  }
}

/** How an etag names its content: sha256 for LFS files (64 hex digits), git's blob sha1 for the others (40). */
export function etagKind(etag: string): 'sha256' | 'git-sha1' | null {
  if (/^[0-9a-f]{64}$/.test(etag)) return 'sha256';
  if (/^[0-9a-f]{40}$/.test(etag)) return 'git-sha1';
  return null;
}

/** The hash of a file in the etag's kind: sha256 of the bytes, or sha1 of `blob <size>\0` + the bytes. */
export async function fileHash(path: string, kind: 'sha256' | 'git-sha1'): Promise<string> {
  const h = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
  if (kind === 'git-sha1') h.update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Whether a blob's bytes hash to its etag (true when the etag is of no known kind: nothing to check). */
export async function verifyBlob(path: string, etag: string): Promise<{ ok: boolean; actual: string | null }> {
  const kind = etagKind(etag);
  if (!kind) return { ok: true, actual: null };
  const actual = await fileHash(path, kind);
  return { ok: actual === etag, actual };
}
