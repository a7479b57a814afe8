/**
 * `berth manifests kubernetes`: a Deployment, a Service, a HorizontalPodAutoscaler and a
 * PodDisruptionBudget for a berth image that carries its models in /models (`berth package`).
 * Each object is typed with kubernetes-models and validated strictly (strict.ts) before it is
 * written.
 */
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IMetricSpec } from 'kubernetes-models/autoscaling/v2/MetricSpec';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { METRICS_PATH, POD_SECURITY_CONTEXT, SCRATCH_VOLUMES, berthContainer, gracePeriodSecs } from './container.js';
import type { ManifestOptions } from './options.js';
import { validateStrict } from './strict.js';
import type { ModelClass } from './strict.js';

/**
 * The per-pod metric the HPA scales on: requests waiting in berth's batching queues (a gauge per
 * model and version on /metrics, summed per pod by the prometheus-adapter rule in
 * docs/kubernetes.md). Queue depth rises before latency does, and CPU alone misses a server
 * whose workers wait on memory bandwidth.
 */
export const QUEUE_DEPTH_METRIC = 'berth_queue_depth';

export function labelsFor(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'berth', 'app.kubernetes.io/instance': name };
}

function commonLabels(name: string): Record<string, string> {
  return { ...labelsFor(name), 'app.kubernetes.io/component': 'model-server', 'app.kubernetes.io/managed-by': 'berth' };
}

/** Prometheus' conventional pod annotations (kubernetes-pods scrape job). */
export function scrapeAnnotations(port: number): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': METRICS_PATH };
}

export function deployment(o: ManifestOptions): Deployment {
  return new Deployment({
    metadata: { name: o.name, namespace: o.namespace, labels: commonLabels(o.name) },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: labelsFor(o.name) },
      // never below the wanted capacity during a rollout: a new pod may take minutes to load its models
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } },
      template: {
        metadata: { labels: commonLabels(o.name), annotations: scrapeAnnotations(o.httpPort) },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: POD_SECURITY_CONTEXT,
          terminationGracePeriodSeconds: gracePeriodSecs(o),
          // replicas on different nodes where the scheduler can: one node's loss is not the service's
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: labelsFor(o.name) } }],
          containers: [berthContainer('berth', o)],
          volumes: SCRATCH_VOLUMES,
        },
      },
    },
  });
}

export function service(o: ManifestOptions): Service {
  return new Service({
    metadata: { name: o.name, namespace: o.namespace, labels: commonLabels(o.name) },
    spec: {
      type: 'ClusterIP',
      selector: labelsFor(o.name),
      ports: [
        { name: 'http', port: o.httpPort, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
        // h2c: gRPC is HTTP/2 without TLS; gateways and meshes then proxy it as HTTP/2
        { name: 'grpc', port: o.grpcPort, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
      ],
    },
  });
}

export function autoscaler(o: ManifestOptions): HorizontalPodAutoscaler {
  const metrics: IMetricSpec[] = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: o.targetCpuPercent } } }];
  if (o.targetQueueDepth !== undefined) {
    metrics.push({ type: 'Pods', pods: { metric: { name: QUEUE_DEPTH_METRIC }, target: { type: 'AverageValue', averageValue: String(o.targetQueueDepth) } } });
  }
  return new HorizontalPodAutoscaler({
    metadata: { name: o.name, namespace: o.namespace, labels: commonLabels(o.name) },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: o.name },
      minReplicas: o.minReplicas,
      maxReplicas: o.maxReplicas,
      metrics,
      behavior: {
        // a new pod helps only once its models are loaded: scale down slowly, so a dip does not
        // discard replicas that took minutes to warm
        scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      },
    },
  });
}

export function disruptionBudget(o: ManifestOptions): PodDisruptionBudget {
  return new PodDisruptionBudget({
    metadata: { name: o.name, namespace: o.namespace, labels: commonLabels(o.name) },
    // one pod at a time during node drains; maxUnavailable (not minAvailable) so a single
    // replica never blocks a node drain forever
    spec: { maxUnavailable: 1, selector: { matchLabels: labelsFor(o.name) } },
  });
}

export const KUBERNETES_KINDS: Record<string, ModelClass> = {
  Deployment: Deployment as unknown as ModelClass,
  Service: Service as unknown as ModelClass,
  HorizontalPodAutoscaler: HorizontalPodAutoscaler as unknown as ModelClass,
  PodDisruptionBudget: PodDisruptionBudget as unknown as ModelClass,
};

/** The four objects as plain data, each validated strictly. */
export function kubernetesManifests(o: ManifestOptions): Record<string, unknown>[] {
  const objects = [deployment(o), service(o), autoscaler(o), disruptionBudget(o)];
  return objects.map((obj) => {
    const data = obj.toJSON() as Record<string, unknown>;
    validateStrict(KUBERNETES_KINDS[data.kind as string]!, data);
    return data;
  });
}
