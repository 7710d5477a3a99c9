import { DTypeError } from './errors.ts';

/** Element types. `int32` exists for indices and masks; gradients flow only through float dtypes. */
export type DType = 'float32' | 'float64' | 'int32';
export type FloatDType = 'float32' | 'float64';
export type TypedArray = Float32Array | Float64Array | Int32Array;

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype !== 'int32';
}

export function allocTyped(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'int32':
      return new Int32Array(length);
  }
}

export function dtypeOfArray(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  throw new DTypeError(`unsupported typed array ${(data as object).constructor.name}`);
}

export function assertFloat(op: string, dtype: DType): asserts dtype is FloatDType {
  if (!isFloat(dtype)) throw new DTypeError(`${op}: expected a float dtype, got ${dtype}`);
}
