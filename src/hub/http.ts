/**
 * Talking to the hub's `resolve` endpoint as huggingface_hub does: a HEAD request that follows only relative
 * redirects (a renamed repository) and reads the file's metadata from the answer — X-Repo-Commit,
 * X-Linked-Etag / ETag, X-Linked-Size / Content-Length, and for LFS files the CDN address in Location — then
 * a GET of that address. The token goes to the hub's own origin only, never to a CDN. The hub's error
 * headers (X-Error-Code: RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound) become HubErrors that
 * say what to do.
 */
import { HubError } from '../core/errors.ts';
import type { HubSettings } from './settings.ts';

export const USER_AGENT = 'prilora; node/' + process.versions.node;

export interface FileRef {
  repo: string;
  /** branch, tag, commit hash or refs/pr/N */
  revision: string;
  /** path inside the repository */
  file: string;
}

export interface FileMetadata {
  commit: string;
  /** normalised: no quotes, no W/ */
  etag: string;
  size: number | null;
  /** where the bytes are (the CDN for LFS files) */
  location: string;
}

export function resolveUrl(s: HubSettings, ref: FileRef): string {
  const file = ref.file.split('/').map(encodeURIComponent).join('/');
  return `${s.endpoint}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${file}`;
}

/** `org/name file`, `org/name@rev file` (a commit hash shortened to 10 digits). */
export const describeRef = (ref: FileRef) => {
  const rev = /^[0-9a-f]{40}$/.test(ref.revision) ? ref.revision.slice(0, 10) : ref.revision;
  return `${ref.repo}${rev === 'main' ? '' : `@${rev}`} ${ref.file}`;
};

const isRelative = (location: string) => !/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith('//');

/** A fetch failure (refused, unknown host, timeout, reset) as a HubError of code 'network'. */
export function networkError(e: unknown, url: string, what: string): HubError {
  if (e instanceof HubError) return e;
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const code = err.cause?.code;
  const timeout = err.name === 'TimeoutError' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT';
  const why = timeout ? 'timed out' : (code ?? err.cause?.message ?? err.message);
  return new HubError(`${what}: cannot reach ${new URL(url).origin} (${why})`, 'network');
}

export interface RequestOptions {
  headers: Record<string, string>;
  signal?: AbortSignal;
  /** follow every redirect (GET of the bytes); otherwise only relative ones (HEAD, as huggingface_hub) */
  followAll?: boolean;
  what: string;
  /** the origin that may receive the Authorization header */
  tokenOrigin?: string;
}

/** One request with redirects followed by hand; returns the last answer and its URL. */
export async function hubRequest(method: 'HEAD' | 'GET', url: string, o: RequestOptions): Promise<{ res: Response; url: string }> {
  let at = url;
  for (let hop = 0; ; hop++) {
    const headers = { ...o.headers };
    if (o.tokenOrigin && new URL(at).origin !== o.tokenOrigin) delete headers.authorization;
    let res: Response;
    try {
      res = await fetch(at, { method, headers, redirect: 'manual', signal: o.signal });
    } catch (e) {
      throw networkError(e, at, o.what);
    }
    const location = res.headers.get('location');
    if (res.status < 300 || res.status > 399 || !location || hop >= 10) return { res, url: at };
    if (!o.followAll && !isRelative(location)) return { res, url: at };
    await res.body?.cancel();
    at = new URL(location, at).toString();
  }
}

export interface ErrorContext {
  ref: FileRef;
  settings: HubSettings;
  url: string;
}

/** The hub's answer as a HubError when it is one (null for 2xx and 3xx). */
export function statusError(res: Response, c: ErrorContext): HubError | null {
  if (res.status < 400) return null;
  const { ref, settings: s } = c;
  const code = res.headers.get('x-error-code');
  const detail = res.headers.get('x-error-message');
  const page = `${s.endpoint}/${ref.repo}`;
  const token = s.token !== null;
  if (code === 'GatedRepo') {
    return new HubError(
      `${ref.repo} is a gated repository: ${token ? 'the account of HF_TOKEN has not been granted access' : 'it needs a token'}. ` +
        `Accept its conditions at ${page} while logged in, then set HF_TOKEN to a read token of that account (or run huggingface-cli login)`,
      'gated',
    );
  }
  if (code === 'RepoNotFound' || (res.status === 401 && code === null && !token)) {
    return new HubError(
      `${ref.repo}: no such repository on ${s.endpoint}, or it is private` +
        (token ? ' and HF_TOKEN has no access to it' : ': set HF_TOKEN to a token that can read it') + ' (the id is org/name, as in the address of its page)',
      'repo-not-found',
    );
  }
  if (code === 'RevisionNotFound') return new HubError(`${ref.repo} has no revision "${ref.revision}" (a branch, tag or commit hash; e.g. main)`, 'revision-not-found');
  if (code === 'EntryNotFound' || res.status === 404) return new HubError(`${ref.repo} has no file ${ref.file} at revision ${ref.revision}`, 'entry-not-found');
  if (res.status === 401) {
    return new HubError(`${s.endpoint} refused ${describeRef(ref)} (401${detail ? `: ${detail}` : ''}): ${token ? 'HF_TOKEN is not a valid token; make a new one at https://huggingface.co/settings/tokens' : 'set HF_TOKEN to a read token'}`, 'unauthorized');
  }
  if (res.status === 403) {
    return new HubError(`${s.endpoint} refused ${describeRef(ref)} (403${detail ? `: ${detail}` : ''}): the token's permissions do not cover this repository`, 'forbidden');
  }
  return new HubError(`${c.url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${detail ? ` (${detail})` : ''}`, 'http');
}

export function baseHeaders(s: HubSettings): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': USER_AGENT, 'accept-encoding': 'identity' };
  if (s.token) h.authorization = `Bearer ${s.token}`;
  return h;
}

const normaliseEtag = (etag: string) => etag.replace(/^W\//, '').replace(/^"|"$/g, '');

export type MetadataResult = { kind: 'found'; meta: FileMetadata } | { kind: 'missing'; commit: string | null; error: HubError };

/** huggingface_hub's get_hf_file_metadata: HEAD on the resolve URL. */
export async function fileMetadata(s: HubSettings, ref: FileRef): Promise<MetadataResult> {
  const url = resolveUrl(s, ref);
  const what = describeRef(ref);
  const { res, url: at } = await hubRequest('HEAD', url, {
    headers: baseHeaders(s), signal: AbortSignal.timeout(s.etagTimeoutMs), what, tokenOrigin: new URL(s.endpoint).origin,
  });
  const error = statusError(res, { ref, settings: s, url: at });
  if (error) {
    if (error.code === 'entry-not-found') return { kind: 'missing', commit: res.headers.get('x-repo-commit'), error };
    throw error;
  }
  const commit = res.headers.get('x-repo-commit');
  const etag = res.headers.get('x-linked-etag') ?? res.headers.get('etag');
  if (!commit || !etag) {
    throw new HubError(`${at}: the answer has no ${commit ? 'ETag' : 'X-Repo-Commit'} header, so ${s.endpoint} does not look like a HuggingFace hub (check HF_ENDPOINT)`, 'http');
  }
  const sizeHeader = res.headers.get('x-linked-size') ?? res.headers.get('content-length');
  const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : null;
  const location = res.status >= 300 && res.headers.get('location') ? new URL(res.headers.get('location')!, at).toString() : at;
  return { kind: 'found', meta: { commit, etag: normaliseEtag(etag), size, location } };
}
