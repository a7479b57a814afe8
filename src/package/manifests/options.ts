/**
 * What `berth manifests` is asked for, checked once: every number in range, every quantity a
 * Kubernetes quantity, every name a DNS label, so that a bad flag fails here with one line
 * instead of at `kubectl apply`.
 */
import { DEFAULTS } from '../../config/defaults.js';
import { cpuQuantity, memoryQuantity, quantityValue } from './quantity.js';

export interface ManifestOptions {
  /** the object names' stem: Deployment, Service, HPA, PDB, InferenceService */
  name: string;
  /** the berth server image (`berth package` output) */
  image: string;
  namespace?: string;
  replicas: number;
  minReplicas: number;
  maxReplicas: number;
  resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
  httpPort: number;
  grpcPort: number;
  /** how long a pod may take to load its models before the kubelet restarts it, seconds */
  startupTimeoutSecs: number;
  /** the pre-stop pause while endpoints drop the pod, seconds */
  preStopSecs: number;
  /**
   * how long berth keeps serving after SIGTERM with readiness failed (`berth serve --drain-delay`),
   * seconds: the pre-stop pause's job done by berth itself, for clusters before Kubernetes 1.30
   * (no `lifecycle.preStop.sleep`) or images without a shell
   */
  drainDelaySecs: number;
  /** berth's own drain deadline (`berth serve --drain-timeout`), seconds */
  exitTimeoutSecs: number;
  /** HPA target: average CPU utilisation, percent of the request */
  targetCpuPercent: number;
  /** HPA target: average `berth_queue_depth` per pod; undefined = no queue-depth metric (no prometheus-adapter) */
  targetQueueDepth?: number;
}

export interface KServeOptions extends ManifestOptions {
  storageUri: string;
  /** the ClusterServingRuntime's name */
  runtimeName: string;
  /** its priority among runtimes that support ONNX with autoSelect */
  runtimePriority: number;
}

/** The raw flag values, as commander hands them over (strings, or undefined when not given). */
export interface ManifestFlags {
  image?: string;
  namespace?: string;
  replicas?: string;
  minReplicas?: string;
  maxReplicas?: string;
  cpu?: string;
  memory?: string;
  cpuLimit?: string;
  memoryLimit?: string;
  port?: string;
  grpcPort?: string;
  startupTimeout?: string;
  preStop?: string;
  drainDelay?: string;
  exitTimeout?: string;
  targetCpu?: string;
  targetQueueDepth?: string;
  queueMetric?: boolean;
  storageUri?: string;
  runtime?: string;
  runtimePriority?: string;
}

export const MANIFEST_DEFAULTS = {
  replicas: 2,
  maxReplicas: 10,
  cpu: '1',
  memory: '2Gi',
  /** Triton's chart allows 5 minutes; berth loads and warms every model before it is ready, large ones take longer */
  startupTimeoutSecs: 600,
  /** long enough for kube-proxy, ingress controllers and service meshes to drop the endpoint */
  preStopSecs: 10,
  exitTimeoutSecs: DEFAULTS.exitTimeoutSecs,
  targetCpuPercent: 80,
  targetQueueDepth: 4,
  runtimeName: 'berth',
  runtimePriority: 1,
} as const;

/** Kubernetes object names: an RFC 1123 label, at most 63 characters (Services need a label). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const STORAGE_SCHEMES = ['s3://', 'gs://', 'pvc://', 'https://', 'oci://'] as const;

export function dnsLabel(what: string, text: string): string {
  if (text.length > 63 || !DNS_LABEL.test(text)) {
    throw new Error(`${what} must be a DNS label (lower-case letters, digits and '-', at most 63 characters, starting and ending with a letter or digit), got ${JSON.stringify(text)}`);
  }
  return text;
}

function integer(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^-?[0-9]+$/.test(text.trim())) throw new Error(`${flag} must be a whole number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < min || n > max) throw new Error(`${flag} must be between ${min} and ${max}, got ${text}`);
  return n;
}

/** An image reference: no spaces, no scheme (Kubernetes pulls `host/repo:tag` or `…@sha256:…`). */
function imageRef(text: string | undefined): string {
  if (text === undefined || text === '') throw new Error('--image is required: the berth server image to run (from `berth package`)');
  if (/\s/.test(text) || /^[a-z]+:\/\//.test(text) || !/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/.test(text)) {
    throw new Error(`--image must be an image reference such as registry.example.com/berth/digits:1.0 (no scheme, no spaces), got ${JSON.stringify(text)}`);
  }
  return text;
}

export function manifestOptions(name: string, flags: ManifestFlags): ManifestOptions {
  const replicas = integer('--replicas', flags.replicas, MANIFEST_DEFAULTS.replicas, 1, 10000);
  const minReplicas = integer('--min-replicas', flags.minReplicas, replicas, 1, 10000);
  const maxReplicas = integer('--max-replicas', flags.maxReplicas, Math.max(MANIFEST_DEFAULTS.maxReplicas, minReplicas), 1, 10000);
  if (maxReplicas < minReplicas) throw new Error(`--max-replicas (${maxReplicas}) must be at least --min-replicas (${minReplicas})`);
  const cpu = cpuQuantity('--cpu', flags.cpu ?? MANIFEST_DEFAULTS.cpu);
  const memory = memoryQuantity('--memory', flags.memory ?? MANIFEST_DEFAULTS.memory);
  // limits default to the requests: Guaranteed QoS, so a busy node neither evicts nor squeezes the server first
  const cpuLimit = cpuQuantity('--cpu-limit', flags.cpuLimit ?? cpu);
  const memoryLimit = memoryQuantity('--memory-limit', flags.memoryLimit ?? memory);
  if (quantityValue(cpuLimit)! < quantityValue(cpu)!) throw new Error(`--cpu-limit (${cpuLimit}) must be at least --cpu (${cpu})`);
  if (quantityValue(memoryLimit)! < quantityValue(memory)!) throw new Error(`--memory-limit (${memoryLimit}) must be at least --memory (${memory})`);
  const httpPort = integer('--port', flags.port, DEFAULTS.http.port, 1, 65535);
  const grpcPort = integer('--grpc-port', flags.grpcPort, DEFAULTS.grpc.port, 1, 65535);
  if (httpPort === grpcPort) throw new Error(`--port and --grpc-port must differ, both are ${httpPort}`);
  const queueDepth = integer('--target-queue-depth', flags.targetQueueDepth, MANIFEST_DEFAULTS.targetQueueDepth, 1, 1_000_000);
  return {
    name: dnsLabel('NAME', name),
    image: imageRef(flags.image),
    namespace: flags.namespace === undefined ? undefined : dnsLabel('--namespace', flags.namespace),
    replicas,
    minReplicas,
    maxReplicas,
    resources: { requests: { cpu, memory }, limits: { cpu: cpuLimit, memory: memoryLimit } },
    httpPort,
    grpcPort,
    startupTimeoutSecs: integer('--startup-timeout', flags.startupTimeout, MANIFEST_DEFAULTS.startupTimeoutSecs, 10, 86400),
    preStopSecs: integer('--pre-stop', flags.preStop, MANIFEST_DEFAULTS.preStopSecs, 0, 3600),
    drainDelaySecs: integer('--drain-delay', flags.drainDelay, 0, 0, 3600),
    exitTimeoutSecs: integer('--exit-timeout', flags.exitTimeout, MANIFEST_DEFAULTS.exitTimeoutSecs, 0, 86400),
    targetCpuPercent: integer('--target-cpu', flags.targetCpu, MANIFEST_DEFAULTS.targetCpuPercent, 1, 1000),
    targetQueueDepth: flags.queueMetric === false ? undefined : queueDepth,
  };
}

export function kserveOptions(name: string, flags: ManifestFlags): KServeOptions {
  const base = manifestOptions(name, flags);
  const uri = flags.storageUri;
  if (uri === undefined || uri === '') {
    throw new Error(`--storage-uri is required for kserve: where the model repository lives (${STORAGE_SCHEMES.join(', ')}; oci:// for a model-only image from \`berth package --model-only\`)`);
  }
  const scheme = STORAGE_SCHEMES.find((s) => uri.startsWith(s));
  if (!scheme || uri.length === scheme.length || /\s/.test(uri)) {
    throw new Error(`--storage-uri must start with one of ${STORAGE_SCHEMES.join(', ')} and name a location, got ${JSON.stringify(uri)}`);
  }
  return {
    ...base,
    storageUri: uri,
    runtimeName: dnsLabel('--runtime', flags.runtime ?? MANIFEST_DEFAULTS.runtimeName),
    runtimePriority: integer('--runtime-priority', flags.runtimePriority, MANIFEST_DEFAULTS.runtimePriority, 1, 1000),
  };
}
