// `tsshim upgrade`: tells running shim daemons of ours to take the installed version (SIGURG).
// Each re-executes the binary containerd ran for it, in place; the outcome ("shim upgraded" or
// "upgrade refused" with the reason) is in containerd's log, as every line of the daemon's.
import { readdirSync, readFileSync } from 'node:fs';
import { isAnyMainScript } from '../shim/node-command.js';

export interface Daemon {
  pid: number;
  namespace: string;
  id: string;
  address: string;
}

const ACTIONS = new Set(['start', 'delete', 'warm', 'spare']);

/** A daemon of ours from its command line (Node, our entry script, containerd's flags, no action). */
export function parseDaemon(pid: number, argv: readonly string[]): Daemon | undefined {
  const main = argv.findIndex(isAnyMainScript);
  if (main < 0) return undefined;
  const rest = argv.slice(main + 1);
  const flags = new Map<string, string>();
  let i = 0;
  for (; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    if (!arg.startsWith('-')) break;
    const name = arg.replace(/^--?/, '');
    if (name === 'debug') continue;
    flags.set(name, rest[++i] ?? '');
  }
  if (i < rest.length && ACTIONS.has(rest[i] ?? '')) return undefined;
  // A daemon's first flag is -namespace. A daemon born from a spare shows its command line as
  // its process title, which the kernel may have cut short: what is missing reads as ''.
  if (!(rest[0] ?? '').startsWith('-n')) return undefined;
  return {
    pid,
    namespace: flags.get('namespace') ?? '',
    id: flags.get('id') ?? '',
    address: flags.get('address') ?? '',
  };
}

/** The daemons running now (a spare's title is its command line, split on spaces). */
export function findDaemons(): Daemon[] {
  const out: Daemon[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let raw: string;
    try {
      raw = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue; // gone
    }
    const parts = raw.replace(/\0$/, '').split('\0');
    const argv = parts.length === 1 ? (parts[0] ?? '').split(' ') : parts;
    const daemon = parseDaemon(Number(name), argv);
    if (daemon) out.push(daemon);
  }
  return out;
}

export interface UpgradeOptions {
  /** Only daemons of this containerd (its gRPC address; a cut-short title never matches). */
  address?: string;
  namespace?: string;
  /** These pids, signalled as given (no search). */
  pids: number[];
}

/** Signals the chosen daemons; prints one line each. Exit status 1 if none was found. */
export function upgrade(opts: UpgradeOptions): number {
  // Pids named by the operator are taken as given: a daemon started on the cold path keeps the
  // `start` invocation's command line, which the search below cannot tell from a passing `start`.
  const named = opts.pids.map((pid) => ({ pid, namespace: '?', id: '?', address: '' }));
  const chosen =
    named.length > 0
      ? named
      : findDaemons().filter(
          (d) =>
            (opts.address === undefined || d.address === opts.address) &&
            (opts.namespace === undefined || d.namespace === opts.namespace) &&
            (opts.pids.length === 0 || opts.pids.includes(d.pid)),
        );
  if (chosen.length === 0) {
    process.stderr.write('tsshim: no shim daemon of ours matches\n');
    return 1;
  }
  let status = 0;
  for (const d of chosen) {
    try {
      process.kill(d.pid, 'SIGURG');
      process.stdout.write(
        `upgrade requested: pid ${String(d.pid)} namespace ${d.namespace} id ${d.id}\n`,
      );
    } catch (err) {
      process.stderr.write(`tsshim: pid ${String(d.pid)}: ${String(err)}\n`);
      status = 1;
    }
  }
  return status;
}
