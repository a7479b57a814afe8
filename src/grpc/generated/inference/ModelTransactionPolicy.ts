// Original file: src/grpc/inference.proto


export interface ModelTransactionPolicy {
  'decoupled'?: (boolean);
}

export interface ModelTransactionPolicy__Output {
  'decoupled'?: (boolean);
}
