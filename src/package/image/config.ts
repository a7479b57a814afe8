// The image config and the manifest's annotations: how the container starts, as whom, with which
// environment, and labels that say what is inside (berth's version, the models and their digests,
// the base by digest). Everything here is a function of the inputs: `created` comes from
// SOURCE_DATE_EPOCH or is the epoch, never the clock, so that two builds give the same digest.

import type { ImageConfig, Platform } from '../../oci/types.js';
import type { BaseImage } from './base.js';
import type { PackagedModel } from '../models.js';

export const SERVER_USER = '65532:65532';
export const MODELS_DIR = '/models';
export const APP_DIR = '/app';
export const HTTP_PORT = 8000;
export const GRPC_PORT = 8001;
/** the server's writable home (monitoring, registry cache); the root filesystem may be read-only, /tmp is mounted writable */
export const SERVER_HOME = '/tmp/berth';
const PATH = '/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `berth serve /models` in full, listening on every address; arguments given to the container are appended. */
export function serverEntrypoint(nodePath: string): string[] {
  return [nodePath, `${APP_DIR}/dist/cli/main.js`, 'serve', MODELS_DIR, '--host', '0.0.0.0'];
}

/** RFC 3339 time of SOURCE_DATE_EPOCH seconds, or of the epoch. */
export function createdTime(epoch: number | undefined): string {
  return new Date((epoch ?? 0) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** "digits:1@sha256:…,iris:3@sha256:…" */
export function modelsLabel(models: readonly PackagedModel[]): string {
  return models.flatMap((m) => m.versions.map((v) => `${m.name}:${v.version}@${v.digest}`)).join(',');
}

export interface ConfigInputs {
  platform: Platform;
  base: BaseImage;
  modelOnly: boolean;
  models: readonly PackagedModel[];
  berthVersion: string;
  /** the --tag, NAME:TAG */
  tag: string;
  created: string;
  nodePath: string;
  /** the Node version in the image (the base's or the one added) */
  nodeVersion?: string;
  /** set when the image adds its own Node binary */
  addsNode: boolean;
}

/** Labels (config) and annotations (manifest) share these keys. */
export function imageLabels(i: ConfigInputs): Record<string, string> {
  const labels: Record<string, string> = {
    'org.opencontainers.image.created': i.created,
    'org.opencontainers.image.title': i.tag.replace(/:[^:/]*$/, ''),
    'org.opencontainers.image.version': i.tag.includes(':') ? i.tag.slice(i.tag.lastIndexOf(':') + 1) : 'latest',
    'org.opencontainers.image.description': i.modelOnly ? 'models for KServe modelcar (oci://)' : 'berth model server (Open Inference Protocol, REST and gRPC)',
    'org.opencontainers.image.vendor': 'berth',
    'org.opencontainers.image.licenses': 'Apache-2.0',
    'io.berth.version': i.berthVersion,
    'io.berth.models': modelsLabel(i.models),
  };
  if (i.base.manifestDescriptor) {
    labels['org.opencontainers.image.base.digest'] = i.base.manifestDescriptor.digest;
    // a registry reference names the base anywhere; a local layout's path would only make the
    // digest depend on where the base happened to be stored, so it is left out
    if (!i.base.ref.startsWith('oci:')) labels['org.opencontainers.image.base.name'] = i.base.ref;
  }
  if (!i.modelOnly && i.nodeVersion) labels['io.berth.node.version'] = i.nodeVersion;
  return labels;
}

function mergeEnv(base: readonly string[], ours: Record<string, string>): string[] {
  const out = base.filter((e) => !(e.split('=')[0]! in ours));
  return [...out, ...Object.entries(ours).map(([k, v]) => `${k}=${v}`)];
}

/** The config without rootfs and history (the builder adds those as it writes layers). */
export function imageConfig(i: ConfigInputs): Omit<ImageConfig, 'rootfs' | 'history'> {
  const baseCfg = i.base.config?.config ?? {};
  const labels = { ...(baseCfg.Labels ?? {}), ...imageLabels(i) };
  if (i.modelOnly) {
    return {
      created: i.created,
      architecture: i.platform.architecture,
      os: i.platform.os,
      config: { Env: mergeEnv(baseCfg.Env ?? [], { PATH: '/bin' }), Cmd: ['/bin/sh'], WorkingDir: MODELS_DIR, Labels: labels },
    };
  }
  const env: Record<string, string> = {
    PATH,
    NODE_ENV: 'production',
    ORT_DISABLE_TELEMETRY: '1',
    BERTH_HOME: SERVER_HOME,
    HOME: '/tmp',
  };
  if (i.addsNode && i.nodeVersion) env.NODE_VERSION = i.nodeVersion;
  return {
    created: i.created,
    architecture: i.platform.architecture,
    os: i.platform.os,
    config: {
      User: SERVER_USER,
      Env: mergeEnv(baseCfg.Env ?? [], env),
      Entrypoint: serverEntrypoint(i.nodePath),
      // no Cmd: a base's Cmd would be appended to the entrypoint
      ExposedPorts: { [`${HTTP_PORT}/tcp`]: {}, [`${GRPC_PORT}/tcp`]: {} },
      WorkingDir: APP_DIR,
      Labels: labels,
      StopSignal: 'SIGTERM',
    },
  };
}
