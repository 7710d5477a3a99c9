import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DTypeError, FormatError, ShapeError } from '../src/core/errors.ts';
import {
  MAX_HEADER_LENGTH,
  SAFE_DTYPE_SIZE,
  bf16ToFloat,
  floatToBf16,
  floatToHalf,
  halfToFloat,
  huggingFaceOrder,
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  writeSafetensorsFile,
  type SafeDType,
  type SafeTypedArray,
  type SafetensorsFile,
  type SafetensorEntry,
} from '../src/io/safetensors.ts';

const FILE = 'model.safetensors';
const enc = new TextEncoder();

/** A file from a header (object or raw JSON text) and a data section, padded like the writer pads. */
function fileWith(header: unknown, data: Uint8Array | number = 0, { pad = true } = {}): Uint8Array {
  let json = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  if (pad && json.length % 8) json = Uint8Array.from([...json, ...new Array(8 - (json.length % 8)).fill(0x20)]);
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

function parseError(bytes: Uint8Array, name = FILE): FormatError {
  try {
    parseSafetensors(bytes, name);
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw e;
  }
  throw new Error('expected a FormatError, but the input parsed');
}

function bitsOf(a: ArrayBufferView): number[] {
  return [...new Uint8Array(a.buffer, a.byteOffset, a.byteLength)];
}

// ------------------------------------------------------------------------------------------------
// Independent 16-bit float oracles: the value of every pattern straight from its definition (IEEE 754
// binary16; bfloat16 = the top half of a float32), and rounding as a search for the nearest value.

const HALF_VALUES = Array.from({ length: 0x7c00 }, (_, h) => {
  const e = h >> 10;
  const m = h & 0x3ff;
  return e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
});

/** bfloat16 is by definition the top half of a float32. */
const bf16Value = (h: number) => new Float32Array(Uint32Array.of(h << 16).buffer)[0]!;
const BF16_VALUES = Array.from({ length: 0x7f80 }, (_, h) => bf16Value(h));

/**
 * The pattern of the value nearest to x, ties to the even pattern. `values` are the finite
 * non-negative ones in pattern order, so `values.length` is the pattern of infinity; `overflow` is
 * halfway from the largest finite value to the next power of two, where rounding reaches infinity.
 */
function nearestEven(values: number[], overflow: number, x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= overflow) return sign | values.length; // at the tie the largest finite pattern is odd
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (values[mid]! <= a) lo = mid;
    else hi = mid - 1;
  }
  const dBelow = a - values[lo]!;
  const dAbove = (values[lo + 1] ?? Infinity) - a;
  return sign | (dBelow < dAbove || (dBelow === dAbove && lo % 2 === 0) ? lo : lo + 1);
}

const oracleHalf = (x: number) => nearestEven(HALF_VALUES, 65520, x);
const oracleBf16 = (x: number) => nearestEven(BF16_VALUES, (BF16_VALUES[0x7f7f]! + 2 ** 128) / 2, x);

const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0]!;

/** binary16 value by definition: HALF_VALUES for finite patterns, then inf and NaN. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const mag = h & 0x7fff;
  if (mag < 0x7c00) return sign * HALF_VALUES[mag]!;
  return mag === 0x7c00 ? sign * Infinity : NaN;
}

/** The patterns the writer stores for `data` (float32 input takes a different code path than float64). */
function storedBits(dtype: 'F16' | 'BF16', data: Float32Array | Float64Array): number[] {
  const raw = parseSafetensors(serializeSafetensors([{ name: 'x', dtype, shape: [data.length], data }])).getBytes('x');
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Array.from({ length: data.length }, (_, i) => dv.getUint16(2 * i, true));
}

describe('16-bit float conversion', () => {
  it('decodes published binary16 bit patterns', () => {
    const cases: Array<[number, number]> = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x7bff, 65504],
      [0x0001, 2 ** -24],
      [0x03ff, 6.097555160522461e-5], // largest subnormal
      [0x0400, 6.103515625e-5], // smallest normal, 2^-14
      [0x3555, 0.333251953125],
      [0x3bff, 0.99951171875],
      [0x3c01, 1.0009765625],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x0000, 0],
    ];
    for (const [bits, value] of cases) expect(halfToFloat(bits), bits.toString(16)).toBe(value);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(halfToFloat(0xfc01)).toBeNaN();
  });

  it('decodes published bfloat16 bit patterns', () => {
    const cases: Array<[number, number]> = [
      [0x3f80, 1],
      [0xc000, -2],
      [0x4049, 3.140625],
      [0x7f7f, 3.3895313892515355e38], // largest finite
      [0x0080, 2 ** -126], // smallest normal
      [0x0001, 2 ** -133], // smallest subnormal
      [0x7f80, Infinity],
      [0xff80, -Infinity],
    ];
    for (const [bits, value] of cases) expect(bf16ToFloat(bits), bits.toString(16)).toBe(value);
    expect(Object.is(bf16ToFloat(0x8000), -0)).toBe(true);
    expect(bf16ToFloat(0x7fc0)).toBeNaN();
  });

  it('decodes all 65536 patterns as defined, and re-encodes them to the same bits (NaN payloads too)', () => {
    const all = Uint8Array.from({ length: 2 * 65536 }, (_, i) => (i % 2 ? i >> 9 : (i >> 1) & 0xff));
    for (const dtype of ['F16', 'BF16'] as const) {
      const bytes = serializeSafetensors([{ name: 'all', dtype, shape: [65536], data: all }]);
      const decoded = parseSafetensors(bytes).getFloat32('all');
      const wrong: string[] = [];
      for (let h = 0; h < 65536; h++) {
        const want = dtype === 'F16' ? halfValue(h) : bf16Value(h);
        const ok = Number.isNaN(want) ? Number.isNaN(decoded[h]) : Object.is(decoded[h], want);
        if (!ok) wrong.push(`${dtype} 0x${h.toString(16)}: got ${decoded[h]}, want ${want}`);
      }
      expect(wrong.slice(0, 5)).toEqual([]);
      expect(serializeSafetensors([{ name: 'all', dtype, shape: [65536], data: decoded }])).toEqual(bytes);
    }
  });

  it('rounds to nearest, ties to even, at the edges', () => {
    expect(floatToHalf(65519)).toBe(0x7bff);
    expect(floatToHalf(65520)).toBe(0x7c00); // tie between 65504 (odd) and 2^16 → inf
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(-1e6)).toBe(0xfc00);
    expect(floatToHalf(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(floatToHalf(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 ulps
    expect(floatToHalf(2 ** -25 * 1.0000001)).toBe(0x0001);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(floatToHalf(NaN) & 0x7c00).toBe(0x7c00);
    expect(floatToHalf(NaN) & 0x3ff).not.toBe(0);
    expect(floatToBf16(1 + 2 ** -8)).toBe(0x3f80);
    expect(floatToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(floatToBf16(3.4028234663852886e38)).toBe(0x7f80); // float32 max rounds up to inf
    expect(floatToBf16(2 ** -134)).toBe(0x0000);
    expect(floatToBf16(3 * 2 ** -134)).toBe(0x0002);
  });

  it('rounds every midpoint between neighbours to even, and one float32 ulp either side to the nearer', () => {
    for (const [dtype, values, encode] of [
      ['F16', HALF_VALUES, floatToHalf],
      ['BF16', BF16_VALUES, floatToBf16],
    ] as const) {
      const inputs: number[] = [];
      const want: number[] = [];
      for (let h = 0; h + 1 < values.length; h++) {
        const mid = f32Bits((values[h]! + values[h + 1]!) / 2); // exact in float32: one bit more
        for (const [bits, w] of [[mid, h % 2 === 0 ? h : h + 1], [mid - 1, h], [mid + 1, h + 1]] as const) {
          inputs.push(new Float32Array(Uint32Array.of(bits).buffer)[0]!);
          want.push(w);
        }
      }
      expect(inputs.map(encode), `${dtype} from numbers`).toEqual(want);
      expect(storedBits(dtype, Float32Array.from(inputs)), `${dtype} from a Float32Array`).toEqual(want);
      expect(storedBits(dtype, Float64Array.from(inputs)), `${dtype} from a Float64Array`).toEqual(want);
    }
  });

  it('keeps a float32 NaN a NaN even when its payload sits only in the dropped bits', () => {
    const nans = new Float32Array(Uint32Array.of(0x7f800001, 0xff800001, 0x7fc00000).buffer);
    expect(storedBits('F16', nans)).toEqual([0x7e00, 0xfe00, 0x7e00]);
    expect(storedBits('BF16', nans)).toEqual([0x7fc0, 0xffc0, 0x7fc0]);
  });

  it('rounds float64 once, not via float32 (no double rounding)', () => {
    // 1 + 2^-11 + 2^-40 is just above the tie: correct rounding goes up, but float32 would first
    // drop the 2^-40 and then tie to even, down.
    const x = 1 + 2 ** -11 + 2 ** -40;
    expect(floatToHalf(x)).toBe(0x3c01);
    const file = parseSafetensors(serializeSafetensors([{ name: 'x', dtype: 'F16', shape: [1], data: Float64Array.of(x) }]));
    expect(bitsOf(file.getBytes('x'))).toEqual([0x01, 0x3c]);
  });

  it('matches the oracles on random float32 and float64 values, on every code path', () => {
    const finite32 = fc.float32Array({ noNaN: true, maxLength: 64 });
    const finite64 = fc.float64Array({ noNaN: true, maxLength: 64 });
    fc.assert(
      fc.property(finite32, finite64, (xs, ds) => {
        for (const data of [xs, ds]) {
          const all = [...data];
          expect(all.map(floatToHalf)).toEqual(all.map(oracleHalf));
          expect(all.map(floatToBf16)).toEqual(all.map(oracleBf16));
          expect(storedBits('F16', data)).toEqual(all.map(oracleHalf));
          expect(storedBits('BF16', data)).toEqual(all.map(oracleBf16));
        }
      }),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------------------------------------------------

describe('reference vectors (huggingface/safetensors tensor.rs tests)', () => {
  it('test_serialization: one F32 tensor', () => {
    const out = serializeSafetensors([
      { name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) },
    ]);
    expect([...out]).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58,
      34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116,
      97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128,
      63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    expect([...parseSafetensors(out).getFloat32('attn.0')]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('test_serialization_forced_alignement: the header is padded with spaces', () => {
    const out = serializeSafetensors([
      { name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) },
    ]);
    expect(out[0]).toBe(72);
    expect([...out.subarray(8 + 65, 8 + 72)]).toEqual([32, 32, 32, 32, 32, 32, 32]);
    expect(parseSafetensors(out).tensors.get('attn0')!.byteOffset % 8).toBe(0);
  });

  it('test_empty: no tensors, with and without metadata', () => {
    expect([...serializeSafetensors([])]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect([...serializeSafetensors([], { framework: 'pt' })]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102,
      114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
    expect(parseSafetensors(serializeSafetensors([], { framework: 'pt' })).metadata).toEqual({ framework: 'pt' });
  });

  // Checkpoints written by the Python library (safetensors.torch.save_file) live with the BERT tests.
  const hfDir = join(import.meta.dirname, 'fixtures/hf/bert_cls');
  it.skipIf(!existsSync(hfDir))('re-serializing files written by the Python library reproduces them byte for byte', () => {
    const files = readdirSync(hfDir).filter((n) => n.endsWith('.safetensors'));
    expect(files.length).toBeGreaterThan(0);
    for (const n of files) {
      const f = readSafetensorsFile(join(hfDir, n));
      const entries = huggingFaceOrder([...f.tensors.values()].map((t) => ({ ...t, data: f.getTyped(t.name) })));
      expect(Buffer.from(serializeSafetensors(entries, f.metadata)).equals(readFileSync(join(hfDir, n))), n).toBe(true);
    }
  });

  it('huggingFaceOrder sorts by descending dtype alignment, then name', () => {
    const e = (name: string, dtype: SafeDType) => ({ name, dtype });
    const sorted = huggingFaceOrder([e('b', 'F16'), e('a', 'F16'), e('z', 'U8'), e('c', 'I64'), e('d', 'F32')]);
    expect(sorted.map((x) => x.name)).toEqual(['c', 'd', 'a', 'b', 'z']);
  });
});

// ------------------------------------------------------------------------------------------------

const ROUND_TRIP_DTYPES: SafeDType[] = ['F32', 'F64', 'I32', 'I64', 'F16', 'BF16', 'I16', 'I8', 'U8', 'BOOL'];

function dataArb(dtype: SafeDType, n: number): fc.Arbitrary<SafeTypedArray> {
  const len = { minLength: n, maxLength: n };
  switch (dtype) {
    case 'F32':
    case 'F16':
    case 'BF16':
      return fc.float32Array(len);
    case 'F64':
      return fc.float64Array(len);
    case 'I32':
      return fc.int32Array(len);
    case 'I64':
      return fc.bigInt64Array(len);
    case 'I16':
      return fc.int16Array(len);
    case 'I8':
      return fc.int8Array(len);
    case 'U8':
    case 'BOOL':
      return fc.uint8Array(len);
  }
}

const nameArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  // Integer-like keys would jump to the front of a JS object; odd keys probe prototype handling.
  fc.constantFrom('0', '12', '3', '__proto__', 'constructor', 'toString', '', 'a.b.weight', 'ü\n"\\'),
).filter((s) => s !== '__metadata__');

const entryArb: fc.Arbitrary<SafetensorEntry> = fc
  .record({
    name: nameArb,
    dtype: fc.constantFrom(...ROUND_TRIP_DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }),
  })
  .chain(({ name, dtype, shape }) =>
    dataArb(dtype, shape.reduce((a, b) => a * b, 1)).map((data) => ({ name, dtype, shape, data })),
  );

const metadataArb = fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 10 }), {
  maxKeys: 4,
});

describe('round trip', () => {
  it('serialize → parse gives back the values; serialize again gives the same bytes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(entryArb, { selector: (e) => e.name, maxLength: 6 }),
        fc.option(metadataArb, { nil: undefined }),
        (entries, metadata) => {
          const bytes = serializeSafetensors(entries, metadata);
          const file = parseSafetensors(bytes, 'rt.safetensors');
          expect((8 + file.headerLength) % 8).toBe(0);
          expect([...file.tensors.keys()]).toEqual(entries.map((e) => e.name));
          expect(file.metadata).toEqual(metadata ?? {});
          for (const e of entries) {
            const info = file.tensors.get(e.name)!;
            expect(info.dtype).toBe(e.dtype);
            expect(info.shape).toEqual(e.shape);
            const got = file.getTyped(e.name);
            if (e.dtype === 'F16' || e.dtype === 'BF16') {
              const stored = new DataView(file.getBytes(e.name).slice().buffer);
              const src = e.data as Float32Array;
              src.forEach((x, i) => {
                const h = stored.getUint16(2 * i, true);
                if (Number.isNaN(x)) {
                  expect((h & 0x7fff) > (e.dtype === 'F16' ? 0x7c00 : 0x7f80)).toBe(true);
                } else {
                  expect(h).toBe(e.dtype === 'F16' ? oracleHalf(x) : oracleBf16(x));
                  expect(Object.is(got[i], e.dtype === 'F16' ? halfValue(h) : bf16Value(h))).toBe(true);
                }
              });
            } else {
              expect(got.constructor).toBe(e.data.constructor);
              expect(bitsOf(got)).toEqual(bitsOf(e.data));
            }
          }
          const again = [...file.tensors.values()].map((t) => ({ ...t, data: file.getTyped(t.name) }));
          expect(serializeSafetensors(again, file.metadata)).toEqual(bytes);
          const raw = [...file.tensors.values()].map((t) => ({ ...t, data: file.getBytes(t.name) }));
          expect(serializeSafetensors(raw, file.metadata)).toEqual(bytes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads tensors at unaligned offsets, from a buffer at an unaligned byte offset', () => {
    const header = {
      b: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
      f: { dtype: 'F32', shape: [2], data_offsets: [1, 9] },
      d: { dtype: 'F64', shape: [1], data_offsets: [9, 17] },
      l: { dtype: 'I64', shape: [2], data_offsets: [17, 33] },
      i: { dtype: 'I32', shape: [1], data_offsets: [33, 37] },
      h: { dtype: 'F16', shape: [1], data_offsets: [37, 39] },
    };
    const data = new Uint8Array(39);
    const dv = new DataView(data.buffer);
    data[0] = 7;
    dv.setFloat32(1, 1.5, true);
    dv.setFloat32(5, -2.25, true);
    dv.setFloat64(9, Math.PI, true);
    dv.setBigInt64(17, -5n, true);
    dv.setBigInt64(25, 2147483647n, true);
    dv.setInt32(33, -123456, true);
    dv.setUint16(37, 0xc000, true);
    const file = fileWith(header, data, { pad: false });
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    const f = parseSafetensors(shifted.subarray(3), FILE);
    expect([...f.getFloat32('f')]).toEqual([1.5, -2.25]);
    expect([...f.getFloat64('f')]).toEqual([1.5, -2.25]);
    expect([...f.getFloat64('d')]).toEqual([Math.PI]);
    expect([...f.getBigInt64('l')]).toEqual([-5n, 2147483647n]);
    expect([...f.getInt32('l')]).toEqual([-5, 2147483647]);
    expect([...f.getInt32('i')]).toEqual([-123456]);
    expect([...f.getInt32('b')]).toEqual([7]);
    expect([...f.getFloat32('h')]).toEqual([-2]);
    expect(f.tensors.get('f')!.byteOffset).toBe(8 + JSON.stringify(header).length + 1);
    // Typed results own their memory: writing to them leaves the file untouched.
    f.getFloat32('f')[0] = 99;
    expect(f.getFloat32('f')[0]).toBe(1.5);
  });

  it('getInt32 refuses an I64 value outside int32 and names the tensor and offset', () => {
    const f = parseSafetensors(
      serializeSafetensors([{ name: 'ids', dtype: 'I64', shape: [2], data: BigInt64Array.of(1n, 2147483648n) }]),
      FILE,
    );
    const at = f.tensors.get('ids')!.byteOffset + 8;
    expect(() => f.getInt32('ids')).toThrow(
      new FormatError(`${FILE}: tensor "ids" (I64) element 1 = 2147483648 at file offset ${at} does not fit in int32`),
    );
    const g = parseSafetensors(serializeSafetensors([{ name: 'n', dtype: 'I64', shape: [1], data: BigInt64Array.of(-2147483649n) }]));
    expect(() => g.getInt32('n')).toThrow(/does not fit in int32/);
  });

  it('rejects getters that do not fit the dtype, and unknown names', () => {
    const f = parseSafetensors(
      serializeSafetensors([
        { name: 'i', dtype: 'I32', shape: [1], data: Int32Array.of(1) },
        { name: 'd', dtype: 'F64', shape: [1], data: Float64Array.of(1) },
      ]),
      FILE,
    );
    expect(() => f.getFloat32('i')).toThrow(DTypeError);
    expect(() => f.getFloat32('d')).toThrow(/getFloat64/);
    expect(() => f.getInt32('d')).toThrow(DTypeError);
    expect(() => f.getBigInt64('i')).toThrow(DTypeError);
    expect(() => f.getFloat64('nope')).toThrow(new FormatError(`${FILE}: no tensor named "nope" (the file has 2: "i", "d")`));
  });

  it('converts between float widths and int widths on write', () => {
    const f = parseSafetensors(
      serializeSafetensors([
        { name: 'a', dtype: 'F64', shape: [2], data: Float32Array.of(0.1, -3) },
        { name: 'b', dtype: 'F32', shape: [1], data: Float64Array.of(0.1) },
        { name: 'c', dtype: 'I64', shape: [2], data: Int32Array.of(-1, 2 ** 31 - 1) },
        { name: 'd', dtype: 'BF16', shape: [1], data: Float64Array.of(1.5) },
      ]),
    );
    expect([...f.getFloat64('a')]).toEqual([Math.fround(0.1), -3]);
    expect([...f.getFloat32('b')]).toEqual([Math.fround(0.1)]);
    expect([...f.getBigInt64('c')]).toEqual([-1n, 2147483647n]);
    expect([...f.getFloat32('d')]).toEqual([1.5]);
  });

  it('rejects bad writer input', () => {
    const t = (name: string, dtype: SafeDType, shape: number[], data: SafeTypedArray): SafetensorEntry => ({ name, dtype, shape, data });
    const ok = t('a', 'F32', [2], new Float32Array(2));
    expect(() => serializeSafetensors([ok, ok])).toThrow(/"a" is used twice/);
    expect(() => serializeSafetensors([t('__metadata__', 'F32', [2], new Float32Array(2))])).toThrow(/reserved/);
    expect(() => serializeSafetensors([t('a', 'F32', [3], new Float32Array(2))])).toThrow(ShapeError);
    expect(() => serializeSafetensors([t('a', 'F32', [3], new Uint8Array(8))])).toThrow(/needs 12 bytes, data has 8/);
    expect(() => serializeSafetensors([t('a', 'F32', [-1], new Float32Array(2))])).toThrow(ShapeError);
    expect(() => serializeSafetensors([t('a', 'F32', [2.5], new Float32Array(2))])).toThrow(ShapeError);
    expect(() => serializeSafetensors([t('a', 'I32', [2], new Float32Array(2))])).toThrow(DTypeError);
    expect(() => serializeSafetensors([t('a', 'F16', [2], new Int32Array(2))])).toThrow(/cannot write Int32Array data as F16/);
    expect(() => serializeSafetensors([t('a', 'U32' as SafeDType, [2], new Uint8Array(8))])).toThrow(DTypeError);
    expect(() => serializeSafetensors([t('\ud800', 'F32', [0], new Float32Array(0))])).toThrow(/unpaired surrogate/);
    expect(() => serializeSafetensors([], { k: 5 as unknown as string })).toThrow(/expected a string/);
    // A zero dimension wins over huge ones instead of producing NaN.
    const empty = serializeSafetensors([t('e', 'F32', [2 ** 52, 2 ** 52, 0], new Float32Array(0))]);
    expect(parseSafetensors(empty).tensors.get('e')!.shape).toEqual([2 ** 52, 2 ** 52, 0]);
  });
});

// ------------------------------------------------------------------------------------------------
// One test per validation rule: each message names the file, the rule and where.

describe('validation rules', () => {
  const f32 = (offsets: [number, number], shape = [(offsets[1] - offsets[0]) / 4]) => ({ dtype: 'F32', shape, data_offsets: offsets });
  const msg = (bytes: Uint8Array) => parseError(bytes).message;

  it('file shorter than 8 bytes', () => {
    expect(msg(new Uint8Array(5))).toBe(`${FILE}: file is 5 bytes, shorter than the 8-byte header length at offset 0`);
    expect(msg(new Uint8Array(0))).toMatch(/file is 0 bytes/);
  });

  it('header length beyond the file', () => {
    const bytes = new Uint8Array(1000);
    new DataView(bytes.buffer).setBigUint64(0, 123456789n, true);
    expect(msg(bytes)).toBe(`${FILE}: header length 123456789 at offset 0 exceeds the file (1000 bytes)`);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expect(msg(bytes)).toBe(`${FILE}: header length 18446744073709551615 at offset 0 exceeds the file (1000 bytes)`);
    new DataView(bytes.buffer).setBigUint64(0, 993n, true);
    expect(msg(bytes)).toMatch(/header length 993 at offset 0 exceeds the file/);
  });

  it('header length at or above 100 MB', () => {
    const bytes = new Uint8Array(8 + MAX_HEADER_LENGTH);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(MAX_HEADER_LENGTH), true);
    expect(msg(bytes)).toBe(`${FILE}: header length 100000000 at offset 0 is not below the 100000000-byte limit`);
  });

  it('header not UTF-8', () => {
    const bytes = fileWith('{"a":"xx"}');
    bytes[8 + 6] = 0xff;
    expect(msg(bytes)).toBe(`${FILE}: header (file offsets 8..24) is not valid UTF-8: invalid byte sequence at offset 14`);
    const surrogate = fileWith('{"a":"xxx"}');
    surrogate.set([0xed, 0xa0, 0x80], 8 + 6); // CESU-style encoded surrogate
    expect(msg(surrogate)).toMatch(/not valid UTF-8: invalid byte sequence at offset 14/);
  });

  it('header not JSON', () => {
    expect(msg(fileWith('{"a" 1}'))).toMatch(
      new RegExp(`^${FILE}: header \\(file offsets 8..16\\) is not valid JSON at offset 13: `),
    );
    expect(msg(fileWith('{"é" 1}'))).toMatch(/is not valid JSON at offset 14/); // offsets count bytes, not chars
    expect(msg(fileWith('{"a":}'))).toMatch(/is not valid JSON/);
    expect(msg(fileWith(''))).toMatch(/header \(file offsets 8..8\) is not valid JSON/);
    expect(msg(fileWith('\u00a0{}'))).toMatch(/is not valid JSON/);
  });

  it('header not an object', () => {
    expect(msg(fileWith('[1,2]'))).toBe(`${FILE}: header (file offsets 8..16) is not a JSON object (got an array)`);
    expect(msg(fileWith('null'))).toMatch(/is not a JSON object \(got null\)/);
    expect(msg(fileWith('"x"'))).toMatch(/is not a JSON object \(got a string\)/);
  });

  it('entry not an object', () => {
    expect(msg(fileWith({ w: 5 }))).toBe(`${FILE}: header (file offsets 8..16): tensor "w": entry is a number, expected an object`);
    expect(msg(fileWith({ w: [1] }))).toMatch(/tensor "w": entry is an array, expected an object/);
  });

  it('missing or wrong-typed fields', () => {
    expect(msg(fileWith({ w: { shape: [], data_offsets: [0, 0] } }))).toBe(
      `${FILE}: header (file offsets 8..48): tensor "w": missing "dtype"`,
    );
    expect(msg(fileWith({ w: { dtype: 1, shape: [], data_offsets: [0, 0] } }))).toMatch(/"dtype" is a number, expected a string/);
    expect(msg(fileWith({ w: { dtype: 'F32', data_offsets: [0, 4] } }))).toMatch(/tensor "w": "shape" is missing, expected an array of integers/);
    expect(msg(fileWith({ w: { dtype: 'F32', shape: '1', data_offsets: [0, 4] } }))).toMatch(/"shape" is a string, expected an array/);
    expect(msg(fileWith({ w: { dtype: 'F32', shape: [1] } }))).toMatch(/"data_offsets" is missing, expected an array of two integers/);
    expect(msg(fileWith({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }))).toMatch(/"data_offsets" is \[0,4,8\], expected an array of two/);
    // Inherited members are not fields: "constructor" exists on every object's prototype.
    expect(msg(fileWith({ constructor: {} }))).toMatch(/tensor "constructor": missing "dtype"/);
  });

  it('unknown dtype', () => {
    expect(msg(fileWith({ w: { dtype: 'Q4', shape: [], data_offsets: [0, 0] } }))).toMatch(
      /tensor "w": unsupported dtype "Q4" \(supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL\)$/,
    );
    expect(msg(fileWith({ w: { dtype: 'U32', shape: [], data_offsets: [0, 4] } }, 4))).toMatch(/unsupported dtype "U32"/);
  });

  it('shape entries that are not non-negative safe integers', () => {
    for (const [bad, shown] of [[-1, '-1'], [1.5, '1.5'], ['2', '"2"'], [2 ** 53, '9007199254740992'], [null, 'null']] as const) {
      expect(msg(fileWith({ w: { dtype: 'F32', shape: [1, bad], data_offsets: [0, 4] } }, 4))).toMatch(
        `tensor "w": shape[1] is ${shown}, expected a non-negative safe integer`,
      );
    }
  });

  it('data_offsets that are not two ordered non-negative integers', () => {
    expect(msg(fileWith({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, 4))).toMatch(
      /tensor "w": data_offsets\[0\] is -4, expected a non-negative safe integer/,
    );
    expect(msg(fileWith({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4.5] } }, 4))).toMatch(/data_offsets\[1\] is 4.5/);
    expect(msg(fileWith({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, 4))).toMatch(/tensor "w": data_offsets \[4, 0\] have begin > end/);
  });

  it('byte length that does not match shape × dtype size, without overflowing on huge shapes', () => {
    const h = { w: f32([0, 8], [3]) };
    const n = Math.ceil(JSON.stringify(h).length / 8) * 8;
    expect(msg(fileWith(h, 16))).toBe(
      `${FILE}: header (file offsets 8..${8 + n}): tensor "w": data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12 bytes`,
    );
    expect(msg(fileWith({ w: f32([0, 8], [4294967296, 4294967296]) }, 8))).toMatch(
      /data_offsets \[0, 8\] hold 8 bytes but shape \[4294967296, 4294967296\] of F32 needs more than the whole data section \(8 bytes\)/,
    );
    const manyDims = new Array(100_000).fill(2 ** 53 - 1);
    expect(msg(fileWith({ w: f32([0, 8], manyDims) }, 8))).toMatch(/needs more than the whole data section/);
  });

  it('range beyond the data section', () => {
    const h = { w: f32([0, 16]) };
    const start = 8 + 56;
    expect(JSON.stringify(h).length).toBeLessThanOrEqual(56);
    expect(msg(fileWith(h, 8))).toMatch(
      `tensor "w": data_offsets [0, 16] (file offsets ${start}..${start + 16}) extend past the end of the data section (file offsets ${start}..${start + 8}, 8 bytes)`,
    );
    expect(msg(fileWith({ w: f32([2 ** 53 - 1, 2 ** 53 - 1], [0]) }, 8))).toMatch(/extend past the end of the data section/);
  });

  it('overlapping ranges', () => {
    const h = { a: f32([0, 8]), b: f32([4, 12]) };
    const start = 8 + Math.ceil(JSON.stringify(h).length / 8) * 8;
    expect(msg(fileWith(h, 12))).toBe(
      `${FILE}: tensors "a" (file offsets ${start}..${start + 8}) and "b" (file offsets ${start + 4}..${start + 12}) overlap`,
    );
    // An empty tensor strictly inside another one's range is rejected too, as by the reference reader.
    expect(msg(fileWith({ a: f32([0, 8]), e: f32([4, 4], [0]) }, 8))).toMatch(/tensors "a" .* and "e" .* overlap/);
  });

  it('gaps and trailing bytes', () => {
    const h = { a: f32([0, 4]), b: f32([8, 12]) };
    const start = 8 + Math.ceil(JSON.stringify(h).length / 8) * 8;
    expect(msg(fileWith(h, 12))).toBe(
      `${FILE}: data section has a gap at file offsets ${start + 4}..${start + 8} (before tensor "b") that belongs to no tensor`,
    );
    expect(msg(fileWith({ b: f32([4, 8]) }, 8))).toMatch(/data section has a gap at file offsets \d+..\d+ \(before tensor "b"\)/);
    const t = { a: f32([0, 4]) };
    const end = 8 + Math.ceil(JSON.stringify(t).length / 8) * 8 + 4;
    expect(msg(fileWith(t, 7))).toBe(`${FILE}: data section has 3 trailing bytes at file offsets ${end}..${end + 3} that belong to no tensor`);
    expect(msg(fileWith({}, 1))).toMatch(/1 trailing bytes/);
  });

  it('__metadata__ that is not a string → string object', () => {
    expect(msg(fileWith({ __metadata__: ['a'] }))).toMatch(
      /^model\.safetensors: header \(file offsets 8..32\): "__metadata__" is an array, expected an object of strings$/,
    );
    expect(msg(fileWith({ __metadata__: { a: 'x', b: 1 } }))).toMatch(/"__metadata__"\["b"\] is a number, expected a string/);
    expect(msg(fileWith({ __metadata__: null }))).toMatch(/"__metadata__" is null/);
  });

  it('accepts what the format allows: padding, empty tensors, any key order, odd names', () => {
    const h = { z: f32([4, 8]), __metadata__: { __proto__x: 'y' }, '': f32([0, 4]), e: f32([8, 8], [2, 0]) };
    const f = parseSafetensors(fileWith(JSON.stringify(h) + ' \t\n', 8, { pad: false }));
    expect([...f.tensors.keys()]).toEqual(['', 'z', 'e']);
    expect(f.metadata).toEqual({ __proto__x: 'y' });
    const proto = parseSafetensors(fileWith('{"__metadata__":{"__proto__":"p"}}'));
    expect(Object.keys(proto.metadata)).toEqual(['__proto__']);
    expect(proto.metadata['__proto__']).toBe('p');
  });
});

// ------------------------------------------------------------------------------------------------
// Fuzzing: every input parses or fails with a FormatError naming the file and a rule.

/** Raise for a longer soak, e.g. SAFETENSORS_FUZZ_SCALE=20 npx vitest run test/safetensors.test.ts */
const SCALE = Number(process.env.SAFETENSORS_FUZZ_SCALE ?? 1);

const RULE =
  /shorter than the 8-byte|exceeds the file|byte limit|not valid UTF-8|not valid JSON|not a JSON object|expected an object|missing "dtype"|expected a string|unsupported dtype|expected an array|expected a non-negative safe integer|begin > end|extend past the end|needs (more than|\d+ bytes)|overlap|gap at|trailing bytes/;
const FUZZ = 'fuzz.safetensors';

function checkInput(bytes: Uint8Array): void {
  let file: SafetensorsFile;
  try {
    file = parseSafetensors(bytes, FUZZ);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    expect(e.message.startsWith(`${FUZZ}: `), e.message).toBe(true);
    expect(e.message, e.message).toMatch(RULE);
    return;
  }
  // A file that parses must also read: no getter may hit a misaligned view or a bad range.
  for (const name of file.tensors.keys()) {
    file.getBytes(name);
    file.getTyped(name);
  }
}

const sampleArb = fc
  .uniqueArray(
    fc.record({
      name: fc.constantFrom('a', 'b', 'c', 'weight', 'bias', '0'),
      dtype: fc.constantFrom<SafeDType>('F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'U8'),
      shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
    }),
    { selector: (e) => e.name, maxLength: 4 },
  )
  .map((specs) =>
    specs.map((s) => {
      const n = s.shape.reduce((a, b) => a * b, 1) * SAFE_DTYPE_SIZE[s.dtype];
      return { ...s, data: Uint8Array.from({ length: n }, (_, i) => i * 37) };
    }),
  );

const validFileArb = fc.tuple(sampleArb, fc.option(metadataArb, { nil: undefined })).map(([e, m]) => serializeSafetensors(e, m));

const junkArb = fc.oneof(
  fc.constant([4294967296, 4294967296]),
  fc.constant([2 ** 53, 1]),
  fc.integer({ min: -10, max: 100 }),
  fc.double(),
  fc.string(),
  fc.constant(null),
  fc.constant(-1),
  fc.constantFrom('F32', 'Q4', 'f32', 'U32', 'F8_E4M3', '__proto__'),
  fc.array(fc.oneof(fc.integer({ min: -3, max: 64 }), fc.double(), fc.string()), { maxLength: 4 }),
  fc.anything({ maxDepth: 3 }),
  fc.constant(Array.from({ length: 30 }, () => 2 ** 40)),
);

/** A structurally plausible header with one field (or the whole entry / metadata) replaced by junk. */
const mutatedHeaderArb = fc
  .record({
    specs: sampleArb,
    victim: fc.nat(),
    field: fc.constantFrom('dtype', 'shape', 'data_offsets', 'entry', 'metadata', 'offset-shift', 'extra-key', 'drop'),
    junk: junkArb,
    shift: fc.integer({ min: -16, max: 16 }),
    extraData: fc.integer({ min: -8, max: 8 }),
  })
  .map(({ specs, victim, field, junk, shift, extraData }) => {
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const s of specs) {
      header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + s.data.length] };
      offset += s.data.length;
    }
    const names = Object.keys(header);
    const name = names.length ? names[victim % names.length]! : 'x';
    const entry = (header[name] ?? {}) as Record<string, unknown>;
    if (field === 'entry') header[name] = junk;
    else if (field === 'metadata') header.__metadata__ = junk;
    else if (field === 'extra-key') header[`k${victim % 7}`] = junk;
    else if (field === 'drop') delete entry.shape;
    else if (field === 'offset-shift' && Array.isArray(entry.data_offsets)) {
      const [b, e] = entry.data_offsets as number[];
      entry.data_offsets = victim % 2 ? [b! + shift, e! + shift] : [b, e! + shift];
    } else entry[field] = junk;
    return fileWith(header, Math.max(0, offset + extraData));
  });

describe('fuzzing corrupted inputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-fuzz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('random byte strings', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => checkInput(b)), { numRuns: 2000 * SCALE });
    // With a plausible length prefix, so the JSON stage is reached too.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 72 }), (b, n) => {
        const bytes = new Uint8Array(8 + b.length);
        new DataView(bytes.buffer).setBigUint64(0, BigInt(n), true);
        bytes.set(b, 8);
        checkInput(bytes);
      }),
      { numRuns: 1000 * SCALE },
    );
  });

  it('valid files with random bytes flipped', () => {
    fc.assert(
      fc.property(validFileArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (file, flips) => {
        const bytes = file.slice();
        for (const [at, x] of flips) bytes[at % bytes.length]! ^= x;
        checkInput(bytes);
      }),
      { numRuns: 2500 * SCALE },
    );
  });

  it('truncated and extended valid files', () => {
    fc.assert(
      fc.property(validFileArb, fc.nat(), fc.uint8Array({ maxLength: 9 }), (file, cut, tail) => {
        checkInput(file.subarray(0, cut % file.length));
        const longer = new Uint8Array(file.length + tail.length);
        longer.set(file);
        longer.set(tail, file.length);
        checkInput(longer);
      }),
      { numRuns: 1500 * SCALE },
    );
  });

  it('valid headers with mutated JSON', () => {
    fc.assert(fc.property(mutatedHeaderArb, (bytes) => checkInput(bytes)), { numRuns: 3000 * SCALE });
  });

  it('huge declared header lengths', () => {
    fc.assert(
      fc.property(validFileArb, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (file, n) => {
        const bytes = file.slice();
        new DataView(bytes.buffer).setBigUint64(0, n, true);
        checkInput(bytes);
      }),
      { numRuns: 1000 * SCALE },
    );
  });

  it('files read from disk report their path', () => {
    const path = join(dir, 'bad.safetensors');
    writeSafetensorsFile(path, [{ name: 'w', dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }]);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = 0;
    writeFileSync(path, bytes.subarray(0, bytes.length - 1));
    const e = (() => {
      try {
        readSafetensorsFile(path);
      } catch (err) {
        return err as Error;
      }
      throw new Error('expected a FormatError');
    })();
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message.startsWith(`${path}: `)).toBe(true);
    expect(e.message).toMatch(/tensor "w": data_offsets \[0, 8\] .* extend past the end of the data section/);
    expect(() => readSafetensorsFile(join(dir, 'missing.safetensors'))).toThrow(/ENOENT/);
  });
});

// ------------------------------------------------------------------------------------------------

describe('atomic write', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-write-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const entries: SafetensorEntry[] = [
    { name: 'w', dtype: 'BF16', shape: [2, 2], data: Float32Array.of(1, -2, 0.5, 3) },
    { name: 'ids', dtype: 'I64', shape: [3], data: Int32Array.of(1, 2, 3) },
  ];

  it('writes a file that parses, replacing an existing one, and leaves no temp file', () => {
    const path = join(dir, 'model.safetensors');
    writeSafetensorsFile(path, [{ name: 'old', dtype: 'U8', shape: [1], data: Uint8Array.of(1) }]);
    writeSafetensorsFile(path, entries, { format: 'pt' });
    const f = readSafetensorsFile(path);
    expect(f.fileName).toBe(path);
    expect([...f.tensors.keys()]).toEqual(['w', 'ids']);
    expect([...f.getFloat32('w')]).toEqual([1, -2, 0.5, 3]);
    expect([...f.getInt32('ids')]).toEqual([1, 2, 3]);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(readFileSync(path)).toEqual(Buffer.from(serializeSafetensors(entries, { format: 'pt' })));
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });

  it('a failing write throws and leaves nothing behind', () => {
    const missing = join(dir, 'no-such-dir', 'model.safetensors');
    expect(() => writeSafetensorsFile(missing, entries)).toThrow(/ENOENT/);
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
    // Renaming onto a directory fails after the temp file was written: it must be cleaned up.
    mkdirSync(join(dir, 'blocked'));
    const before = readdirSync(dir).sort();
    expect(() => writeSafetensorsFile(join(dir, 'blocked'), entries)).toThrow(/EISDIR|EPERM|EEXIST|ENOTEMPTY/);
    expect(readdirSync(dir).sort()).toEqual(before);
    // Bad input fails before the disk is touched.
    expect(() => writeSafetensorsFile(join(dir, 'x.safetensors'), [{ ...entries[0]!, shape: [5] }])).toThrow(ShapeError);
    expect(readdirSync(dir).sort()).toEqual(before);
  });
});
