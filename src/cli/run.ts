// `tsshim run`: one container, no containerd. Starts our shim as containerd would, attaches the
// terminal's stdio through FIFOs, prints task events on request, and exits with the container's
// status after Delete and Shutdown.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { ShimClient } from '../client/shim-client.js';
import { EventSink, type TaskEvent } from '../client/event-sink.js';
import { startShim } from '../client/start-shim.js';
import { defaultSpec } from '../client/spec.js';
import { FifoEnd, makeFifo } from './fifo.js';
import { CliError } from './errors.js';

export interface RunOptions {
  bundle?: string | undefined;
  rootfs?: string | undefined;
  tty: boolean;
  interactive: boolean;
  id?: string | undefined;
  namespace: string;
  events: boolean;
  stateDir: string;
  args: string[];
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

/** The bundle to run: the given one (checked), or one written for a rootfs and a command. */
function prepareBundle(opts: RunOptions, state: string): string {
  if (opts.bundle !== undefined) {
    const bundle = resolve(opts.bundle);
    const config = join(bundle, 'config.json');
    if (!existsSync(config)) throw new CliError(`no config.json in bundle ${bundle}`);
    try {
      const parsed: unknown = JSON.parse(readFileSync(config, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
      const spec = parsed as { process?: { terminal?: boolean } };
      if (opts.tty !== (spec.process?.terminal === true)) {
        throw new Error(
          `process.terminal is ${String(spec.process?.terminal === true)}, -t is ${String(opts.tty)}`,
        );
      }
    } catch (err) {
      throw new CliError(`bad ${config}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return bundle;
  }
  if (opts.rootfs === undefined) throw new CliError('give --bundle or --rootfs');
  const rootfs = resolve(opts.rootfs);
  if (!existsSync(rootfs) || !statSync(rootfs).isDirectory()) {
    throw new CliError(`rootfs ${rootfs} is not a directory`);
  }
  if (opts.args.length === 0) throw new CliError('--rootfs needs a command (after --)');
  const bundle = join(state, 'bundle');
  mkdirSync(bundle);
  const spec = defaultSpec({ rootfs, args: opts.args, terminal: opts.tty });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  return bundle;
}

function printEvent(event: TaskEvent): void {
  process.stderr.write(`${event.topic} ${JSON.stringify(event.payload)}\n`);
}

/** Runs the container; resolves to its exit status. */
export async function run(opts: RunOptions): Promise<number> {
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const state = mkdtempSync(join(opts.stateDir, 'run-'));
  const id = opts.id ?? `tsshim-${randomBytes(6).toString('hex')}`;
  const cleanups: (() => Promise<void> | void)[] = [
    () => {
      rmSync(state, { recursive: true, force: true });
    },
  ];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.reverse()) await step();
  };
  try {
    const bundle = prepareBundle(opts, state);
    const sink = await EventSink.listen(join(state, 'events.sock'), (e) => {
      if (opts.events) printEvent(e);
    });
    cleanups.push(() => sink.close());
    const address = await startShim({
      id,
      namespace: opts.namespace,
      bundle,
      eventsAddress: join(state, 'events.sock'),
      address: join(state, 'containerd.sock'),
    });
    const shim = await ShimClient.connect(address, opts.namespace);
    cleanups.push(async () => {
      // Shutdown ends the daemon once it serves nothing: wait for it, so its last events land.
      await shim.shutdown().catch(() => undefined);
      await Promise.race([shim.closed, new Promise((r) => setTimeout(r, 5000).unref())]);
      shim.close();
    });
    return await runTask(shim, id, bundle, state, opts);
  } finally {
    await cleanup();
  }
}

async function runTask(
  shim: ShimClient,
  id: string,
  bundle: string,
  state: string,
  opts: RunOptions,
): Promise<number> {
  const paths = {
    stdin: opts.interactive || opts.tty ? join(state, 'stdin') : '',
    stdout: join(state, 'stdout'),
    stderr: opts.tty ? '' : join(state, 'stderr'),
  };
  for (const p of Object.values(paths)) if (p !== '') await makeFifo(p);
  const ends = {
    stdin: paths.stdin !== '' ? new FifoEnd(paths.stdin, 'write') : undefined,
    stdout: new FifoEnd(paths.stdout, 'read'),
    stderr: paths.stderr !== '' ? new FifoEnd(paths.stderr, 'read') : undefined,
  };
  const all = [ends.stdin, ends.stdout, ends.stderr].filter((e) => e !== undefined);
  try {
    await shim.create({ id, bundle, terminal: opts.tty, ...paths });
  } catch (err) {
    for (const end of all) end.abandon();
    throw err;
  }
  let created = true;
  const restoreTty = opts.tty ? rawMode() : () => undefined;
  const forwarders: (() => void)[] = [restoreTty];
  try {
    const outputDone = [
      copyOut(await ends.stdout.socket, process.stdout),
      ...(ends.stderr ? [copyOut(await ends.stderr.socket, process.stderr)] : []),
    ];
    if (ends.stdin) {
      const stdin = await ends.stdin.socket;
      // The shim holds its end of the FIFO open (so a client may reattach): our stdin's end
      // reaches the container through CloseIO, as ctr does it.
      stdin.once('finish', () => void shim.closeIO({ id, stdin: true }).catch(() => undefined));
      process.stdin.pipe(stdin);
    }
    await shim.start({ id });
    if (opts.tty) forwarders.push(forwardResize(shim, id));
    else forwarders.push(forwardSignals(shim, id));
    const { exitStatus } = await shim.wait({ id });
    await Promise.all(outputDone);
    await shim.delete({ id });
    created = false;
    return exitStatus;
  } finally {
    for (const stop of forwarders) stop();
    process.stdin.unpipe();
    process.stdin.pause();
    if (created) {
      await shim.kill({ id, signal: 9, all: true }).catch(() => undefined);
      await shim.wait({ id }).catch(() => undefined);
      await shim.delete({ id }).catch(() => undefined);
    }
    for (const end of all) end.abandon();
  }
}

/** Copies a FIFO to our stdout/stderr until the shim closes it. */
function copyOut(from: net.Socket, to: NodeJS.WriteStream): Promise<void> {
  return new Promise((done) => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.once('close', () => {
      done();
    });
    from.once('error', () => {
      done();
    });
  });
}

function rawMode(): () => void {
  if (!process.stdin.isTTY) return () => undefined;
  process.stdin.setRawMode(true);
  return () => process.stdin.setRawMode(false);
}

function forwardResize(shim: ShimClient, id: string): () => void {
  const resize = (): void => {
    const [width, height] = process.stdout.isTTY ? process.stdout.getWindowSize() : [0, 0];
    if (width > 0) void shim.resizePty({ id, width, height }).catch(() => undefined);
  };
  resize();
  process.on('SIGWINCH', resize);
  return () => process.off('SIGWINCH', resize);
}

function forwardSignals(shim: ShimClient, id: string): () => void {
  const handlers = Object.entries(SIGNALS).map(([name, signal]) => {
    const handler = (): void => void shim.kill({ id, signal }).catch(() => undefined);
    process.on(name as NodeJS.Signals, handler);
    return () => process.off(name, handler);
  });
  return () => {
    for (const off of handlers) off();
  };
}
