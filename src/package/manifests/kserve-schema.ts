/**
 * JSON schemas for the two KServe objects berth writes: a SUBSET of the openAPIV3Schema of the
 * CRDs `clusterservingruntimes.serving.kserve.io` (v1alpha1) and `inferenceservices.serving.kserve.io`
 * (v1beta1), written from kserve/kserve's servingruntime_types.go and component.go / predictor
 * types. Only the fields berth sets (and their close neighbours a user is likely to add) are
 * described; every object level described here has `additionalProperties: false`, which the CRD
 * itself cannot afford, so a misspelled field (`storageURI`, `protocolVersion: V2`) is refused here
 * instead of silently pruned by the API server. Container-level fields are checked in full by
 * kubernetes-models' Container schema (kserve.ts), not here.
 */
import type { SchemaObject } from 'ajv';
import { QUANTITY_PATTERN } from './quantity.js';

const DNS_LABEL = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };
const STRING_MAP = { type: 'object', additionalProperties: { type: 'string' } };
const QUANTITY = { anyOf: [{ type: 'integer' }, { type: 'string', pattern: QUANTITY_PATTERN }] };
const RESOURCES = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requests: { type: 'object', additionalProperties: QUANTITY },
    limits: { type: 'object', additionalProperties: QUANTITY },
  },
};

/** ObjectMeta as a user writes it (the server fills the rest). */
function metadata(namespaced: boolean): SchemaObject {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: DNS_LABEL,
      ...(namespaced ? { namespace: DNS_LABEL } : {}),
      labels: STRING_MAP,
      annotations: STRING_MAP,
    },
  };
}

/** `protocolVersions` values KServe knows (constants.InferenceServiceProtocol). */
const PROTOCOLS = ['v1', 'v2', 'grpc-v1', 'grpc-v2'];

/** A container: its shape is checked by kubernetes-models' Container schema; here only what KServe requires of it. */
const RUNTIME_CONTAINER = {
  type: 'object',
  required: ['name', 'image'],
  properties: { name: { type: 'string', minLength: 1 }, image: { type: 'string', minLength: 1 } },
};

export const CLUSTER_SERVING_RUNTIME_SCHEMA: SchemaObject = {
  $id: 'berth:kserve/ClusterServingRuntime',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'serving.kserve.io/v1alpha1' },
    kind: { const: 'ClusterServingRuntime' },
    metadata: metadata(false),
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['supportedModelFormats', 'containers'],
      properties: {
        supportedModelFormats: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              name: { type: 'string', minLength: 1 },
              version: { type: 'string' },
              autoSelect: { type: 'boolean' },
              priority: { type: 'integer', minimum: 1 },
            },
          },
        },
        protocolVersions: { type: 'array', items: { enum: PROTOCOLS } },
        multiModel: { type: 'boolean' },
        disabled: { type: 'boolean' },
        // ServingRuntimePodSpec's pod-level annotations: KServe reads prometheus.kserve.io/* here
        annotations: STRING_MAP,
        labels: STRING_MAP,
        containers: {
          type: 'array',
          minItems: 1,
          items: RUNTIME_CONTAINER,
          // the model server must be the container named kserve-container
          contains: { type: 'object', properties: { name: { const: 'kserve-container' } }, required: ['name'] },
        },
        volumes: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: DNS_LABEL } } },
        nodeSelector: STRING_MAP,
        tolerations: { type: 'array', items: { type: 'object' } },
        affinity: { type: 'object' },
        imagePullSecrets: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { name: { type: 'string' } } } },
      },
    },
  },
};

/** storageUri schemes KServe's storage initializer and modelcar understand (utils.go's list, the ones berth documents). */
export const STORAGE_URI_PATTERN = '^(s3|gs|pvc|https?|oci)://[^\\s]+$';

export const INFERENCE_SERVICE_SCHEMA: SchemaObject = {
  $id: 'berth:kserve/InferenceService',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'serving.kserve.io/v1beta1' },
    kind: { const: 'InferenceService' },
    metadata: metadata(true),
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['predictor'],
      properties: {
        predictor: {
          type: 'object',
          additionalProperties: false,
          required: ['model'],
          properties: {
            // ComponentExtensionSpec
            minReplicas: { type: 'integer', minimum: 0 },
            maxReplicas: { type: 'integer', minimum: 0 },
            scaleMetric: { enum: ['cpu', 'memory', 'concurrency', 'rps'] },
            scaleMetricType: { enum: ['Utilization', 'AverageValue'] },
            scaleTarget: { type: 'integer', minimum: 1 },
            containerConcurrency: { type: 'integer', minimum: 0 },
            timeout: { type: 'integer', minimum: 0 },
            canaryTrafficPercent: { type: 'integer', minimum: 0, maximum: 100 },
            // PredictorSpec inlines a PodSpec: the fields berth sets (the security context is checked in full by kubernetes-models)
            terminationGracePeriodSeconds: { type: 'integer', minimum: 0 },
            securityContext: { type: 'object' },
            serviceAccountName: DNS_LABEL,
            labels: STRING_MAP,
            annotations: STRING_MAP,
            // ModelSpec: a PredictorExtensionSpec (container fields) plus the model format
            model: {
              type: 'object',
              additionalProperties: false,
              required: ['modelFormat'],
              properties: {
                modelFormat: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['name'],
                  properties: { name: { type: 'string', minLength: 1 }, version: { type: 'string' } },
                },
                runtime: DNS_LABEL,
                protocolVersion: { enum: PROTOCOLS },
                storageUri: { type: 'string', pattern: STORAGE_URI_PATTERN },
                runtimeVersion: { type: 'string' },
                resources: RESOURCES,
                args: { type: 'array', items: { type: 'string' } },
                env: {
                  type: 'array',
                  items: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string' }, value: { type: 'string' } } },
                },
              },
            },
          },
        },
      },
    },
  },
};
