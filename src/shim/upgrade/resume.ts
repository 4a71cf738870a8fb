// The new side of a live upgrade: this process image was exec'd by a daemon of ours with the
// state document on an inherited fd; it reads it, and serves on everything handed over.
import { closeSync } from 'node:fs';
import { errorMessage } from '../../base/errors.js';
import { parseUpgradeState, readStateFd } from './state.js';

/** `check-upgrade-state`: 0 if this version can load the document on `fd`, else 1 and why. */
export function checkUpgradeState(fd: number): number {
  try {
    parseUpgradeState(readStateFd(fd));
    process.stdout.write('ok\n');
    return 0;
  } catch (err) {
    process.stdout.write(`${errorMessage(err)}\n`);
    return 1;
  }
}

/** Serves the daemon handed over on `fd`, until its shutdown. */
export async function resumeUpgraded(fd: number): Promise<void> {
  const state = parseUpgradeState(readStateFd(fd));
  closeSync(fd);
  const { serve } = await import('../serve.js');
  await serve(state.flags, state.server.listenFds[0], state);
}
