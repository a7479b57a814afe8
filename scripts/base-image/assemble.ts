// Assembles the offline base image (scripts/build-base.sh prepares the trees): two deterministic
// layers, the Debian root then the Node runtime, with their config and manifest written into an
// OCI image layout. Prints a JSON summary (manifest digest, per-layer sizes) on stdout.
//
// Usage: tsx scripts/base-image/assemble.ts --rootfs DIR --node DIR --out DIR
//          --node-version X.Y.Z --epoch SECONDS --arch amd64|arm64 [--tag TAG] [--debian TEXT]

import { parseArgs } from 'node:util';
import { OciLayout } from '../../src/package/oci/layout.js';
import { MEDIA_TYPES, type ImageConfig, type ImageManifest } from '../../src/oci/types.js';
import { writeDirLayer } from './dir-layer.js';

const NONROOT = { uid: 65532, gid: 65532 };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rootfs: { type: 'string' },
      node: { type: 'string' },
      out: { type: 'string' },
      'node-version': { type: 'string' },
      epoch: { type: 'string' },
      arch: { type: 'string', default: 'amd64' },
      tag: { type: 'string', default: 'latest' },
      debian: { type: 'string', default: '' },
    },
  });
  const { rootfs, node, out } = values;
  const nodeVersion = values['node-version'];
  if (!rootfs || !node || !out || !nodeVersion || values.epoch === undefined) {
    throw new Error('usage: assemble.ts --rootfs DIR --node DIR --out DIR --node-version X.Y.Z --epoch SECONDS [--arch A] [--tag T]');
  }
  if (!/^\d+\.\d+\.\d+$/.test(nodeVersion)) throw new Error(`--node-version ${nodeVersion}: expected X.Y.Z`);
  const epoch = Number(values.epoch);
  if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`--epoch ${values.epoch}: expected whole seconds since 1970`);
  const arch = values.arch!;
  if (arch !== 'amd64' && arch !== 'arm64') throw new Error(`--arch ${arch}: expected amd64 or arm64`);

  const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
  const layout = new OciLayout(out);
  await layout.init();

  const base = await writeDirLayer(layout, rootfs, { mtime: epoch, owners: { 'home/nonroot': NONROOT } });
  const runtime = await writeDirLayer(layout, node, { mtime: epoch });

  const labels: Record<string, string> = {
    'io.berth.node.version': nodeVersion,
    'org.opencontainers.image.title': 'berth offline base',
    'org.opencontainers.image.description': `Debian ${values.debian || 'bookworm'} glibc root (mmdebstrap --variant=extract) with the official Node.js ${nodeVersion} binary`,
    'org.opencontainers.image.created': created,
  };
  const config: ImageConfig = {
    created,
    architecture: arch,
    os: 'linux',
    config: {
      User: `${NONROOT.uid}:${NONROOT.gid}`,
      Env: [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      ],
      WorkingDir: '/home/nonroot',
      Labels: labels,
    },
    rootfs: { type: 'layers', diff_ids: [base.diffId, runtime.diffId] },
    history: [
      { created, created_by: `mmdebstrap --variant=extract ${values.debian}`.trim(), comment: 'Debian root: glibc, libstdc++, CA certificates, tzdata, netbase' },
      { created, created_by: `npm pack node-linux-${arch === 'amd64' ? 'x64' : 'arm64'}@${nodeVersion}`, comment: 'official Node.js binary' },
    ],
  };
  const configDesc = await layout.writeBlobBytes(Buffer.from(JSON.stringify(config)), MEDIA_TYPES.config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: configDesc,
    layers: [base.descriptor, runtime.descriptor],
    annotations: { 'org.opencontainers.image.created': created, 'io.berth.node.version': nodeVersion },
  };
  const manifestDesc = await layout.writeBlobBytes(Buffer.from(JSON.stringify(manifest)), MEDIA_TYPES.manifest);
  await layout.tag({ ...manifestDesc, platform: { architecture: arch, os: 'linux' } }, values.tag!);

  const summary = {
    manifest: manifestDesc.digest,
    tag: values.tag,
    nodeVersion,
    layers: [
      { name: 'debian', digest: base.descriptor.digest, compressed: base.descriptor.size, uncompressed: base.uncompressedSize },
      { name: 'node', digest: runtime.descriptor.digest, compressed: runtime.descriptor.size, uncompressed: runtime.uncompressedSize },
    ],
    compressed: base.descriptor.size + runtime.descriptor.size,
    uncompressed: base.uncompressedSize + runtime.uncompressedSize,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`build-base: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
