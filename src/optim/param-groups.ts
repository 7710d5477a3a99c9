/** AdamW parameter groups by the usual BERT recipe: weight decay on weights, none on biases and LayerNorm. */
import type { Module } from '../nn/module.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { ParamGroup } from './adamw.ts';

/** Names that AdamW leaves undecayed: biases and LayerNorm weights (the usual BERT recipe). */
export function isNoDecay(name: string): boolean {
  return name.endsWith('.bias') || /(^|\.)(LayerNorm|layer_norm|norm)\./.test(name);
}

/** AdamW parameter groups over the trainable parameters: decay `weightDecay` on weights, 0 on the rest. */
export function paramGroups(model: Module, weightDecay: number): ParamGroup[] {
  const decay: Tensor[] = [];
  const none: Tensor[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) continue;
    (isNoDecay(name) ? none : decay).push(p);
  }
  return [
    { params: decay, weightDecay },
    { params: none, weightDecay: 0 },
  ];
}
