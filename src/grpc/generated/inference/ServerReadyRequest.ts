// Original file: src/grpc/inference.proto


export interface ServerReadyRequest {
}

export interface ServerReadyRequest__Output {
}
