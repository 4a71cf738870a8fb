// The doctor's checks: pure functions from observed facts to findings, each with its fix.
import { SHIM_NAMES, type Facts } from './facts.js';

export type Level = 'ok' | 'warn' | 'fail';

export interface Finding {
  check: string;
  level: Level;
  message: string;
  /** What to do about it (empty when all is well). */
  fix: string;
}

/** A config value as text: strings as they are, anything else as nothing. */
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

const OUR_TYPES = ['io.containerd.tsshim.v2', 'io.containerd.ts.v2'];
const ok = (check: string, message: string): Finding => ({ check, level: 'ok', message, fix: '' });

export function checkNode(f: Facts): Finding {
  const major = Number.parseInt(f.nodeVersion.split('.')[0] ?? '0', 10);
  return major >= 20
    ? ok('node', `Node ${f.nodeVersion}`)
    : {
        check: 'node',
        level: 'fail',
        message: `Node ${f.nodeVersion} is too old`,
        fix: 'install Node 20 or later',
      };
}

export function checkRuntimes(f: Facts): Finding[] {
  const runc: Finding =
    f.runc.version === undefined
      ? {
          check: 'runc',
          level: 'fail',
          message: 'runc is not found or does not run',
          fix: 'install runc (Debian: apt-get install runc)',
        }
      : ok('runc', f.runc.version);
  const crun: Finding =
    f.crun.version === undefined
      ? ok('crun', 'crun is not installed (optional: BinaryName = "crun" needs it)')
      : ok('crun', f.crun.version);
  return [runc, crun];
}

export function checkContainerd(f: Facts): Finding {
  const v = f.containerd.version;
  if (v === undefined) {
    return {
      check: 'containerd',
      level: 'fail',
      message: 'containerd is not found',
      fix: 'install containerd 1.6 or later',
    };
  }
  const m = /v?(\d+)\.(\d+)/.exec(v.replace(/^containerd\s+\S+\s+/, ''));
  const [major, minor] = [Number(m?.[1] ?? 0), Number(m?.[2] ?? 0)];
  if (major < 1 || (major === 1 && minor < 6)) {
    return {
      check: 'containerd',
      level: 'fail',
      message: `${v}: older than 1.6`,
      fix: 'upgrade containerd to 1.6 or later',
    };
  }
  return ok('containerd', v);
}

/** containerd finds runtime `io.containerd.<name>.v2` as `containerd-shim-<name>-v2` on its PATH. */
export function checkShimOnPath(f: Facts): Finding[] {
  return SHIM_NAMES.map((name) => {
    const found = f.shimOnPath[name] ?? '';
    if (found !== '') return ok(`path:${name}`, `containerd finds ${found}`);
    return {
      check: `path:${name}`,
      level: 'fail',
      message: `${name} is not on containerd's PATH (${f.containerdPath})`,
      fix: `ln -s "$(npm prefix -g)/bin/${name}" /usr/local/bin/${name}  (or set runtime_path in the CRI config)`,
    };
  });
}

/** The CRI runtimes table of a containerd config: version 2 (1.x) or version 3 (2.x) layout. */
function criRuntimes(config: Record<string, unknown>): Record<string, Record<string, unknown>> {
  const plugins = (config['plugins'] ?? {}) as Record<string, Record<string, unknown>>;
  const cri =
    Number(config['version'] ?? 1) >= 3
      ? plugins['io.containerd.cri.v1.runtime']
      : plugins['io.containerd.grpc.v1.cri'];
  const containerd = (cri?.['containerd'] ?? {}) as Record<string, unknown>;
  return (containerd['runtimes'] ?? {}) as Record<string, Record<string, unknown>>;
}

export function checkCriConfig(f: Facts): Finding[] {
  if (f.config === undefined) {
    return [
      {
        check: 'cri',
        level: 'warn',
        message: `no ${f.configPath}: CRI has no handler for us`,
        fix: 'add one: tsshim config',
      },
    ];
  }
  if (typeof f.config === 'string') {
    return [
      {
        check: 'cri',
        level: 'fail',
        message: `${f.configPath} does not parse: ${f.config}`,
        fix: 'fix the TOML syntax',
      },
    ];
  }
  const ours = Object.entries(criRuntimes(f.config)).filter(([name, rt]) => {
    const type = text(rt['runtime_type']);
    const path = text(rt['runtime_path']);
    return /tsshim|\.ts\./.test(type) || /tsshim|shim-ts-v2/.test(path) || /tsshim/.test(name);
  });
  if (ours.length === 0) {
    return [
      {
        check: 'cri',
        level: 'warn',
        message: `no CRI runtime handler for us in ${f.configPath}`,
        fix: 'add one: tsshim config',
      },
    ];
  }
  return ours.map(([name, rt]) => {
    const type = text(rt['runtime_type']);
    if (OUR_TYPES.includes(type)) return ok(`cri:${name}`, `handler ${name}: runtime_type ${type}`);
    return {
      check: `cri:${name}`,
      level: 'fail',
      message: `handler ${name}: runtime_type "${type}" is not ours`,
      fix: `set runtime_type = "io.containerd.tsshim.v2" for handler ${name}, then restart containerd`,
    };
  });
}

export function checkCgroups(f: Facts): Finding {
  const names: Record<string, string> = {
    v2: 'cgroup v2 (unified)',
    hybrid: 'cgroup v1 with the v2 unified mount (hybrid)',
    v1: 'cgroup v1',
  };
  const name = names[f.cgroupMode];
  if (name !== undefined) return ok('cgroups', name);
  return {
    check: 'cgroups',
    level: 'fail',
    message: 'no cgroup filesystem is mounted',
    fix: 'mount cgroup2 on /sys/fs/cgroup',
  };
}

export function checkSocketDir(f: Facts): Finding {
  if (!f.socketDir.exists)
    return ok('socket-dir', '/run/containerd/s will be created 0700 at the first start');
  const { uid, mode } = f.socketDir;
  if (uid !== 0) {
    return {
      check: 'socket-dir',
      level: 'fail',
      message: `/run/containerd/s is owned by uid ${String(uid)}`,
      fix: 'chown root:root /run/containerd/s',
    };
  }
  if ((mode & 0o077) !== 0) {
    return {
      check: 'socket-dir',
      level: 'warn',
      message: `/run/containerd/s is mode ${mode.toString(8)}; the shim narrows it to 0700`,
      fix: 'chmod 700 /run/containerd/s',
    };
  }
  return ok('socket-dir', '/run/containerd/s is private');
}

export function checkCriu(f: Facts): Finding {
  if (f.criu === undefined)
    return {
      check: 'criu',
      level: 'warn',
      message: 'no CRIU: checkpoint/restore is unavailable',
      fix: 'install criu',
    };
  if (f.criu.ok) return ok('criu', 'criu check passes: checkpoint/restore works');
  return {
    check: 'criu',
    level: 'warn',
    message: `criu check fails: ${f.criu.detail}`,
    fix: 'install a CRIU that supports this kernel (and iptables, for its network lock)',
  };
}

export function allChecks(f: Facts): Finding[] {
  return [
    checkNode(f),
    ...checkRuntimes(f),
    checkContainerd(f),
    ...checkShimOnPath(f),
    ...checkCriConfig(f),
    checkCgroups(f),
    checkSocketDir(f),
    checkCriu(f),
  ];
}
