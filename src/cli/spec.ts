// The default OCI runtime spec for `tsshim run --rootfs`: what `runc spec` writes, less what a
// rootfs directory and one command do not need.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface SpecInput {
  rootfs: string;
  args: string[];
  terminal: boolean;
  hostname?: string;
}

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

export function defaultSpec(input: SpecInput): Record<string, unknown> {
  if (input.args.length === 0) throw new Error('a command is needed with --rootfs');
  const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
  if (input.terminal) env.push('TERM=xterm');
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal,
      user: { uid: 0, gid: 0 },
      args: input.args,
      env,
      cwd: '/',
      capabilities: {
        bounding: CAPS,
        effective: CAPS,
        permitted: CAPS,
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: resolve(input.rootfs), readonly: false },
    hostname: input.hostname ?? 'tsshim',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      {
        destination: '/sys',
        type: 'sysfs',
        source: 'sysfs',
        options: ['nosuid', 'noexec', 'nodev', 'ro'],
      },
    ],
    linux: {
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount'].map((type) => ({ type })),
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** Writes a fresh bundle (a temporary directory holding config.json) and returns its path. */
export function writeBundle(input: SpecInput, parent = tmpdir()): string {
  mkdirSync(parent, { recursive: true });
  const bundle = mkdtempSync(join(parent, 'tsshim-bundle-'));
  writeFileSync(join(bundle, 'config.json'), `${JSON.stringify(defaultSpec(input), null, 2)}\n`);
  return bundle;
}
