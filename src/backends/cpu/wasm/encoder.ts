/**
 * A small WebAssembly binary encoder: just enough of the format (types, one imported memory, functions,
 * exports, LEB128, the SIMD 0xFD prefix) for the CPU kernels to be written in TypeScript and emitted at run
 * time. No toolchain is needed at install, and each kernel can be specialised (tile sizes, FMA or not)
 * for the machine it runs on.
 */

export const i32 = 0x7f;
export const i64 = 0x7e;
export const f32 = 0x7d;
export const f64 = 0x7c;
export const v128 = 0x7b;
export type ValType = typeof i32 | typeof i64 | typeof f32 | typeof f64 | typeof v128;

export function uleb(out: number[], value: number): void {
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
}

export function sleb(out: number[], value: number): void {
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return;
  }
}

function name(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  out.push(...bytes);
}

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const b of body) out.push(b);
}

const f32Bytes = new Uint8Array(4);
const f32View = new DataView(f32Bytes.buffer);
const f64Bytes = new Uint8Array(8);
const f64View = new DataView(f64Bytes.buffer);

/**
 * A function body under construction. Methods append instructions (a stack machine, as in the text
 * format); `block`/`loop`/`if` take callbacks so that nesting in TypeScript mirrors nesting in wasm.
 */
export class Fn {
  readonly code: number[] = [];
  private readonly localTypes: ValType[] = [];

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[]) {}

  /** A fresh local of `type`; its index follows the parameters. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  get(i: number): this {
    this.code.push(0x20);
    uleb(this.code, i);
    return this;
  }
  set(i: number): this {
    this.code.push(0x21);
    uleb(this.code, i);
    return this;
  }
  tee(i: number): this {
    this.code.push(0x22);
    uleb(this.code, i);
    return this;
  }
  i32c(v: number): this {
    this.code.push(0x41);
    sleb(this.code, v);
    return this;
  }
  f32c(v: number): this {
    f32View.setFloat32(0, v, true);
    return this.op(0x43, ...f32Bytes);
  }
  f64c(v: number): this {
    f64View.setFloat64(0, v, true);
    return this.op(0x44, ...f64Bytes);
  }

  /** A SIMD instruction: the 0xFD prefix, the opcode as LEB128, then immediates. */
  simd(opcode: number, ...imm: number[]): this {
    this.code.push(0xfd);
    uleb(this.code, opcode);
    for (const b of imm) this.code.push(b);
    return this;
  }
  /** Loads and stores: opcode with memarg (alignment exponent, byte offset). */
  mem(opcode: number, offset = 0, alignLog2 = 2): this {
    this.code.push(opcode);
    uleb(this.code, alignLog2);
    uleb(this.code, offset);
    return this;
  }
  simdMem(opcode: number, offset = 0, alignLog2 = 0, lane?: number): this {
    this.code.push(0xfd);
    uleb(this.code, opcode);
    uleb(this.code, alignLog2);
    uleb(this.code, offset);
    if (lane !== undefined) this.code.push(lane);
    return this;
  }

  block(body: () => void): this {
    this.op(0x02, 0x40);
    body();
    return this.op(0x0b);
  }
  loop(body: () => void): this {
    this.op(0x03, 0x40);
    body();
    return this.op(0x0b);
  }
  /** if/else on the i32 on the stack; with `result`, both arms leave one value of that type. */
  if(then: () => void, otherwise?: () => void, result?: ValType): this {
    this.op(0x04, result ?? 0x40);
    then();
    if (otherwise) {
      this.op(0x05);
      otherwise();
    }
    return this.op(0x0b);
  }
  br(depth: number): this {
    this.code.push(0x0c);
    uleb(this.code, depth);
    return this;
  }
  brIf(depth: number): this {
    this.code.push(0x0d);
    uleb(this.code, depth);
    return this;
  }
  call(funcIndex: number): this {
    this.code.push(0x10);
    uleb(this.code, funcIndex);
    return this;
  }

  /**
   * for (i = from; i < to; i += step) body — `from`/`to` push an i32. The bound is re-evaluated each
   * iteration, so pass a local for it. Signed compare: counters, not byte addresses.
   */
  for(i: number, from: () => void, to: () => void, step: number, body: () => void): this {
    from();
    this.set(i);
    return this.block(() =>
      this.loop(() => {
        this.get(i);
        to();
        this.op(0x4e).brIf(1); // i32.ge_s
        body();
        this.get(i).i32c(step).op(0x6a).set(i);
        this.br(0);
      }),
    );
  }

  /** local += delta (i32). */
  inc(i: number, delta: number | (() => void)): this {
    this.get(i);
    if (typeof delta === 'number') this.i32c(delta);
    else delta();
    return this.op(0x6a).set(i);
  }

  encodeBody(): number[] {
    const out: number[] = [];
    // locals grouped in runs of one type
    const runs: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    uleb(out, runs.length);
    for (const [n, t] of runs) {
      uleb(out, n);
      out.push(t);
    }
    for (const b of this.code) out.push(b);
    out.push(0x0b);
    const sized: number[] = [];
    uleb(sized, out.length);
    return sized.concat(out);
  }
}

interface FuncEntry {
  fn: Fn;
  typeIndex: number;
  exportName: string | null;
}

/** A module with one imported (optionally shared) memory `env.memory` and any number of functions. */
export class ModuleBuilder {
  private readonly types: string[] = [];
  private readonly funcs: FuncEntry[] = [];

  constructor(private readonly memory: { initial: number; maximum: number; shared: boolean }) {}

  /** Declare a function; returns its index (usable with `call` before its body is written). */
  declare(params: readonly ValType[], results: readonly ValType[], exportName: string | null): Fn {
    const key = `${params.join(',')}>${results.join(',')}`;
    let typeIndex = this.types.indexOf(key);
    if (typeIndex < 0) typeIndex = this.types.push(key) - 1;
    const fn = new Fn(params, results);
    this.funcs.push({ fn, typeIndex, exportName });
    return fn;
  }

  indexOf(fn: Fn): number {
    return this.funcs.findIndex((f) => f.fn === fn);
  }

  /** Declare and write an exported function. */
  func(exportName: string | null, params: readonly ValType[], results: readonly ValType[], body: (f: Fn) => void): Fn {
    const fn = this.declare(params, results, exportName);
    body(fn);
    return fn;
  }

  encode(): Uint8Array<ArrayBuffer> {
    const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const types: number[] = [];
    uleb(types, this.types.length);
    for (const key of this.types) {
      const [p, r] = key.split('>').map((s) => (s ? s.split(',').map(Number) : []));
      types.push(0x60);
      uleb(types, p.length);
      types.push(...p);
      uleb(types, r.length);
      types.push(...r);
    }
    section(out, 1, types);

    const imports: number[] = [];
    uleb(imports, 1);
    name(imports, 'env');
    name(imports, 'memory');
    imports.push(0x02, this.memory.shared ? 0x03 : 0x01);
    uleb(imports, this.memory.initial);
    uleb(imports, this.memory.maximum);
    section(out, 2, imports);

    const funcs: number[] = [];
    uleb(funcs, this.funcs.length);
    for (const f of this.funcs) uleb(funcs, f.typeIndex);
    section(out, 3, funcs);

    const exports: number[] = [];
    const exported = this.funcs.map((f, i) => [f, i] as const).filter(([f]) => f.exportName !== null);
    uleb(exports, exported.length);
    for (const [f, i] of exported) {
      name(exports, f.exportName!);
      exports.push(0x00);
      uleb(exports, i);
    }
    section(out, 7, exports);

    const code: number[] = [];
    uleb(code, this.funcs.length);
    for (const f of this.funcs) for (const b of f.fn.encodeBody()) code.push(b);
    section(out, 10, code);
    return Uint8Array.from(out);
  }
}
