// Builds an OCI busybox image from the host's busybox-static binary and imports it, so tests need
// no registry. The built archive is cached by the binary's digest.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Containerd } from './containerd.js';

export const IMAGE_REF = 'docker.io/library/busybox:shimtest';
const BUSYBOX = '/bin/busybox';

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** A busybox root filesystem in `rootfs` (created): /bin with every applet, root's passwd. */
export async function buildBusyboxRootfs(rootfs: string): Promise<void> {
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root'])
    mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  const applets = (await execa(BUSYBOX, ['--list'])).stdout.split('\n').filter(Boolean);
  for (const applet of applets) {
    if (applet !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
}

async function buildArchive(path: string, ref: string, cmd: string[]): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'img-'));
  try {
    const rootfs = join(work, 'rootfs');
    await buildBusyboxRootfs(rootfs);
    const layerTar = join(work, 'layer.tar');
    await execa('tar', [
      '--numeric-owner',
      '--owner=0',
      '--group=0',
      '--sort=name',
      '--mtime=@0',
      '-C',
      rootfs,
      '-cf',
      layerTar,
      '.',
    ]);
    const oci = join(work, 'oci');
    const blobs = join(oci, 'blobs/sha256');
    mkdirSync(blobs, { recursive: true });
    const put = (data: Buffer | string): { digest: string; size: number } => {
      const hex = sha256(data);
      writeFileSync(join(blobs, hex), data);
      return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
    };
    const layer = put(readFileSync(layerTar));
    const config = put(
      JSON.stringify({
        architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
        os: 'linux',
        config: { Env: ['PATH=/bin'], Cmd: cmd },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    );
    const manifest = put(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    );
    writeFileSync(join(oci, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(oci, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            annotations: { 'org.opencontainers.image.ref.name': ref },
          },
        ],
      }),
    );
    await execa('tar', ['-C', oci, '-cf', path, '.']);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Builds (or reuses) the archive, imports it into `cd` and returns the image reference. */
export async function ensureBusyboxImage(
  cd: Containerd,
  namespace = cd.namespace,
  ref = IMAGE_REF,
  cmd: string[] = ['/bin/sh'],
): Promise<string> {
  const key = sha256(`${sha256(readFileSync(BUSYBOX))}\0${ref}\0${JSON.stringify(cmd)}`);
  const archive = join(tmpdir(), `busybox-oci-${key.slice(0, 16)}.tar`);
  if (!existsSync(archive)) {
    const tmp = `${archive}.${process.pid}`;
    await buildArchive(tmp, ref, cmd);
    await execa('mv', [tmp, archive]);
  }
  await execa(cd.ctrPath, [
    '--address',
    cd.address,
    '--namespace',
    namespace,
    'images',
    'import',
    archive,
  ]);
  return ref;
}
