// Original file: src/grpc/inference.proto


export interface ModelReadyResponse {
  'ready'?: (boolean);
}

export interface ModelReadyResponse__Output {
  'ready'?: (boolean);
}
