// Original file: src/grpc/inference.proto


// Original file: src/grpc/inference.proto

export const _inference_ModelInstanceGroup_Kind = {
  KIND_AUTO: 'KIND_AUTO',
  KIND_GPU: 'KIND_GPU',
  KIND_CPU: 'KIND_CPU',
  KIND_MODEL: 'KIND_MODEL',
} as const;

export type _inference_ModelInstanceGroup_Kind =
  | 'KIND_AUTO'
  | 0
  | 'KIND_GPU'
  | 1
  | 'KIND_CPU'
  | 2
  | 'KIND_MODEL'
  | 3

export type _inference_ModelInstanceGroup_Kind__Output = typeof _inference_ModelInstanceGroup_Kind[keyof typeof _inference_ModelInstanceGroup_Kind]

export interface ModelInstanceGroup {
  'name'?: (string);
  'count'?: (number);
  'gpus'?: (number)[];
  'kind'?: (_inference_ModelInstanceGroup_Kind);
}

export interface ModelInstanceGroup__Output {
  'name'?: (string);
  'count'?: (number);
  'gpus'?: (number)[];
  'kind'?: (_inference_ModelInstanceGroup_Kind__Output);
}
