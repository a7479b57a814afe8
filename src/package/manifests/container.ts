/**
 * The berth container as Kubernetes runs it, shared by the plain Deployment and the KServe
 * runtime: non-root with a read-only root filesystem, probes on the Open Inference Protocol's
 * health routes, a pre-stop pause and a grace period that covers berth's drain.
 */
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSecurityContext } from 'kubernetes-models/v1/PodSecurityContext';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { ManifestOptions } from './options.js';

/** The uid and gid of the image's user (distroless' "nonroot"; `berth package` sets the same). */
export const BERTH_UID = 65532;
export const HEALTH_LIVE = '/v2/health/live';
export const HEALTH_READY = '/v2/health/ready';
export const METRICS_PATH = '/metrics';
/** Where BERTH_HOME points in the container: an emptyDir, since the root filesystem is read-only. */
export const BERTH_HOME_DIR = '/var/lib/berth';
const STARTUP_PERIOD_SECS = 10;
/** Added to pre-stop + drain: the kubelet's SIGKILL must never cut berth's own exit short. */
const GRACE_MARGIN_SECS = 5;

export const POD_SECURITY_CONTEXT: IPodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: BERTH_UID,
  runAsGroup: BERTH_UID,
  fsGroup: BERTH_UID,
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * Writable places berth needs under a read-only root: BERTH_HOME (captures, drift profiles, the
 * registry cache when it serves from one) and the temp directory (uploads through the admin
 * API are staged in $TMPDIR before they are stored).
 */
export const SCRATCH_VOLUMES: IVolume[] = [
  { name: 'berth-home', emptyDir: {} },
  { name: 'tmp', emptyDir: {} },
];

/**
 * `terminationGracePeriodSeconds`: on delete the kubelet runs preStop, then sends SIGTERM, berth
 * keeps serving for --drain-delay and then drains for at most --drain-timeout; all of it must fit
 * before the SIGKILL.
 */
export function gracePeriodSecs(o: Pick<ManifestOptions, 'preStopSecs' | 'drainDelaySecs' | 'exitTimeoutSecs'>): number {
  return o.preStopSecs + o.drainDelaySecs + o.exitTimeoutSecs + GRACE_MARGIN_SECS;
}

/** berth serve's arguments after the image's entrypoint (`berth serve /models`). */
export function serveArgs(o: ManifestOptions, paths: string[] = []): string[] {
  return [
    ...paths,
    // the image default is loopback; in a pod the kubelet's probes and the Service come from outside
    '--host', '0.0.0.0',
    '--port', String(o.httpPort),
    '--grpc-port', String(o.grpcPort),
    '--exit-timeout-secs', String(o.exitTimeoutSecs),
    ...(o.drainDelaySecs > 0 ? ['--drain-delay', String(o.drainDelaySecs)] : []),
  ];
}

export function berthContainer(name: string, o: ManifestOptions, paths: string[] = []): IContainer {
  const http = { path: '', port: 'http' as const };
  return {
    name,
    image: o.image,
    args: serveArgs(o, paths),
    ports: [
      { name: 'http', containerPort: o.httpPort, protocol: 'TCP' },
      { name: 'grpc', containerPort: o.grpcPort, protocol: 'TCP' },
    ],
    env: [
      { name: 'BERTH_HOME', value: BERTH_HOME_DIR },
      { name: 'TMPDIR', value: '/tmp' },
      { name: 'ORT_DISABLE_TELEMETRY', value: '1' },
    ],
    resources: {
      requests: { cpu: o.resources.requests.cpu, memory: o.resources.requests.memory },
      limits: { cpu: o.resources.limits.cpu, memory: o.resources.limits.memory },
    },
    // gates liveness and readiness until every model is loaded and warm: a large model's load
    // must not be mistaken for a hung server (liveness kills during load are a common complaint)
    startupProbe: {
      httpGet: { ...http, path: HEALTH_READY },
      periodSeconds: STARTUP_PERIOD_SECS,
      timeoutSeconds: 3,
      failureThreshold: Math.ceil(o.startupTimeoutSecs / STARTUP_PERIOD_SECS),
    },
    readinessProbe: {
      httpGet: { ...http, path: HEALTH_READY },
      periodSeconds: 5,
      timeoutSeconds: 3,
      successThreshold: 1,
      failureThreshold: 2,
    },
    // live stays 200 while berth drains (ready turns 503), so a draining pod is not restarted
    livenessProbe: {
      httpGet: { ...http, path: HEALTH_LIVE },
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
    lifecycle: o.preStopSecs > 0 ? { preStop: { sleep: { seconds: o.preStopSecs } } } : undefined,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: BERTH_UID,
      runAsGroup: BERTH_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'berth-home', mountPath: BERTH_HOME_DIR },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
}
