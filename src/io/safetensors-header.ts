/**
 * The safetensors header (HuggingFace format): an 8-byte little-endian u64 length N, N bytes of
 * UTF-8 JSON, then the data section. Parsing checks every declared number against the real byte
 * count before using it, so hostile headers fail fast with a `FormatError` instead of allocating,
 * overflowing or hanging. Building emits what the reference writer emits.
 */
import { FormatError, fmtShape } from '../core/errors.ts';

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element. The other dtypes of the format (U16..U64, FP8, FP4, C64) are rejected on read. */
export const SAFE_DTYPE_SIZE: Readonly<Record<SafeDType, number>> = Object.freeze({
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
});

export const SAFE_DTYPES = Object.freeze(Object.keys(SAFE_DTYPE_SIZE) as SafeDType[]);

/**
 * Headers of this length or more are refused. The reference reader (`MAX_HEADER_SIZE`) still takes
 * exactly 100,000,000; nothing real comes near either bound, which only stops hostile lengths.
 */
export const MAX_HEADER_LENGTH = 100_000_000;

export interface SafetensorInfo {
  readonly name: string;
  readonly dtype: SafeDType;
  readonly shape: readonly number[];
  /** Absolute offset in the file (not relative to the data section, as `data_offsets` is). */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface ParsedHeader {
  /** N, the JSON length including its padding. The data section starts at `8 + headerLength`. */
  readonly headerLength: number;
  /** In data-offset order, which for files written by the reference library is also header order. */
  readonly tensors: Map<string, SafetensorInfo>;
  readonly metadata: Record<string, string>;
}

export function isSafeDType(x: unknown): x is SafeDType {
  return typeof x === 'string' && Object.hasOwn(SAFE_DTYPE_SIZE, x);
}

export function parseHeader(bytes: Uint8Array, file: string): ParsedHeader {
  const err = (msg: string) => new FormatError(`${file}: ${msg}`);
  const size = bytes.length;
  if (size < 8) throw err(`file is ${size} bytes, shorter than the 8-byte header length at offset 0`);
  // u64 may exceed 2^53: compare as BigInt before converting, so no precision is lost.
  const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(size - 8)) throw err(`header length ${declared} at offset 0 exceeds the file (${size} bytes)`);
  const n = Number(declared);
  if (n >= MAX_HEADER_LENGTH) throw err(`header length ${n} at offset 0 is not below the ${MAX_HEADER_LENGTH}-byte limit`);
  const dataStart = 8 + n;
  const where = `header (file offsets 8..${dataStart})`;
  const raw = bytes.subarray(8, dataStart);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    throw err(`${where} is not valid UTF-8: invalid byte sequence at offset ${8 + firstInvalidUtf8(raw)}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    // V8 reports a UTF-16 position; convert it to a file offset so it can be found with a hex editor.
    const pos = /position (\d+)/.exec((e as Error).message);
    const at = pos ? ` at offset ${8 + Buffer.byteLength(text.slice(0, Number(pos[1])), 'utf8')}` : '';
    throw err(`${where} is not valid JSON${at}: ${clip((e as Error).message, 200)}`);
  }
  if (!isObject(header)) throw err(`${where} is not a JSON object (got ${kind(header)})`);

  const dataLength = size - dataStart;
  const infos: SafetensorInfo[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(entry)) throw err(`${where}: "__metadata__" is ${kind(entry)}, expected an object of strings`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw err(`${where}: "__metadata__"[${quote(k)}] is ${kind(v)}, expected a string`);
      }
      // JSON.parse made "__proto__" an own data property; returning the object keeps it one.
      metadata = entry as Record<string, string>;
      continue;
    }
    const at = `${where}: tensor ${quote(name)}`;
    if (!isObject(entry)) throw err(`${at}: entry is ${kind(entry)}, expected an object`);
    const { dtype, shape, data_offsets: offsets } = fieldsOf(entry);
    if (dtype === undefined) throw err(`${at}: missing "dtype"`);
    if (typeof dtype !== 'string') throw err(`${at}: "dtype" is ${kind(dtype)}, expected a string`);
    if (!isSafeDType(dtype)) {
      throw err(`${at}: unsupported dtype ${quote(dtype)} (supported: ${SAFE_DTYPES.join(', ')})`);
    }
    if (!Array.isArray(shape)) throw err(`${at}: "shape" is ${kind(shape)}, expected an array of integers`);
    shape.forEach((d, i) => {
      if (!isIndex(d)) throw err(`${at}: shape[${i}] is ${show(d)}, expected a non-negative safe integer`);
    });
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      throw err(`${at}: "data_offsets" is ${show(offsets)}, expected an array of two integers [begin, end]`);
    }
    offsets.forEach((o, i) => {
      if (!isIndex(o)) throw err(`${at}: data_offsets[${i}] is ${show(o)}, expected a non-negative safe integer`);
    });
    const [begin, end] = offsets as [number, number];
    const range = `data_offsets [${begin}, ${end}]`;
    if (begin > end) throw err(`${at}: ${range} have begin > end`);
    if (end > dataLength) {
      throw err(
        `${at}: ${range} (file offsets ${dataStart + begin}..${dataStart + end}) extend past the end of the ` +
          `data section (file offsets ${dataStart}..${size}, ${dataLength} bytes)`,
      );
    }
    const need = neededBytes(shape as number[], SAFE_DTYPE_SIZE[dtype], dataLength);
    if (need !== end - begin) {
      const needs = need === undefined ? `more than the whole data section (${dataLength} bytes)` : `${need} bytes`;
      throw err(`${at}: ${range} hold ${end - begin} bytes but shape ${fmtShape(shape as number[])} of ${dtype} needs ${needs}`);
    }
    infos.push({ name, dtype, shape: shape as number[], byteOffset: dataStart + begin, byteLength: end - begin });
  }

  // Ties on offset put empty tensors first, so an empty tensor at a boundary is never seen as overlapping.
  infos.sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  // Empty tensors sharing an offset keep the order of the header text, so that re-serializing gives
  // the same bytes. Object.entries cannot supply it: JS objects list integer-like keys ("0") first.
  if (infos.some((t, i) => i > 0 && t.byteLength === 0 && infos[i - 1]!.byteLength === 0 && infos[i - 1]!.byteOffset === t.byteOffset)) {
    const rank = new Map(topLevelKeys(text).map((k, i) => [k, i] as const).reverse());
    infos.sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength || rank.get(a.name)! - rank.get(b.name)!);
  }
  let cursor = dataStart;
  let owner: SafetensorInfo | undefined;
  for (const t of infos) {
    if (t.byteOffset < cursor) {
      const o = owner!;
      throw err(
        `tensors ${quote(o.name)} (file offsets ${o.byteOffset}..${cursor}) and ${quote(t.name)} ` +
          `(file offsets ${t.byteOffset}..${t.byteOffset + t.byteLength}) overlap`,
      );
    }
    if (t.byteOffset > cursor) {
      throw err(`data section has a gap at file offsets ${cursor}..${t.byteOffset} (before tensor ${quote(t.name)}) that belongs to no tensor`);
    }
    if (t.byteLength > 0) owner = t;
    cursor += t.byteLength;
  }
  if (cursor < size) {
    throw err(`data section has ${size - cursor} trailing bytes at file offsets ${cursor}..${size} that belong to no tensor`);
  }
  return { headerLength: n, tensors: new Map(infos.map((t) => [t.name, t])), metadata };
}

export interface HeaderEntry {
  name: string;
  dtype: SafeDType;
  shape: readonly number[];
  byteLength: number;
}

const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The length prefix, JSON and space padding for tensors laid out back to back in the order given.
 * Compact JSON with `__metadata__` first and tensors in data order, as the reference writer emits;
 * metadata keys are sorted (its HashMap order is unspecified) and empty metadata is left out, so
 * re-serializing a parsed file reproduces its bytes.
 */
export function buildHeader(entries: readonly HeaderEntry[], metadata: Record<string, string> | undefined, ctx: string): Uint8Array {
  const str = (s: unknown, what: string): string => {
    if (typeof s !== 'string') throw new FormatError(`${ctx}: ${what} is ${kind(s)}, expected a string`);
    // JSON.stringify would escape it as \udXXX, which strict readers (serde_json) reject.
    if (LONE_SURROGATE.test(s)) throw new FormatError(`${ctx}: ${what} ${JSON.stringify(s)} has an unpaired surrogate`);
    return JSON.stringify(s);
  };
  // Assembled by hand: a JS object would move integer-like keys ("0", "12") to the front.
  const fields: string[] = [];
  const meta = Object.keys(metadata ?? {}).sort();
  if (meta.length > 0) {
    const kv = meta.map((k) => `${str(k, 'metadata key')}:${str(metadata![k], `metadata[${JSON.stringify(k)}]`)}`);
    fields.push(`"__metadata__":{${kv.join(',')}}`);
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const e of entries) {
    const key = str(e.name, 'tensor name');
    if (e.name === '__metadata__' || seen.has(e.name)) {
      throw new FormatError(`${ctx}: tensor name ${key} is ${seen.has(e.name) ? 'used twice' : 'reserved'}`);
    }
    seen.add(e.name);
    const end = offset + e.byteLength;
    fields.push(`${key}:{"dtype":"${e.dtype}","shape":[${e.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  if (n >= MAX_HEADER_LENGTH) throw new FormatError(`${ctx}: header would be ${n} bytes; readers refuse ${MAX_HEADER_LENGTH} or more`);
  const head = new Uint8Array(8 + n).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true);
  head.set(json, 8);
  return head;
}

/**
 * The order the reference library writes in: descending dtype alignment, then name by UTF-8 bytes.
 * With it, `serializeSafetensors` reproduces the Python/Rust output byte for byte.
 */
export function huggingFaceOrder<T extends { name: string; dtype: SafeDType }>(entries: readonly T[]): T[] {
  const rank: Record<SafeDType, number> = { BOOL: 0, U8: 1, I8: 2, I16: 3, F16: 4, BF16: 5, I32: 6, F32: 7, F64: 8, I64: 9 };
  return [...entries].sort((a, b) => rank[b.dtype] - rank[a.dtype] || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

/**
 * Element count × size, or undefined once it exceeds `limit`. Stopping there keeps the running
 * product ≤ limit < 2^53 before each multiplication, and rounding is monotone, so "> limit" stays
 * exact even for shapes like [2^32, 2^32] without BigInt.
 */
function neededBytes(shape: readonly number[], elemSize: number, limit: number): number | undefined {
  if (shape.includes(0)) return 0;
  let n = elemSize;
  for (const d of shape) {
    n *= d;
    if (n > limit) return undefined;
  }
  return n;
}

/**
 * Top-level keys of valid JSON object text, in written order. Only called once every top-level value
 * is known to be an object, so every string at depth 1 is a key.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (depth === 1) keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      i = j;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return keys;
}

/** Only used to word an error: TextDecoder says that the bytes are invalid, not where. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    // Bounds on the second byte exclude overlong forms, surrogates and code points above U+10FFFF.
    let need = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) [need, lo, hi] = [2, c === 0xe0 ? 0xa0 : 0x80, c === 0xed ? 0x9f : 0xbf];
    else if (c >= 0xf0 && c <= 0xf4) [need, lo, hi] = [3, c === 0xf0 ? 0x90 : 0x80, c === 0xf4 ? 0x8f : 0xbf];
    else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return b.length;
}

function fieldsOf(entry: Record<string, unknown>): Record<string, unknown> {
  // Own properties only: a header key like "constructor" must not pick up Object.prototype members.
  const own = (k: string) => (Object.hasOwn(entry, k) ? entry[k] : undefined);
  return { dtype: own('dtype'), shape: own('shape'), data_offsets: own('data_offsets') };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function kind(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

function show(v: unknown): string {
  return v === undefined ? 'missing' : clip(JSON.stringify(v), 60);
}

/** Names come from the file: keep messages bounded even for a 50 MB key. */
function quote(s: string): string {
  return JSON.stringify(clip(s, 80));
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
