/**
 * The one place that maps backend names to backends. A command opens its device once, from the device
 * options, makes it the default for tensor creation and passes the object on; library code never sees a
 * name. Each backend is opened at most once per process (tests share them the same way).
 */
import type { Backend } from '../backends/backend.ts';
import { cpuBackend } from '../backends/cpu/index.ts';
import { setDefaultBackend } from '../backends/default.ts';
import { ConfigError } from '../core/errors.ts';
import { choice, int, optional, resolve, type Given, type Values } from '../core/spine.ts';

export const BACKEND_NAMES = ['cpu', 'webgpu', 'gpujs'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

const OPENERS: Record<BackendName, () => Promise<Backend>> = {
  cpu: async () => cpuBackend(),
  webgpu: async () => (await import('../backends/webgpu/index.ts')).createWebGPUBackend(),
  gpujs: async () => (await import('../backends/gpujs/index.ts')).createGpujsBackend(),
};

const opened = new Map<BackendName, Promise<Backend>>();

/** The backend of that name, opened on first use. */
export function openBackend(name: BackendName): Promise<Backend> {
  if (!BACKEND_NAMES.includes(name)) throw new ConfigError(`backend must be one of ${BACKEND_NAMES.join(', ')}, got "${name}"`, 'backend');
  let p = opened.get(name);
  if (!p) {
    p = OPENERS[name]();
    opened.set(name, p);
    p.catch(() => opened.delete(name));
  }
  return p;
}

export const DEVICE_SPINE = {
  backend: choice(BACKEND_NAMES, { help: 'where the kernels run', default: 'cpu' }),
  threads: optional(int({ help: "worker threads of the CPU backend's kernels (default: one per core)", min: 1 })),
} as const;

export type DeviceOptions = Values<typeof DEVICE_SPINE>;

const described = new Set<string>();

/**
 * Open the device the options name, apply --threads, make it the default backend and return it. A
 * backend that can say where it runs says it once, on stderr, so stdout keeps its JSON-last-line contract.
 */
export async function useDevice(given: Given<typeof DEVICE_SPINE>): Promise<{ backend: Backend; options: DeviceOptions }> {
  const o = resolve(DEVICE_SPINE, given);
  const backend = await openBackend(o.backend);
  if (o.threads !== undefined) {
    if (!backend.setThreads) throw new ConfigError(`threads applies to the cpu backend only (backend ${o.backend})`, 'threads');
    backend.setThreads(o.threads);
  }
  setDefaultBackend(backend);
  if (backend.describe && !described.has(o.backend)) {
    described.add(o.backend);
    console.error(`${o.backend}: ${backend.describe()}`);
  }
  return { backend, options: o };
}
