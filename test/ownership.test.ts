/**
 * Ownership of replaced tensors: loading weights, resuming a checkpoint, loading optimiser state, merging
 * adapters and training steps replace tensors' contents; afterwards the live tensor and buffer counts must
 * be what they were, and disposing everything must give every buffer back.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.ts';
import { loadCheckpoint, saveCheckpoint, type Progress } from '../src/train/checkpoint.ts';

const cpu = () => P.cpuBackend();

function tinyBert(seed = 1): P.BertForSequenceClassification {
  const cfg = P.parseBertConfig({ model_type: 'bert', vocab_size: 30, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 16, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 });
  return new P.BertForSequenceClassification(cfg, { generator: new P.Generator(seed), dtype: 'float32' });
}

const counts = () => ({ tensors: P.liveTensors(), buffers: cpu().liveBuffers() });

function batch() {
  return {
    inputIds: P.tensor(Int32Array.from([2, 5, 7, 3, 2, 9, 3, 0]), { shape: [2, 4] }),
    attentionMask: P.tensor(Int32Array.from([1, 1, 1, 1, 1, 1, 1, 0]), { shape: [2, 4] }),
    labels: P.tensor(Int32Array.from([1, 0])),
  };
}

/** One AdamW step of `model` on a fixed batch; every temporary disposed. */
function step(model: P.BertForSequenceClassification, opt: P.AdamW): void {
  const b = batch();
  const scope = P.beginScope();
  model.forward(b).loss!.backward();
  P.clipGradNorm(opt.params, 1).dispose();
  opt.update();
  opt.zeroGrad();
  scope.end();
  Object.values(b).forEach((t) => t.dispose());
}

describe('replaced tensors are owned, not leaked', () => {
  it('loadStateDict keeps the live counts and frees every buffer on dispose', () => {
    const start = counts();
    const model = tinyBert();
    const afterInit = counts();
    const source = new Map<string, P.StateValue>();
    for (const [name, p] of model.namedParameters()) source.set(name, { data: new Float32Array(p.size).fill(0.5), shape: p.shape });
    model.loadStateDict(source);
    expect(counts()).toEqual(afterInit);
    // a source of tensors is copied, and stays the caller's
    const tensors = new Map<string, P.StateValue>([...model.namedParameters()].map(([n, p]) => [n, P.keep(P.onesLike(p))]));
    const withSource = counts();
    model.loadStateDict(tensors);
    expect(counts()).toEqual(withSource);
    for (const t of tensors.values()) (t as P.Tensor).dispose();
    model.dispose();
    expect(counts()).toEqual(start);
  });

  it('a full fine-tuning step keeps the live counts (parameters, moments, gradients)', () => {
    const start = counts();
    const model = tinyBert();
    P.applyMethod(model, 'full');
    const opt = new P.AdamW(P.paramGroups(model, 0.01), { lr: 1e-3 });
    step(model, opt);
    const warm = counts();
    for (let i = 0; i < 3; i++) step(model, opt);
    expect(counts()).toEqual(warm);
    opt.dispose();
    model.dispose();
    expect(counts()).toEqual(start);
  });

  it('resuming a checkpoint and loading AdamW state keep the live counts', async () => {
    const start = counts();
    const model = tinyBert();
    const setup = P.applyMethod(model, 'prilora', { rankStart: 2, rankEnd: 4 }, { seed: 3 });
    const opt = new P.AdamW(P.paramGroups(model, 0.01), { lr: 1e-3 });
    step(model, opt);
    const dir = join(mkdtempSync(join(tmpdir(), 'prilora-own-')), 'ckpt');
    const progress: Progress = { step: 1, epoch: 0, batchInEpoch: 1, dropoutOffset: 0, best: null, logLines: 0, fingerprint: 'x' };
    await saveCheckpoint(dir, model, setup.adapters, opt, progress);
    const warm = counts();
    loadCheckpoint(dir, model, setup.adapters, opt, 'x');
    expect(counts()).toEqual(warm);
    opt.loadStateDict(await opt.stateDict());
    expect(counts()).toEqual(warm);
    opt.dispose();
    for (const ad of setup.adapters) ad.detach();
    model.dispose();
    expect(counts()).toEqual(start);
  });

  it('a number operand lives exactly as long as the result that consumed it', () => {
    const x = P.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const before = counts();
    const y = P.mul(x, 2); // outside any scope: the 0-d 2 must not outlive y
    expect(counts()).toEqual({ tensors: before.tensors + 2, buffers: before.buffers + 2 }); // y and its constant
    y.dispose();
    expect(counts()).toEqual(before);
    // the constants of a graph live until its outputs are disposed: backward after the forward still reads them
    const scope = P.beginScope();
    P.sum(P.mul(P.sub(x, 0.5), 3)).backward();
    scope.end();
    expect(Array.from(x.grad!.dataSync())).toEqual([3, 3, 3]);
    x.grad!.dispose();
    x.grad = null;
    expect(counts()).toEqual(before);
    x.dispose();
  });

  it('merge and unmerge keep the live counts', () => {
    const model = tinyBert();
    const setup = P.applyMethod(model, 'lora', { rank: 2 }, { seed: 4 });
    const before = counts();
    for (const ad of setup.adapters) ad.merge();
    for (const ad of setup.adapters) ad.unmerge();
    expect(counts()).toEqual(before);
    for (const ad of setup.adapters) ad.detach();
    model.dispose();
  });
});
