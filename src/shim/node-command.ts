// How a Node process of this shim is started: the one place that knows Node's flags and our entry
// script. The build writes the same command line into the launcher's configuration.
import { fileURLToPath } from 'node:url';

/**
 * V8 flags for every shim process. Small semi-spaces: one daemon may run per container. The old
 * space cap is sized for a namespace daemon (one heap for all its containers): ~9 MiB plus ~20-50
 * KiB per container were measured, ~20 MiB at 500 containers, so 256 MiB leaves room for thousands
 * while still bounding a runaway heap. Up to 256 MiB V8 keeps its most frugal heap growth, so a
 * one-container daemon's RSS is what it was with 64 MiB (the daemon warns at 75% of the limit).
 * Lite mode (no optimizing compiler, feedback allocated lazily): a shim's JavaScript decides and
 * waits, the kernel and the addon move the bytes, so nothing here pays for compiling hot code;
 * it cut a daemon's PSS by ~2 MiB and the CPU of 500 starts in one namespace daemon.
 * Lite mode turns WebAssembly off and says so on stderr, which is containerd's log for a daemon
 * (a live upgrade re-executes Node with it) and part of `start`'s answer when Node runs in place
 * of the launcher; turning it off explicitly keeps every process of ours silent at boot.
 */
export const DAEMON_NODE_FLAGS = [
  '--max-semi-space-size=1',
  '--max-old-space-size=256',
  '--lite-mode',
  '--no-expose-wasm',
];

/**
 * More for the zygote (handoff/zygote.ts), and so for every process it forks: no V8 background
 * threads, since fork copies only the calling thread; and no memory reducer, whose timer, due
 * but never run in the idle zygote, fired in every forked daemon during its first job and ran a
 * full GC there (a CPU profile of the Create showed it; with the flag the profile has no
 * mark-compact, and forked daemons' PSS did not change). And every function compiled when its
 * script loads, kept compiled: a forked daemon then shares the zygote's bytecode instead of
 * compiling each function on its first call (a CPU profile of a forked daemon's Create and Start
 * had ~40% of its samples in lazy compilation).
 */
export const ZYGOTE_NODE_FLAGS = [
  '--single-threaded',
  '--no-memory-reducer',
  '--no-lazy',
  '--no-flush-bytecode',
];

/**
 * The script every Node process of the shim runs: the bundle of main.js (scripts/bundle.mjs), one
 * file to load instead of ~100 modules. Resolved the same from the bundle's chunks (they sit in
 * build/src/bundle/) as from the unbundled modules.
 */
export const MAIN_SCRIPT = fileURLToPath(new URL('../bundle/main.js', import.meta.url));
/** The unbundled entry script, which daemons of versions before the bundle run. */
const UNBUNDLED_MAIN_SCRIPT = fileURLToPath(new URL('../main.js', import.meta.url));

/** Whether a command-line argument is an entry script of this installation. */
export function isMainScript(arg: string): boolean {
  return arg === MAIN_SCRIPT || arg === UNBUNDLED_MAIN_SCRIPT;
}

/** Whether a command-line argument is an entry script of any installation of ours. */
export function isAnyMainScript(arg: string): boolean {
  return arg.endsWith('/build/src/bundle/main.js') || arg.endsWith('/build/src/main.js');
}

/** argv (argv[0] = the Node binary) running our entry script with `args`. */
export function nodeCommand(args: readonly string[], moreFlags: readonly string[] = []): string[] {
  return [process.execPath, ...DAEMON_NODE_FLAGS, ...moreFlags, MAIN_SCRIPT, ...args];
}
