/** All ops (the Tensor method sugar comes with any of them: see ./methods.ts). */
export * from './composite.ts';
export * from './elementwise.ts';
export * from './lora.ts';
export * from './matmul.ts';
export * from './nn.ts';
export * from './reduce.ts';
export * from './shape.ts';
export type { TensorLike } from './util.ts';
