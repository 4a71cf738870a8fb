// The shim daemon: subreaper, log FIFO, event publisher and the Task service over ttrpc, until
// Shutdown (no containers left) or SIGTERM/SIGINT.
import { constants, openSync, readFileSync, unlinkSync } from 'node:fs';
import { Logger } from '../base/log.js';
import { errorMessage } from '../base/errors.js';
import { sleep } from '../base/deferred.js';
import { Monitor, resolveExecutable } from '../reaper/index.js';
import { Server } from '../ttrpc/index.js';
import { EventPublisher } from '../events/publisher.js';
import { TaskEvents } from '../events/topics.js';
import { TaskService } from '../task/service.js';
import { registerTaskService } from '../task/register.js';
import { socketPath } from './socket.js';
import { RUNTIME_NAME, VERSION } from './version.js';
import { SHIM_BINARY_ENV, type UpgradeState } from './upgrade/state.js';
import { upgradeInPlace } from './upgrade/handover.js';
import type { ShimFlags } from './flags.js';
import { LISTEN_FD } from './daemon.js';
import { native } from '../native/index.js';
import { ExpectedContainers } from './expected.js';
import { registerGroupService } from './group-service.js';
import { GROUPED_DAEMON_ENV } from './grouping.js';
import { RefusalLog, maxConnections, sameUserOnly } from './connection-policy.js';
import { LoadReport } from './load-report.js';

/** How long a grouped daemon with no containers left waits for another before it exits. */
const SHUTDOWN_GRACE_MS = 1000;
/** How long pending events may delay the exit (the reference waits up to 5 s). */
const FLUSH_TIMEOUT_MS = 5000;

/**
 * Opens the bundle's log FIFO read-write and non-blocking (never blocks, never EPIPE), and makes it
 * stderr too: what V8 or a native abort prints on the way down reaches containerd's log, as the
 * reference's panics do.
 */
function openLog(
  debug: boolean,
  namespace: string,
  inherited: number | undefined,
): { log: Logger; fd: number } {
  let fd = inherited ?? -1;
  try {
    if (fd < 0) fd = openSync('log', constants.O_RDWR | constants.O_NONBLOCK);
    native.redirectStderr(fd);
  } catch {
    // No log FIFO (started by hand): log nowhere.
  }
  const log = new Logger(fd, debug ? 'debug' : 'info', { namespace, runtime: RUNTIME_NAME });
  return { log, fd };
}

/** The line a fatal signal leaves in containerd's log: which daemon, serving which containers. */
function armLastWords(namespace: string, ids: readonly string[]): void {
  const fields = `namespace=${namespace} runtime=${RUNTIME_NAME} pid=${String(process.pid)}`;
  native.setLastWords(
    `level=fatal msg="shim daemon killed by a fatal signal" ${fields} id=${ids.join(',')}`,
  );
}

/**
 * Serves until shutdown; `listenFd` is the socket `start` bound (unless -socket names one). After
 * a live upgrade, `upgrade` is what the previous process image handed over. Resolves with what
 * ended it: Shutdown with no containers left ('api'), or SIGTERM/SIGINT ('signal').
 */
export async function serve(
  flags: ShimFlags,
  listenFd = LISTEN_FD,
  upgrade?: UpgradeState,
): Promise<'api' | 'signal'> {
  const { log, fd: logFd } = openLog(flags.debug, flags.namespace, upgrade?.logFd);
  // Removed again at the end: a process may serve another daemon's turn afterwards (spare.ts).
  const listeners = new ProcessListeners();
  listeners.on('uncaughtException', (err: Error) => {
    // Crashing would make containerd kill every container of this shim: log and carry on.
    log.error('uncaught exception', { error: errorMessage(err), stack: err.stack });
  });
  listeners.on('unhandledRejection', (err: unknown) => {
    log.error('unhandled rejection', { error: errorMessage(err) });
  });

  // Started once handed-over containers are adopted: exits during the exec are still zombies.
  const monitor = new Monitor();
  const ttrpcAddress = process.env['TTRPC_ADDRESS'] ?? `${flags.address}.ttrpc`;
  const publisher = new EventPublisher(ttrpcAddress, flags.namespace, log);
  const refusals = new RefusalLog(log);
  const server = new Server({
    connectionFilter: sameUserOnly(refusals),
    maxConnections: maxConnections(),
    onRefused: (reason) => {
      refusals.refused('limit', reason);
    },
    // Accept failures (EMFILE at the fd limit, a peer gone before its check) refuse one peer.
    onError: (err) => {
      refusals.refused('accept', `accept failed: ${errorMessage(err)}`);
    },
  });

  // Shutdown (no containers left) or a signal; which one decides whether a grace period applies.
  let requestShutdown: (by: 'api' | 'signal') => void = () => undefined;
  let shutdownRequested = new Promise<'api' | 'signal'>((resolve) => (requestShutdown = resolve));
  let containerCount = 0;
  const load = new LoadReport(log, () => containerCount);
  const expected = new ExpectedContainers(() => {
    requestShutdown('api');
  });
  const service = new TaskService({
    namespace: flags.namespace,
    monitor,
    events: new TaskEvents(publisher),
    log,
    resolveBinary: (name) => resolveExecutable(name),
    onShutdown: () => {
      requestShutdown('api');
    },
    onCreate: (id) => {
      expected.arrived(id);
    },
    onContainersChanged: (ids) => {
      armLastWords(flags.namespace, ids.length > 0 ? ids : [flags.id]);
      containerCount = ids.length;
      load.containersChanged();
    },
  });
  armLastWords(flags.namespace, [flags.id]);
  if (upgrade) {
    publisher.adopt(
      upgrade.events.map((e) => ({
        topic: e.topic,
        typeUrl: e.typeUrl,
        value: Buffer.from(e.value, 'base64'),
        at: new Date(e.at),
      })),
      upgrade.droppedEvents,
    );
    service.adopt(upgrade.tasks);
    for (const id of upgrade.expected) expected.expect(id);
  }
  monitor.start();
  registerTaskService(server, service, log);
  registerGroupService(server, expected);
  if (upgrade) {
    for (const fd of upgrade.server.listenFds) await server.listen({ fd });
    for (const conn of upgrade.server.connections) server.adopt(conn);
  } else await server.listen(flags.socket !== '' ? flags.socket : { fd: listenFd });
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    listeners.on(signal, () => {
      requestShutdown('signal');
    });
  // An operator's question "how loaded is this daemon?" (as the reference dumps its stacks).
  listeners.on('SIGUSR1', () => {
    load.report('signal');
  });
  let stopping = false;
  const upgrading = { now: false };
  const binary = upgrade?.binary ?? process.env[SHIM_BINARY_ENV] ?? '';
  // SIGURG: take the installed version (`tsshim upgrade` sends it). Its default action is to be
  // ignored, so a second request arriving while the new image boots (Node resets every handler)
  // is lost, not fatal; SIGUSR2's default would end the daemon and its containers with it.
  listeners.on('SIGURG', () => {
    if (upgrading.now || stopping) return;
    if (binary === '') {
      log.warn('upgrade refused', { reason: 'no installed binary recorded by start' });
      return;
    }
    upgrading.now = true;
    log.info('upgrade requested', { binary });
    upgradeInPlace(
      { flags, log, logFd, server, service, publisher, monitor, expected },
      binary,
    ).catch((err: unknown) => {
      upgrading.now = false;
      log.warn('upgrade refused', { binary, reason: errorMessage(err) });
    });
  });
  if (upgrade) {
    log.info('shim upgraded', {
      pid: process.pid,
      id: flags.id,
      version: VERSION,
      from: upgrade.from.version,
      containers: upgrade.tasks.containers.length,
      connections: upgrade.server.connections.length,
      events: upgrade.events.length,
    });
    // Upgraded while on its way out (its last container gone): carry on with that.
    if (service.containerCount === 0 && !expected.pending) requestShutdown('api');
  } else log.info('shim started', { pid: process.pid, id: flags.id, version: VERSION });

  // A grouped daemon's last container may be deleted while `start` routes the next one of the
  // group here: that container is announced (Group.Expect) and holds the daemon until its Create
  // arrives. The grace covers announcements still on their way. A daemon whose group is its one
  // container has none to wait for: it leaves (or goes back to the warm process) at once; a
  // `start` that meets it then is refused and binds a new daemon, as after any grace.
  const grace = process.env[GROUPED_DAEMON_ENV] === '1' ? SHUTDOWN_GRACE_MS : 0;
  let endedBy: 'api' | 'signal';
  while ((endedBy = await shutdownRequested) === 'api') {
    await sleep(grace);
    if (service.containerCount === 0 && !service.creating && !expected.pending) break;
    shutdownRequested = new Promise((resolve) => (requestShutdown = resolve));
  }
  // From here announcements are refused and the socket path is gone before the listener closes,
  // so a `start` that meets this daemon waits for the path and binds a new daemon's socket there.
  stopping = true;
  // An upgrade under way either execs or gives up (then this daemon goes on stopping).
  while (upgrading.now) await sleep(50);
  expected.close();
  log.info('shim shutting down', { containers: service.containerCount });
  removeSocket(flags.socket);
  // Let the Shutdown reply leave before the connections close.
  await sleep(10);
  await server.close();
  await publisher.flush(FLUSH_TIMEOUT_MS);
  publisher.close();
  service.close();
  monitor.stop();
  listeners.removeAll();
  if (logFd >= 0) native.closeFd(logFd);
  return endedBy;
}

/** Process-wide listeners of one serve(), so they can all be removed when it ends. */
type Listener = Parameters<typeof process.off>[1];
class ProcessListeners {
  readonly #added: [string, Listener][] = [];

  on(event: string, listener: Listener): void {
    process.on(event, listener);
    this.#added.push([event, listener]);
  }

  removeAll(): void {
    for (const [event, listener] of this.#added.splice(0)) process.off(event, listener);
  }
}

function removeSocket(explicit: string): void {
  try {
    unlinkSync(explicit !== '' ? explicit : socketPath(readFileSync('address', 'utf8')));
  } catch {
    // Already gone, or the bundle was removed.
  }
}
