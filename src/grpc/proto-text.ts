/**
 * The text of src/grpc/inference.proto, embedded so the server has its schema whether it runs
 * from src/ (tsx) or dist/ (tsc), with no .proto file to ship or locate. test/grpc/grpc.test.ts
 * checks that the two are identical: after editing inference.proto, paste its text between the
 * backticks (it holds no backtick, backslash or dollar-brace, so it needs no escaping).
 */
export const INFERENCE_PROTO = `// berth's gRPC schema for the Open Inference Protocol (KServe "V2"), written for berth from the
// protocol's published field numbers. It follows Triton's numbering, the superset of the
// KServe, OIP and MLServer variants, so Triton's clients (tritonclient.grpc, perf_analyzer) and
// KServe's talk to berth unchanged:
//   - InferParameter carries double_param = 4 and uint64_param = 5 (tritonclient sends
//     "priority" as uint64_param and float parameters as double_param);
//   - ModelStreamInfer answers with ModelStreamInferResponse {error_message, infer_response};
//   - the repository messages use Triton's numbering (KServe's differ and are not compatible);
//   - ModelConfig is the subset of Triton's model configuration that berth fills in.
// ModelMetadataResponse leaves field 6 unused on purpose: OIP and MLServer disagree about it.
//
// The server loads the copy of this text embedded in src/grpc/proto-text.ts; a test keeps the two
// identical. Clients may load this file directly (see docs/grpc.md).
syntax = "proto3";

package inference;

service GRPCInferenceService {
  // Health and metadata.
  rpc ServerLive(ServerLiveRequest) returns (ServerLiveResponse) {}
  rpc ServerReady(ServerReadyRequest) returns (ServerReadyResponse) {}
  rpc ModelReady(ModelReadyRequest) returns (ModelReadyResponse) {}
  rpc ServerMetadata(ServerMetadataRequest) returns (ServerMetadataResponse) {}
  rpc ModelMetadata(ModelMetadataRequest) returns (ModelMetadataResponse) {}

  // Inference: one request, or a bidirectional stream of them.
  rpc ModelInfer(ModelInferRequest) returns (ModelInferResponse) {}
  rpc ModelStreamInfer(stream ModelInferRequest) returns (stream ModelStreamInferResponse) {}

  // Triton extensions: configuration, statistics, model repository.
  rpc ModelConfig(ModelConfigRequest) returns (ModelConfigResponse) {}
  rpc ModelStatistics(ModelStatisticsRequest) returns (ModelStatisticsResponse) {}
  rpc RepositoryIndex(RepositoryIndexRequest) returns (RepositoryIndexResponse) {}
  rpc RepositoryModelLoad(RepositoryModelLoadRequest) returns (RepositoryModelLoadResponse) {}
  rpc RepositoryModelUnload(RepositoryModelUnloadRequest) returns (RepositoryModelUnloadResponse) {}
}

// ---------------------------------------------------------------------------------------------
// Health and metadata

message ServerLiveRequest {}

message ServerLiveResponse {
  bool live = 1;
}

message ServerReadyRequest {}

message ServerReadyResponse {
  bool ready = 1;
}

message ModelReadyRequest {
  string name = 1;
  // empty: the version the model's version policy picks
  string version = 2;
}

message ModelReadyResponse {
  bool ready = 1;
}

message ServerMetadataRequest {}

message ServerMetadataResponse {
  string name = 1;
  string version = 2;
  repeated string extensions = 3;
}

message ModelMetadataRequest {
  string name = 1;
  string version = 2;
}

message ModelMetadataResponse {
  message TensorMetadata {
    string name = 1;
    // "FP32", "INT64", "BYTES", ...
    string datatype = 2;
    // -1 marks a dynamic dimension
    repeated int64 shape = 3;
  }
  string name = 1;
  repeated string versions = 2;
  string platform = 3;
  repeated TensorMetadata inputs = 4;
  repeated TensorMetadata outputs = 5;
}

// ---------------------------------------------------------------------------------------------
// Inference

// A request, input, output or response parameter. Triton reserves "priority" (uint64, 1 is the
// highest, 0 the model's default) and "timeout" (int64, microseconds in the queue).
message InferParameter {
  oneof parameter_choice {
    bool bool_param = 1;
    int64 int64_param = 2;
    string string_param = 3;
    double double_param = 4;
    uint64 uint64_param = 5;
  }
}

// Typed tensor elements, flattened row-major. Exactly one field is used, chosen by the
// datatype; FP16 and BF16 have none and must travel as raw contents.
message InferTensorContents {
  repeated bool bool_contents = 1;      // BOOL
  repeated int32 int_contents = 2;      // INT8, INT16, INT32
  repeated int64 int64_contents = 3;    // INT64
  repeated uint32 uint_contents = 4;    // UINT8, UINT16, UINT32
  repeated uint64 uint64_contents = 5;  // UINT64
  repeated float fp32_contents = 6;     // FP32
  repeated double fp64_contents = 7;    // FP64
  repeated bytes bytes_contents = 8;    // BYTES, one entry per element, no length prefix
}

message ModelInferRequest {
  message InferInputTensor {
    string name = 1;
    string datatype = 2;
    repeated int64 shape = 3;
    map<string, InferParameter> parameters = 4;
    // must be absent when the request uses raw_input_contents
    InferTensorContents contents = 5;
  }

  message InferRequestedOutputTensor {
    string name = 1;
    map<string, InferParameter> parameters = 2;
  }

  string model_name = 1;
  // empty: the version the model's version policy picks
  string model_version = 2;
  // echoed in the response
  string id = 3;
  map<string, InferParameter> parameters = 4;
  repeated InferInputTensor inputs = 5;
  // empty: every output
  repeated InferRequestedOutputTensor outputs = 6;
  // raw_input_contents[i] holds inputs[i] as little-endian row-major bytes; BYTES elements are
  // each a 4-byte little-endian length followed by the bytes.
  repeated bytes raw_input_contents = 7;
}

message ModelInferResponse {
  message InferOutputTensor {
    string name = 1;
    string datatype = 2;
    repeated int64 shape = 3;
    map<string, InferParameter> parameters = 4;
    // berth never fills this: outputs always travel in raw_output_contents
    InferTensorContents contents = 5;
  }

  string model_name = 1;
  string model_version = 2;
  string id = 3;
  map<string, InferParameter> parameters = 4;
  repeated InferOutputTensor outputs = 5;
  // raw_output_contents[i] holds outputs[i], in the raw layout described for the request
  repeated bytes raw_output_contents = 6;
}

// One message of the ModelStreamInfer answer stream: a response, or the error of one request
// (the stream itself stays open).
message ModelStreamInferResponse {
  string error_message = 1;
  ModelInferResponse infer_response = 2;
}

// ---------------------------------------------------------------------------------------------
// Model configuration (the subset of Triton's ModelConfig that berth reports)

message ModelConfigRequest {
  string name = 1;
  string version = 2;
}

message ModelConfigResponse {
  ModelConfig config = 1;
}

enum DataType {
  TYPE_INVALID = 0;
  TYPE_BOOL = 1;
  TYPE_UINT8 = 2;
  TYPE_UINT16 = 3;
  TYPE_UINT32 = 4;
  TYPE_UINT64 = 5;
  TYPE_INT8 = 6;
  TYPE_INT16 = 7;
  TYPE_INT32 = 8;
  TYPE_INT64 = 9;
  TYPE_FP16 = 10;
  TYPE_FP32 = 11;
  TYPE_FP64 = 12;
  TYPE_STRING = 13;
  TYPE_BF16 = 14;
}

message ModelVersionPolicy {
  message Latest {
    uint32 num_versions = 1;
  }
  message All {}
  message Specific {
    repeated int64 versions = 1;
  }
  oneof policy_choice {
    Latest latest = 1;
    All all = 2;
    Specific specific = 3;
  }
}

message ModelInput {
  string name = 1;
  DataType data_type = 2;
  // without the batch dimension when max_batch_size > 0; -1 marks a dynamic dimension
  repeated int64 dims = 4;
  bool is_shape_tensor = 6;
  bool allow_ragged_batch = 7;
  bool optional = 8;
}

message ModelOutput {
  string name = 1;
  DataType data_type = 2;
  repeated int64 dims = 3;
  string label_filename = 4;
}

message ModelInstanceGroup {
  enum Kind {
    KIND_AUTO = 0;
    KIND_GPU = 1;
    KIND_CPU = 2;
    KIND_MODEL = 3;
  }
  string name = 1;
  int32 count = 2;
  repeated int32 gpus = 3;
  Kind kind = 4;
}

message ModelQueuePolicy {
  enum TimeoutAction {
    REJECT = 0;
    DELAY = 1;
  }
  TimeoutAction timeout_action = 1;
  uint64 default_timeout_microseconds = 2;
  bool allow_timeout_override = 3;
  // 0: unbounded
  uint32 max_queue_size = 4;
}

message ModelDynamicBatching {
  repeated int32 preferred_batch_size = 1;
  uint64 max_queue_delay_microseconds = 2;
  bool preserve_ordering = 3;
  uint64 priority_levels = 4;
  uint64 default_priority_level = 5;
  ModelQueuePolicy default_queue_policy = 6;
}

message ModelParameter {
  string string_value = 1;
}

message ModelTransactionPolicy {
  bool decoupled = 1;
}

message ModelResponseCache {
  bool enable = 1;
}

message ModelConfig {
  string name = 1;
  string platform = 2;
  ModelVersionPolicy version_policy = 3;
  // 0: the model does not batch
  int32 max_batch_size = 4;
  repeated ModelInput input = 5;
  repeated ModelOutput output = 6;
  repeated ModelInstanceGroup instance_group = 7;
  string default_model_filename = 8;
  oneof scheduling_choice {
    ModelDynamicBatching dynamic_batching = 11;
  }
  map<string, ModelParameter> parameters = 14;
  string backend = 17;
  ModelTransactionPolicy model_transaction_policy = 19;
  ModelResponseCache response_cache = 24;
}

// ---------------------------------------------------------------------------------------------
// Statistics (Triton's statistics extension; counters are cumulative since the version loaded)

message ModelStatisticsRequest {
  // empty name: every model; empty version: every version of the model
  string name = 1;
  string version = 2;
}

message StatisticDuration {
  uint64 count = 1;
  uint64 ns = 2;
}

message InferStatistics {
  StatisticDuration success = 1;
  StatisticDuration fail = 2;
  StatisticDuration queue = 3;
  StatisticDuration compute_input = 4;
  StatisticDuration compute_infer = 5;
  StatisticDuration compute_output = 6;
  StatisticDuration cache_hit = 7;
  StatisticDuration cache_miss = 8;
}

message InferResponseStatistics {
  StatisticDuration compute_infer = 1;
  StatisticDuration compute_output = 2;
  StatisticDuration success = 3;
  StatisticDuration fail = 4;
  StatisticDuration empty_response = 5;
  StatisticDuration cancel = 6;
}

message InferBatchStatistics {
  uint64 batch_size = 1;
  StatisticDuration compute_input = 2;
  StatisticDuration compute_infer = 3;
  StatisticDuration compute_output = 4;
}

message MemoryUsage {
  string type = 1;
  int64 id = 2;
  uint64 byte_size = 3;
}

message ModelStatistics {
  string name = 1;
  string version = 2;
  // ms since the epoch; 0 if none
  uint64 last_inference = 3;
  // batch elements served
  uint64 inference_count = 4;
  // model executions (batches run)
  uint64 execution_count = 5;
  InferStatistics inference_stats = 6;
  repeated InferBatchStatistics batch_stats = 7;
  repeated MemoryUsage memory_usage = 8;
  map<string, InferResponseStatistics> response_stats = 9;
}

message ModelStatisticsResponse {
  repeated ModelStatistics model_stats = 1;
}

// ---------------------------------------------------------------------------------------------
// Model repository (Triton's numbering)

message ModelRepositoryParameter {
  oneof parameter_choice {
    bool bool_param = 1;
    int64 int64_param = 2;
    string string_param = 3;
    bytes bytes_param = 4;
  }
}

message RepositoryIndexRequest {
  string repository_name = 1;
  // true: only models that are ready
  bool ready = 2;
}

message RepositoryIndexResponse {
  message ModelIndex {
    string name = 1;
    string version = 2;
    // UNKNOWN, READY, UNAVAILABLE, LOADING, UNLOADING
    string state = 3;
    string reason = 4;
  }
  repeated ModelIndex models = 1;
}

message RepositoryModelLoadRequest {
  string repository_name = 1;
  string model_name = 2;
  // "config": a JSON model configuration that replaces the model's config.json for this load
  map<string, ModelRepositoryParameter> parameters = 3;
}

message RepositoryModelLoadResponse {}

message RepositoryModelUnloadRequest {
  string repository_name = 1;
  string model_name = 2;
  map<string, ModelRepositoryParameter> parameters = 3;
}

message RepositoryModelUnloadResponse {}
`;
