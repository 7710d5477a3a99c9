/**
 * One optimiser step, shared by the file-backed loop (./loop.ts) and callers without a file system (the
 * browser fine-tuner in examples/finetune): forward, backward, clipping, a non-finite check of the loss
 * and of the gradient norm, the AdamW update. Every intermediate tensor is freed and the gradients zeroed
 * even when the step throws, so memory stays flat over a run whatever happens to a step.
 */
import { clipGradNorm, type AdamW } from '../optim/adamw.ts';
import { beginScope, tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { StepReplayer } from './replayed-step.ts';

export interface StepSpec {
  /** the step's loss (forward pass in training mode) */
  loss: () => Tensor;
  opt: AdamW;
  /** gradient-norm clipping threshold */
  clip: number;
  lr: number;
  /** between backward and clipping (permanent pruning masks the gradients here) */
  afterBackward?: () => void;
  /** replay forward, backward and clipping from a recording where the backend can (./replayed-step.ts) */
  replay?: { replayer: StepReplayer; inputs: readonly Tensor[] };
  /** the error to throw for a non-finite loss or gradient norm (the caller says what survives) */
  nonFinite: (what: 'loss' | 'gradient norm', value: number) => Error;
}

/**
 * The host waits on the device once per step: loss and gradient norm are read together after clipping,
 * not the loss before backward, so a GPU runs the forward pass while the host records the backward one.
 * Nothing is updated before both are known to be finite.
 */
export async function optimizerStep(s: StepSpec): Promise<{ loss: number; gradNorm: number }> {
  const scope = beginScope();
  try {
    const region = () => {
      const loss = s.loss();
      loss.backward();
      s.afterBackward?.();
      return [loss, clipGradNorm(s.opt.params, s.clip)];
    };
    // the region's intermediates (views of the weights among them) are freed before the update, which can
    // then work in place
    const [loss, norm] = tidy(() => (s.replay ? s.replay.replayer.run(s.opt.params, s.replay.inputs, region) : region()));
    const [lossValue, gradNorm] = (await Promise.all([loss.data(), norm.data()])).map((d) => d[0]);
    if (!Number.isFinite(lossValue)) throw s.nonFinite('loss', lossValue);
    if (!Number.isFinite(gradNorm)) throw s.nonFinite('gradient norm', gradNorm);
    s.opt.update(s.lr);
    return { loss: lossValue, gradNorm };
  } finally {
    s.opt.zeroGrad();
    scope.end();
  }
}
