/**
 * HuggingFace safetensors reader and writer.
 *
 * Reading validates the whole header up front (see `safetensors-header.ts`) and converts tensors on
 * demand. Typed getters always return fresh, aligned arrays that own their memory: tensor data may
 * sit at any offset of the file, and a view would alias (and keep alive) the whole file buffer.
 *
 * Writing follows the reference library's layout: an 8-byte length, compact JSON with
 * `__metadata__` first and then the tensors in data order, space padding to a multiple of 8, then
 * the tensors back to back. Pass entries through `huggingFaceOrder` to get its exact byte output.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { DTypeError, FormatError, ShapeError, fmtShape } from '../core/errors.ts';
import {
  SAFE_DTYPE_SIZE,
  buildHeader,
  isSafeDType,
  parseHeader,
  type HeaderEntry,
  type SafeDType,
  type SafetensorInfo,
} from './safetensors-header.ts';

export { MAX_HEADER_LENGTH, SAFE_DTYPES, SAFE_DTYPE_SIZE, huggingFaceOrder, isSafeDType } from './safetensors-header.ts';
export type { SafeDType, SafetensorInfo } from './safetensors-header.ts';
import { f32BitsToBf16, f32BitsToHalf, floatToBf16, floatToHalf, halfToF32Bits } from './half.ts';
export { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from './half.ts';

/** Each dtype's natural array; I64 keeps its full range, U8 and BOOL are bytes. */
export type SafeTypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array;

export interface SafetensorEntry {
  name: string;
  dtype: SafeDType;
  shape: readonly number[];
  /** A Uint8Array is taken as the raw little-endian bytes of any dtype; other arrays are converted. */
  data: SafeTypedArray;
}

/** Arrays that hold a dtype's elements as stored (F16/BF16 have none; U8/BOOL use Uint8Array). */
const NATURAL: Partial<Record<SafeDType, new (buffer: ArrayBuffer) => SafeTypedArray>> = {
  F32: Float32Array, F64: Float64Array, I32: Int32Array, I64: BigInt64Array, I16: Int16Array, I8: Int8Array,
};

// Typed arrays use the host byte order; the format is little-endian. Swapping keeps big-endian hosts correct.
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapInPlace(bytes: Uint8Array, elemSize: number): Uint8Array {
  if (HOST_LE || elemSize === 1) return bytes;
  for (let i = 0; i < bytes.length; i += elemSize) bytes.subarray(i, i + elemSize).reverse();
  return bytes;
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Reading

export class SafetensorsFile {
  readonly tensors: Map<string, SafetensorInfo>;
  readonly metadata: Record<string, string>;
  /** N: the data section starts at file offset `8 + headerLength`. */
  readonly headerLength: number;

  /** Validates everything up front: a constructed file never throws FormatError for its structure later. */
  constructor(
    readonly bytes: Uint8Array,
    readonly fileName = '<buffer>',
  ) {
    const h = parseHeader(bytes, fileName);
    this.tensors = h.tensors;
    this.metadata = h.metadata;
    this.headerLength = h.headerLength;
  }

  info(name: string): SafetensorInfo {
    const t = this.tensors.get(name);
    if (!t) {
      const some = [...this.tensors.keys()].slice(0, 8).map((k) => JSON.stringify(k));
      const more = this.tensors.size > 8 ? ', …' : '';
      throw new FormatError(`${this.fileName}: no tensor named ${JSON.stringify(name)} (the file has ${this.tensors.size}: ${some.join(', ')}${more})`);
    }
    return t;
  }

  /** The stored little-endian bytes, as a view into `bytes` (no copy: do not mutate). */
  getBytes(name: string): Uint8Array {
    const t = this.info(name);
    return this.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength);
  }

  /** F32 as stored; F16 and BF16 widened exactly. */
  getFloat32(name: string): Float32Array {
    const t = this.info(name);
    if (t.dtype === 'F32') return new Float32Array(this.copy(t));
    if (t.dtype !== 'F16' && t.dtype !== 'BF16') throw this.wrongType(t, 'getFloat32', 'F32, F16 or BF16 (use getFloat64 for F64)');
    const n = t.byteLength / 2;
    const out = new Float32Array(n);
    const bits = new Uint32Array(out.buffer);
    // DataView reads at any alignment and in little-endian order regardless of the host.
    const dv = new DataView(this.bytes.buffer, this.bytes.byteOffset + t.byteOffset, t.byteLength);
    if (t.dtype === 'BF16') for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
    else {
      const table = halfToF32Bits();
      for (let i = 0; i < n; i++) bits[i] = table[dv.getUint16(2 * i, true)]!;
    }
    return out;
  }

  /** Any float dtype, widened exactly. */
  getFloat64(name: string): Float64Array {
    const t = this.info(name);
    if (t.dtype === 'F64') return new Float64Array(this.copy(t));
    if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') return Float64Array.from(this.getFloat32(name));
    throw this.wrongType(t, 'getFloat64', 'a float dtype');
  }

  /** I32 as stored; I64 checked to fit; I16, I8, U8 and BOOL widened. */
  getInt32(name: string): Int32Array {
    const t = this.info(name);
    switch (t.dtype) {
      case 'I32':
        return new Int32Array(this.copy(t));
      case 'I64': {
        const n = t.byteLength / 8;
        const out = new Int32Array(n);
        const dv = new DataView(this.bytes.buffer, this.bytes.byteOffset + t.byteOffset, t.byteLength);
        for (let i = 0; i < n; i++) {
          const lo = dv.getInt32(8 * i, true);
          // Fits iff the high word is the sign extension of the low word; avoids a BigInt per element.
          if (dv.getInt32(8 * i + 4, true) !== lo >> 31) {
            throw new FormatError(
              `${this.fileName}: tensor ${JSON.stringify(name)} (I64) element ${i} = ${dv.getBigInt64(8 * i, true)} ` +
                `at file offset ${t.byteOffset + 8 * i} does not fit in int32`,
            );
          }
          out[i] = lo;
        }
        return out;
      }
      case 'I16':
      case 'I8':
      case 'U8':
      case 'BOOL':
        return Int32Array.from(this.getTyped(name) as Int16Array | Int8Array | Uint8Array);
      default:
        throw this.wrongType(t, 'getInt32', 'an integer dtype');
    }
  }

  getBigInt64(name: string): BigInt64Array {
    const t = this.info(name);
    if (t.dtype !== 'I64') throw this.wrongType(t, 'getBigInt64', 'I64');
    return new BigInt64Array(this.copy(t));
  }

  /** The dtype's natural array: F16/BF16 → Float32Array, I64 → BigInt64Array, U8/BOOL → Uint8Array. */
  getTyped(name: string): SafeTypedArray {
    const t = this.info(name);
    if (t.dtype === 'F16' || t.dtype === 'BF16') return this.getFloat32(name);
    return new (NATURAL[t.dtype] ?? Uint8Array)(this.copy(t));
  }

  /** A fresh buffer at offset 0 is aligned for every element size, wherever the tensor sits in the file. */
  private copy(t: SafetensorInfo): ArrayBuffer {
    // Not `bytes.slice`: on a Node Buffer that returns a view, not a copy.
    const out = new Uint8Array(t.byteLength);
    out.set(this.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength));
    swapInPlace(out, SAFE_DTYPE_SIZE[t.dtype]);
    return out.buffer;
  }

  private wrongType(t: SafetensorInfo, method: string, expected: string): DTypeError {
    return new DTypeError(`${this.fileName}: ${method}(${JSON.stringify(t.name)}): tensor is ${t.dtype}, expected ${expected}`);
  }
}

export function parseSafetensors(bytes: Uint8Array, fileName = '<buffer>'): SafetensorsFile {
  return new SafetensorsFile(bytes, fileName);
}

/** Reads the whole file (Node's readFile limit of 2 GiB applies). */
export function readSafetensorsFile(path: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new FormatError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return new SafetensorsFile(bytes, path);
}

// ---------------------------------------------------------------------------------------------
// Writing

interface Prepared {
  /** Length prefix, JSON and padding. */
  head: Uint8Array;
  /** Encoded lazily, one tensor at a time, so writing a file never holds two converted copies. */
  parts: Array<() => Uint8Array>;
  dataLength: number;
}

function prepare(entries: readonly SafetensorEntry[], metadata: Record<string, string> | undefined): Prepared {
  const specs: HeaderEntry[] = [];
  const parts: Array<() => Uint8Array> = [];
  let dataLength = 0;
  for (const e of entries) {
    const at = `serializeSafetensors: tensor ${JSON.stringify(e.name)}`;
    if (!isSafeDType(e.dtype)) throw new DTypeError(`${at}: unsupported dtype ${JSON.stringify(e.dtype)}`);
    if (!e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ShapeError(`${at}: shape ${fmtShape(e.shape)} has a dimension that is not a non-negative integer`);
    }
    // Checking for 0 first keeps [huge, huge, 0] from becoming Infinity·0 = NaN.
    const numel = e.shape.includes(0) ? 0 : e.shape.reduce((x, y) => x * y, 1);
    const byteLength = numel * SAFE_DTYPE_SIZE[e.dtype];
    parts.push(encoderFor(e, at));
    const raw = e.data instanceof Uint8Array;
    if (e.data.length !== (raw ? byteLength : numel)) {
      const want = raw ? `${byteLength} bytes` : `${numel} elements`;
      throw new ShapeError(`${at}: shape ${fmtShape(e.shape)} of ${e.dtype} needs ${want}, data has ${e.data.length}`);
    }
    specs.push({ name: e.name, dtype: e.dtype, shape: e.shape, byteLength });
    dataLength += byteLength;
  }
  return { head: buildHeader(specs, metadata, 'serializeSafetensors'), parts, dataLength };
}

function bytesOf(a: ArrayBufferView & { BYTES_PER_ELEMENT: number }): Uint8Array {
  const view = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return HOST_LE ? view : swapInPlace(view.slice(), a.BYTES_PER_ELEMENT);
}

/** Checks the dtype/array pairing eagerly; the returned function does the (possibly large) work later. */
function encoderFor(e: SafetensorEntry, at: string): () => Uint8Array {
  const d = e.data;
  if (d instanceof Uint8Array) return () => d;
  const natural = NATURAL[e.dtype];
  if (natural && d instanceof natural) return () => bytesOf(d);
  if (d instanceof Float32Array || d instanceof Float64Array) {
    if (e.dtype === 'F32') return () => bytesOf(Float32Array.from(d));
    if (e.dtype === 'F64') return () => bytesOf(Float64Array.from(d));
    if (e.dtype === 'F16' || e.dtype === 'BF16') {
      const f16 = e.dtype === 'F16';
      return () => {
        const out = new Uint16Array(d.length);
        if (d instanceof Float32Array) {
          const bits = new Uint32Array(d.buffer, d.byteOffset, d.length);
          if (f16) for (let i = 0; i < d.length; i++) out[i] = f32BitsToHalf(bits[i]!);
          else for (let i = 0; i < d.length; i++) out[i] = f32BitsToBf16(bits[i]!);
        } else for (let i = 0; i < d.length; i++) out[i] = f16 ? floatToHalf(d[i]!) : floatToBf16(d[i]!);
        return bytesOf(out);
      };
    }
  }
  if (d instanceof Int32Array && e.dtype === 'I64') return () => bytesOf(BigInt64Array.from(d, (v) => BigInt(v)));
  throw new DTypeError(`${at}: cannot write ${d.constructor.name} data as ${e.dtype} (raw little-endian bytes in a Uint8Array fit any dtype)`);
}

/** Tensors are laid out in the order given. The whole file is built in memory; see writeSafetensorsFile. */
export function serializeSafetensors(entries: readonly SafetensorEntry[], metadata?: Record<string, string>): Uint8Array {
  const p = prepare(entries, metadata);
  const out = new Uint8Array(p.head.length + p.dataLength);
  out.set(p.head);
  let at = p.head.length;
  for (const part of p.parts) {
    const b = part();
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Writes through a temporary file in the same directory, fsynced and then renamed over `path`, so
 * readers see either the old file or the complete new one, never a torn write. Tensors are
 * streamed, so the file may exceed the size of a single JS buffer.
 */
export function writeSafetensorsFile(path: string, entries: readonly SafetensorEntry[], metadata?: Record<string, string>): void {
  const p = prepare(entries, metadata); // fail on bad input before touching the disk
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    created = true;
    writeAll(fd, p.head);
    for (const part of p.parts) writeAll(fd, part());
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // the original error matters more
      }
    }
    if (created) rmSync(tmp, { force: true });
    throw e;
  }
  // Persist the rename itself; directories cannot be opened or fsynced on every platform (Windows).
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // best effort
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  // writeSync may write less than asked, and refuses lengths above 2 GiB.
  const CHUNK = 1 << 30;
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, Math.min(CHUNK, bytes.length - at));
}
