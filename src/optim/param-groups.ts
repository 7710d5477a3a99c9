/** AdamW parameter groups by the usual BERT recipe: weight decay on weights, none on biases and LayerNorm. */
import type { Module } from '../nn/module.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { ParamGroup } from './adamw.ts';

/** Names that AdamW leaves undecayed: biases and LayerNorm weights (the usual BERT recipe). */
export function isNoDecay(name: string): boolean {
  return name.endsWith('.bias') || /(^|\.)(LayerNorm|layer_norm|norm)\./.test(name);
}

/**
 * AdamW parameter groups over the trainable parameters: decay `weightDecay` on weights, 0 on the rest;
 * parameters whose names `scaled.match` learn at `scaled.lrScale` times the optimiser's rate.
 */
export function paramGroups(model: Module, weightDecay: number, scaled?: { match: RegExp; lrScale: number }): ParamGroup[] {
  const groups = [
    { params: [] as Tensor[], weightDecay },
    { params: [] as Tensor[], weightDecay: 0 },
    { params: [] as Tensor[], weightDecay, lrScale: scaled?.lrScale },
    { params: [] as Tensor[], weightDecay: 0, lrScale: scaled?.lrScale },
  ];
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) continue;
    groups[(isNoDecay(name) ? 1 : 0) + (scaled?.match.test(name) ? 2 : 0)].params.push(p);
  }
  return groups.filter((g, i) => i < 2 || g.params.length > 0);
}
