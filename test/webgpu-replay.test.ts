/**
 * Recorded-step replay on WebGPU (src/backends/webgpu/replay.ts, src/train/replayed-step.ts): a replayed
 * step must leave exactly what the live step leaves, bit for bit, and stop replaying whenever what it
 * recorded no longer holds. Each check trains a model with replay beside a twin trained live.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { startWebGPU } from './webgpu-start.ts';
import { parseBertConfig } from '../src/nn/bert.ts';

const gpu = await startWebGPU('test/webgpu-replay.test.ts');
const on = { backend: gpu! };
const [BATCH, SEQ, VOCAB] = [4, 6, 40];

/** Batch `k` (three different ones, by k mod 3) as host arrays: token ids, attention mask, labels. */
function hostBatch(k: number): [Int32Array, Int32Array, Int32Array] {
  const j = k % 3;
  const ids = Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i * (7 + j) + 3 * j) % VOCAB);
  const mask = Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i % SEQ < SEQ - ((i + j) % 3) ? 1 : 0));
  const labels = Int32Array.from({ length: BATCH }, (_, i) => (i + j) % 2);
  return [ids, mask, labels];
}

/** A 2-layer BERT with LoRA and dropout, AdamW, and a step as the trainer takes it (replayed or not). */
function setup(replay: boolean) {
  const cfg = parseBertConfig({
    model_type: 'bert', vocab_size: VOCAB, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24,
    max_position_embeddings: 16, num_labels: 2, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
  });
  const model = new P.BertForSequenceClassification(cfg, { ...on, generator: new P.Generator(3) });
  P.applyMethod(model, 'lora', {}, { seed: 1 });
  const dropout = new P.Generator(11);
  for (const [, m] of model.namedModules()) if (m instanceof P.Dropout) m.generator = dropout;
  model.train();
  const opt = new P.AdamW(P.paramGroups(model, 0.01), { lr: 5e-3 });
  const replayer = replay ? new P.StepReplayer([dropout]) : null;
  /** one step on batch k: loss, gradient norm, whether it was replayed; `keepLoss` leaves the loss alive */
  const step = async (k: number, keepLoss = false) => {
    const [ids, mask, y] = hostBatch(k);
    const inputIds = P.tensor(ids, { shape: [BATCH, SEQ], ...on });
    const attentionMask = P.tensor(mask, { shape: [BATCH, SEQ], ...on });
    const labels = P.tensor(y, on);
    const region = () => {
      const l = P.withTokenMask(attentionMask, () => model.forward({ inputIds, attentionMask, labels }).loss!);
      l.backward();
      return [l, P.clipGradNorm(opt.params, 0.5)];
    };
    const [loss, norm] = P.tidy(() => (replayer ? replayer.run(opt.params, [inputIds, attentionMask, labels], region) : region()));
    const values = [(await loss.data())[0], (await norm.data())[0]];
    opt.update();
    opt.zeroGrad();
    for (const t of [norm, inputIds, attentionMask, labels, ...(keepLoss ? [] : [loss])]) t.dispose();
    return { loss: values[0], norm: values[1], replayed: replayer?.replayed ?? false, kept: keepLoss ? loss : null };
  };
  const dispose = () => {
    opt.dispose();
    model.dispose();
  };
  return { model, opt, dropout, replayer, step, dispose };
}

const paramValues = (m: P.Module) => Promise.all(m.parameters().map(async (p) => [...(await p.data())]));

describe.skipIf(!gpu)('webgpu: recorded-step replay', () => {
  const backend = gpu!;

  it('replayed steps give the live steps’ losses, gradient norms, parameters and generator, bit for bit (dropout on, a new batch each step, a parameter replaced midway)', async () => {
    const runs = [];
    for (const replay of [false, true]) {
      const t = setup(replay);
      const before = backend.replays.stats.replayed;
      const steps = [];
      for (let k = 0; k < 14; k++) {
        if (k === 7) {
          // a new storage for a parameter the recording reads: the recording is stale, the next steps live
          const w = t.model.parameters()[0];
          P.noGrad(() => w.assignFrom(P.mul(w, 0.5)));
        }
        steps.push(await t.step(k));
      }
      runs.push({ steps, params: await paramValues(t.model), offset: t.dropout.offset, replayed: backend.replays.stats.replayed - before });
      t.dispose();
    }
    const [live, replayed] = runs;
    expect(live.replayed).toBe(0);
    expect(replayed.steps.map((s) => [s.loss, s.norm])).toEqual(live.steps.map((s) => [s.loss, s.norm]));
    expect(replayed.params).toEqual(live.params);
    expect(replayed.offset).toBe(live.offset);
    expect(live.offset).toBeGreaterThan(0);
    // two recorded steps that agree, then replays; the replaced parameter costs two recordings again
    expect(replayed.steps.map((s) => s.replayed)).toEqual([false, false, true, true, true, true, true, false, false, true, true, true, true, true]);
    expect(replayed.replayed).toBe(10);
    // the loss moved: the steps trained something
    expect(live.steps[13].loss).not.toBe(live.steps[0].loss);
  });

  it('a region whose host values change between runs is never replayed; with fixed ones it is, on each new input, its host effects made again', async () => {
    const replayer = new P.StepReplayer();
    const x = P.tensor(Float32Array.from([1, 2, 3]), on);
    for (let k = 1; k <= 4; k++) {
      const [y] = P.tidy(() => replayer.run([], [x], () => [P.mul(x, k)]));
      expect([...(await y.data())]).toEqual([k, 2 * k, 3 * k]);
      expect(replayer.replayed).toBe(false);
      y.dispose();
    }
    expect(replayer.refused).toMatch(/differs between two runs/);
    x.dispose();
    const seen: boolean[] = [];
    let counted = 0;
    for (let k = 1; k <= 5; k++) {
      const input = P.tensor(Float32Array.from([k, -k, 0.5 * k]), on);
      const region = () => {
        // host state the region changes: made again by every replay
        P.hostEffect(() => counted++);
        return [P.add(P.mul(input, 3), 1)];
      };
      const [y] = P.tidy(() => replayer.run([], [input], region));
      expect([...(await y.data())]).toEqual([3 * k + 1, -3 * k + 1, 1.5 * k + 1]);
      seen.push(replayer.replayed);
      for (const t of [y, input]) t.dispose();
    }
    expect(seen).toEqual([false, false, true, true, true]);
    expect(counted).toBe(5);
  });

  it('a replay is refused while the previous replay’s outputs live, and after invalidate; both recover', async () => {
    const t = setup(true);
    let k = 0;
    /** steps until one is replayed again: two recordings that agree, then the replay */
    const untilReplayed = async () => {
      const from = k;
      while (!(await t.step(k++)).replayed) expect(k - from).toBeLessThan(6);
      return k - from;
    };
    await untilReplayed();
    const kept = await t.step(k++, true);
    expect(kept.replayed).toBe(true);
    expect((await t.step(k++)).replayed).toBe(false);
    expect(t.replayer!.refused).toMatch(/outputs of the previous replay are still alive/);
    kept.kept!.dispose();
    // the recording was dropped rather than have its outputs change under their holder: recorded again
    expect(await untilReplayed()).toBeGreaterThanOrEqual(2);
    t.replayer!.invalidate('the test changed a host decision');
    expect((await t.step(k++)).replayed).toBe(false);
    expect(t.replayer!.refused).toBe('the test changed a host decision');
    expect(await untilReplayed()).toBeGreaterThanOrEqual(2);
    t.dispose();
  });

  it('200 replayed steps leave the live storages, tensors and the pool unchanged; disposing the model gives the reserved buffers back', async () => {
    const t = setup(true);
    for (let k = 0; k < 6; k++) await t.step(k);
    const [buffers, tensors, created] = [backend.liveBuffers(), P.liveTensors(), backend.poolStats().created];
    const pooled = backend.poolStats().pooled;
    let replays = 0;
    for (let k = 6; k < 206; k++) if ((await t.step(k)).replayed) replays++;
    expect(replays).toBe(200);
    expect(backend.liveBuffers()).toBe(buffers);
    expect(P.liveTensors()).toBe(tensors);
    expect(backend.poolStats().created).toBe(created);
    t.dispose();
    // the parameters' storages were watched: freeing them made the recording stale, its buffers pooled again
    expect(backend.poolStats().pooled).toBeGreaterThan(pooled);
    const fresh = setup(true);
    expect((await fresh.step(0)).replayed).toBe(false);
    fresh.dispose();
  });
});
