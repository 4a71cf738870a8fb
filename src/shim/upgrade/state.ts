// The document a daemon hands to the next process image of itself in a live upgrade: versioned
// JSON, read from an inherited fd. Whatever reads it checks the format first and refuses any
// format it does not know, so a version that cannot load the state never takes over.
import { fstatSync, readSync } from 'node:fs';
import type { ServerHandover } from '../../ttrpc/server.js';
import type { TaskHandover } from '../../task/service.js';
import type { ShimFlags } from '../flags.js';

/** Bumped whenever the document changes in a way an older reader would misread. */
export const UPGRADE_STATE_FORMAT = 1;

/** The installed executable containerd ran, recorded by `start` in the daemon's environment. */
export const SHIM_BINARY_ENV = 'TSSHIM_SHIM_BINARY';
/** The fd (in the new image) holding the state document. */
export const UPGRADE_FD_ENV = 'TSSHIM_UPGRADE_FD';
/** Makes the launcher run Node in place (same pid), without relaying. */
export const DIRECT_ENV = 'TSSHIM_DIRECT';

export interface HandedEvent {
  topic: string;
  typeUrl: string;
  /** base64 */
  value: string;
  at: string;
}

export interface UpgradeState {
  format: number;
  /** The version handing over (for the log). */
  from: { version: string; revision: string; buildId: string };
  flags: ShimFlags;
  /** The installed executable, for the next upgrade. */
  binary: string;
  /** The log FIFO, open (the bundle it was opened in may be gone by now). */
  logFd: number;
  server: ServerHandover;
  events: HandedEvent[];
  droppedEvents: number;
  tasks: TaskHandover;
  /** Containers announced by `start` and not created yet. */
  expected: string[];
}

export class StateError extends Error {
  override readonly name = 'StateError';
}

/** Parses and checks a state document; throws StateError with the reason it cannot be loaded. */
export function parseUpgradeState(text: string): UpgradeState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new StateError(`upgrade state is not JSON: ${String(err)}`);
  }
  if (typeof doc !== 'object' || doc === null)
    throw new StateError('upgrade state is not an object');
  const format = (doc as { format?: unknown }).format;
  if (format !== UPGRADE_STATE_FORMAT) {
    throw new StateError(
      `upgrade state format ${JSON.stringify(format)} is not known to this version (it reads ${String(UPGRADE_STATE_FORMAT)})`,
    );
  }
  const state = doc as UpgradeState;
  const parts = doc as Record<string, unknown>;
  const missing = ['from', 'flags', 'server', 'events', 'tasks', 'expected'].filter(
    (key) => typeof parts[key] !== 'object' || parts[key] === null,
  );
  if (missing.length > 0) throw new StateError(`upgrade state lacks ${missing.join(', ')}`);
  if (!Array.isArray(state.server.listenFds) || state.server.listenFds.length === 0) {
    throw new StateError('upgrade state has no listening socket');
  }
  if (!Array.isArray(state.tasks.containers) || !Array.isArray(state.server.connections)) {
    throw new StateError('upgrade state lacks containers or connections');
  }
  return state;
}

/** The whole document behind `fd`, read from offset 0 (the fd's own offset is shared). */
export function readStateFd(fd: number): string {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  for (let off = 0; off < size;) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.toString('utf8');
}
