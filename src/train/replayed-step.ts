/**
 * Training steps replayed from a recording where the backend can (webgpu: src/backends/webgpu/replay.ts).
 * What is replayed is the part of a step that depends on the step only through its batch and its random
 * generators: forward, backward, gradient masking, clipping. The optimiser's update, whose bias corrections
 * and learning rate change every step, runs live after it, as does everything the host decides; whoever
 * changes such a decision (pruning adds masks) calls `invalidate`. A replayed region leaves what a live one
 * leaves: the tensors it returns, every parameter's gradient, the generators advanced by what it draws.
 */
import type { Backend, Storage } from '../backends/backend.ts';
import { collectHostEffects } from '../core/host-effects.ts';
import { defaultGenerator, type Generator } from '../core/random.ts';
import type { Layout } from '../core/layout.ts';
import { keep } from '../tensor/scope.ts';
import { Tensor } from '../tensor/tensor.ts';

/** How a region's results are rebuilt from the storages a replay lends. */
interface Plan {
  /** the returned tensors: their storage (index into the outputs) and layout */
  results: { slot: number; layout: Layout }[];
  /** the parameters that got gradients (index into `params`), as above */
  grads: { param: number; slot: number; layout: Layout }[];
  strides: number[];
  /** host state the region changes (./core/host-effects.ts), done again at each replay */
  effects: (() => void)[];
}

const generatorIds = new WeakMap<Generator, number>();
let nextGeneratorId = 1;
const generatorId = (g: Generator) => generatorIds.get(g) ?? (generatorIds.set(g, nextGeneratorId), nextGeneratorId++);

export class StepReplayer {
  private readonly plans = new Map<string, Plan>();
  private backend: Backend | null = null;
  /** whether the last `run` was replayed, and if not, why not (the backend's reason) */
  replayed = false;
  refused: string | null = null;

  /** `generators`: those the region draws from besides the default one (dropout's). */
  constructor(private readonly generators: readonly Generator[] = []) {}

  /**
   * `region()`'s results for a step on `inputs` (its batch, made before it), replayed where possible. The
   * region must be synchronous and leave gradients on `params` only; `params` must have none before it.
   */
  run(params: readonly Tensor[], inputs: readonly Tensor[], region: () => Tensor[]): Tensor[] {
    const backend = inputs[0]?.backend;
    const replays = backend?.replays;
    this.replayed = false;
    this.refused = 'the backend does not record steps, or the inputs are views, or gradients were left';
    if (!replays || params.some((p) => p.grad !== null)) return region();
    const storages = inputs.map((t) => t.view('replay').storage);
    // a replay copies whole storages into the recorded inputs
    const whole = inputs.every((t, i) => t.backend === backend && t.isContiguous && t.layout.offset === 0 && storages[i].length === t.size);
    if (!whole) return region();
    this.backend = backend;
    // the random words a recording holds name its generators' seeds
    const key = [...inputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`), ...this.generatorsNow().map((g) => `g${generatorId(g)}`)].join(' ');
    const replayed = replays.replay(key, storages);
    this.replayed = replayed !== null;
    this.refused = replayed ? null : replays.stats.refused;
    if (replayed) return this.adopt(backend, params, replayed.outputs, this.plans.get(replayed.signature)!);
    let results: Tensor[] = [];
    replays.record(key, storages, () => {
      const gens = this.generatorsNow();
      const before = gens.map((g) => g.offset);
      const made = collectHostEffects(region);
      results = made.result;
      const outputs: Storage[] = [];
      const slotOf = (t: Tensor) => {
        const s = t.view('replay').storage;
        const at = outputs.indexOf(s);
        return at >= 0 ? at : outputs.push(s) - 1;
      };
      const plan: Plan = {
        results: results.map((t) => ({ slot: slotOf(t), layout: t.layout })),
        grads: params.flatMap((p, param) => (p.grad ? [{ param, slot: slotOf(p.grad), layout: p.grad.layout }] : [])),
        strides: gens.map((g, i) => g.offset - before[i]),
        effects: made.effects,
      };
      // per key, so that a plan's effects are its own recording's; they enter as their count (JSON writes a
      // function as null)
      const signature = `${key} ${JSON.stringify(plan)}`;
      this.plans.set(signature, plan);
      return { outputs, signature, strides: plan.strides };
    });
    return results;
  }

  /** Forget every recording (a host decision inside the region changed). */
  invalidate(reason: string): void {
    this.backend?.replays?.invalidate(reason);
  }

  private generatorsNow(): Generator[] {
    return [...new Set([...this.generators, defaultGenerator()])];
  }

  private adopt(backend: Backend, params: readonly Tensor[], outputs: Storage[], plan: Plan): Tensor[] {
    const made: (Tensor | undefined)[] = [];
    const wrap = (slot: number, layout: Layout) => {
      const have = made[slot];
      return have ? have.withLayout(layout) : (made[slot] = Tensor.fromStorage(backend, outputs[slot], layout));
    };
    const results = plan.results.map((r) => wrap(r.slot, r.layout));
    for (const g of plan.grads) params[g.param].grad = keep(wrap(g.slot, g.layout));
    this.generatorsNow().forEach((gen, i) => (gen.offset += plan.strides[i]));
    for (const e of plan.effects) e();
    return results;
  }
}
