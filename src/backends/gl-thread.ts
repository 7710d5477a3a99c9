/**
 * libglvnd lets a thread hold a current context of one GL API only: Dawn's OpenGL adapter (the webgpu
 * backend without a Vulkan driver) keeps an EGL context current, headless-gl (gpujs) uses GLX, and the
 * second to start would end the process (gpujs/device.ts). The first records itself here; the other asks.
 */
let holder: string | null = null;

export function claimThreadGl(who: string): void {
  holder ??= who;
}

/** Who holds this thread's GL context, or null. */
export function threadGlHolder(): string | null {
  return holder;
}
