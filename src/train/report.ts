/**
 * report.html: one self-contained page (inline SVG and CSS, no script, no network) drawn from log.jsonl —
 * training loss, dev metrics, learning rate, and for adapter runs a layer × module heatmap of ranks and
 * the A-sparsity of every adapter at every pruning event.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { readLog, type LogRecord } from './log.ts';

type Pt = [number, number];
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : +v.toPrecision(3) + '');

/** A line chart of one or more named series over a shared x axis. */
export function lineChart(title: string, series: { name: string; points: Pt[]; color: string }[], w = 520, h = 220): string {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (!all.length) return `<figure><figcaption>${esc(title)}</figcaption><p class="empty">no data</p></figure>`;
  const [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const m = { l: 52, r: 12, t: 10, b: 28 };
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (w - m.l - m.r);
  const sy = (y: number) => h - m.b - ((y - y0) / (y1 - y0)) * (h - m.t - m.b);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map((f) => {
      const y = y0 + f * (y1 - y0);
      return `<line x1="${m.l}" x2="${w - m.r}" y1="${sy(y)}" y2="${sy(y)}" class="grid"/><text x="${m.l - 6}" y="${sy(y) + 4}" class="tick" text-anchor="end">${fmt(y)}</text>`;
    })
    .join('');
  const xt = ticks.map((f) => x0 + f * (x1 - x0)).map((x) => `<text x="${sx(x)}" y="${h - 8}" class="tick" text-anchor="middle">${Math.round(x)}</text>`).join('');
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

export function renderReport(records: LogRecord[]): string {
  const start = records.find((r): r is Extract<LogRecord, { type: 'start' }> => r.type === 'start');
  const steps = records.filter((r): r is Extract<LogRecord, { type: 'step' }> => r.type === 'step');
  const evals = records.filter((r): r is Extract<LogRecord, { type: 'eval' }> => r.type === 'eval');
  const prunes = records.filter((r): r is Extract<LogRecord, { type: 'prune' }> => r.type === 'prune');
  const end = records.find((r): r is Extract<LogRecord, { type: 'end' }> => r.type === 'end');
  const palette = ['#c0392b', '#2471a3', '#229954', '#8e44ad', '#d68910'];
  const metricNames = [...new Set(evals.flatMap((e) => Object.keys(e.metrics)))];
  const parts: string[] = [];
  parts.push(lineChart('training loss', [{ name: 'loss', color: palette[0], points: steps.map((s) => [s.step, s.loss]) }]));
  parts.push(lineChart('dev metrics', metricNames.map((n, i) => ({ name: n, color: palette[(i + 1) % palette.length], points: evals.map((e): Pt => [e.step, e.metrics[n]]) }))));
  parts.push(lineChart('learning rate', [{ name: 'lr', color: palette[1], points: steps.map((s) => [s.step, s.lr]) }]));
  parts.push(lineChart('gradient norm (before clipping)', [{ name: '‖g‖', color: palette[3], points: steps.map((s) => [s.step, s.gradNorm]) }]));
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
figcaption{font-weight:600;margin-bottom:4px}.grid{stroke:#e3e3e3}.tick{font-size:10px;fill:#555}.legend{font-size:11px;font-weight:600}.cell{font-size:10px;fill:#111}.empty{color:#999}
</style></head><body><h1>prilora training report</h1><p>${summary.join('<br>')}</p>${parts.join('\n')}</body></html>\n`;
}

export function writeReport(htmlPath: string, logPath: string): void {
  writeFileSync(`${htmlPath}.tmp`, renderReport(readLog(logPath)));
  renameSync(`${htmlPath}.tmp`, htmlPath);
}
