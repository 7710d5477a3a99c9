/**
 * A HuggingFace hub on 127.0.0.1 for tests: the `resolve` endpoint as the hub answers it (HEAD and GET;
 * X-Repo-Commit, ETag = git blob sha1 for small files, X-Linked-Etag = sha256 + X-Linked-Size and a 302 to
 * a CDN origin for LFS files; X-Error-Code RepoNotFound / GatedRepo / RevisionNotFound / EntryNotFound;
 * relative redirects for renamed repositories) and a second server as the CDN (Range requests, and on
 * request a transfer cut off midway or bytes altered). Every request is logged.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  /** 40 hex digits */
  commit: string;
  files: Record<string, Uint8Array>;
  /** a token that must be sent (gated repository) */
  gatedToken?: string;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range: string | null;
  auth: string | null;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const commitOf = (name: string) => createHash('sha1').update(name).digest('hex');

const isLfs = (file: string, bytes: Uint8Array) => file.endsWith('.safetensors') || file.endsWith('.bin') || bytes.length > 10_000;

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  /** old id → new id: the hub answers with a relative redirect */
  readonly renamed = new Map<string, string>();
  readonly log: LoggedRequest[] = [];
  /** sha256 of blobs whose next CDN transfer stops after this many bytes (then the socket is destroyed) */
  readonly cutAfter = new Map<string, number>();
  /** sha256 of blobs the CDN serves with one byte altered */
  readonly corrupt = new Set<string>();
  private hub!: Server;
  private cdn!: Server;
  endpoint = '';
  cdnOrigin = '';

  private readonly blobs = new Map<string, Uint8Array>();

  add(repo: string, files: Record<string, Uint8Array>, o: { gatedToken?: string } = {}): FakeRepo {
    const r: FakeRepo = { commit: commitOf(repo + JSON.stringify(Object.keys(files))), files, gatedToken: o.gatedToken };
    this.repos.set(repo, r);
    for (const b of Object.values(files)) this.blobs.set(sha256(b), b);
    return r;
  }

  async start(): Promise<this> {
    this.hub = createServer((q, s) => this.serveHub(q, s));
    this.cdn = createServer((q, s) => this.serveCdn(q, s));
    const listen = (srv: Server) => new Promise<number>((res) => srv.listen(0, '127.0.0.1', () => res((srv.address() as AddressInfo).port)));
    this.endpoint = `http://127.0.0.1:${await listen(this.hub)}`;
    this.cdnOrigin = `http://127.0.0.1:${await listen(this.cdn)}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const srv of [this.hub, this.cdn]) {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  }

  requests(server: 'hub' | 'cdn', method?: string): LoggedRequest[] {
    return this.log.filter((r) => r.server === server && (!method || r.method === method));
  }

  private record(server: 'hub' | 'cdn', q: IncomingMessage): void {
    this.log.push({ server, method: q.method!, path: decodeURIComponent(q.url!), range: q.headers.range ?? null, auth: q.headers.authorization ?? null });
  }

  private serveHub(q: IncomingMessage, s: ServerResponse): void {
    this.record('hub', q);
    const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(q.url!.split('?')[0]);
    if (!m) return void s.writeHead(404).end();
    const [, repoId, rawRev, rawFile] = m;
    const revision = decodeURIComponent(rawRev);
    const file = rawFile.split('/').map(decodeURIComponent).join('/');
    const moved = this.renamed.get(repoId);
    if (moved) return void s.writeHead(307, { location: `/${moved}/resolve/${rawRev}/${rawFile}` }).end();
    const repo = this.repos.get(repoId);
    if (!repo) return void s.writeHead(401, { 'x-error-code': 'RepoNotFound', 'x-error-message': 'Repository not found' }).end();
    if (repo.gatedToken && q.headers.authorization !== `Bearer ${repo.gatedToken}`) {
      return void s.writeHead(401, { 'x-error-code': 'GatedRepo', 'x-error-message': 'Access to this model is restricted' }).end();
    }
    if (revision !== 'main' && revision !== repo.commit) return void s.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end();
    const bytes = repo.files[file];
    if (!bytes) return void s.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': repo.commit }).end();
    if (isLfs(file, bytes)) {
      const sha = sha256(bytes);
      return void s.writeHead(302, {
        location: `${this.cdnOrigin}/lfs/${sha}?expires=never`, 'x-repo-commit': repo.commit,
        'x-linked-etag': `"${sha}"`, 'x-linked-size': String(bytes.length), etag: `"${gitSha1(new TextEncoder().encode(`version lfs ${sha}`))}"`,
      }).end();
    }
    s.writeHead(200, { 'x-repo-commit': repo.commit, etag: `"${gitSha1(bytes)}"`, 'content-length': String(bytes.length) });
    s.end(q.method === 'HEAD' ? undefined : Buffer.from(bytes));
  }

  private serveCdn(q: IncomingMessage, s: ServerResponse): void {
    this.record('cdn', q);
    const m = /^\/lfs\/([0-9a-f]{64})/.exec(q.url!);
    const original = m ? this.blobs.get(m[1]) : undefined;
    if (!m || !original) return void s.writeHead(404).end();
    let bytes = original;
    if (this.corrupt.has(m[1])) {
      bytes = Uint8Array.from(original);
      bytes[bytes.length >> 1] ^= 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(q.headers.range ?? '');
    if (range) start = Number(range[1]);
    if (start >= bytes.length && bytes.length > 0) return void s.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
    const body = bytes.subarray(start);
    s.writeHead(range ? 206 : 200, {
      'content-length': String(body.length), 'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    const cut = this.cutAfter.get(m[1]);
    if (cut !== undefined && cut < body.length) {
      this.cutAfter.delete(m[1]);
      s.write(Buffer.from(body.subarray(0, cut)), () => setTimeout(() => s.socket?.destroy(), 20));
      return;
    }
    s.end(Buffer.from(body));
  }
}

/** A port on 127.0.0.1 that nothing listens on (a hub that cannot be reached). */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  const port = await new Promise<number>((res) => srv.listen(0, '127.0.0.1', () => res((srv.address() as AddressInfo).port)));
  await new Promise((r) => srv.close(r));
  return port;
}
