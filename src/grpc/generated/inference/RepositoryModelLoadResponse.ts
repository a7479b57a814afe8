// Original file: src/grpc/inference.proto


export interface RepositoryModelLoadResponse {
}

export interface RepositoryModelLoadResponse__Output {
}
