// Entry point: parses the shim command line and runs the action. The only place that exits.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { FlagError, USAGE, parseFlags } from './shim/flags.js';
import { RUNTIME_NAME, REVISION, VERSION } from './shim/version.js';
import { errorMessage } from './base/errors.js';

async function main(argv: string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`${err.message}\n${USAGE}`);
    return 2;
  }
  if (flags.version) {
    const name = basename(process.argv[1] ?? 'containerd-shim-ts-v2');
    process.stdout.write(
      `${name}:\n  Version:  ${VERSION}\n  Revision: ${REVISION}\n  Node version: ${process.version}\n\n`,
    );
    return 0;
  }
  if (flags.info) {
    const { infoAction } = await import('./shim/info.js');
    await writeStdout(infoAction(readStdin()));
    return 0;
  }
  if (flags.namespace === '') {
    process.stderr.write('shim namespace cannot be empty\n');
    return 1;
  }
  switch (flags.action) {
    case 'start': {
      const { startAction } = await import('./shim/start.js');
      await writeStdout(await startAction(flags, readStdin()));
      return 0;
    }
    case 'delete': {
      const { deleteAction } = await import('./shim/delete.js');
      await writeStdout(await deleteAction(flags));
      return 0;
    }
    case '': {
      const { serve } = await import('./shim/serve.js');
      await serve(flags);
      return 0;
    }
    default:
      process.stderr.write(`invalid action ${JSON.stringify(flags.action)}\n`);
      return 1;
  }
}

/** Writes and waits for the write to complete: stdout is a pipe, and we exit right after. */
function writeStdout(data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (err) => {
      if (err) reject(err);
      else resolve();
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
