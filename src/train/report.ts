/**
 * report.html: one self-contained page (inline SVG and CSS, no script, no network) drawn from log.jsonl —
 * training loss, dev metrics, learning rate, and for adapter runs a layer × module heatmap of ranks and
 * the A-sparsity of every adapter at every pruning event — and the run's hyper-parameters (run.json).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readLog, type LogRecord } from './log.ts';

type Pt = [number, number];
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The values a series can take (metrics, losses and rates have bounds an axis should not cross). */
export type Range = readonly [number, number];
const UNIT: Range = [0, 1];
const SIGNED: Range = [-1, 1];
const POSITIVE: Range = [0, Infinity];
/** GLUE's metrics: accuracy and F1 in [0, 1], correlations in [-1, 1]. */
export const METRIC_RANGES: Record<string, Range> = { accuracy: UNIT, f1: UNIT, mcc: SIGNED, pearson: SIGNED, spearman: SIGNED };

/** 1, 2 or 5 times a power of ten, the smallest such at least `x`. */
function niceStep(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= x * (1 - 1e-9))!;
}

/**
 * Labels for tick values `vs` (spaced `step` apart), as few digits as keep every label distinct: a step
 * of 0.002 gets three decimals, one of 2e-6 an exponent — never two ticks reading the same.
 */
export function tickLabels(vs: readonly number[], step: number): string[] {
  const big = Math.max(...vs.map(Math.abs));
  const exp = big >= 1e4 || step < 1e-3;
  const base = exp ? Math.max(0, Math.floor(Math.log10(big || 1)) - Math.floor(Math.log10(step))) : Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  for (let d = base; d < base + 8; d++) {
    const ls = vs.map((v) => (Math.abs(v) < step * 1e-6 ? '0' : exp ? v.toExponential(d) : v.toFixed(d)));
    if (new Set(ls).size === ls.length) return ls;
  }
  return vs.map((v) => String(v));
}

/**
 * An axis over [lo, hi]: a flat series (lo = hi) is padded around its value (a tenth of it, 1 at zero)
 * rather than by ±1 whatever its scale; the span is widened to whole steps of a 1-2-5 grid of about
 * `ticks` lines and then cut back to `range`, so a flat accuracy of 0.48 shows 0.40…0.55, not −0.52…1.48.
 */
export function axis(lo: number, hi: number, range: Range = [-Infinity, Infinity], ticks = 5, integer = false): { lo: number; hi: number; ticks: number[]; labels: string[] } {
  if (lo === hi) {
    const pad = integer ? 1 : lo === 0 ? 1 : Math.abs(lo) / 10;
    [lo, hi] = [lo - pad, hi + pad];
  }
  [lo, hi] = [Math.max(lo, range[0]), Math.min(hi, range[1])];
  if (!(hi > lo)) [lo, hi] = [range[0], range[1]]; // a flat series on a bound of a bounded range
  let step = niceStep((hi - lo) / Math.max(1, ticks - 1));
  if (integer) step = Math.max(1, Math.round(step));
  lo = Math.max(Math.floor(lo / step + 1e-9) * step, range[0]);
  hi = Math.min(Math.ceil(hi / step - 1e-9) * step, range[1]);
  const vs: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) vs.push(k * step);
  return { lo, hi, ticks: vs, labels: integer ? vs.map((v) => String(Math.round(v))) : tickLabels(vs, step) };
}

/** A line chart of one or more named series over a shared x axis (steps), its y axis kept within `range`. */
export function lineChart(title: string, series: { name: string; points: Pt[]; color: string }[], range?: Range, w = 520, h = 220): string {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (!all.length) return `<figure><figcaption>${esc(title)}</figcaption><p class="empty">no data</p></figure>`;
  const xa = axis(Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0])), [0, Infinity], 5, true);
  const ya = axis(Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1])), range);
  const m = { l: 58, r: 12, t: 10, b: 28 };
  const sx = (x: number) => m.l + ((x - xa.lo) / (xa.hi - xa.lo)) * (w - m.l - m.r);
  const sy = (y: number) => h - m.b - ((y - ya.lo) / (ya.hi - ya.lo)) * (h - m.t - m.b);
  const grid = ya.ticks
    .map((y, i) => `<line x1="${m.l}" x2="${w - m.r}" y1="${sy(y)}" y2="${sy(y)}" class="grid"/><text x="${m.l - 6}" y="${sy(y) + 4}" class="tick" text-anchor="end">${ya.labels[i]}</text>`)
    .join('');
  const xt = xa.ticks.map((x, i) => `<text x="${sx(x)}" y="${h - 8}" class="tick" text-anchor="middle">${xa.labels[i]}</text>`).join('');
  const lines = series
    .map((s) => {
      const pts = s.points.filter(([, y]) => Number.isFinite(y));
      const d = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      const dots = pts.length <= 40 ? pts.map(([x, y]) => `<circle cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${s.color}"/>`).join('') : '';
      return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>${dots}`;
    })
    .join('');
  const legend = series.map((s, i) => `<text x="${m.l + 8 + i * 120}" y="${m.t + 12}" fill="${s.color}" class="legend">${esc(s.name)}</text>`).join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}">${grid}${xt}${lines}${legend}<text x="${w / 2}" y="${h}" class="tick" text-anchor="middle">step</text></svg></figure>`;
}

/** Cells coloured by value in [0, max]; labels on both axes; the value printed in each cell. */
export function heatmap(title: string, rows: string[], cols: string[], value: (r: number, c: number) => number | null, max: number, show: (v: number) => string): string {
  const cw = Math.max(34, Math.min(70, 640 / Math.max(cols.length, 1)));
  const ch = 22;
  const left = 150;
  const top = 100;
  const w = left + cols.length * cw + 10;
  const h = top + rows.length * ch + 10;
  let cells = '';
  rows.forEach((_, r) =>
    cols.forEach((_, c) => {
      const v = value(r, c);
      if (v === null) return;
      const t = max > 0 ? Math.min(1, v / max) : 0;
      const fill = `hsl(${220 - 200 * t}, 70%, ${92 - 45 * t}%)`;
      cells += `<rect x="${left + c * cw}" y="${top + r * ch}" width="${cw - 1}" height="${ch - 1}" fill="${fill}"><title>${esc(rows[r])} · ${esc(cols[c])}: ${show(v)}</title></rect>`;
      cells += `<text x="${left + c * cw + cw / 2}" y="${top + r * ch + 15}" class="cell" text-anchor="middle">${show(v)}</text>`;
    }),
  );
  const rowLabels = rows.map((l, r) => `<text x="${left - 6}" y="${top + r * ch + 15}" class="tick" text-anchor="end">${esc(l)}</text>`).join('');
  const colLabels = cols.map((l, c) => `<text transform="translate(${left + c * cw + cw / 2},${top - 6}) rotate(-40)" class="tick">${esc(l)}</text>`).join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}">${rowLabels}${colLabels}${cells}</svg></figure>`;
}

const shortModule = (name: string) => name.replace(/^.*layer\.\d+\./, '').replace(/^attention\.self\./, '').replace(/^attention\.output\.dense$/, 'attn.out');

/** What run.json holds beside the log: the resolved options and the plan the trainer made of them. */
export interface RunInfo {
  options: Record<string, unknown>;
  backend?: string;
  modelDir?: string;
  totalSteps?: number;
  warmup?: number;
}

/** The union of the ranges of the metrics shown together (unbounded for one the table does not know). */
function rangeOf(names: readonly string[]): Range {
  const rs = names.map((n) => METRIC_RANGES[n] ?? ([-Infinity, Infinity] as const));
  return [Math.min(...rs.map((r) => r[0])), Math.max(...rs.map((r) => r[1]))];
}

/** The run's hyper-parameters, nested options flattened (`adapter.rankStart`), as a two-column table. */
export function hyperTable(run: RunInfo): string {
  const rows: [string, unknown][] = [];
  const walk = (o: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, `${prefix}${k}.`);
      else rows.push([`${prefix}${k}`, v]);
    }
  };
  walk(run.options, '');
  const plan: [string, unknown][] = [['backend', run.backend], ['model', run.modelDir], ['steps planned', run.totalSteps], ['warm-up steps', run.warmup]];
  rows.push(...plan.filter(([, v]) => v !== undefined));
  const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined');
  const cells = rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(show(v))}</td></tr>`).join('');
  return `<details open><summary>hyper-parameters</summary><table class="hp">${cells}</table></details>`;
}

export function renderReport(records: LogRecord[], run?: RunInfo): string {
  const start = records.find((r): r is Extract<LogRecord, { type: 'start' }> => r.type === 'start');
  const steps = records.filter((r): r is Extract<LogRecord, { type: 'step' }> => r.type === 'step');
  const evals = records.filter((r): r is Extract<LogRecord, { type: 'eval' }> => r.type === 'eval');
  const prunes = records.filter((r): r is Extract<LogRecord, { type: 'prune' }> => r.type === 'prune');
  const end = records.find((r): r is Extract<LogRecord, { type: 'end' }> => r.type === 'end');
  const palette = ['#c0392b', '#2471a3', '#229954', '#8e44ad', '#d68910'];
  const metricNames = [...new Set(evals.flatMap((e) => Object.keys(e.metrics)))];
  const parts: string[] = [];
  parts.push(lineChart('training loss', [{ name: 'loss', color: palette[0], points: steps.map((s) => [s.step, s.loss]) }], POSITIVE));
  parts.push(lineChart('dev metrics', metricNames.map((n, i) => ({ name: n, color: palette[(i + 1) % palette.length], points: evals.map((e): Pt => [e.step, e.metrics[n]]) })), rangeOf(metricNames)));
  parts.push(lineChart('learning rate', [{ name: 'lr', color: palette[1], points: steps.map((s) => [s.step, s.lr]) }], POSITIVE));
  parts.push(lineChart('gradient norm (before clipping)', [{ name: '‖g‖', color: palette[3], points: steps.map((s) => [s.step, s.gradNorm]) }], POSITIVE));
  if (start?.ranks.length) {
    const layers = [...new Set(start.ranks.map((r) => r.layer ?? -1))].sort((a, b) => a - b);
    const mods = [...new Set(start.ranks.map((r) => shortModule(r.module)))];
    const rankOf = new Map(start.ranks.map((r) => [`${r.layer ?? -1}|${shortModule(r.module)}`, r.rank]));
    const maxRank = Math.max(...start.ranks.map((r) => r.rank));
    parts.push(heatmap('LoRA rank (layer × module)', layers.map((l) => `layer ${l}`), mods, (r, c) => rankOf.get(`${layers[r]}|${mods[c]}`) ?? null, maxRank, (v) => String(v)));
    if (prunes.length) {
      const names = prunes[0].modules.map((m) => m.name);
      const label = (n: string) => `L${/layer\.(\d+)\./.exec(n)?.[1] ?? '-'} ${shortModule(n)}`;
      parts.push(
        heatmap('A-sparsity per adapter at each pruning step', names.map(label), prunes.map((p) => `step ${p.step}`), (r, c) => prunes[c].modules.find((m) => m.name === names[r])?.sparsity ?? null, 1, (v) => `${Math.round(100 * v)}%`),
      );
      const last = prunes[prunes.length - 1];
      const sp = new Map(last.modules.map((m) => [`${/layer\.(\d+)\./.exec(m.name)?.[1] ?? -1}|${shortModule(m.name)}`, m.sparsity]));
      parts.push(heatmap(`A-sparsity at the last pruning (step ${last.step}), layer × module`, layers.map((l) => `layer ${l}`), mods, (r, c) => sp.get(`${layers[r]}|${mods[c]}`) ?? null, 1, (v) => `${Math.round(100 * v)}%`));
    }
  }
  const summary = [
    start ? `task <b>${esc(start.task)}</b>, method <b>${esc(start.method)}</b>, ${start.trainable.toLocaleString('en')} trainable parameters, ${start.totalSteps} steps planned` : '',
    end ? `finished at step ${end.step} in ${end.seconds.toFixed(1)} s: ${Object.entries(end.metrics).map(([k, v]) => `${esc(k)} ${v.toFixed(4)}`).join(', ')}` : 'run not finished',
  ].filter(Boolean);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>prilora report</title><style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}figure{display:inline-block;margin:10px 18px 18px 0;vertical-align:top}
figcaption{font-weight:600;margin-bottom:4px}.hp{border-collapse:collapse;font-size:12px;margin:6px 0 12px}.hp th{text-align:left;font-weight:500;padding:1px 14px 1px 0;color:#555}.hp td{font-family:ui-monospace,monospace;padding:1px 0}summary{font-weight:600;cursor:pointer}.grid{stroke:#e3e3e3}.tick{font-size:10px;fill:#555}.legend{font-size:11px;font-weight:600}.cell{font-size:10px;fill:#111}.empty{color:#999}
</style></head><body><h1>prilora training report</h1><p>${summary.join('<br>')}</p>${run ? hyperTable(run) : ''}${parts.join('\n')}</body></html>\n`;
}

/** The report of the run whose log is `logPath`, with the hyper-parameters of run.json beside it when it is there. */
export function writeReport(htmlPath: string, logPath: string): void {
  const runJson = join(dirname(logPath), 'run.json');
  let run: RunInfo | undefined;
  try {
    run = existsSync(runJson) ? (JSON.parse(readFileSync(runJson, 'utf8')) as RunInfo) : undefined;
  } catch {
    run = undefined; // an unreadable run.json costs the report its table, not the finished run its report
  }
  writeFileSync(`${htmlPath}.tmp`, renderReport(readLog(logPath), run));
  renameSync(`${htmlPath}.tmp`, htmlPath);
}
