/**
 * The seeded random sources of the gradcheck suite: shapes for its cases, and a recording / replay pair
 * so that the device check builds each case twice (CPU float64, device float32) from the same draws.
 */
import { HostRng } from '../core/random.ts';

/** Seeded source of random shapes for the cases. */
export class ShapeRng extends HostRng {
  shape(minDims = 1, maxDims = 3, maxDim = 4): number[] {
    return Array.from({ length: this.int(minDims, maxDims) }, () => this.int(1, maxDim));
  }
  /** A shape that broadcasts against `s`: some dims set to 1, some leading dims dropped. */
  broadcastable(s: readonly number[]): number[] {
    const drop = this.int(0, s.length - 1);
    return s.slice(drop).map((d) => (this.next() < 0.35 ? 1 : d));
  }
}

/** Passes on another rng's draws and keeps them, so that a twin case can replay them. */
export class RecordingRng extends ShapeRng {
  readonly drawn: number[] = [];
  constructor(private readonly source: HostRng) {
    super(0);
  }
  override next(): number {
    const v = this.source.next();
    this.drawn.push(v);
    return v;
  }
}

/** Plays back a RecordingRng's draws, so a case built twice draws the same shapes. */
export class ReplayRng extends ShapeRng {
  private at = 0;
  constructor(private readonly draws: readonly number[]) {
    super(0);
  }
  override next(): number {
    return this.draws[this.at++];
  }
}
