/**
 * Time spent inside queue.submit (where Mesa's llvmpipe runs the kernels), so the bench scripts can
 * subtract it from a step's synchronous time. The context and its device are internal: reached here only
 * to time submits the same way in every checkout these scripts measure.
 */
export function timeSubmits(backend: unknown): { ms: () => number; reset: () => void } {
  const queue = deviceOf(backend).queue;
  const submit = queue.submit.bind(queue);
  let ms = 0;
  queue.submit = (c: Iterable<GPUCommandBuffer>) => {
    const t = performance.now();
    submit(c);
    ms += performance.now() - t;
  };
  return { ms: () => ms, reset: () => void (ms = 0) };
}

/** The WebGPU backend's device (internal, as above: for the bench scripts alone). */
export function deviceOf(backend: unknown): GPUDevice {
  return (backend as { ctx: { device: GPUDevice } }).ctx.device;
}
