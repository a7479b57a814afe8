// Original file: src/grpc/inference.proto


export interface ServerLiveRequest {
}

export interface ServerLiveRequest__Output {
}
