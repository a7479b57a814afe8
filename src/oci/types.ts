// The OCI image format's JSON documents (opencontainers/image-spec: descriptor, manifest, index,
// config, image layout), the one vocabulary src/oci/ (the distribution client), src/package/ (images) and src/registry/ (the OCI artifact store) speak.

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layoutHeader: 'application/vnd.oci.layout.header.v1+json',
  // Docker schema 2 equivalents: registries and `docker load` still hand these out
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** The annotation an OCI layout's index uses for a tag. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** "sha256:<64 lowercase hex>" */
export type Digest = `sha256:${string}`;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, Record<string, never>>;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    Volumes?: Record<string, Record<string, never>>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: { created?: string; author?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** Whether `s` is a sha256 digest in canonical form (the only algorithm berth writes or accepts). */
export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}
