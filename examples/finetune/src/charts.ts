/**
 * Canvas drawing for the page: line charts (loss, dev metric, learning rate, sparsity over time, live
 * buffers) and the layer × module heatmap. Plain 2D canvas, no library: the page stays a few static files,
 * and a redraw of a few thousand points is well under a frame.
 */

export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  /** dots instead of a line (sparse series such as dev evaluations) */
  dots?: boolean;
}

export interface LineOptions {
  title: string;
  xMax: number;
  /** fixed y range; default: the data's, padded */
  yMin?: number;
  yMax?: number;
  format?: (y: number) => string;
}

/** The canvas sized to its CSS box at the screen's pixel ratio; returns the context in CSS pixels. */
function prepare(canvas: HTMLCanvasElement): { g: CanvasRenderingContext2D; w: number; h: number } {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext('2d')!;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  return { g, w, h };
}

/** A tick label with as many decimals as the axis' span needs to tell its ticks apart. */
const tick = (span: number) => (y: number) => (Math.abs(y) >= 100 ? y.toFixed(0) : y.toFixed(Math.max(1, Math.min(6, Math.ceil(-Math.log10(span / 4)) + 1))));

export function drawLines(canvas: HTMLCanvasElement, series: readonly Series[], o: LineOptions): void {
  const { g, w, h } = prepare(canvas);
  const pad = { l: 44, r: 8, t: 18, b: 18 };
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  let lo = o.yMin ?? (ys.length ? Math.min(...ys) : 0);
  let hi = o.yMax ?? (ys.length ? Math.max(...ys) : 1);
  if (hi - lo < 1e-9) {
    lo -= 0.5 * (Math.abs(lo) || 1);
    hi += 0.5 * (Math.abs(hi) || 1);
  } else if (o.yMin === undefined || o.yMax === undefined) {
    const m = 0.06 * (hi - lo);
    if (o.yMin === undefined) lo -= m;
    if (o.yMax === undefined) hi += m;
  }
  const xMax = Math.max(1, o.xMax);
  const X = (x: number) => pad.l + (x / xMax) * (w - pad.l - pad.r);
  const Y = (y: number) => pad.t + (1 - (y - lo) / (hi - lo)) * (h - pad.t - pad.b);
  const fmt = o.format ?? tick(hi - lo);
  g.fillStyle = '#222';
  g.fillText(o.title, pad.l, 12);
  g.strokeStyle = '#ddd';
  g.fillStyle = '#666';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = lo + ((hi - lo) * i) / 4;
    g.beginPath();
    g.moveTo(pad.l, Y(y));
    g.lineTo(w - pad.r, Y(y));
    g.stroke();
    g.fillText(fmt(y), 2, Y(y) + 4);
  }
  g.fillText('0', pad.l - 3, h - 4);
  g.fillText(`step ${xMax}`, w - pad.r - 50, h - 4);
  let legendX = pad.l + g.measureText(o.title).width + 14;
  for (const s of series) {
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = 1.5;
    if (s.dots) {
      for (const [x, y] of s.points) {
        g.beginPath();
        g.arc(X(x), Y(y), 2.5, 0, 2 * Math.PI);
        g.fill();
      }
    }
    if (s.points.length > 1) {
      g.beginPath();
      s.points.forEach(([x, y], i) => (i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
      g.stroke();
    }
    g.fillRect(legendX, 6, 10, 3);
    g.fillText(s.name, legendX + 13, 12);
    legendX += 13 + g.measureText(s.name).width + 12;
  }
}

export interface HeatCell {
  layer: number;
  kind: string;
  rank: number;
}

/** Short names of the six BERT (and DeBERTa) targets; any other module keeps its own name. */
const KIND_LABEL: Record<string, string> = {
  'attention.self.query': 'query', 'attention.self.key': 'key', 'attention.self.value': 'value',
  'attention.self.query_proj': 'query', 'attention.self.key_proj': 'key', 'attention.self.value_proj': 'value',
  'attention.output.dense': 'attn out', 'intermediate.dense': 'ffn in', 'output.dense': 'ffn out',
};

/** White → deep blue for a share in [0, 1]. */
function shade(v: number): string {
  const t = Math.max(0, Math.min(1, v));
  const c = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${c(248, 33)},${c(248, 78)},${c(252, 158)})`;
}

/**
 * Rows are layers (0 at the top), columns the module kinds; each cell's colour is A's sparsity and its
 * number the adapter's rank, so PRILoRA's rising ranks and its pruning are one picture.
 */
export function drawHeatmap(canvas: HTMLCanvasElement, cells: readonly HeatCell[], sparsity: readonly number[], title: string): void {
  const { g, w, h } = prepare(canvas);
  g.fillStyle = '#222';
  g.fillText(title, 4, 12);
  if (!cells.length) {
    g.fillStyle = '#666';
    g.fillText('no adapters (method full trains every weight)', 4, 34);
    return;
  }
  const kinds = [...new Set(cells.map((c) => c.kind))];
  const layers = [...new Set(cells.map((c) => c.layer))].sort((a, b) => a - b);
  const pad = { l: 52, t: 34, r: 70, b: 6 };
  const cw = (w - pad.l - pad.r) / kinds.length;
  const ch = Math.min(34, (h - pad.t - pad.b) / layers.length);
  g.textAlign = 'center';
  kinds.forEach((k, j) => g.fillText(KIND_LABEL[k] ?? k, pad.l + (j + 0.5) * cw, pad.t - 6));
  g.textAlign = 'right';
  layers.forEach((l, i) => g.fillText(`layer ${l}`, pad.l - 6, pad.t + (i + 0.5) * ch + 4));
  g.textAlign = 'center';
  cells.forEach((c, n) => {
    const x = pad.l + kinds.indexOf(c.kind) * cw;
    const y = pad.t + layers.indexOf(c.layer) * ch;
    const v = sparsity[n] ?? 0;
    g.fillStyle = shade(v);
    g.fillRect(x + 1, y + 1, cw - 2, ch - 2);
    g.fillStyle = v > 0.55 ? '#fff' : '#111';
    g.fillText(`r=${c.rank}  ${Math.round(100 * v)}%`, x + cw / 2, y + ch / 2 + 4);
  });
  // the colour scale
  g.textAlign = 'left';
  const sx = w - pad.r + 14;
  const sh = layers.length * ch;
  for (let i = 0; i < 20; i++) {
    g.fillStyle = shade(1 - i / 19);
    g.fillRect(sx, pad.t + (i * sh) / 20, 12, sh / 20 + 1);
  }
  g.fillStyle = '#444';
  g.fillText('100%', sx + 15, pad.t + 8);
  g.fillText('0%', sx + 15, pad.t + sh);
  g.fillText('A zeros', sx - 6, pad.t - 6);
}
