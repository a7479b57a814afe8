// Original file: src/grpc/inference.proto


export interface RepositoryIndexRequest {
  'repository_name'?: (string);
  'ready'?: (boolean);
}

export interface RepositoryIndexRequest__Output {
  'repository_name'?: (string);
  'ready'?: (boolean);
}
