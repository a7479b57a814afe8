// Original file: src/grpc/inference.proto


export interface RepositoryModelUnloadResponse {
}

export interface RepositoryModelUnloadResponse__Output {
}
