// One invocation of the shim binary (`start`, `delete`, `-v`, `-info`), as a function from the
// invocation (argv, env, cwd, stdin on demand) to its answer (exit code, stdout, stderr). The same
// function serves a direct run, a relayed run in a fresh process, and the warm process, so no
// behaviour depends on the path taken.
import { basename } from 'node:path';
import { errorMessage } from '../base/errors.js';
import type { Monitor } from '../reaper/index.js';
import { FlagError, USAGE, parseFlags, type ShimFlags } from './flags.js';
import { RUNTIME_NAME, REVISION, VERSION } from './version.js';
import type { DaemonLauncher } from './daemon.js';

export interface Invocation {
  argv: string[];
  env: string[];
  cwd: string;
  /** Reads stdin; called only by actions that take input (`start`, `-info`). */
  readStdin(): Promise<Buffer>;
  /** containerd: the invoking process's parent. */
  parentPid: number;
}

export interface CommandServices {
  daemons: DaemonLauncher;
  /** Runs commands (runc delete); never a subreaper outside a daemon. */
  monitor: Monitor;
}

export type Outcome =
  | { kind: 'answer'; code: number; stdout: Uint8Array; stderr: string }
  /** The daemon action (no action given): Node must run it in place of the invoker. */
  | { kind: 'serve'; flags: ShimFlags };

const answer = (code: number, stdout: Uint8Array | string = '', stderr = ''): Outcome => ({
  kind: 'answer',
  code,
  stdout: typeof stdout === 'string' ? Buffer.from(stdout) : stdout,
  stderr,
});

export async function runCommand(inv: Invocation, services: CommandServices): Promise<Outcome> {
  let flags;
  try {
    flags = parseFlags(inv.argv.slice(1));
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    return answer(2, '', `${err.message}\n${USAGE}`);
  }
  try {
    return await runAction(flags, inv, services);
  } catch (err) {
    return answer(1, '', `${RUNTIME_NAME}: ${errorMessage(err)}\n`);
  }
}

async function runAction(
  flags: ShimFlags,
  inv: Invocation,
  services: CommandServices,
): Promise<Outcome> {
  if (flags.version) {
    const name = basename(inv.argv[0] ?? 'containerd-shim-ts-v2');
    return answer(
      0,
      `${name}:\n  Version:  ${VERSION}\n  Revision: ${REVISION}\n  Node version: ${process.version}\n\n`,
    );
  }
  if (flags.info) {
    const { infoAction } = await import('./info.js');
    return answer(
      0,
      await infoAction(await inv.readStdin(), { env: inv.env, monitor: services.monitor }),
    );
  }
  if (flags.namespace === '') return answer(1, '', 'shim namespace cannot be empty\n');
  switch (flags.action) {
    case 'start': {
      const { startAction } = await import('./start.js');
      const address = await startAction(flags, await inv.readStdin(), {
        bundle: inv.cwd,
        env: inv.env,
        parentPid: inv.parentPid,
        daemons: services.daemons,
        ...(inv.argv[0] === undefined ? {} : { binary: inv.argv[0] }),
      });
      return answer(0, address);
    }
    case 'delete': {
      const { deleteAction } = await import('./delete.js');
      return answer(
        0,
        await deleteAction(flags, { cwd: inv.cwd, env: inv.env, monitor: services.monitor }),
      );
    }
    case '':
      return { kind: 'serve', flags };
    default:
      return answer(1, '', `invalid action ${JSON.stringify(flags.action)}\n`);
  }
}
