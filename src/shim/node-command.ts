// How a Node process of this shim is started: the one place that knows Node's flags and our entry
// script. The build writes the same command line into the launcher's configuration.
import { fileURLToPath } from 'node:url';

/** V8 flags for every shim process: one daemon may run per container, so keep the heap small. */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=64'];

export const MAIN_SCRIPT = fileURLToPath(new URL('../main.js', import.meta.url));

/** argv (argv[0] = the Node binary) running our entry script with `args`. */
export function nodeCommand(args: readonly string[]): string[] {
  return [process.execPath, ...DAEMON_NODE_FLAGS, MAIN_SCRIPT, ...args];
}
