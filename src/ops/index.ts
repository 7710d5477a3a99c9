/** All ops, plus the hooks autograd needs from them. Importing this module installs the Tensor methods. */
import { gradHooks } from '../autograd/engine.ts';
import { onesLike } from '../tensor/create.ts';
import { add } from './elementwise.ts';
import { sumTo } from './reduce.ts';
import { contiguous } from './shape.ts';
import './methods.ts';

gradHooks.sumTo = sumTo;
gradHooks.add = add;
gradHooks.onesLike = (t) => onesLike(t);
gradHooks.contiguous = contiguous;

export * from './composite.ts';
export * from './elementwise.ts';
export * from './matmul.ts';
export * from './nn.ts';
export * from './reduce.ts';
export * from './shape.ts';
export type { TensorLike } from './util.ts';
