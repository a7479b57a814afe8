/**
 * `berth manifests kserve`: a ClusterServingRuntime that runs the berth image for ONNX models
 * over the v2 and grpc-v2 protocols, and an InferenceService that uses it for the model at
 * `--storage-uri` (s3://, gs://, pvc://, https://, or oci:// for a model-only image: KServe's
 * modelcar). KServe mounts the model at /mnt/models; berth serves that directory.
 *
 * Validation: ajv over the CRD subset in kserve-schema.ts, and the containers, volumes and pod
 * security context, which are core Kubernetes types, strictly through kubernetes-models.
 */
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { Container } from 'kubernetes-models/v1/Container';
import { PodSecurityContext } from 'kubernetes-models/v1/PodSecurityContext';
import { Volume } from 'kubernetes-models/v1/Volume';
import { APP_DIR } from '../image/config.js';
import { METRICS_PATH, POD_SECURITY_CONTEXT, SCRATCH_VOLUMES, berthContainer, gracePeriodSecs } from './container.js';
import { CLUSTER_SERVING_RUNTIME_SCHEMA, INFERENCE_SERVICE_SCHEMA } from './kserve-schema.js';
import type { KServeOptions } from './options.js';
import { validateStrict } from './strict.js';
import type { ModelClass } from './strict.js';

/** Where KServe's storage initializer (or the modelcar's symlink) puts the model. */
export const KSERVE_MODEL_DIR = '/mnt/models';
/**
 * `berth serve` without the image entrypoint's `/models`: an image from `berth package` always
 * carries models there, and KServe's model is the one at /mnt/models. `node` is found on the
 * image's PATH (/usr/local/bin in berth's bases and the official Node images).
 */
export const KSERVE_COMMAND = ['node', `${APP_DIR}/dist/cli/main.js`, 'serve'];

const ajv = new Ajv({ allErrors: true, strict: true });
const validators: Record<string, ValidateFunction> = {
  ClusterServingRuntime: ajv.compile(CLUSTER_SERVING_RUNTIME_SCHEMA),
  InferenceService: ajv.compile(INFERENCE_SERVICE_SCHEMA),
};

export function clusterServingRuntime(o: KServeOptions): Record<string, unknown> {
  return {
    apiVersion: 'serving.kserve.io/v1alpha1',
    kind: 'ClusterServingRuntime',
    metadata: { name: o.runtimeName, labels: { 'app.kubernetes.io/name': 'berth', 'app.kubernetes.io/managed-by': 'berth' } },
    spec: {
      supportedModelFormats: [{ name: 'onnx', version: '1', autoSelect: true, priority: o.runtimePriority }],
      protocolVersions: ['v2', 'grpc-v2'],
      multiModel: false,
      // KServe copies these onto the predictor pod; its Prometheus integration reads them
      annotations: { 'prometheus.kserve.io/port': String(o.httpPort), 'prometheus.kserve.io/path': METRICS_PATH },
      containers: [{ ...berthContainer('kserve-container', o, [KSERVE_MODEL_DIR]), command: KSERVE_COMMAND }],
      volumes: SCRATCH_VOLUMES,
    },
  };
}

export function inferenceService(o: KServeOptions): Record<string, unknown> {
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}), labels: { 'app.kubernetes.io/name': 'berth', 'app.kubernetes.io/instance': o.name } },
    spec: {
      predictor: {
        minReplicas: o.minReplicas,
        maxReplicas: o.maxReplicas,
        // KServe leaves the Kubernetes default of 30 s; berth's pre-stop pause and drain need more
        terminationGracePeriodSeconds: gracePeriodSecs(o),
        securityContext: POD_SECURITY_CONTEXT,
        model: {
          modelFormat: { name: 'onnx', version: '1' },
          runtime: o.runtimeName,
          protocolVersion: 'v2',
          storageUri: o.storageUri,
        },
      },
    },
  };
}

function path(obj: unknown, keys: string[]): unknown {
  let node = obj;
  for (const k of keys) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[k] : undefined;
  return node;
}

/** Validates a KServe object (plain data, e.g. parsed from YAML); throws one error naming every problem. */
export function validateKServe(data: unknown): void {
  const kind = path(data, ['kind']);
  const validate = typeof kind === 'string' ? validators[kind] : undefined;
  if (!validate) throw new Error(`not a KServe object berth knows: kind ${JSON.stringify(kind)} (expected ClusterServingRuntime or InferenceService)`);
  if (!validate(data)) {
    const problems = (validate.errors ?? []).map((e) => {
      const extra = e.keyword === 'additionalProperties' ? ` '${String(e.params.additionalProperty)}'` : '';
      return `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${extra}`;
    });
    throw new Error(`invalid ${kind}: ${problems.join('; ')}`);
  }
  // the core Kubernetes types inside, in full
  const strict = (Model: unknown, value: unknown) => value === undefined || validateStrict(Model as ModelClass, value);
  if (kind === 'ClusterServingRuntime') {
    for (const c of path(data, ['spec', 'containers']) as unknown[]) strict(Container, c);
    for (const v of (path(data, ['spec', 'volumes']) as unknown[] | undefined) ?? []) strict(Volume, v);
  } else {
    strict(PodSecurityContext, path(data, ['spec', 'predictor', 'securityContext']));
  }
}

/** The runtime and the InferenceService as plain data, each validated. */
export function kserveManifests(o: KServeOptions): Record<string, unknown>[] {
  // JSON round trip: drop undefined members (no preStop when --pre-stop 0) as YAML output would
  const objects = [clusterServingRuntime(o), inferenceService(o)].map((obj) => JSON.parse(JSON.stringify(obj)) as Record<string, unknown>);
  for (const obj of objects) validateKServe(obj);
  return objects;
}
