/**
 * `train --adapter DIR`: continue training a PEFT LoRA adapter (one Python PEFT saved, or `export-peft`
 * wrote) instead of attaching fresh ones. Its config decides targets, ranks (rank_pattern), alphas
 * (alpha_pattern) and the saved head (modules_to_save), so the options that shape fresh adapters are
 * refused with it; pruning, statistics and every optimiser option apply as usual.
 */
import { ConfigError } from '../core/errors.ts';
import type { SequenceClassifier } from '../nn/auto.ts';
import type { MethodSetup } from '../prilora/methods.ts';
import type { Method } from '../prilora/options.ts';
import { importPeft } from '../prilora/peft.ts';
import { peftNumLabels } from './inference.ts';

/** Options of the adapter group that keep their meaning with an imported adapter. */
const KEPT = ['statDecay'];

export function checkContinued(method: Method, adapter: Record<string, unknown> | undefined): void {
  if (method === 'full') throw new ConfigError('adapterDir: method full trains every weight and has no adapter to continue; use --method lora or prilora', 'adapterDir');
  const shaped = Object.keys(adapter ?? {}).filter((k) => !KEPT.includes(k));
  if (shaped.length) throw new ConfigError(`adapter.${shaped[0]}: the adapter in --adapter fixes its own shape (adapter_config.json); drop this option`, `adapter.${shaped[0]}`);
}

/** The adapter in `dir` attached to `model` and made trainable (with statistics when `statDecay` is set). */
export function continueAdapter(model: SequenceClassifier, dir: string, statDecay: number | undefined): MethodSetup {
  const heads = peftNumLabels(dir);
  if (heads !== null && heads !== model.numLabels) {
    throw new ConfigError(`adapterDir ${dir}: its saved head has ${heads} output(s), the task's ${model.numLabels}`, 'adapterDir');
  }
  return importPeft(model, dir, { statDecay });
}
