// Image references as docker, podman and skopeo spell them: `[host[:port]/]repo[:tag][@digest]`.
// A first path component is a registry host only when it looks like one (a dot, a port, or
// `localhost`); otherwise the image lives on Docker Hub, where one-word names sit under `library/`.

import { isDigest, type Digest } from './types.js';

export interface ImageReference {
  /** The registry as named (`docker.io`, `127.0.0.1:5000`, `ghcr.io`). */
  registry: string;
  repository: string;
  tag?: string;
  digest?: Digest;
}

export const DOCKER_HUB = 'docker.io';
/** Docker Hub's API is served from another host than the one in image names. */
const DOCKER_HUB_API = 'registry-1.docker.io';

// distribution/reference grammar: lowercase path components joined by separators; tags up to 128.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const MAX_NAME = 255;

/** Parses a reference; `docker://` in front is accepted (skopeo's spelling). Throws a one-line error naming the problem. */
export function parseReference(input: string): ImageReference {
  let rest = input.trim();
  if (rest.startsWith('docker://')) rest = rest.slice('docker://'.length);
  if (rest === '') throw new Error('empty image reference');
  if (/^[a-z]+:\/\//i.test(rest)) throw new Error(`image reference ${JSON.stringify(input)}: write REGISTRY/REPO:TAG without a scheme (plain http is chosen with --insecure or for loopback registries)`);

  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new Error(`image reference ${JSON.stringify(input)}: ${JSON.stringify(d)} is not a sha256:<64 hex> digest`);
    digest = d;
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new Error(`image reference ${JSON.stringify(input)}: ${JSON.stringify(tag)} is not a valid tag`);
  }

  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      repository = rest.slice(slash + 1);
      if (!HOST.test(registry)) throw new Error(`image reference ${JSON.stringify(input)}: ${JSON.stringify(registry)} is not a registry host`);
    }
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;

  if (repository === '' || repository.length > MAX_NAME || !repository.split('/').every((c) => PATH_COMPONENT.test(c))) {
    throw new Error(`image reference ${JSON.stringify(input)}: ${JSON.stringify(repository)} is not a valid repository name (lowercase letters, digits and . _ - separators)`);
  }
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The canonical spelling: `registry/repo:tag@digest`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** What to put in the manifest URL: the digest when there is one (it pins the content), else the tag, else `latest`. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** The host:port that serves the registry's API. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** Whether `registry` (host[:port]) is this machine, where plain http is acceptable. */
export function isLoopback(registry: string): boolean {
  const host = hostOf(registry).toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}

function hostOf(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(0, registry.indexOf(']') + 1);
  const colon = registry.indexOf(':');
  return colon >= 0 ? registry.slice(0, colon) : registry;
}
