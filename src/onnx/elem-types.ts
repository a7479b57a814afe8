/**
 * ONNX TensorProto.DataType numbers, by our name for each. A module of its own (no imports) so
 * that src/tensor-types/ can take the numbers from here without pulling in the tensor codec.
 */

/** ONNX element types by our name (float32 = FLOAT, float64 = DOUBLE; the rest as in ONNX, lower case). */
export const ELEM_TYPES = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  complex64: 14,
  complex128: 15,
  bfloat16: 16,
  float8e4m3fn: 17,
  float8e4m3fnuz: 18,
  float8e5m2: 19,
  float8e5m2fnuz: 20,
  uint4: 21,
  int4: 22,
  float4e2m1: 23,
  float8e8m0: 24,
} as const;

export type ElemTypeName = keyof typeof ELEM_TYPES;
