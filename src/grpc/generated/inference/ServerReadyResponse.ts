// Original file: src/grpc/inference.proto


export interface ServerReadyResponse {
  'ready'?: (boolean);
}

export interface ServerReadyResponse__Output {
  'ready'?: (boolean);
}
