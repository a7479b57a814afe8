// Original file: src/grpc/inference.proto


export interface ModelReadyRequest {
  'name'?: (string);
  'version'?: (string);
}

export interface ModelReadyRequest__Output {
  'name'?: (string);
  'version'?: (string);
}
