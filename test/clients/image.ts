import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRootfs, ROOTFS_DIRS } from '../helpers/bundle.js';

/**
 * Client images made offline from the busybox test rootfs: a plain rootfs tar (for
 * `podman import`) and an OCI image-layout archive with one uncompressed layer (for
 * `ctr images import`). Nothing is pulled.
 */
export interface ClientImages {
  /** The rootfs as a tar stream. */
  rootfsTar: string;
  /** An OCI image layout tar; its one manifest is named `berth`. */
  ociArchive: string;
  cleanup(): void;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function clientImages(): ClientImages {
  const dir = mkdtempSync(join(tmpdir(), 'berth-image-'));
  const rootfsTar = join(dir, 'rootfs.tar');
  // Only what the shared rootfs is made of: not its marker file, nor mount points other tests' containers made in it.
  execFileSync('tar', ['-C', busyboxRootfs(), '-cf', rootfsTar, ...ROOTFS_DIRS]);

  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (content: Buffer) => {
    const digest = sha256(content);
    writeFileSync(join(blobs, digest), content);
    return { digest: `sha256:${digest}`, size: content.length };
  };
  const layer = blob(readFileSync(rootfsTar));
  const config = blob(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest,
      annotations: { 'org.opencontainers.image.ref.name': 'berth' },
    }],
  }));
  const ociArchive = join(dir, 'oci.tar');
  execFileSync('tar', ['-C', layout, '-cf', `${ociArchive}.part`, '.']);
  renameSync(`${ociArchive}.part`, ociArchive);
  return { rootfsTar, ociArchive, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
