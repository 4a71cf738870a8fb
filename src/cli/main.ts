// `tsshim`: the operator's command line, a separate entry point above the client library (the
// shim never imports it). Every failure is one line on stderr and a non-zero exit.
import { Command, CommanderError } from 'commander';
import { errorMessage } from '../base/errors.js';
import { run } from './run.js';

const program = new Command('tsshim')
  .description('drive containerd-shim-ts-v2 directly, without containerd')
  .exitOverride()
  .configureOutput({
    outputError: (text, write) => {
      write(text);
    },
  });

program
  .command('run')
  .description('run one container through our shim and exit with its status')
  .option('--bundle <dir>', 'an OCI bundle (config.json and its root)')
  .option('--rootfs <dir>', 'a root filesystem; the command follows --')
  .option('-t, --tty', 'give the container a terminal', false)
  .option('-i, --interactive', 'attach our stdin', false)
  .option('--id <id>', 'container id (default: a random one)')
  .option('--namespace <ns>', 'namespace', 'tsshim')
  .option('--events', 'print task events on stderr as they arrive', false)
  .option('--state-dir <dir>', 'where FIFOs and sockets are kept', '/run/tsshim')
  .argument('[command...]', 'with --rootfs: the command to run')
  .action(async (args: string[], o: Record<string, unknown>) => {
    process.exitCode = await run({
      bundle: o['bundle'] as string | undefined,
      rootfs: o['rootfs'] as string | undefined,
      tty: o['tty'] === true,
      interactive: o['interactive'] === true,
      id: o['id'] as string | undefined,
      namespace: o['namespace'] as string,
      events: o['events'] === true,
      stateDir: o['stateDir'] as string,
      args,
    });
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed its message already (help and version exit 0).
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`tsshim: ${errorMessage(err)}\n`);
    process.exitCode = 125;
  }
}
