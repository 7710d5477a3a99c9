/**
 * Float32 GEMM in wasm, GotoBLAS-style: B is packed into kc × nc panels of NR-column slivers, A into
 * mc × kc blocks of MR-row slivers (zero-padded), and an MR × NR register-blocked micro-kernel runs over
 * them with f32x4 multiply-adds (fused with relaxed SIMD where available). Packing makes every stride
 * pattern (transposed, broadcast, offset views) run the same inner loop. A call computes rows [i0, i1) and
 * columns [j0, j1) of C for batches [b0, b1), so threads can split a product along any of those; a large
 * single product can have B packed once for all threads (packPanels) instead of once per chunk.
 */
import { f32, i32, v128, type Fn, type ModuleBuilder } from './encoder.ts';
import { F32, I32, V, lanes32 } from './opcodes.ts';

export interface GemmShape {
  mr: number;
  /** multiple of 4 */
  nr: number;
  kc: number;
  mc: number;
  nc: number;
  /** k-loop unroll */
  unroll: number;
  fma: boolean;
}

/** Descriptor words (i32), one descriptor per chunk of work. Strides and addresses are in bytes. */
export const G = {
  m: 0, n: 1, k: 2, rsa: 3, csa: 4, rsb: 5, csb: 6, ldc: 7, table: 8, i0: 9, i1: 10, j0: 11, j1: 12, b0: 13, b1: 14,
  /** address of B already packed whole by packPanels (0: each call packs its own panels), and n padded to NR */
  bpacked: 15, npad: 16, words: 17,
} as const;

/** The running thread's scratch (its address is every kernel's trailing argument): packing panels and tile. */
export const SCRATCH = { packA: 0, packB: 1, tile: 2, words: 4 } as const;

const min = (f: Fn, a: () => void, b: () => void) => {
  const ta = f.local(i32), tb = f.local(i32);
  a();
  f.set(ta);
  b();
  f.set(tb);
  f.get(ta).get(tb).get(ta).get(tb).op(I32.lt_s).op(I32.select);
};

export function emitGemm(mb: ModuleBuilder, s: GemmShape): void {
  const micro = emitMicro(mb, s);
  const packA = emitPack(mb, s.mr);
  const packB = emitPack(mb, s.nr);
  // packPanels(b, rsb, csb, k, npad, j0, j1, dst): columns [j0, j1) of the whole k × n B, every kc block,
  // at dst + (pc·npad + j·kc)·4, the layout gemm reads when `bpacked` is set (threads pack column ranges)
  mb.func('packPanels', [i32, i32, i32, i32, i32, i32, i32, i32], [], (f) => {
    const [b, rsb, csb, k, npad, j0, j1, dst] = [0, 1, 2, 3, 4, 5, 6, 7];
    const pc = f.local(i32), kc = f.local(i32);
    f.for(pc, () => f.i32c(0), () => f.get(k), s.kc, () => {
      min(f, () => f.i32c(s.kc), () => f.get(k).get(pc).op(I32.sub));
      f.set(kc);
      f.get(b).get(pc).get(rsb).op(I32.mul).op(I32.add).get(j0).get(csb).op(I32.mul).op(I32.add);
      f.get(csb).get(rsb).get(kc).get(j1).get(j0).op(I32.sub);
      f.get(dst).get(pc).get(npad).op(I32.mul).get(j0).get(kc).op(I32.mul).op(I32.add).i32c(2).op(I32.shl).op(I32.add);
      f.call(mb.indexOf(packB));
    });
  });
  mb.func('gemm', [i32, i32], [], (f) => {
    const desc = 0, scratch = 1;
    const L = () => f.local(i32);
    const w: Record<string, number> = {};
    for (const key of Object.keys(G)) if (key !== 'words') w[key] = L();
    for (const [key, idx] of Object.entries(G)) if (key !== 'words') f.get(desc).mem(I32.load, 4 * idx).set(w[key]);
    for (const key of ['packA', 'packB', 'tile'] as const) {
      w[key] = L();
      f.get(scratch).mem(I32.load, 4 * SCRATCH[key]).set(w[key]);
    }
    const bt = L(), A = L(), B = L(), C = L(), jc = L(), nc = L(), pc = L(), kc = L(), ic = L(), mc = L(), jr = L(), ir = L(), nr = L();
    const mrEff = L(), pa = L(), pb = L(), cRow = L(), panel = L();
    f.for(bt, () => f.get(w.b0), () => f.get(w.b1), 1, () => {
      const entry = (o: number) => f.get(w.table).get(bt).i32c(12).op(I32.mul).op(I32.add).mem(I32.load, o);
      entry(0).set(A);
      entry(4).set(B);
      entry(8).set(C);
      f.for(jc, () => f.get(w.j0), () => f.get(w.j1), s.nc, () => {
        min(f, () => f.i32c(s.nc), () => f.get(w.j1).get(jc).op(I32.sub));
        f.set(nc);
        f.for(pc, () => f.i32c(0), () => f.get(w.k), s.kc, () => {
          min(f, () => f.i32c(s.kc), () => f.get(w.k).get(pc).op(I32.sub));
          f.set(kc);
          // B panel (rows pc.., columns jc..): packed here, or found in the shared pre-packed B
          f.get(w.bpacked).op(I32.eqz).if(() => {
            f.get(B).get(pc).get(w.rsb).op(I32.mul).op(I32.add).get(jc).get(w.csb).op(I32.mul).op(I32.add);
            f.get(w.csb).get(w.rsb).get(kc).get(nc).get(w.packB).call(mb.indexOf(packB));
            f.get(w.packB).set(panel);
          }, () => {
            f.get(w.bpacked).get(pc).get(w.npad).op(I32.mul).get(jc).get(kc).op(I32.mul).op(I32.add).i32c(2).op(I32.shl).op(I32.add).set(panel);
          });
          f.for(ic, () => f.get(w.i0), () => f.get(w.i1), s.mc, () => {
            min(f, () => f.i32c(s.mc), () => f.get(w.i1).get(ic).op(I32.sub));
            f.set(mc);
            f.get(A).get(ic).get(w.rsa).op(I32.mul).op(I32.add).get(pc).get(w.csa).op(I32.mul).op(I32.add);
            f.get(w.rsa).get(w.csa).get(kc).get(mc).get(w.packA).call(mb.indexOf(packA));
            f.for(jr, () => f.i32c(0), () => f.get(nc), s.nr, () => {
              min(f, () => f.i32c(s.nr), () => f.get(nc).get(jr).op(I32.sub));
              f.set(nr);
              f.get(panel).get(jr).get(kc).op(I32.mul).i32c(2).op(I32.shl).op(I32.add).set(pb);
              // C + ic·ldc + (jc + jr)·4
              f.get(C).get(ic).get(w.ldc).op(I32.mul).op(I32.add).get(jc).get(jr).op(I32.add).i32c(2).op(I32.shl).op(I32.add).set(cRow);
              f.for(ir, () => f.i32c(0), () => f.get(mc), s.mr, () => {
                min(f, () => f.i32c(s.mr), () => f.get(mc).get(ir).op(I32.sub));
                f.set(mrEff);
                f.get(w.packA).get(ir).get(kc).op(I32.mul).i32c(2).op(I32.shl).op(I32.add).set(pa);
                f.get(kc).get(pa).get(pb).get(cRow).get(w.ldc).get(mrEff).get(nr).get(pc).get(w.tile).call(mb.indexOf(micro));
                f.inc(cRow, () => f.get(w.ldc).i32c(s.mr).op(I32.mul));
              });
            });
          });
        });
      });
    });
  });
}

/**
 * pack(src, stride along the sliver, stride along k, kc, len, dst): slivers of `width` lines, each stored
 * k-major (width consecutive values per k), the last sliver zero-padded. Contiguous 4-wide groups along
 * the sliver are copied with v128 loads; when k is the contiguous axis, 4×4 blocks are transposed in
 * registers instead of gathered element by element.
 */
function emitPack(mb: ModuleBuilder, width: number): Fn {
  return mb.func(null, [i32, i32, i32, i32, i32, i32], [], (f) => {
    const [src, sl, sk, kc, len, dst] = [0, 1, 2, 3, 4, 5];
    const t = f.local(i32), p = f.local(i32), d = f.local(i32), q = f.local(i32), full = f.local(i32);
    const rows = [f.local(v128), f.local(v128), f.local(v128), f.local(v128)];
    const tmp = [f.local(v128), f.local(v128), f.local(v128), f.local(v128)];
    f.get(dst).set(d);
    f.for(t, () => f.i32c(0), () => f.get(len), width, () => {
      f.get(t).i32c(width).op(I32.add).get(len).op(I32.le_s).set(full);
      const lineAt = (line: () => void) => {
        f.get(src);
        line();
        f.get(sl).op(I32.mul).op(I32.add);
      };
      // full slivers, lines contiguous along the sliver (sl = 4): straight v128 copies per k
      f.get(full).get(sl).i32c(4).op(I32.eq).op(I32.and).if(() => {
        lineAt(() => f.get(t));
        f.set(q);
        f.for(p, () => f.i32c(0), () => f.get(kc), 1, () => {
          for (let g = 0; g < width; g += 4) {
            if (width - g >= 4) f.get(d).get(q).simdMem(V.load, 4 * g).simdMem(V.store, 4 * g);
          }
          for (let g = width - (width % 4); g < width; g++) f.get(d).get(q).mem(F32.load, 4 * g).mem(F32.store, 4 * g);
          f.inc(q, () => f.get(sk));
          f.inc(d, 4 * width);
        });
      }, () => {
        // full slivers with k contiguous (sk = 4) and width a multiple of 4: 4×4 transposes
        f.get(full).get(sk).i32c(4).op(I32.eq).op(I32.and).i32c(width % 4 === 0 ? 1 : 0).op(I32.and).if(() => {
          f.i32c(0).set(p);
          f.block(() => f.loop(() => {
            f.get(p).i32c(4).op(I32.add).get(kc).op(I32.gt_s).brIf(1);
            for (let g = 0; g < width; g += 4) {
              for (let l = 0; l < 4; l++) {
                lineAt(() => f.get(t).i32c(g + l).op(I32.add));
                f.get(p).i32c(2).op(I32.shl).op(I32.add).simdMem(V.load).set(rows[l]);
              }
              f.get(rows[0]).get(rows[1]).simd(V.shuffle, ...lanes32(0, 4, 1, 5)).set(tmp[0]);
              f.get(rows[0]).get(rows[1]).simd(V.shuffle, ...lanes32(2, 6, 3, 7)).set(tmp[1]);
              f.get(rows[2]).get(rows[3]).simd(V.shuffle, ...lanes32(0, 4, 1, 5)).set(tmp[2]);
              f.get(rows[2]).get(rows[3]).simd(V.shuffle, ...lanes32(2, 6, 3, 7)).set(tmp[3]);
              const pairs: [number, number, number[]][] = [[0, 2, [0, 1, 4, 5]], [0, 2, [2, 3, 6, 7]], [1, 3, [0, 1, 4, 5]], [1, 3, [2, 3, 6, 7]]];
              pairs.forEach(([x, y, sh], kk) => {
                f.get(d).get(tmp[x]).get(tmp[y]).simd(V.shuffle, ...lanes32(...sh)).simdMem(V.store, 4 * (kk * width + g));
              });
            }
            f.inc(d, 16 * width).inc(p, 4).br(0);
          }));
          // remaining k one at a time
          f.block(() => f.loop(() => {
            f.get(p).get(kc).op(I32.ge_s).brIf(1);
            for (let g = 0; g < width; g++) {
              f.get(d);
              lineAt(() => f.get(t).i32c(g).op(I32.add));
              f.get(p).get(sk).op(I32.mul).op(I32.add).mem(F32.load).mem(F32.store, 4 * g);
            }
            f.inc(d, 4 * width).inc(p, 1).br(0);
          }));
        }, () => {
          // anything else, element by element, zero past the edge
          f.for(p, () => f.i32c(0), () => f.get(kc), 1, () => {
            for (let g = 0; g < width; g++) {
              f.get(t).i32c(g).op(I32.add).get(len).op(I32.lt_s).if(() => {
                f.get(d);
                lineAt(() => f.get(t).i32c(g).op(I32.add));
                f.get(p).get(sk).op(I32.mul).op(I32.add).mem(F32.load).mem(F32.store, 4 * g);
              }, () => f.get(d).f32c(0).mem(F32.store, 4 * g));
            }
            f.inc(d, 4 * width);
          });
        });
      });
    });
  });
}

/** micro(kc, pa, pb, c, ldc, mr, nr, accumulate, tile): C[mr × nr] (+)= Apanel · Bpanel. */
export function emitMicro(mb: ModuleBuilder, s: GemmShape, exportName: string | null = null): Fn {
  return mb.func(exportName, [i32, i32, i32, i32, i32, i32, i32, i32, i32], [], (f) => {
    const [kc, pa, pb, c, ldc, mr, nr, accum, tile] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const nv = s.nr / 4;
    const acc: number[][] = [];
    for (let i = 0; i < s.mr; i++) acc.push(Array.from({ length: nv }, () => f.local(v128)));
    const bv = Array.from({ length: nv }, () => f.local(v128));
    const a = f.local(v128), p = f.local(i32), addr = f.local(i32), i = f.local(i32), j = f.local(i32), v = f.local(v128), x = f.local(f32);
    for (const row of acc) for (const x of row) f.simd(V.const, ...new Array(16).fill(0)).set(x);
    const step = (u: number) => {
      for (let jj = 0; jj < nv; jj++) f.get(pb).simdMem(V.load, 4 * (u * s.nr + 4 * jj)).set(bv[jj]);
      for (let ii = 0; ii < s.mr; ii++) {
        f.get(pa).simdMem(V.load32_splat, 4 * (u * s.mr + ii), 2).set(a);
        for (let jj = 0; jj < nv; jj++) {
          if (s.fma) f.get(a).get(bv[jj]).get(acc[ii][jj]).simd(V.f32x4_relaxed_madd).set(acc[ii][jj]);
          else f.get(acc[ii][jj]).get(a).get(bv[jj]).simd(V.f32x4_mul).simd(V.f32x4_add).set(acc[ii][jj]);
        }
      }
    };
    f.i32c(0).set(p);
    f.block(() => f.loop(() => {
      f.get(p).i32c(s.unroll).op(I32.add).get(kc).op(I32.gt_s).brIf(1);
      for (let u = 0; u < s.unroll; u++) step(u);
      f.inc(pa, 4 * s.mr * s.unroll).inc(pb, 4 * s.nr * s.unroll).inc(p, s.unroll).br(0);
    }));
    f.block(() => f.loop(() => {
      f.get(p).get(kc).op(I32.ge_s).brIf(1);
      step(0);
      f.inc(pa, 4 * s.mr).inc(pb, 4 * s.nr).inc(p, 1).br(0);
    }));
    const full = () => f.get(mr).i32c(s.mr).op(I32.eq).get(nr).i32c(s.nr).op(I32.eq).op(I32.and);
    full().if(() => {
      for (let ii = 0; ii < s.mr; ii++) {
        f.get(c).get(ldc).i32c(ii).op(I32.mul).op(I32.add).set(addr);
        for (let jj = 0; jj < nv; jj++) {
          f.get(addr);
          f.get(accum).if(() => {
            f.get(addr).simdMem(V.load, 16 * jj).get(acc[ii][jj]).simd(V.f32x4_add).set(v);
          }, () => f.get(acc[ii][jj]).set(v));
          f.get(v).simdMem(V.store, 16 * jj);
        }
      }
    }, () => {
      // edge tile: through the scratch tile, then only the valid mr × nr corner
      for (let ii = 0; ii < s.mr; ii++) for (let jj = 0; jj < nv; jj++) f.get(tile).get(acc[ii][jj]).simdMem(V.store, 4 * (ii * s.nr + 4 * jj));
      f.for(i, () => f.i32c(0), () => f.get(mr), 1, () => {
        f.for(j, () => f.i32c(0), () => f.get(nr), 1, () => {
          f.get(c).get(i).get(ldc).op(I32.mul).op(I32.add).get(j).i32c(2).op(I32.shl).op(I32.add).set(addr);
          f.get(tile).get(i).i32c(s.nr).op(I32.mul).get(j).op(I32.add).i32c(2).op(I32.shl).op(I32.add).mem(F32.load).set(x);
          f.get(accum).if(() => f.get(addr).mem(F32.load).get(x).op(F32.add).set(x));
          f.get(addr).get(x).mem(F32.store);
        });
      });
    });
  });
}
