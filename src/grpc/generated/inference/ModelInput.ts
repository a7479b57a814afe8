// Original file: src/grpc/inference.proto

import type { DataType as _inference_DataType, DataType__Output as _inference_DataType__Output } from '../inference/DataType.js';
import type { Long } from '@grpc/proto-loader';

export interface ModelInput {
  'name'?: (string);
  'data_type'?: (_inference_DataType);
  'dims'?: (number | string | Long)[];
  'is_shape_tensor'?: (boolean);
  'allow_ragged_batch'?: (boolean);
  'optional'?: (boolean);
}

export interface ModelInput__Output {
  'name'?: (string);
  'data_type'?: (_inference_DataType__Output);
  'dims'?: (string)[];
  'is_shape_tensor'?: (boolean);
  'allow_ragged_batch'?: (boolean);
  'optional'?: (boolean);
}
