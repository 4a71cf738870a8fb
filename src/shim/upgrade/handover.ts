// The old side of a live upgrade: hold everything still, describe it, let the new version check
// the description, then execve the installed binary in place (same pid: the containers stay our
// children, their exits are still ours to reap). Every step before the exec can be undone; a
// refusal leaves this version serving as before.
//
// Why a check process rather than re-executing the old binary on failure: once exec'd, the old
// code may no longer exist on disk (npm replaces the package in place), so there would be nothing
// to fall back to. The new binary reads the very document it would get, and says no while this
// process can still carry on.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../../base/deferred.js';
import { errorMessage } from '../../base/errors.js';
import type { Logger } from '../../base/log.js';
import type { EventPublisher } from '../../events/publisher.js';
import { readToEnd } from '../../io/fds.js';
import { native } from '../../native/index.js';
import type { Monitor } from '../../reaper/index.js';
import type { TaskHandover, TaskService } from '../../task/service.js';
import type { Server } from '../../ttrpc/index.js';
import { daemonArgs } from '../daemon.js';
import type { ExpectedContainers } from '../expected.js';
import type { ShimFlags } from '../flags.js';
import { nodeCommand } from '../node-command.js';
import { BUILD_ID, REVISION, VERSION } from '../version.js';
import { DIRECT_ENV, UPGRADE_FD_ENV, UPGRADE_STATE_FORMAT, type UpgradeState } from './state.js';

/** How long running requests (other than Waits) and stdio get to come to rest. */
const SETTLE_TIMEOUT_MS = 10_000;
/** How long an event already on the wire gets for its reply. */
const PUBLISH_HOLD_MS = 6_000;
/** How long the new version gets to read the state (a Node start-up, on a loaded machine). */
const CHECK_TIMEOUT_MS = 30_000;
const POLL_MS = 20;

/** Requests the next image runs again from their bytes: Waits, which may last for ever. */
export function replayable(service: string, method: string): boolean {
  return method === 'Wait' && /^containerd\.task\.v[23]\.Task$/.test(service);
}

export interface UpgradeDeps {
  flags: ShimFlags;
  log: Logger;
  logFd: number;
  server: Server;
  service: TaskService;
  publisher: EventPublisher;
  monitor: Monitor;
  expected: ExpectedContainers;
}

export class UpgradeRefused extends Error {
  override readonly name = 'UpgradeRefused';
}

/**
 * Re-executes `binary` in place with this daemon's state. Returns only if the upgrade did not
 * happen (the reason is thrown as UpgradeRefused), with everything serving again.
 */
export async function upgradeInPlace(deps: UpgradeDeps, binary: string): Promise<never> {
  const { server, service, publisher, monitor, log } = deps;
  const early = service.handoverRefusal();
  if (early !== undefined) throw new UpgradeRefused(early);
  let monitorPaused = false;
  let publisherHeld = false;
  server.hold();
  try {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (!(server.settled(replayable) && service.quiesce())) {
      if (Date.now() >= deadline) {
        throw new UpgradeRefused('requests or container input still busy after 10 s');
      }
      await sleep(POLL_MS);
    }
    monitor.pause();
    monitorPaused = true;
    publisherHeld = true;
    if (!(await publisher.hold(PUBLISH_HOLD_MS))) {
      throw new UpgradeRefused('an event sent to containerd got no reply');
    }
    await check(binary, describe(deps, binary, false));
    // From here to the exec nothing awaits: no request, exit or byte can slip in between.
    const why = service.handoverRefusal();
    if (why !== undefined) throw new UpgradeRefused(why);
    if (!(server.settled(replayable) && service.quiesce())) {
      throw new UpgradeRefused('a request or container input arrived during the check');
    }
  } catch (err) {
    service.unquiesce();
    if (publisherHeld) publisher.resume();
    if (monitorPaused) monitor.resume();
    server.release();
    throw err instanceof UpgradeRefused ? err : new UpgradeRefused(errorMessage(err));
  }
  const state = describe(deps, binary, true);
  const fd = stateFd(JSON.stringify(state));
  const keep = [
    fd,
    deps.logFd,
    ...state.server.listenFds,
    ...state.server.connections.map((c) => c.fd),
  ];
  keep.push(...ioFds(state.tasks));
  const env = [
    ...Object.entries(process.env)
      .filter(([k]) => k !== UPGRADE_FD_ENV && k !== DIRECT_ENV)
      .map(([k, v]) => `${k}=${v ?? ''}`),
    `${DIRECT_ENV}=1`,
    `${UPGRADE_FD_ENV}=${String(fd)}`,
  ];
  log.info('shim upgrading', {
    version: VERSION,
    binary,
    containers: state.tasks.containers.length,
    connections: state.server.connections.length,
    events: state.events.length,
  });
  const argv = [binary, ...daemonArgs(deps.flags)];
  try {
    native.execve({ file: binary, argv, env, keep: keep.filter((n) => n >= 0) });
  } catch (err) {
    // The check ran this very binary a moment ago, so this is rare (E2BIG, ENOMEM). Nothing can
    // be undone any more: hand the state to this version's own code instead, in place as well.
    log.error('upgrade exec failed, re-executing this version', { error: errorMessage(err) });
    const own = nodeCommand(daemonArgs(deps.flags));
    native.execve({ file: own[0] ?? process.execPath, argv: own, env, keep });
  }
}

/** The state document; `final` detaches the connections and copies (only right before exec). */
function describe(deps: UpgradeDeps, binary: string, final: boolean): UpgradeState {
  return {
    format: UPGRADE_STATE_FORMAT,
    from: { version: VERSION, revision: REVISION, buildId: BUILD_ID },
    flags: deps.flags,
    binary,
    logFd: deps.logFd,
    server: deps.server.handover(final),
    events: deps.publisher.pending().map((e) => ({
      topic: e.topic,
      typeUrl: e.typeUrl,
      value: Buffer.from(e.value).toString('base64'),
      at: e.at.toISOString(),
    })),
    droppedEvents: deps.publisher.dropped,
    tasks: deps.service.handover(final),
    expected: deps.expected.ids(),
  };
}

/** Every fd the containers' stdio needs in the next image. */
function ioFds(tasks: TaskHandover): number[] {
  const fds: number[] = [];
  for (const c of tasks.containers) {
    for (const p of [c.init, ...c.execs.map((e) => e.process)]) {
      const io = p.io;
      if (!io) continue;
      fds.push(...io.owned, io.stdinKeepAlive);
      if (io.kind === 'pipes') {
        if (io.stdin) fds.push(io.stdin.reader, io.stdin.pipe);
        for (const o of io.outputs) fds.push(o.src, o.sink);
      } else fds.push(io.master, io.stdinReader, io.outFd);
    }
  }
  return fds;
}

/** An unlinked file holding `text`: inherited by the check and by the next image. */
function stateFd(text: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'tsshim-upgrade-'));
  try {
    const path = join(dir, 'state.json');
    const fd = openSync(path, 'w+', 0o600);
    try {
      writeSync(fd, text);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return fd;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `<binary> check-upgrade-state` on the document (its stdin); resolves if it can load it,
 * else throws UpgradeRefused with what it said. The reaper is paused: this one child is waited
 * for by pid.
 */
async function check(binary: string, state: UpgradeState): Promise<void> {
  const fd = stateFd(JSON.stringify(state));
  let outR = -1;
  let outW = -1;
  try {
    [outR, outW] = native.pipe();
    const env = [
      ...Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`),
      `${DIRECT_ENV}=1`,
    ];
    const pid = native.spawn({
      file: binary,
      argv: [binary, 'check-upgrade-state'],
      env,
      fds: [fd, outW, outW],
    });
    native.closeFd(outW);
    outW = -1;
    const output = readToEnd(outR).then((b) => b.toString('utf8').slice(0, 4096));
    outR = -1;
    const deadline = Date.now() + CHECK_TIMEOUT_MS;
    let status: number | null;
    while ((status = native.waitPid(pid)) === null) {
      if (Date.now() >= deadline) {
        process.kill(pid, 'SIGKILL');
        while (native.waitPid(pid) === null) await sleep(POLL_MS);
        throw new UpgradeRefused(`${binary} did not check the state within 30 s`);
      }
      await sleep(POLL_MS);
    }
    const said = (await output).trim();
    if (status !== 0) {
      throw new UpgradeRefused(
        `${binary} cannot load this state: ${said || `exit status ${String(status)}`}`,
      );
    }
  } finally {
    if (outR >= 0) native.closeFd(outR);
    if (outW >= 0) native.closeFd(outW);
    closeSync(fd);
  }
}
