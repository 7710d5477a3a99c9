/** Evaluation on a dev split: predictions in eval mode without autograd, then GLUE's metrics. */
import type { Backend } from '../backends/backend.ts';
import { noGrad } from '../autograd/record.ts';
import type { GlueTaskSpec } from '../data/glue-tasks.ts';
import { glueMetrics, type GlueMetrics } from '../data/metrics.ts';
import type { SequenceClassifier } from '../nn/auto.ts';
import { tidy } from '../tensor/scope.ts';
import { disposeBatch, makeBatch, type Encoded } from './batches.ts';

export async function evaluate(model: SequenceClassifier, spec: GlueTaskSpec, rows: readonly Encoded[], o: { batch: number; padId: number; backend?: Backend }): Promise<GlueMetrics> {
  const wasTraining = model.training;
  model.eval();
  const preds: number[] = [];
  const labels: number[] = [];
  for (let s = 0; s < rows.length; s += o.batch) {
    const chunk = rows.slice(s, s + o.batch);
    const b = makeBatch(chunk, o.padId, o.backend, () => ({}));
    const logits = tidy(() => noGrad(() => model.forward({ inputIds: b.inputIds, attentionMask: b.attentionMask, tokenTypeIds: b.tokenTypeIds }).logits));
    const data = await logits.data();
    logits.dispose();
    disposeBatch(b);
    const c = model.numLabels;
    for (let i = 0; i < chunk.length; i++) {
      if (spec.regression) preds.push(data[i]);
      else {
        let best = 0;
        for (let k = 1; k < c; k++) if (data[i * c + k] > data[i * c + best]) best = k;
        preds.push(best);
      }
      labels.push(chunk[i].label);
    }
  }
  model.train(wasTraining);
  return glueMetrics(spec.task, preds, labels);
}
