/// <reference types="@webgpu/types" />
/**
 * GPU time per dispatch from timestamp queries (the optional 'timestamp-query' feature). While a timer is
 * on, every dispatch gets a compute pass of its own whose beginning and end write a timestamp; at each
 * submit the query set is resolved into a buffer that is read back asynchronously, and each duration goes
 * to the owner the dispatch was recorded for (a census row). A pass per dispatch costs GPU time of its own
 * (and stops a driver from overlapping neighbouring kernels), so only the census turns this on.
 */
import { USAGE } from './pool.ts';

const QUERY_RESOLVE = 0x200;
const MAP_MODE_READ = 1;

export class TimestampTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  /** owner of each dispatch recorded since the last submit */
  private owners: number[] = [];
  private readonly pending: Promise<void>[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly onTime: (owner: number, seconds: number) => void,
    /** dispatches per submit at most (two queries each) */
    readonly capacity = 1024,
  ) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * capacity });
    this.resolveBuffer = device.createBuffer({ size: 16 * capacity, usage: QUERY_RESOLVE | USAGE.COPY_SRC });
  }

  get full(): boolean {
    return this.owners.length >= this.capacity;
  }

  /** The pass descriptor of the next dispatch, which belongs to `owner`. */
  pass(owner: number): GPUComputePassDescriptor {
    const i = this.owners.length;
    this.owners.push(owner);
    return { timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /**
   * Encode the resolve of this submit's queries (no compute pass may be open); returns what `collect`
   * needs after the submit, or null when nothing was timed.
   */
  resolve(encoder: GPUCommandEncoder): { readback: GPUBuffer; owners: number[] } | null {
    const n = this.owners.length;
    if (n === 0) return null;
    const readback = this.device.createBuffer({ size: 16 * n, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, readback, 0, 16 * n);
    const owners = this.owners;
    this.owners = [];
    return { readback, owners };
  }

  /** Read the resolved timestamps once the submit has run (call right after it). */
  collect(r: { readback: GPUBuffer; owners: number[] }): void {
    const read = r.readback.mapAsync(MAP_MODE_READ).then(() => {
      const t = new BigUint64Array(r.readback.getMappedRange());
      // nanoseconds; a pair that went backwards (a driver's reordering) counts as 0
      r.owners.forEach((owner, i) => this.onTime(owner, Math.max(0, Number(t[2 * i + 1] - t[2 * i])) / 1e9));
      r.readback.unmap();
    }).finally(() => r.readback.destroy());
    this.pending.push(read);
  }

  /** Resolves when every timestamp read started so far has been delivered. */
  async settle(): Promise<void> {
    await Promise.all(this.pending.splice(0));
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}
