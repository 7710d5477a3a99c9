/**
 * Row kernels over a contiguous [rows, cols] input: softmax and layer norm. Each runs as per-row statistics
 * kernels ([rows] outputs) followed by one element-wise kernel, so no thread loops over a row more than
 * twice (a thread per element recomputing its row's statistics would cost O(cols²) per row).
 */
import type { GlDevice, GlTexture } from './device.ts';
import type { Operand } from './elementwise.ts';
import { u } from './glsl.ts';

/** GLSL loop over row `r`'s elements as `v`, `body` per element. */
const overRow = (body: string): string => `for (int j = 0; j < LOOP_MAX; j++) {
    if (j >= ${u('cols')}) break;
    float v = ld(${u('x')}, ${u('xSize')}, base + j);
    ${body}
  }`;

/** Blocked float32 summation (see reduce.ts) of `term` over a row into `sum`. */
const sumRow = (sum: string, term: string): string => `float ${sum} = 0.0;
  float ${sum}p = 0.0;
  ${overRow(`${sum}p += ${term};\n    if (j - (j / 64) * 64 == 63) { ${sum} += ${sum}p; ${sum}p = 0.0; }`)}
  ${sum} += ${sum}p;`;

/**
 * Softmax or log-softmax of each row, stable for masks as the CPU kernel: the max is over finite entries,
 * and a row with none gives zeros (softmax) or -inf (log-softmax).
 */
export function softmax(dev: GlDevice, x: Operand, rows: number, cols: number, log: boolean): GlTexture {
  // which = 0: the row's finite max (-inf if none); which = 1: Σ exp(v - max)
  const stats = dev.kernel('softmax:stats', () => ({
    textures: ['x'],
    ints: ['cols', 'ox', 'which'],
    floats: ['ninf'],
    glsl: `float main_() {
  int base = ${u('ox')} + threadId.x * ${u('cols')};
  float mx = ${u('ninf')};
  ${overRow('if (finite_(v) && v > mx) mx = v;')}
  if (${u('which')} == 0 || !finite_(mx)) return mx;
  ${sumRow('s', 'exp(v - mx)')}
  return s;
}`,
  }));
  const max = stats.run(rows, [x.tex], [cols, x.layout.offset, 0], [-Infinity]);
  const sum = stats.run(rows, [x.tex], [cols, x.layout.offset, 1], [-Infinity]);
  const k = dev.kernel('softmax', () => ({
    textures: ['x', 'mx', 'sm'],
    ints: ['cols', 'ox', 'log'],
    floats: ['ninf'],
    glsl: `float main_() {
  int r = threadId.x / ${u('cols')};
  float mx = ld(${u('mx')}, ${u('mxSize')}, r);
  if (!finite_(mx)) return ${u('log')} == 1 ? ${u('ninf')} : 0.0;
  float v = ld(${u('x')}, ${u('xSize')}, ${u('ox')} + threadId.x);
  float s = ld(${u('sm')}, ${u('smSize')}, r);
  // (v - max) - log Σ, not v - (max + log Σ): with max near -3.4e38 the latter rounds log Σ away
  return ${u('log')} == 1 ? (v - mx) - log(s) : exp(v - mx) / s;
}`,
  }));
  const out = k.run(rows * cols, [x.tex, max, sum], [cols, x.layout.offset, log ? 1 : 0], [-Infinity]);
  max.delete();
  sum.delete();
  return out;
}

export interface LayerNormTextures {
  y: GlTexture;
  mean: GlTexture;
  rstd: GlTexture;
}

/** y = (x − mean)·rstd·w + b per row, with the biased variance and a two-pass mean/variance as the CPU. */
export function layerNorm(dev: GlDevice, x: Operand, w: Operand, b: Operand, rows: number, cols: number, eps: number): LayerNormTextures {
  // which = 0: mean; which = 1: 1/sqrt(var + eps)
  const stats = dev.kernel('layerNorm:stats', () => ({
    textures: ['x'],
    ints: ['cols', 'ox', 'which'],
    floats: ['eps'],
    glsl: `float main_() {
  int base = ${u('ox')} + threadId.x * ${u('cols')};
  ${sumRow('s', 'v')}
  float mu = s / float(${u('cols')});
  if (${u('which')} == 0) return mu;
  ${sumRow('q', '(v - mu) * (v - mu)')}
  return 1.0 / sqrt(q / float(${u('cols')}) + ${u('eps')});
}`,
  }));
  const mean = stats.run(rows, [x.tex], [cols, x.layout.offset, 0], [eps]);
  const rstd = stats.run(rows, [x.tex], [cols, x.layout.offset, 1], [eps]);
  const k = dev.kernel('layerNorm', () => ({
    textures: ['x', 'mu', 'rs', 'w', 'b'],
    ints: ['cols', 'ox', 'ow', 'sw', 'ob', 'sb'],
    glsl: `float main_() {
  int r = threadId.x / ${u('cols')};
  int j = threadId.x - r * ${u('cols')};
  float v = ld(${u('x')}, ${u('xSize')}, ${u('ox')} + threadId.x);
  float mu = ld(${u('mu')}, ${u('muSize')}, r);
  float rs = ld(${u('rs')}, ${u('rsSize')}, r);
  return (v - mu) * rs * ld(${u('w')}, ${u('wSize')}, ${u('ow')} + j * ${u('sw')}) + ld(${u('b')}, ${u('bSize')}, ${u('ob')} + j * ${u('sb')});
}`,
  }));
  const ints = [cols, x.layout.offset, w.layout.offset, w.layout.strides[0], b.layout.offset, b.layout.strides[0]];
  const y = k.run(rows * cols, [x.tex, mean, rstd, w.tex, b.tex], ints);
  return { y, mean, rstd };
}
