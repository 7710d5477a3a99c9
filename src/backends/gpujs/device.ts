/**
 * Starting gpu.js in a GL kernel mode, proving that mode is real, and compiling kernels.
 *
 * gpu.js degrades silently: with no GL context its `gpu` mode picks the WebAssembly kernel and still reports
 * `gpu.mode === 'gpu'`, and a kernel that fails to build swaps itself for a CPU kernel with a console warning.
 * So the mode is never taken from gpu.js's word: the GPU is created with an explicit GL mode (which throws
 * instead of choosing another), every kernel is checked after its first run to still be an instance of that
 * mode's kernel class at single precision, gpu.js's fallback hook is replaced by one that throws, and a probe
 * kernel's output is compared with values computed here.
 */
import { BackendError } from '../../core/errors.ts';
import { threadGlHolder } from '../gl-thread.ts';
import { GLSL_LIB } from './glsl.ts';

/** The part of a gpu.js texture this backend touches. */
export interface GlTexture {
  toArray(): Float32Array;
  delete(): void;
}

interface KernelRun {
  (...args: unknown[]): GlTexture;
  setOutput(output: number[]): KernelRun;
  readonly kernel: { readonly constructor: { name: string }; readonly precision: string };
}

interface GlContext {
  getParameter(p: number): unknown;
  readonly RENDERER: number;
  readonly VERSION: number;
  readonly MAX_TEXTURE_SIZE: number;
}

interface GpuInstance {
  createKernel(source: string, settings: object): KernelRun;
  injectNative(source: string): GpuInstance;
  readonly context: GlContext | null;
}

interface GpuJs {
  GPU: { new (settings: object): GpuInstance; readonly isHeadlessGLSupported: boolean; readonly isWebGLSupported: boolean };
  HeadlessGLKernel: abstract new (...a: never[]) => object;
  WebGLKernel: abstract new (...a: never[]) => object;
}

/** What `prilora bench` and the tests report: the GL path actually in use. */
export interface GlMode {
  /**
   * gpu.js mode: 'headlessgl' in Node, 'webgl' in a browser. Not 'webgl2': its kernels compile GLSL ES 3.00,
   * and the programs here are GLSL ES 1.00 (texture2D), which WebGL 1 and headless-gl take.
   */
  mode: 'headlessgl' | 'webgl';
  /** class of every compiled kernel (checked after each first run) */
  kernelClass: string;
  renderer: string;
  version: string;
  maxTextureSize: number;
}

/** A compiled program: textures first, then int uniforms, then float uniforms (all gpu.js arguments). */
export interface KernelSpec {
  textures: readonly string[];
  ints: readonly string[];
  floats?: readonly string[];
  /** GLSL defining `float main_()`: the value of output element `threadId.x` */
  glsl: string;
}

export interface Kernel {
  run(outLength: number, textures: readonly GlTexture[], ints?: readonly number[], floats?: readonly number[]): GlTexture;
}

const COMMON = {
  precision: 'single',
  // pipeline + immutable: every run returns a new texture that stays on the GPU until we delete it
  pipeline: true,
  immutable: true,
  // one program serves every size; shapes and strides are uniforms, not constants baked into the shader
  dynamicOutput: true,
  dynamicArguments: true,
  // four float32 per RGBA texel (the layout glsl.ts reads)
  optimizeFloatMemory: true,
  tactic: 'precision',
  // GLSL ES 1.00 loops need a constant bound; kernels break out at their real trip count
  loopMaxIterations: 1 << 24,
  output: [1],
};

export class GlDevice {
  private readonly kernels = new Map<string, Kernel>();
  private readonly upload: KernelRun;
  compiled = 0;

  private constructor(
    private readonly gpu: GpuInstance,
    private readonly KernelClass: abstract new (...a: never[]) => object,
    readonly mode: GlMode,
  ) {
    this.upload = this.compile(`function (a) { return a[this.thread.x]; }`, { argumentTypes: { a: 'Array' } });
  }

  static async start(): Promise<GlDevice> {
    const inNode = typeof process !== 'undefined' && !!process.versions?.node;
    if (inNode) refuseSharedThread(); // before gpu.js opens its first (test) context
    const lib = (await loadGpuJs()) as GpuJs;
    const [mode, KernelClass, supported] = inNode
      ? (['headlessgl', lib.HeadlessGLKernel, lib.GPU.isHeadlessGLSupported] as const)
      : (['webgl', lib.WebGLKernel, lib.GPU.isWebGLSupported] as const);
    if (!supported) throw new BackendError(`gpujs: no WebGL context. ${inNode ? await whyNoHeadlessGl() : 'This browser offers no WebGL.'}`);
    const gpu = new lib.GPU({ mode });
    gpu.injectNative(GLSL_LIB);
    const dev = new GlDevice(gpu, KernelClass, { mode, kernelClass: KernelClass.name, renderer: '', version: '', maxTextureSize: 0 });
    dev.probe();
    return dev;
  }

  /** Host float32 values → a new texture. */
  toTexture(data: Float32Array): GlTexture {
    this.upload.setOutput([data.length]);
    return this.checked(this.upload, 'upload', this.upload(data));
  }

  /** The kernel cached under `key`, compiled from `build()` the first time (one program per key). */
  kernel(key: string, build: () => KernelSpec): Kernel {
    let k = this.kernels.get(key);
    if (k) return k;
    const spec = build();
    const args = [...spec.textures, ...spec.ints, ...(spec.floats ?? [])];
    const argumentTypes = Object.fromEntries([
      ...spec.textures.map((n) => [n, 'MemoryOptimizedNumberTexture']),
      ...spec.ints.map((n) => [n, 'Integer']),
      ...(spec.floats ?? []).map((n) => [n, 'Float']),
    ]);
    const run = this.compile(`function (${args.join(', ')}) { return main_(); }`, {
      argumentTypes,
      // gpu.js takes a native function's return type from the first type name in its source: declare main_ first
      nativeFunctions: [{ name: 'main_', source: `float main_();\n${spec.glsl}` }],
    });
    let first = true;
    k = {
      run: (n, textures, ints = [], floats = []) => {
        run.setOutput([n]);
        if (!first) return run(...textures, ...ints, ...floats);
        // the first run compiles: a GLSL error there is this backend's bug (or a GL driver's), name the kernel
        let out: GlTexture;
        try {
          out = run(...textures, ...ints, ...floats);
        } catch (e) {
          if (e instanceof BackendError) throw e;
          throw new BackendError(`gpujs: kernel "${key}" failed to build or run: ${(e as Error).message}`);
        }
        first = false;
        return this.checked(run, key, out);
      },
    };
    this.kernels.set(key, k);
    return k;
  }

  private compile(source: string, settings: object): KernelRun {
    this.compiled++;
    return this.gpu.createKernel(source, {
      ...COMMON,
      ...settings,
      onRequestFallback: () => {
        throw new BackendError(`gpujs: gpu.js could not build a ${this.mode.mode} kernel and asked to fall back to its CPU kernel`);
      },
    });
  }

  /** The run's kernel must still be the GL kernel class at single precision (gpu.js swaps them silently). */
  private checked(run: KernelRun, what: string, out: GlTexture): GlTexture {
    if (!(run.kernel instanceof this.KernelClass) || run.kernel.precision !== 'single') {
      throw new BackendError(
        `gpujs: kernel "${what}" runs as ${run.kernel.constructor.name} at ${run.kernel.precision} precision, not ${this.mode.kernelClass} at single`,
      );
    }
    return out;
  }

  /** Values through upload, a strided read and arithmetic, compared exactly with the host's. */
  private probe(): void {
    const input = new Float32Array([1.5, -2.25, 3e38, -0, 7, 1e-3, 65537]);
    const n = input.length;
    const tex = this.toTexture(input);
    const k = this.kernel('probe', () => ({
      textures: ['a'],
      ints: ['n'],
      glsl: `float main_() { return ld(user_a, user_aSize, user_n - 1 - threadId.x) * 0.5 + float(threadId.x); }`,
    }));
    const out = k.run(n, [tex], [n]);
    const got = out.toArray();
    tex.delete();
    out.delete();
    for (let i = 0; i < n; i++) {
      const want = Math.fround(Math.fround(input[n - 1 - i] * 0.5) + i);
      if (got[i] !== want) throw new BackendError(`gpujs: the ${this.mode.mode} probe kernel gave ${got[i]} for element ${i}, expected ${want}`);
    }
    const gl = this.gpu.context;
    if (!gl) throw new BackendError('gpujs: gpu.js has no GL context after running a kernel');
    this.mode.renderer = String(gl.getParameter(gl.RENDERER));
    this.mode.version = String(gl.getParameter(gl.VERSION));
    this.mode.maxTextureSize = Number(gl.getParameter(gl.MAX_TEXTURE_SIZE));
  }
}

/** headless-gl needs GLX current on this thread: refuse (with a message) where EGL already is (../gl-thread.ts). */
function refuseSharedThread(): void {
  const holder = threadGlHolder();
  if (holder) {
    throw new BackendError(`gpujs: cannot start in a thread where ${holder} holds the GL context (headless-gl needs GLX): use one of them per process`);
  }
}

async function loadGpuJs(): Promise<unknown> {
  try {
    const m = (await import('gpu.js')) as { default?: unknown };
    return m.default ?? m;
  } catch (e) {
    throw new BackendError(`gpujs: the gpu.js package cannot be loaded (${(e as Error).message})`);
  }
}

/** Tell "headless-gl was never built" apart from "built, but no X display" (gpu.js says neither). */
async function whyNoHeadlessGl(): Promise<string> {
  let getContext: (w: number, h: number) => unknown;
  try {
    const { createRequire } = await import('node:module');
    getContext = createRequire(import.meta.url)('gl') as typeof getContext;
  } catch (e) {
    return `headless-gl (npm package gl) is not installed or not built: run \`npm rebuild gl\` after installing libxi-dev (${(e as Error).message.split('\n')[0]})`;
  }
  if (!getContext(1, 1)) {
    return `headless-gl is built but cannot open a context: it needs an X display${process.env.DISPLAY ? ` (DISPLAY=${process.env.DISPLAY} did not work)` : ''}; run under \`xvfb-run -a\``;
  }
  return 'headless-gl opens a context, but gpu.js rejected it (no OES_texture_float?)';
}
