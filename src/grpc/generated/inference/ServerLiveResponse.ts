// Original file: src/grpc/inference.proto


export interface ServerLiveResponse {
  'live'?: (boolean);
}

export interface ServerLiveResponse__Output {
  'live'?: (boolean);
}
