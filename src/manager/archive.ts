/**
 * Checkpoint archives (`checkpoint --export`, `restore --import`): a plain tar of the manager's
 * directory of a checkpointed container — criu's images in `checkpoint/`, the generated
 * config.json, the provided files, the log file — plus `berth-archive.json`, the manifest
 * below. The `tar` command (always on the host criu needs) keeps sparse image files and
 * modes as they are, and anyone can list or unpack an archive without berth.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StoredEvent } from '../store/eventLog.js';
import type { Attachment } from '../network/index.js';
import type { ContainerOptions } from './options.js';
import { invalid } from './spec.js';

const run = promisify(execFile);

export const MANIFEST = 'berth-archive.json';
export const IMAGES = 'checkpoint';
export const ARCHIVE_FORMAT = 1;

/** The manifest: what the source root knew of the container when it was exported. */
export interface ArchiveManifest {
  format: typeof ARCHIVE_FORMAT;
  name: string;
  /** The source root and its manager directory of the container (config.json names files in it). */
  root: string;
  dir: string;
  options: ContainerOptions;
  created: string;
  /** The bridge attachment at the checkpoint (network, address, ports), or null. */
  network: Pick<Attachment, 'network' | 'address' | 'ports'> | null;
  /** The container's slice of the source log: its manager stream and its runtime stream. */
  events: { manager: StoredEvent[]; runtime: StoredEvent[] };
}

/** Files of the manager directory that go in an archive (the manifest is written beside them first). */
const MEMBERS = [MANIFEST, IMAGES, 'config.json', 'hosts', 'resolv.conf', 'hostname', 'container.log'];

export async function writeArchive(dir: string, file: string): Promise<void> {
  await run('tar', ['-cf', file, '-C', dir, ...MEMBERS.filter((m) => existsSync(join(dir, m)))]);
}

/**
 * Unpack `file` into `into` (a new directory) and read its manifest; anything else than a
 * berth archive is refused as field `import`, with `into` removed.
 */
export async function readArchive(file: unknown, into: string): Promise<ArchiveManifest> {
  if (typeof file !== 'string' || !file.startsWith('/')) throw invalid('import', `expected an absolute path, got ${JSON.stringify(file)}`);
  if (!existsSync(file) || !statSync(file).isFile()) throw invalid('import', `${file} is not an existing file`);
  mkdirSync(into, { recursive: true, mode: 0o700 });
  try {
    await run('tar', ['-xf', file, '-C', into, '--no-same-owner']);
    const m = JSON.parse(readFileSync(join(into, MANIFEST), 'utf8')) as ArchiveManifest;
    if (m.format !== ARCHIVE_FORMAT || typeof m.name !== 'string' || typeof m.dir !== 'string' || !existsSync(join(into, IMAGES, 'inventory.img'))) throw new Error('bad manifest');
    return m;
  } catch {
    rmSync(into, { recursive: true, force: true });
    throw invalid('import', `${file} is not a berth checkpoint archive`);
  }
}
