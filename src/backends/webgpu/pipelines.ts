/// <reference types="@webgpu/types" />
/**
 * Compute pipelines, compiled once per shader source. Shaders are generated per op, dtype and rank, so
 * the source text itself is the cache key. Bind group layouts are explicit (from the binding kinds), not
 * 'auto', so a binding a shader happens not to read never breaks bind group creation. The parameter block
 * (the one uniform binding) has a dynamic offset, so bind groups can be cached apart from it (bindings.ts).
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
  /**
   * 'one': every binding in bind group 0 (`layout`). 'split': binding j in a bind group j of its own
   * (storage buffers first, the parameter block last), so that bind groups are per buffer and repeat
   * whatever the combination (bindings.ts); used where the device has enough bind group slots.
   */
  mode: 'one' | 'split';
  layout: GPUBindGroupLayout;
  /** names the layout in bind group cache keys */
  layoutKey: string;
  /** the layouts of the split groups, in binding order */
  groupLayouts: GPUBindGroupLayout[];
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
  /** by Kernel object first: a generated kernel is one object, and a WeakMap skips hashing its source */
  private readonly byKernel = new WeakMap<Kernel, CompiledKernel>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();

  constructor(
    private readonly device: GPUDevice,
    /** bind groups a pipeline may use (maxBindGroups) */
    private readonly maxBindGroups: number,
  ) {}

  get(kernel: Kernel): CompiledKernel {
    const known = this.byKernel.get(kernel);
    if (known) return known;
    let compiled = this.pipelines.get(kernel.source);
    if (!compiled) {
      compiled = this.compile(kernel);
      this.pipelines.set(kernel.source, compiled);
    }
    this.byKernel.set(kernel, compiled);
    return compiled;
  }

  private compile(kernel: Kernel): CompiledKernel {
    const split = kernel.bindings.length <= this.maxBindGroups;
    const layoutKey = kernel.bindings.join(',');
    if (!split) {
      const layout = this.bindGroupLayout(kernel.bindings);
      const module = this.device.createShaderModule({ label: kernel.label, code: kernel.source });
      const pipeline = this.device.createComputePipeline({
        label: kernel.label,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      return { pipeline, mode: 'one', layout, layoutKey, groupLayouts: [] };
    }
    // every generator declares `@group(0) @binding(j)`: binding j moves to group j
    const code = kernel.source.replace(/@group\(0\) @binding\((\d+)\)/g, '@group($1) @binding(0)');
    const groupLayouts = kernel.bindings.map((kind) => this.bindGroupLayout([kind]));
    const module = this.device.createShaderModule({ label: kernel.label, code });
    const pipeline = this.device.createComputePipeline({
      label: kernel.label,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: groupLayouts }),
      compute: { module, entryPoint: 'main' },
    });
    return { pipeline, mode: 'split', layout: groupLayouts[0], layoutKey, groupLayouts };
  }

  /** Number of distinct pipelines compiled so far. */
  get size(): number {
    return this.pipelines.size;
  }

  /** The layout of a bind group holding these bindings (0..), shared by every kernel that has them. */
  bindGroupLayout(kinds: readonly BindingKind[]): GPUBindGroupLayout {
    const key = kinds.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        entries: kinds.map((kind, binding) => ({
          binding,
          visibility: SHADER_STAGE_COMPUTE,
          buffer: { type: BUFFER_TYPE[kind], hasDynamicOffset: kind === 'uniform' },
        })),
      });
      this.layouts.set(key, layout);
    }
    return layout;
  }
}
