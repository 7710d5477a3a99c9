/// <reference types="@webgpu/types" />
/**
 * WebGPU in Node through Dawn (the `webgpu` package). This is the only file of the backend that knows
 * about Node: it is imported dynamically, so that bundling the backend for a browser (or importing the
 * engine in Node without using WebGPU) never loads dawn.node.
 *
 * Dawn's native API is tried first where a Vulkan driver is declared (a real GPU); otherwise, and when
 * that finds no adapter, its OpenGL backend through headless EGL, which Mesa's llvmpipe serves on machines
 * without a GPU. PRILORA_DAWN_BACKEND (e.g. `vulkan`, `opengl`) forces one.
 */
import { existsSync, readdirSync } from 'node:fs';
import { BackendError } from '../../core/errors.ts';
import { claimThreadGl } from '../gl-thread.ts';
import { openDevice, type OpenedDevice } from './device.ts';

/** Whether the Vulkan loader would find a driver (without one, Dawn only prints a warning and finds nothing). */
function vulkanDriverDeclared(): boolean {
  if (process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES) return true;
  return ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'].some(
    (dir) => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.json')),
  );
}

export async function openDawnDevice(onError: (message: string) => void): Promise<OpenedDevice> {
  let webgpu: { create(options: string[]): GPU };
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    throw new BackendError(`webgpu: cannot load Dawn (the "webgpu" package): ${(e as Error).message}`);
  }
  // EGL must not look for a display server; read when the OpenGL backend starts
  process.env.EGL_PLATFORM ??= 'surfaceless';
  const forced = process.env.PRILORA_DAWN_BACKEND;
  const candidates = forced ? [forced] : vulkanDriverDeclared() ? ['default', 'opengl'] : ['opengl'];
  const failures: string[] = [];
  for (const backend of candidates) {
    try {
      const gpu = webgpu.create(backend === 'default' ? [] : [`backend=${backend}`]);
      const opened = await openDevice(gpu, { api: `dawn ${backend === 'default' ? 'native' : backend}`, onError });
      if (backend === 'opengl') claimThreadGl("the webgpu backend on Dawn's OpenGL adapter (EGL)");
      return opened;
    } catch (e) {
      failures.push(`${backend}: ${(e as Error).message}`);
    }
  }
  throw new BackendError(`webgpu: Dawn found no usable adapter (${failures.join('; ')})`);
}
