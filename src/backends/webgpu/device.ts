/// <reference types="@webgpu/types" />
/**
 * Adapter and device setup for any `GPU` object: the browser's `navigator.gpu` or Dawn's in Node. A core
 * adapter is preferred; software and OpenGL adapters (Mesa llvmpipe in CI) only offer compatibility mode.
 * The device is asked for the adapter's full limits, because WebGPU's defaults (128 invocations per
 * workgroup in compatibility mode, 128 MiB bindings) are far below what the hardware allows.
 */
import { BackendError } from '../../core/errors.ts';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** how the GPU is reached: 'browser', or Dawn's backend in Node ('vulkan', 'opengl', …) */
  api: string;
  featureLevel: 'core' | 'compatibility';
}

export interface OpenedDevice {
  /**
   * The GPU object the device came from. Whoever holds the device must hold this too: Dawn's instance
   * dies with its JavaScript object, and a device outliving it crashes the process in Dawn's threads.
   */
  gpu: GPU;
  device: GPUDevice;
  adapter: AdapterDescription;
  limits: DeviceLimits;
  /** the optional features the device was opened with (OPTIONAL_FEATURES the adapter has) */
  features: ReadonlySet<string>;
}

/**
 * Optional features asked for where the adapter has them: timestamps for the census (timestamps.ts);
 * f16 arithmetic and subgroup operations for the kernels that probe for them.
 */
export const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'] as const;

/** The limits the kernels size themselves by. */
export interface DeviceLimits {
  maxInvocationsPerWorkgroup: number;
  maxWorkgroupSizeX: number;
  maxWorkgroupSizeY: number;
  maxWorkgroupStorageBytes: number;
  maxWorkgroupsPerDimension: number;
  maxStorageBindingBytes: number;
  maxBufferBytes: number;
  maxStorageBuffersPerStage: number;
  uniformOffsetAlignment: number;
  maxBindGroups: number;
}

/** Every numeric limit the adapter reports (the limits object exposes them as prototype getters). */
function adapterLimits(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  const limits = adapter.limits as unknown as Record<string, unknown>;
  for (const key in limits) {
    const v = limits[key];
    // dynamic-offset bindings are unused here, and asking for them makes Dawn print a warning
    if (typeof v === 'number' && !key.startsWith('maxDynamic')) out[key] = v;
  }
  return out;
}

const ESSENTIAL_LIMITS = [
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupStorageSize',
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage',
];

async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const all = adapterLimits(adapter);
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  try {
    return await adapter.requestDevice({ requiredLimits: all, requiredFeatures });
  } catch {
    // an implementation may list limits (or features) it does not accept back; the ones the kernels use are standard
    const essential = Object.fromEntries(ESSENTIAL_LIMITS.filter((k) => k in all).map((k) => [k, all[k]]));
    return await adapter.requestDevice({ requiredLimits: essential });
  }
}

export interface OpenOptions {
  /** how the GPU object was obtained, for the adapter description */
  api: string;
  /** called with the first message of every uncaptured device error and on device loss */
  onError: (message: string) => void;
}

export async function openDevice(gpu: GPU, opts: OpenOptions): Promise<OpenedDevice> {
  let featureLevel: AdapterDescription['featureLevel'] = 'core';
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    featureLevel = 'compatibility';
    adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
  }
  if (!adapter) throw new BackendError(`webgpu: no adapter available through ${opts.api}`);
  const device = await requestDevice(adapter);
  device.addEventListener('uncapturederror', (e) => opts.onError((e as GPUUncapturedErrorEvent).error.message));
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') opts.onError(`device lost: ${info.message}`);
  });
  const info = adapter.info;
  const l = device.limits;
  return {
    gpu,
    device,
    adapter: {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      api: opts.api,
      featureLevel,
    },
    features: new Set(OPTIONAL_FEATURES.filter((f) => device.features.has(f))),
    limits: {
      maxInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxWorkgroupStorageBytes: l.maxComputeWorkgroupStorageSize,
      maxWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBindingBytes: l.maxStorageBufferBindingSize,
      maxBufferBytes: l.maxBufferSize,
      maxStorageBuffersPerStage: l.maxStorageBuffersPerShaderStage,
      uniformOffsetAlignment: l.minUniformBufferOffsetAlignment,
      maxBindGroups: l.maxBindGroups,
    },
  };
}

/** One line for logs: vendor, architecture, device and the API underneath. */
export function describeAdapter(a: AdapterDescription): string {
  const parts = [a.vendor, a.architecture, a.device, a.description].filter((s) => s && s.length > 0);
  return `${parts.join(' / ') || 'unknown adapter'} (${a.api}, ${a.featureLevel})`;
}
