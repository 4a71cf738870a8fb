// The commands on a container left running by `tsshim run -d`: state, ps, kill, exec, delete.
// Each finds the shim through the address recorded under the state directory.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { ShimClient, containerd } from '../client/index.js';
import { UsageError } from './errors.js';
import { makeFifos, removeFifos } from './fifo.js';
import { removeStaleSocket } from '../shim/socket.js';
import {
  eventsSocketPath,
  loadRecord,
  recordDir,
  removeRecord,
  type ContainerRecord,
} from './state.js';
import { attach } from './stdio.js';

export interface Target {
  id: string;
  namespace: string;
  stateDir: string;
}

const STATUS = containerd.v1.types.Status;
const PROCESS_SPEC_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

async function withClient<T>(
  t: Target,
  use: (client: ShimClient, record: ContainerRecord) => Promise<T>,
): Promise<T> {
  const record = loadRecord(recordDir(t.stateDir, t.namespace, t.id), t.id);
  const client = await ShimClient.connect(record.address, t.namespace);
  try {
    return await use(client, record);
  } finally {
    client.close();
  }
}

export function state(t: Target): Promise<void> {
  return withClient(t, async (client) => {
    const s = await client.state({ id: t.id });
    const out = {
      id: s.id,
      pid: s.pid,
      status: ((STATUS[s.status] as string | undefined) ?? 'UNKNOWN').toLowerCase(),
      bundle: s.bundle,
      exitStatus: s.exit_status,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  });
}

export function ps(t: Target): Promise<void> {
  return withClient(t, async (client) => {
    const { processes } = await client.pids({ id: t.id });
    process.stdout.write('PID\n');
    for (const p of processes) process.stdout.write(`${p.pid ?? 0}\n`);
  });
}

/** A signal by name (KILL, SIGKILL) or number. */
export function parseSignal(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const name = value.toUpperCase().replace(/^(SIG)?/, 'SIG');
  const n = (constants.signals as Record<string, number | undefined>)[name];
  if (n === undefined) throw new UsageError(`unknown signal ${value}`);
  return n;
}

export function kill(t: Target, signal: number, all: boolean): Promise<void> {
  return withClient(t, (client) => client.kill({ id: t.id, signal, all }));
}

/** Deletes the stopped container, stops its shim, and removes what `run -d` left. */
export function remove(t: Target): Promise<void> {
  const dir = recordDir(t.stateDir, t.namespace, t.id);
  return withClient(t, async (client, record) => {
    await client.delete({ id: t.id });
    await client.shutdown({ id: t.id, now: false });
    await client.closed();
    if (record.generated) rmSync(record.bundle, { recursive: true, force: true });
    removeRecord(dir);
    // A listening `tsshim events` still receives the last events and removes its socket itself.
    await removeStaleSocket(eventsSocketPath(t.stateDir, t.namespace, t.id), 1000);
  });
}

/** Runs a command in the container (no terminal), resolving with its exit status. */
export function exec(t: Target, execId: string, args: string[]): Promise<number> {
  if (args.length === 0) throw new UsageError('exec needs a command after --');
  return withClient(t, async (client, record) => {
    const spec = JSON.parse(readFileSync(join(record.bundle, 'config.json'), 'utf8')) as {
      process: Record<string, unknown>;
    };
    const processSpec = { ...spec.process, args, terminal: false };
    const fifos = makeFifos();
    try {
      await client.exec({
        id: t.id,
        exec_id: execId,
        terminal: false,
        stdin: fifos.stdin,
        stdout: fifos.stdout,
        stderr: fifos.stderr,
        spec: { type_url: PROCESS_SPEC_URL, value: Buffer.from(JSON.stringify(processSpec)) },
      });
      // The shim opens an exec's FIFOs when it starts it; it keeps a reader of its own until
      // the exec is deleted, so nothing written before we attach is lost.
      let io: ReturnType<typeof attach> | undefined;
      let deleted = false;
      try {
        await client.start({ id: t.id, exec_id: execId });
        io = attach(client, fifos, { id: t.id, execId }, false);
        const exit = await client.wait({ id: t.id, exec_id: execId });
        // Delete returns once the shim has copied all output into the FIFOs; then we take the rest.
        deleted = true;
        await client.delete({ id: t.id, exec_id: execId });
        io.finish();
        return exit.exit_status;
      } finally {
        io?.detach();
        if (!deleted) await client.delete({ id: t.id, exec_id: execId }).catch(() => undefined);
      }
    } finally {
      removeFifos(fifos);
    }
  });
}
