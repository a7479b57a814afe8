// Original file: src/grpc/inference.proto


export interface ModelResponseCache {
  'enable'?: (boolean);
}

export interface ModelResponseCache__Output {
  'enable'?: (boolean);
}
