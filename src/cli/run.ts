// `tsshim run`: a container through our shim with no containerd. The CLI plays containerd's
// part: an events socket, `start` of the shim, Create/Start, the stdio FIFOs, Wait, and the
// cleanup (Delete, Shutdown, FIFOs, a generated bundle). Detached, it leaves the shim running and
// records its address for the other commands.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EventSink, ShimClient, startShim } from '../client/index.js';
import { UsageError } from './errors.js';
import { makeFifos, removeFifos, type FifoSet } from './fifo.js';
import { writeBundle } from './spec.js';
import { eventsSocketPath, recordDir, saveRecord } from './state.js';
import { eventLine } from './print-event.js';
import { attach } from './stdio.js';

export interface RunOptions {
  bundle?: string;
  rootfs?: string;
  tty: boolean;
  detach: boolean;
  events: boolean;
  id: string;
  namespace: string;
  stateDir: string;
  args: string[];
}

/** The bundle to run and whether we wrote it (and so remove it). */
function prepareBundle(opts: RunOptions): {
  bundle: string;
  terminal: boolean;
  generated: boolean;
} {
  if ((opts.bundle === undefined) === (opts.rootfs === undefined))
    throw new UsageError('give one of --bundle DIR or --rootfs DIR');
  if (opts.rootfs !== undefined) {
    if (!existsSync(opts.rootfs)) throw new UsageError(`rootfs ${opts.rootfs} does not exist`);
    if (opts.args.length === 0) throw new UsageError('--rootfs needs a command after --');
    const bundle = writeBundle({
      rootfs: opts.rootfs,
      args: opts.args,
      terminal: opts.tty,
      hostname: opts.id,
    });
    return { bundle, terminal: opts.tty, generated: true };
  }
  const bundle = resolve(opts.bundle ?? '');
  if (opts.args.length > 0) throw new UsageError('a command is only taken with --rootfs');
  const config = join(bundle, 'config.json');
  if (!existsSync(config)) throw new UsageError(`no bundle at ${bundle} (no config.json)`);
  let spec: unknown;
  try {
    spec = JSON.parse(readFileSync(config, 'utf8'));
  } catch (err) {
    throw new UsageError(`bad ${config}: ${(err as Error).message}`);
  }
  const proc =
    typeof spec === 'object' && spec !== null ? (spec as { process?: unknown }).process : undefined;
  if (typeof proc !== 'object' || proc === null) throw new UsageError(`bad ${config}: no process`);
  return { bundle, terminal: (proc as { terminal?: unknown }).terminal === true, generated: false };
}

/** Runs the container; resolves with the exit status for the CLI to exit with. */
export async function run(opts: RunOptions): Promise<number> {
  const { bundle, terminal, generated } = prepareBundle(opts);
  const record = recordDir(opts.stateDir, opts.namespace, opts.id);
  if (opts.detach && existsSync(join(record, 'address'))) {
    if (generated) rmSync(bundle, { recursive: true, force: true });
    throw new UsageError(`container ${opts.id} exists (${record})`);
  }
  const cleanups: (() => Promise<void> | void)[] = [];
  if (generated && !opts.detach)
    cleanups.push(() => {
      rmSync(bundle, { recursive: true, force: true });
    });
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.reverse()) await step();
  };
  try {
    // Detached, the shim's events wait at a socket of the state dir for `tsshim events`.
    let eventsPath: string;
    if (opts.detach) {
      eventsPath = eventsSocketPath(opts.stateDir, opts.namespace, opts.id);
      mkdirSync(dirname(eventsPath), { recursive: true, mode: 0o700 });
      rmSync(eventsPath, { force: true });
    } else {
      const eventsDir = mkdtempSync(join(tmpdir(), 'tsshim-events-'));
      cleanups.push(() => {
        rmSync(eventsDir, { recursive: true, force: true });
      });
      eventsPath = join(eventsDir, 'events.sock');
    }
    if (!opts.detach || opts.events) {
      const sink = await EventSink.listen(eventsPath);
      cleanups.push(() => sink.close());
      if (opts.events)
        sink.on('event', (e) => {
          process.stderr.write(eventLine(e));
        });
    }
    const address = await startShim({
      id: opts.id,
      namespace: opts.namespace,
      bundle,
      eventsAddress: eventsPath,
      // The warm path pays off for a long-lived containerd; a fresh events socket per run would
      // leave one warm process per run behind for its linger time.
      env: { ...process.env, TSSHIM_WARM: '0' },
    });
    const client = await ShimClient.connect(address, opts.namespace);
    // Shutdown makes the shim exit; waiting for it lets its last events (/tasks/delete) arrive.
    let keepShim = false;
    cleanups.push(async () => {
      if (keepShim) return;
      await client.shutdown({ id: opts.id, now: false }).catch(() => undefined);
      await client.closed();
    });
    if (opts.detach) {
      const status = await runDetached(client, opts, bundle, terminal, generated, address);
      keepShim = true;
      return status;
    }

    const fifos = makeFifos();
    cleanups.push(() => {
      removeFifos(fifos);
    });
    return await runAttached(client, opts.id, bundle, terminal, fifos, cleanups);
  } finally {
    await cleanup();
  }
}

async function runAttached(
  client: ShimClient,
  id: string,
  bundle: string,
  terminal: boolean,
  fifos: FifoSet,
  cleanups: (() => Promise<void> | void)[],
): Promise<number> {
  await client.create({
    id,
    bundle,
    terminal,
    stdin: fifos.stdin,
    stdout: fifos.stdout,
    stderr: terminal ? '' : fifos.stderr,
  });
  cleanups.push(async () => {
    await client.delete({ id }).catch(() => undefined);
  });
  const io = attach(client, fifos, { id }, terminal);
  cleanups.push(() => {
    io.detach();
  });
  const forward = (signal: NodeJS.Signals): void => {
    client.kill({ id, signal: signal === 'SIGINT' ? 2 : 15, all: false }).catch(() => undefined);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  cleanups.push(() => {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  });
  await client.start({ id });
  const exit = await client.wait({ id });
  await io.drained;
  return exit.exit_status;
}

async function runDetached(
  client: ShimClient,
  opts: RunOptions,
  bundle: string,
  terminal: boolean,
  generated: boolean,
  address: string,
): Promise<number> {
  if (terminal) throw new UsageError('-d does not take a terminal');
  try {
    await client.create({ id: opts.id, bundle, terminal: false });
    await client.start({ id: opts.id });
  } catch (err) {
    await client.delete({ id: opts.id }).catch(() => undefined);
    throw err;
  }
  saveRecord(recordDir(opts.stateDir, opts.namespace, opts.id), { address, bundle, generated });
  process.stdout.write(`${opts.id}\n`);
  client.close();
  return 0;
}
