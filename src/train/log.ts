/**
 * What a run tells: a JSONL record of every step, evaluation and pruning event (the report is drawn from
 * it), and live progress — a bar with step, loss, throughput and ETA on a terminal (cli-progress), plain
 * periodic lines otherwise.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';

export type LogRecord =
  | { type: 'start'; task: string; method: string; totalSteps: number; trainable: number; ranks: { module: string; layer: number | null; rank: number }[] }
  | { type: 'step'; step: number; epoch: number; loss: number; lr: number; gradNorm: number; seqPerS: number; tokens?: number; seconds: number; replayed?: boolean }
  | { type: 'eval'; step: number; epoch: number; metrics: Record<string, number> }
  | { type: 'prune'; step: number; modules: { name: string; rank: number; sparsityBefore: number; sparsity: number }[] }
  | { type: 'end'; step: number; metrics: Record<string, number>; seconds: number };

export class RunLog {
  lines = 0;
  constructor(readonly path: string) {}

  /** Start fresh, or (resuming) keep the first `keepLines` lines and drop what came after the checkpoint. */
  open(keepLines: number | null): void {
    if (keepLines === null || !existsSync(this.path)) {
      writeFileSync(this.path, '');
      this.lines = 0;
      return;
    }
    const kept = readFileSync(this.path, 'utf8').split('\n').filter(Boolean).slice(0, keepLines);
    // through a temporary file: truncating in place, a kill between truncation and write lost the log
    writeFileSync(`${this.path}.tmp`, kept.map((l) => `${l}\n`).join(''));
    renameSync(`${this.path}.tmp`, this.path);
    this.lines = kept.length;
  }

  write(r: LogRecord): void {
    appendFileSync(this.path, `${JSON.stringify(r)}\n`);
    this.lines++;
  }
}

export function readLog(path: string): LogRecord[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogRecord);
}

export interface ProgressSink {
  update(step: number, info: { loss: number; seqPerS: number }): void;
  note(line: string): void;
  stop(): void;
}

/** A progress bar on a TTY, else one line every `every` steps; `note` prints above the bar. */
export function progressSink(total: number, startStep: number, every: number, print: (line: string) => void, tty = Boolean(process.stdout.isTTY)): ProgressSink {
  if (!tty) {
    const t0 = Date.now();
    return {
      update(step, { loss, seqPerS }) {
        if (step % every !== 0 && step !== total) return;
        const done = step - startStep;
        const eta = done > 0 ? ((Date.now() - t0) / done) * (total - step) : 0;
        print(`step ${step}/${total}  loss ${loss.toFixed(4)}  ${seqPerS.toFixed(1)} seq/s  eta ${fmtSeconds(eta / 1000)}`);
      },
      note: print,
      stop() {},
    };
  }
  // the bar's text takes ~58 columns; the bar gets what is left of the terminal's width, at least 8
  const columns = process.stdout.columns || 80;
  const multi = new cliProgress.MultiBar(
    { format: 'train |{bar}| {value}/{total} | loss {loss} | {speed} seq/s | ETA {eta_formatted}', hideCursor: true, etaBuffer: 20, barsize: Math.max(8, columns - 58) },
    cliProgress.Presets.shades_classic,
  );
  const bar = multi.create(total, startStep, { loss: '-', speed: '-' });
  // a training step keeps the event loop busy, so cli-progress's redraw timer would never fire: redraw
  // from here, at most ~10 times a second, and at once when a line is logged above the bar
  let drawn = 0;
  const redraw = (now = performance.now()) => {
    drawn = now;
    multi.update();
  };
  return {
    update(step, { loss, seqPerS }) {
      bar.update(step, { loss: loss.toFixed(4), speed: seqPerS.toFixed(1) });
      const now = performance.now();
      if (now - drawn >= 100) redraw(now);
    },
    note(line) {
      multi.log(`${line}\n`);
      redraw();
    },
    stop() {
      multi.stop();
    },
  };
}

export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m ? `${m}m${Math.round(s % 60)}s` : `${s.toFixed(0)}s`;
}
