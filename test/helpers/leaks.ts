// Leak and liveness probes for tests: fds, zombies (counted by parent), mounts, polling.
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

export function fdCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function statOf(pid: string): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '', ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

/** Zombies whose parent is `pid` (PID 1 reaps orphans late, so count by parent). */
export function zombieChildren(pid: number): number {
  let n = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = statOf(name);
    if (s && s.ppid === pid && s.state === 'Z') n++;
  }
  return n;
}

export function parentOf(pid: number): number {
  return statOf(String(pid))?.ppid ?? 0;
}

export function isAlive(pid: number): boolean {
  const s = statOf(String(pid));
  return s !== undefined && s.state !== 'Z';
}

export function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mp) => mp === prefix || mp.startsWith(prefix + '/'));
}

/** A process's argv joined by spaces ('' once it has gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8')
      .replaceAll('\0', ' ')
      .trim();
  } catch {
    return '';
  }
}

export function processesMatching(substr: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(substr)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True when something accepts connections on the unix socket at `path`. */
export function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      resolve(false);
    });
  });
}
