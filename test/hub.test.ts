/**
 * Hub ids and the shared HuggingFace cache, against a fake hub on 127.0.0.1 (test/fake-hub.ts): Python's
 * cache layout written and read, offline use of a cache laid out as Python lays it out, resumed transfers,
 * hash checks of downloads and of cached files, and the error for every way a download can fail.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubError } from '../src/core/errors.ts';
import { hubFile, type FileProgress } from '../src/hub/download.ts';
import { hubIdOfSnapshot, parseHubId, resolveModelSource } from '../src/hub/model.ts';
import { hubSettings } from '../src/hub/settings.ts';
import { readSafetensorsFile } from '../src/io/safetensors.ts';
import { loadSequenceClassifier } from '../src/nn/auto.ts';
import { readFixtureInputs, relativeError } from '../src/verify/fixture-check.ts';
import { closedPort, FakeHub, gitSha1, sha256 } from './fake-hub.ts';

const FIX = 'test/fixtures/hf/bert_cls';
const config = new Uint8Array(readFileSync(join(FIX, 'config.json')));
const weights = new Uint8Array(readFileSync(join(FIX, 'model.safetensors')));
const tokCfg = new TextEncoder().encode('{"do_lower_case": true}\n');

let hub: FakeHub;
const tmp = () => mkdtempSync(join(tmpdir(), 'prilora-hub-'));
const settings = (home: string, extra: Record<string, string> = {}) => hubSettings({ HF_HOME: home, HF_ENDPOINT: hub.endpoint, ...extra });

async function hubError(p: Promise<unknown>): Promise<HubError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HubError) return e;
    throw e;
  }
  throw new Error('expected a HubError');
}

/** Logits of a model directory on the fixture's inputs against the fixture's float64 reference. */
async function logitsError(dir: string): Promise<number> {
  const { model } = loadSequenceClassifier(dir);
  const inputs = readFixtureInputs(FIX, 'float32');
  const logits = await model.forward(inputs).logits.data();
  return relativeError(logits, readSafetensorsFile(join(FIX, 'full.safetensors')).getFloat64('logits'));
}

beforeAll(async () => {
  hub = await new FakeHub().start();
  hub.add('test-org/tiny-bert', { 'config.json': config, 'model.safetensors': weights, 'tokenizer_config.json': tokCfg });
  hub.add('test-org/gated-bert', { 'config.json': config, 'model.safetensors': weights }, { gatedToken: 'hf_granted' });
  hub.add('test-org/pickled', { 'config.json': config, 'pytorch_model.bin': new Uint8Array(20_000).fill(7) });
  hub.renamed.set('old-org/tiny-bert', 'test-org/tiny-bert');
  // the fixture's tensors in two shards with transformers' index
  const f = readSafetensorsFile(join(FIX, 'model.safetensors'));
  const { huggingFaceOrder, serializeSafetensors } = await import('../src/io/safetensors.ts');
  const names = [...f.tensors.keys()];
  const shard = (part: string[]) => new Uint8Array(serializeSafetensors(huggingFaceOrder(part.map((n) => ({ name: n, dtype: 'F32' as const, shape: f.info(n).shape, data: f.getFloat32(n) }))), { format: 'pt' }));
  const half = Math.ceil(names.length / 2);
  const [a, b] = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const map = Object.fromEntries(names.map((n, i) => [n, i < half ? a : b]));
  hub.add('test-org/sharded-bert', {
    'config.json': config, 'model.safetensors.index.json': new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: map })),
    [a]: shard(names.slice(0, half)), [b]: shard(names.slice(half)),
  });
});

afterAll(async () => {
  await hub.stop();
});

describe('hub ids', () => {
  it('org/name, one-word ids, @revision (also refs/pr/N); paths and junk are not ids', () => {
    expect(parseHubId('google-bert/bert-base-uncased')).toEqual({ repo: 'google-bert/bert-base-uncased', revision: 'main' });
    expect(parseHubId('bert-base-uncased@v1.0')).toEqual({ repo: 'bert-base-uncased', revision: 'v1.0' });
    expect(parseHubId('microsoft/deberta-v3-base@refs/pr/3')).toEqual({ repo: 'microsoft/deberta-v3-base', revision: 'refs/pr/3' });
    for (const bad of ['./model', '/abs/path', 'a/b/c', 'org/na--me', 'org/..', 'org/name@', 'org/name@../x', 'org/-x']) expect(parseHubId(bad), bad).toBeNull();
    expect(hubIdOfSnapshot(`/c/hub/models--org--name/snapshots/${'a'.repeat(40)}`)).toEqual({ repo: 'org/name', commit: 'a'.repeat(40) });
  });

  it('settings from the environment as huggingface_hub reads them (HF_HOME, HF_HUB_CACHE, the token file)', () => {
    const home = tmp();
    writeFileSync(join(home, 'token'), 'hf_from_login\n');
    const s = hubSettings({ HF_HOME: home, HF_HUB_OFFLINE: 'YES', HF_ENDPOINT: 'http://mirror.example/' });
    expect(s).toMatchObject({ cacheDir: join(home, 'hub'), offline: true, token: 'hf_from_login', endpoint: 'http://mirror.example' });
    expect(hubSettings({ HF_HOME: home, HF_HUB_CACHE: '/elsewhere', HF_TOKEN: 'hf_env' })).toMatchObject({ cacheDir: '/elsewhere', token: 'hf_env', offline: false });
    expect(hubSettings({ XDG_CACHE_HOME: '/xdg' }).cacheDir).toBe('/xdg/huggingface/hub');
  });
});

describe('downloads into the shared cache', () => {
  it("writes Python's layout: blobs named by their hashes, refs/main, relative snapshot links, .no_exist", async () => {
    const home = tmp();
    const progress: FileProgress[] = [];
    const r = await resolveModelSource('test-org/tiny-bert', 'model', { settings: settings(home, { HF_TOKEN: 'hf_secret' }), onProgress: (p) => progress.push(p) });
    const repo = hub.repos.get('test-org/tiny-bert')!;
    const root = join(home, 'hub', 'models--test-org--tiny-bert');
    expect(r.dir).toBe(join(root, 'snapshots', repo.commit));
    expect(r.hub).toEqual({ repo: 'test-org/tiny-bert', revision: 'main', commit: repo.commit });
    expect(readFileSync(join(root, 'refs', 'main'), 'utf8')).toBe(repo.commit); // no newline, as Python writes it
    for (const [file, bytes, etag] of [['config.json', config, gitSha1(config)], ['model.safetensors', weights, sha256(weights)], ['tokenizer_config.json', tokCfg, gitSha1(tokCfg)]] as const) {
      const pointer = join(r.dir, file);
      expect(lstatSync(pointer).isSymbolicLink(), file).toBe(true);
      expect(readlinkSync(pointer)).toBe(relative(dirname(pointer), join(root, 'blobs', etag)));
      expect(Buffer.compare(readFileSync(pointer), Buffer.from(bytes))).toBe(0);
    }
    expect(existsSync(join(root, '.no_exist', repo.commit, 'tokenizer.json'))).toBe(true);
    expect(await logitsError(r.dir)).toBeLessThanOrEqual(1e-5);
    // the token went to the hub, never to the CDN
    expect(hub.requests('hub').every((q) => q.auth === 'Bearer hf_secret')).toBe(true);
    expect(hub.requests('cdn').length).toBeGreaterThan(0);
    expect(hub.requests('cdn').every((q) => q.auth === null)).toBe(true);
    const last = progress.filter((p) => p.file === 'model.safetensors').at(-1)!;
    expect(last).toMatchObject({ done: true, received: weights.length, total: weights.length, resumedFrom: 0 });

    // a second use asks the hub for metadata only: no byte is downloaded again
    const before = hub.requests('cdn').length;
    const again = await resolveModelSource('test-org/tiny-bert', 'model', { settings: settings(home) });
    expect(again.dir).toBe(r.dir);
    expect(hub.requests('cdn').length).toBe(before);
  });

  it('follows the relative redirect of a renamed repository; loads a sharded checkpoint', async () => {
    const home = tmp();
    const r = await resolveModelSource('old-org/tiny-bert', 'model', { settings: settings(home) });
    expect(existsSync(join(r.dir, 'model.safetensors'))).toBe(true);
    const s = await resolveModelSource('test-org/sharded-bert', 'model', { settings: settings(home) });
    expect(existsSync(join(s.dir, 'model-00002-of-00002.safetensors'))).toBe(true);
    expect(existsSync(join(s.dir, 'model.safetensors'))).toBe(false);
    expect(await logitsError(s.dir)).toBeLessThanOrEqual(1e-5);
  });
});

describe("a cache Python filled, used offline", () => {
  /** The layout huggingface_hub's hf_hub_download leaves after AutoModel.from_pretrained('py-org/tiny-bert'). */
  function pythonCache(home: string): { commit: string; root: string } {
    const commit = 'c0ffee' + '0'.repeat(34);
    const root = join(home, 'hub', 'models--py-org--tiny-bert');
    const blobs = join(root, 'blobs');
    mkdirSync(blobs, { recursive: true });
    mkdirSync(join(root, 'refs'), { recursive: true });
    mkdirSync(join(root, 'snapshots', commit), { recursive: true });
    mkdirSync(join(root, '.no_exist', commit), { recursive: true });
    writeFileSync(join(root, 'refs', 'main'), commit);
    for (const [file, bytes, etag] of [['config.json', config, gitSha1(config)], ['model.safetensors', weights, sha256(weights)]] as const) {
      writeFileSync(join(blobs, etag), bytes);
      symlinkSync(`../../blobs/${etag}`, join(root, 'snapshots', commit, file));
    }
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) writeFileSync(join(root, '.no_exist', commit, f), '');
    return { commit, root };
  }

  it('HF_HUB_OFFLINE=1: the model loads from that cache with no request at all, by branch or by commit', async () => {
    const home = tmp();
    const { commit, root } = pythonCache(home);
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const offline = hubSettings({ HF_HOME: home, HF_HUB_OFFLINE: '1', HF_ENDPOINT: dead });
    const n = hub.log.length;
    const r = await resolveModelSource('py-org/tiny-bert', 'model', { settings: offline });
    expect(r.dir).toBe(join(root, 'snapshots', commit));
    expect(await logitsError(r.dir)).toBeLessThanOrEqual(1e-5);
    expect((await resolveModelSource(`py-org/tiny-bert@${commit}`, 'model', { settings: offline })).dir).toBe(r.dir);
    expect(hub.log.length).toBe(n);
    // not offline, but the hub unreachable: the cache answers, with a note
    const notes: string[] = [];
    const unreachable = hubSettings({ HF_HOME: home, HF_ENDPOINT: dead });
    expect((await resolveModelSource('py-org/tiny-bert', 'model', { settings: unreachable, note: (l) => notes.push(l) })).dir).toBe(r.dir);
    expect(notes.join('\n')).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): using the cached config\.json/);
  });

  it('offline, a file the cache lacks is an error saying so', async () => {
    const home = tmp();
    pythonCache(home);
    const offline = hubSettings({ HF_HOME: home, HF_HUB_OFFLINE: '1' });
    const e = await hubError(resolveModelSource('py-org/other-model', 'model', { settings: offline }));
    expect(e.code).toBe('offline');
    expect(e.message).toMatch(/^py-org\/other-model config\.json is not in the cache .* and HF_HUB_OFFLINE is set: unset it to download/);
  });

  it('a corrupted blob is detected: offline an error, online downloaded again', async () => {
    const home = tmp();
    const { root } = pythonCache(home);
    const blob = join(root, 'blobs', sha256(weights));
    const bad = Uint8Array.from(weights);
    bad[1000] ^= 1;
    writeFileSync(blob, bad);
    const e = await hubError(resolveModelSource('py-org/tiny-bert', 'model', { settings: hubSettings({ HF_HOME: home, HF_HUB_OFFLINE: '1' }) }));
    expect(e.code).toBe('corrupted');
    expect(e.message).toContain(`py-org/tiny-bert@c0ffee0000 model.safetensors: the cached file ${blob} does not match its hash (corrupt). Delete it`);

    // online (our own download of test-org/tiny-bert, then a byte flipped in its blob)
    const r = await resolveModelSource('test-org/tiny-bert', 'model', { settings: settings(home) });
    const ours = join(home, 'hub', 'models--test-org--tiny-bert', 'blobs', sha256(weights));
    writeFileSync(ours, bad);
    const notes: string[] = [];
    await resolveModelSource('test-org/tiny-bert', 'model', { settings: settings(home), note: (l) => notes.push(l) });
    expect(notes.join('\n')).toContain('does not match its hash (corrupt); downloading it again');
    expect(sha256(new Uint8Array(readFileSync(join(r.dir, 'model.safetensors'))))).toBe(sha256(weights));
  });
});

describe('interrupted and failed transfers', () => {
  const lfs = { repo: 'test-org/tiny-bert', revision: 'main', file: 'model.safetensors' };

  it('resumes with a Range request after the connection breaks mid-transfer', async () => {
    const home = tmp();
    const sha = sha256(weights);
    hub.cutAfter.set(sha, 50_000);
    const from = hub.requests('cdn').length;
    const progress: FileProgress[] = [];
    const path = await hubFile(lfs, { settings: settings(home), retryDelayMs: 10, onProgress: (p) => progress.push(p) });
    expect(sha256(new Uint8Array(readFileSync(path)))).toBe(sha);
    const gets = hub.requests('cdn').slice(from);
    expect(gets.length).toBe(2);
    expect(gets[0].range).toBeNull();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(50_000);
    expect(progress.at(-1)).toMatchObject({ done: true, resumedFrom: resumedAt, received: weights.length });
    expect(existsSync(`${join(home, 'hub', 'models--test-org--tiny-bert', 'blobs', sha)}.incomplete`)).toBe(false);
  });

  it('resumes a partial download an earlier run left in blobs/<etag>.incomplete', async () => {
    const home = tmp();
    const sha = sha256(weights);
    const part = join(home, 'hub', 'models--test-org--tiny-bert', 'blobs', `${sha}.incomplete`);
    mkdirSync(dirname(part), { recursive: true });
    writeFileSync(part, weights.subarray(0, 12_345));
    const from = hub.requests('cdn').length;
    const path = await hubFile(lfs, { settings: settings(home) });
    expect(sha256(new Uint8Array(readFileSync(path)))).toBe(sha);
    expect(hub.requests('cdn').slice(from).map((q) => q.range)).toEqual(['bytes=12345-']);
  });

  it('bytes that do not match the sha256 are refused and removed', async () => {
    const home = tmp();
    const sha = sha256(weights);
    hub.corrupt.add(sha);
    try {
      const e = await hubError(hubFile(lfs, { settings: settings(home) }));
      expect(e.code).toBe('corrupted');
      expect(e.message).toContain(`test-org/tiny-bert model.safetensors: the downloaded bytes do not match the hub's sha256 ${sha}`);
      const blobs = join(home, 'hub', 'models--test-org--tiny-bert', 'blobs');
      expect(existsSync(join(blobs, sha)) || existsSync(join(blobs, `${sha}.incomplete`))).toBe(false);
    } finally {
      hub.corrupt.delete(sha);
    }
  });

  it('a full disk stops the download with a message naming the file and what to do', async () => {
    if (!existsSync('/dev/full')) return;
    const home = tmp();
    const part = join(home, 'hub', 'models--test-org--tiny-bert', 'blobs', `${sha256(weights)}.incomplete`);
    mkdirSync(dirname(part), { recursive: true });
    symlinkSync('/dev/full', part); // every write there fails with ENOSPC
    const e = await hubError(hubFile(lfs, { settings: settings(home) }));
    rmSync(part);
    expect(e.code).toBe('disk-full');
    expect(e.message).toMatch(/^no space left on the disk of .*\.incomplete while downloading test-org\/tiny-bert model\.safetensors .* free space, or set HF_HUB_CACHE/);
  });
});

describe('clear errors', () => {
  it('404 file, unknown repository, unknown revision, gated repository, pickles only, no network', async () => {
    const home = tmp();
    const s = settings(home);
    const missing = await hubError(hubFile({ repo: 'test-org/tiny-bert', revision: 'main', file: 'nope.json' }, { settings: s }));
    expect([missing.code, missing.message]).toEqual(['entry-not-found', 'test-org/tiny-bert has no file nope.json at revision main']);

    const repo = await hubError(resolveModelSource('no-org/no-model', 'model', { settings: s }));
    expect(repo.code).toBe('repo-not-found');
    expect(repo.message).toBe(`no-org/no-model: no such repository on ${hub.endpoint}, or it is private: set HF_TOKEN to a token that can read it (the id is org/name, as in the address of its page); nor is there a directory no-org/no-model here`);

    const rev = await hubError(resolveModelSource('test-org/tiny-bert@v9', 'model', { settings: s }));
    expect([rev.code, rev.message]).toEqual(['revision-not-found', 'test-org/tiny-bert has no revision "v9" (a branch, tag or commit hash; e.g. main)']);

    const gated = await hubError(resolveModelSource('test-org/gated-bert', 'model', { settings: s }));
    expect(gated.code).toBe('gated');
    expect(gated.message).toContain(`Accept its conditions at ${hub.endpoint}/test-org/gated-bert while logged in, then set HF_TOKEN`);
    const wrong = await hubError(resolveModelSource('test-org/gated-bert', 'model', { settings: settings(home, { HF_TOKEN: 'hf_other' }) }));
    expect(wrong.message).toContain('the account of HF_TOKEN has not been granted access');
    expect((await resolveModelSource('test-org/gated-bert', 'model', { settings: settings(home, { HF_TOKEN: 'hf_granted' }) })).hub?.repo).toBe('test-org/gated-bert');

    const pickled = await hubError(resolveModelSource('test-org/pickled', 'model', { settings: s }));
    expect(pickled.code).toBe('unsupported');
    expect(pickled.message).toMatch(/^test-org\/pickled has its weights only as pytorch_model\.bin, a Python pickle, which prilora does not load/);
    expect(hub.requests('cdn').some((q) => q.path.includes(sha256(new Uint8Array(20_000).fill(7))))).toBe(false);

    const dead = hubSettings({ HF_HOME: tmp(), HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}` });
    const net = await hubError(resolveModelSource('test-org/tiny-bert', 'model', { settings: dead }));
    expect(net.code).toBe('network');
    expect(net.message).toMatch(/^test-org\/tiny-bert config\.json: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\), and test-org\/tiny-bert config\.json is not in the cache .*: check the connection or HF_ENDPOINT/);
  });
});
