/**
 * What Dawn's node binding costs per recording call, apart from this engine: one compute pass, N
 * dispatches of a trivial pipeline, with 0, 1 or 2 bind group changes before each (a storage buffer's
 * group; the parameter block's with its dynamic offset, as a plain array or the typed-array overload).
 * Nothing is submitted, so no kernel runs: the µs are the host's. bench/README.md quotes the result.
 *
 *   npx tsx bench/dawn-calls.ts
 */
import { openBackend } from '../src/cli/devices.ts';
import type { WebGPUBackend } from '../src/index.ts';
import { deviceOf } from './submit-timer.ts';

const backend = (await openBackend('webgpu')) as WebGPUBackend;
const device = deviceOf(backend);
const COMPUTE = 4, STORAGE = 0x80, UNIFORM = 0x40, COPY_DST = 0x8;
const storageLayout = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: COMPUTE, buffer: { type: 'storage' } }] });
const paramLayout = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } }] });
const module = device.createShaderModule({
  code: `@group(0) @binding(0) var<storage, read_write> Y: array<f32>;
@group(1) @binding(0) var<uniform> Q: vec4u;
@compute @workgroup_size(1) fn main() { Y[0] = f32(Q.x); }`,
});
const pipeline = device.createComputePipeline({ layout: device.createPipelineLayout({ bindGroupLayouts: [storageLayout, paramLayout] }), compute: { module, entryPoint: 'main' } });
const storage = device.createBuffer({ size: 256, usage: STORAGE });
const params = device.createBuffer({ size: 65536, usage: UNIFORM | COPY_DST });
// four groups of the same buffer, so every change is a real one (Dawn skips nothing)
const groups = [0, 1, 2, 3].map(() => device.createBindGroup({ layout: storageLayout, entries: [{ binding: 0, resource: { buffer: storage } }] }));
const paramGroup = device.createBindGroup({ layout: paramLayout, entries: [{ binding: 0, resource: { buffer: params, size: 16 } }] });
const offsets = new Uint32Array(1);
const N = 20000;

type Mode = 'dispatch' | '+ storage group' | '+ params, array offsets' | '+ params, typed offsets';
function usPerIteration(mode: Mode): number {
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, groups[0]);
  pass.setBindGroup(1, paramGroup, [0]);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    if (mode !== 'dispatch') pass.setBindGroup(0, groups[i & 3]);
    if (mode === '+ params, array offsets') pass.setBindGroup(1, paramGroup, [(i & 255) * 256]);
    else if (mode === '+ params, typed offsets') {
      offsets[0] = (i & 255) * 256;
      pass.setBindGroup(1, paramGroup, offsets, 0, 1);
    }
    pass.dispatchWorkgroups(1);
  }
  const us = ((performance.now() - t0) * 1000) / N;
  pass.end();
  encoder.finish();
  return us;
}

const modes: Mode[] = ['dispatch', '+ storage group', '+ params, array offsets', '+ params, typed offsets'];
console.log(`| calls before each dispatch | µs per iteration (${N} iterations, 4 repeats) |\n| --- | --- |`);
const runs = modes.map(() => [] as number[]);
for (let rep = 0; rep < 4; rep++) modes.forEach((m, i) => runs[i].push(usPerIteration(m)));
modes.forEach((m, i) => console.log(`| ${m} | ${runs[i].map((x) => x.toFixed(2)).join(', ')} |`));
backend.destroy();
