/// <reference types="@webgpu/types" />
/**
 * Compute pipelines, compiled once per shader source. Shaders are generated per op, dtype and rank, so
 * the source text itself is the cache key. Bind group layouts are explicit (from the binding kinds), not
 * 'auto', so a binding a shader happens not to read never breaks bind group creation.
 */

export type BindingKind = 'read' | 'write' | 'uniform';

export interface Kernel {
  /** shows up in device error messages */
  label: string;
  source: string;
  /** one entry per @binding, in order */
  bindings: readonly BindingKind[];
}

export interface CompiledKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

const generated = new Map<string, Kernel>();

/**
 * Generate a kernel once per key (op, dtypes, rank…): generating WGSL text costs more than recording the
 * dispatch it serves, and an identical source string object also makes the pipeline lookup cheap.
 */
export function generatedKernel(key: string, generate: () => Kernel): Kernel {
  let k = generated.get(key);
  if (!k) generated.set(key, (k = generate()));
  return k;
}

const BUFFER_TYPE: Record<BindingKind, GPUBufferBindingType> = { read: 'read-only-storage', write: 'storage', uniform: 'uniform' };
const SHADER_STAGE_COMPUTE = 4;

export class PipelineCache {
  private readonly pipelines = new Map<string, CompiledKernel>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();

  constructor(private readonly device: GPUDevice) {}

  get(kernel: Kernel): CompiledKernel {
    const have = this.pipelines.get(kernel.source);
    if (have) return have;
    const layout = this.bindGroupLayout(kernel.bindings);
    const module = this.device.createShaderModule({ label: kernel.label, code: kernel.source });
    const pipeline = this.device.createComputePipeline({
      label: kernel.label,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    const compiled = { pipeline, layout };
    this.pipelines.set(kernel.source, compiled);
    return compiled;
  }

  /** Number of distinct pipelines compiled so far. */
  get size(): number {
    return this.pipelines.size;
  }

  private bindGroupLayout(kinds: readonly BindingKind[]): GPUBindGroupLayout {
    const key = kinds.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        entries: kinds.map((kind, binding) => ({ binding, visibility: SHADER_STAGE_COMPUTE, buffer: { type: BUFFER_TYPE[kind] } })),
      });
      this.layouts.set(key, layout);
    }
    return layout;
  }
}
