// A CNI network of the test's own for containerd's CRI plugin: Debian's containernetworking-plugins
// (bridge, host-local, loopback) linked into a bin dir under the test's temp dir, and one bridge
// on a /24 no interface or route of the host uses. No ipMasq and no gateway: the plugins then
// touch neither iptables nor the host's ip_forward. What the network leaves on the host (the
// bridge, libcni's result cache; pods' veths and netns go with their pods) is removed by `remove`.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** Where Debian's containernetworking-plugins installs the plugins. */
export const CNI_PLUGINS = '/usr/lib/cni';
const PLUGINS = ['bridge', 'host-local', 'loopback'];
/** Test subnets are 10.213.N.0/24: a block no common setup (Docker, Kubernetes' CNIs) defaults to. */
const PREFIX = '10.213';
/** libcni's result cache (containerd does not let it be moved): one file per pod network. */
const CNI_CACHE = '/var/lib/cni';

export interface CniNetwork {
  binDir: string;
  confDir: string;
  /** The bridge device, unique per network: `tsb` and 6 hex digits. */
  bridge: string;
  /** e.g. `10.213.57.0/24`. */
  subnet: string;
  /** Whether an IPv4 address is in the subnet. */
  contains(ip: string): boolean;
  /** The host's interfaces enslaved to the bridge (one veth per running pod). */
  ports(): string[];
  /** Whether the bridge device exists. */
  bridgeExists(): boolean;
  /**
   * Deletes the bridge (the plugins create it and never delete it), this network's cached
   * results, and the cache dirs if this network's setup found them absent.
   */
  remove(): void;
}

const ip = (args: string[]): { status: number; stdout: string } => {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout };
};

/** The third octets of 10.213.N.* already on the host (addresses or routes). */
function usedOctets(): Set<number> {
  const text = ip(['-4', 'addr']).stdout + ip(['-4', 'route']).stdout;
  const used = new Set<number>();
  for (const m of text.matchAll(/\b10\.213\.(\d+)\./g)) used.add(Number(m[1]));
  return used;
}

export function cniAvailable(): boolean {
  return PLUGINS.every((p) => existsSync(join(CNI_PLUGINS, p)));
}

/** Writes the network's plugin links and conflist under `dir` (created). */
export function createCniNetwork(dir: string): CniNetwork {
  if (!cniAvailable()) {
    throw new Error(
      `CNI plugins ${PLUGINS.join(', ')} not found in ${CNI_PLUGINS}: apt-get install containernetworking-plugins`,
    );
  }
  const binDir = join(dir, 'cni-bin');
  const confDir = join(dir, 'net.d');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(confDir, { recursive: true });
  for (const p of PLUGINS) symlinkSync(join(CNI_PLUGINS, p), join(binDir, p));
  const used = usedOctets();
  const free = Array.from({ length: 254 }, (_, i) => i + 1).filter((n) => !used.has(n));
  const octet = free[randomBytes(1)[0]! % free.length];
  if (octet === undefined) throw new Error(`no free ${PREFIX}.N.0/24 on this host`);
  const subnet = `${PREFIX}.${String(octet)}.0/24`;
  const bridge = `tsb${randomBytes(3).toString('hex')}`;
  const name = `shimtest-${bridge}`;
  const cacheExisted = existsSync(CNI_CACHE);
  writeFileSync(
    join(confDir, '10-shimtest.conflist'),
    JSON.stringify(
      {
        cniVersion: '0.4.0',
        name,
        plugins: [
          {
            type: 'bridge',
            bridge,
            isGateway: false,
            ipMasq: false,
            ipam: { type: 'host-local', subnet, dataDir: join(dir, 'ipam') },
          },
        ],
      },
      null,
      2,
    ),
  );
  const net: CniNetwork = {
    binDir,
    confDir,
    bridge,
    subnet,
    contains: (addr) => addr.startsWith(`${PREFIX}.${String(octet)}.`),
    ports: () =>
      ip(['-o', 'link', 'show', 'master', bridge])
        .stdout.split('\n')
        .filter(Boolean)
        .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? l),
    bridgeExists: () => ip(['link', 'show', bridge]).status === 0,
    remove() {
      if (net.bridgeExists()) ip(['link', 'del', bridge]);
      const results = join(CNI_CACHE, 'results');
      if (existsSync(results)) {
        for (const f of readdirSync(results))
          if (f.startsWith(`${name}-`)) rmSync(join(results, f), { force: true });
      }
      if (!cacheExisted) {
        // Only if empty: another network's pods may be using it meanwhile.
        for (const d of [results, CNI_CACHE]) {
          try {
            rmdirSync(d);
          } catch {
            // not empty, or gone
          }
        }
      }
    },
  };
  return net;
}
