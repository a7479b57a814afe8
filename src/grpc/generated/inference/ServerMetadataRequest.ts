// Original file: src/grpc/inference.proto


export interface ServerMetadataRequest {
}

export interface ServerMetadataRequest__Output {
}
