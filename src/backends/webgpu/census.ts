/**
 * The census behind `Backend.startCensus` / `stopCensus`: every dispatch counted under its kernel variant
 * and operand shapes, with the FLOPs and bytes the host side states for it (kernels.ts) and, where the
 * device has timestamp queries, its GPU time. Rows keep the order in which kernels first ran.
 */
import type { CensusReport, CensusRow } from '../backend.ts';

/** What the host knows about one dispatch: operand shapes (for the table), arithmetic and memory traffic. */
export interface KernelInfo {
  shape: string;
  /** floating-point operations (a multiply-add counts 2) */
  flops: number;
  /** bytes read plus bytes written, each operand element once (the ideal traffic) */
  bytes: number;
}

export class Census {
  private readonly rows: CensusRow[] = [];
  private readonly index = new Map<string, number>();
  private dispatches = 0;

  constructor(
    readonly dryRun: boolean,
    readonly timing: CensusReport['timing'],
  ) {}

  /** Count one dispatch; returns its row (the owner of its timestamps). */
  record(kernel: string, describe: (() => KernelInfo) | undefined): number {
    const info = describe?.();
    const shape = info?.shape ?? '';
    const key = `${kernel}\u0000${shape}`;
    let at = this.index.get(key);
    if (at === undefined) {
      at = this.rows.length;
      this.index.set(key, at);
      this.rows.push({ kernel, shape, count: 0, flops: 0, bytes: 0, seconds: this.timing === 'none' ? null : 0 });
    }
    const row = this.rows[at];
    row.count++;
    row.flops += info?.flops ?? 0;
    row.bytes += info?.bytes ?? 0;
    this.dispatches++;
    return at;
  }

  addTime(row: number, seconds: number): void {
    const r = this.rows[row];
    if (r.seconds !== null) r.seconds += seconds;
  }

  report(): CensusReport {
    return { dispatches: this.dispatches, timing: this.timing, dryRun: this.dryRun, rows: this.rows.map((r) => ({ ...r })) };
  }
}
