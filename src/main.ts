// Entry point of every Node process of the shim. The launcher (native/launcher) starts it either
// to serve one relayed request (TSSHIM_RELAY_FD), or in its own place (a daemon run by hand). The
// shim also starts it as the warm process (`warm`), a spare (`spare`), or a daemon (no action, the
// socket on fd 3). Run directly, it serves one invocation of the shim binary. The only place that
// exits.
import { readFileSync } from 'node:fs';
import { errorMessage } from './base/errors.js';
import { RUNTIME_NAME } from './shim/version.js';
import { parseFlags } from './shim/flags.js';

const RELAY_FD_ENV = 'TSSHIM_RELAY_FD';
// Set by a live upgrade (src/shim/upgrade/): this process image takes over a daemon.
const UPGRADE_FD_ENV = 'TSSHIM_UPGRADE_FD';
const DIRECT_ENV = 'TSSHIM_DIRECT';

// Without a listener, SIGUSR1 opens Node's inspector on 127.0.0.1:9229: a root process any local
// user could then drive. Every process of ours keeps it shut; a daemon reports its load on it.
process.on('SIGUSR1', () => undefined);

async function main(argv: string[]): Promise<number> {
  const relayFd = process.env[RELAY_FD_ENV];
  if (relayFd !== undefined) {
    // Not for our children: the daemon's environment is containerd's.
    Reflect.deleteProperty(process.env, RELAY_FD_ENV);
    const { runRelayedOnce } = await import('./shim/handoff/oneshot.js');
    await runRelayedOnce(Number.parseInt(relayFd, 10));
    return 0;
  }
  Reflect.deleteProperty(process.env, DIRECT_ENV);
  const upgradeFd = process.env[UPGRADE_FD_ENV];
  if (upgradeFd !== undefined) {
    Reflect.deleteProperty(process.env, UPGRADE_FD_ENV);
    const { resumeUpgraded } = await import('./shim/upgrade/resume.js');
    await resumeUpgraded(Number.parseInt(upgradeFd, 10));
    return 0;
  }
  if (argv[0] === 'check-upgrade-state') {
    const { checkUpgradeState } = await import('./shim/upgrade/resume.js');
    return checkUpgradeState(0);
  }
  let action = '';
  let address = '';
  try {
    ({ action, address } = parseFlags(argv));
  } catch {
    // reported by the command below
  }
  if (action === 'warm') {
    const { runWarm } = await import('./shim/handoff/warm.js');
    await runWarm(address);
    return 0;
  }
  if (action === 'zygote') {
    const { runZygote } = await import('./shim/handoff/zygote.js');
    await runZygote(address);
    return 0;
  }
  if (action === 'spare') {
    const { runSpare } = await import('./shim/handoff/spare.js');
    await runSpare();
    return 0;
  }
  return runDirect(argv);
}

/** One invocation in this process, with its own stdio; a daemon serves here until shutdown. */
async function runDirect(argv: string[]): Promise<number> {
  const [{ runCommand }, { Monitor }, { spawnDaemon }] = await Promise.all([
    import('./shim/command.js'),
    import('./reaper/index.js'),
    import('./shim/daemon.js'),
  ]);
  const monitor = new Monitor();
  monitor.start({ subreaper: false });
  const outcome = await runCommand(
    {
      argv: [process.argv[1] ?? 'containerd-shim-ts-v2', ...argv],
      env: Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`),
      cwd: process.cwd(),
      parentPid: process.ppid,
      readStdin: () => Promise.resolve(readStdin()),
    },
    { daemons: spawnDaemon, monitor },
  );
  monitor.stop();
  if (outcome.kind === 'serve') {
    const { serve } = await import('./shim/serve.js');
    await serve(outcome.flags);
    return 0;
  }
  await write(process.stdout, outcome.stdout);
  await write(process.stderr, outcome.stderr);
  return outcome.code;
}

/** Writes and waits for the write to complete: stdout is a pipe, and we exit right after. */
function write(stream: NodeJS.WriteStream, data: string | Uint8Array): Promise<void> {
  if (data.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    stream.write(data, () => {
      resolve();
    });
  });
}

function readStdin(): Buffer {
  try {
    return readFileSync(0);
  } catch {
    return Buffer.alloc(0);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The daemon may hold handles (stdio FIFOs of deleted containers, timers): exit explicitly.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`${RUNTIME_NAME}: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
