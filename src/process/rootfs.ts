// Mounting the rootfs mounts containerd hands to Create onto <bundle>/rootfs, and unmounting them.
import { mkdirSync } from 'node:fs';
import { native } from '../native/index.js';
import { errorCode } from '../base/errors.js';
import { sleep } from '../base/deferred.js';

export interface MountSpec {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

// mount(2) flag bits (linux/mount.h).
const MS_RDONLY = 0x1;
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_SYNCHRONOUS = 0x10;
const MS_REMOUNT = 0x20;
const MS_MANDLOCK = 0x40;
const MS_DIRSYNC = 0x80;
const MS_NOATIME = 0x400;
const MS_NODIRATIME = 0x800;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_RELATIME = 0x200000;
const MS_STRICTATIME = 0x1000000;
const MNT_DETACH = 0x2;

/** Option → [clear?, flag]; every other option goes to the filesystem data string. */
const FLAG_OPTIONS: Record<string, [boolean, number]> = {
  async: [true, MS_SYNCHRONOUS],
  atime: [true, MS_NOATIME],
  bind: [false, MS_BIND],
  defaults: [false, 0],
  dev: [true, MS_NODEV],
  diratime: [true, MS_NODIRATIME],
  dirsync: [false, MS_DIRSYNC],
  exec: [true, MS_NOEXEC],
  mand: [false, MS_MANDLOCK],
  noatime: [false, MS_NOATIME],
  nodev: [false, MS_NODEV],
  nodiratime: [false, MS_NODIRATIME],
  noexec: [false, MS_NOEXEC],
  nomand: [true, MS_MANDLOCK],
  norelatime: [true, MS_RELATIME],
  nostrictatime: [true, MS_STRICTATIME],
  nosuid: [false, MS_NOSUID],
  rbind: [false, MS_BIND | MS_REC],
  relatime: [false, MS_RELATIME],
  remount: [false, MS_REMOUNT],
  ro: [false, MS_RDONLY],
  rw: [true, MS_RDONLY],
  strictatime: [false, MS_STRICTATIME],
  suid: [true, MS_NOSUID],
  sync: [false, MS_SYNCHRONOUS],
};

export function parseMountOptions(options: readonly string[]): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const opt of options) {
    const known = FLAG_OPTIONS[opt];
    if (!known) data.push(opt);
    else if (known[0]) flags &= ~known[1];
    else flags |= known[1];
  }
  return { flags, data: data.join(',') };
}

/** Mounts every entry on `target` in order; on failure unmounts what was mounted and rethrows. */
export function mountAll(mounts: readonly MountSpec[], target: string): void {
  mkdirSync(target, { recursive: true, mode: 0o711 });
  let mounted = 0;
  try {
    for (const m of mounts) {
      const { flags, data } = parseMountOptions(m.options);
      native.mount(m.source, target, m.type, flags, data);
      mounted++;
      // Linux ignores MS_RDONLY on the first bind mount: remount to make it read-only.
      if ((flags & MS_BIND) !== 0 && (flags & MS_RDONLY) !== 0) {
        native.mount('', target, '', flags | MS_REMOUNT, '');
      }
    }
  } catch (err) {
    for (let i = 0; i < mounted; i++) unmountOnceSync(target);
    throw err;
  }
}

function unmountOnceSync(target: string): boolean {
  try {
    native.umount2(target, MNT_DETACH);
    return true;
  } catch {
    return false;
  }
}

/** Unmounts `target` until it is no longer a mount point (EINVAL) or gone (ENOENT). */
export async function unmountAll(target: string): Promise<void> {
  for (let busy = 0; ;) {
    try {
      native.umount2(target, 0);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'EINVAL' || code === 'ENOENT') return;
      if (code === 'EBUSY' && busy++ < 50) {
        await sleep(50);
        continue;
      }
      // Last resort: detach so the bundle can still be removed.
      if (!unmountOnceSync(target)) throw err;
    }
  }
}
