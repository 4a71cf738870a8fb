// tsshim: run and inspect containers through our shim with no containerd. A separate entry
// point: the shim never imports it. Every failure ends as one `tsshim: <message>` line.
import { randomBytes } from 'node:crypto';
import { Command, CommanderError, Option } from 'commander';
import { oneLine } from './errors.js';
import { exec, kill, parseSignal, ps, remove, state, type Target } from './ops.js';
import { run } from './run.js';
import { events } from './events.js';
import { doctor } from './doctor.js';
import { config } from './config.js';
import { upgrade } from './upgrade.js';
import { DEFAULT_STATE_DIR } from './state.js';

interface Common {
  namespace: string;
  stateDir: string;
}

/** The exit status the process ends with, set by the action that ran. */
let status = 0;

function common(cmd: Command): Command {
  return cmd
    .option('-n, --namespace <ns>', 'containerd namespace', 'default')
    .option('--state-dir <dir>', 'where run -d records containers', DEFAULT_STATE_DIR);
}

/** Pass-through keeps a `--` that follows a positional argument: it is not part of the command. */
function afterDashes(args: string[]): string[] {
  return args[0] === '--' ? args.slice(1) : args;
}

function target(id: string, o: Common): Target {
  return { id, namespace: o.namespace, stateDir: o.stateDir };
}

export function program(): Command {
  const cli = new Command('tsshim')
    .description('Run containers through containerd-shim-tsshim-v2, without containerd')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: () => undefined })
    .showSuggestionAfterError(false);

  common(cli.command('run'))
    .description('run a container and wait for it (or leave it running with -d)')
    .option('--bundle <dir>', 'an OCI bundle (a directory with config.json)')
    .option('--rootfs <dir>', 'a root filesystem; a default config.json is written for it')
    .option('-t, --tty', 'give the container a terminal', false)
    .option('-d, --detach', 'leave the container running and print its id', false)
    .option('--events', 'print task events to stderr', false)
    .addOption(new Option('--id <id>', 'container id'))
    .argument('[command...]', 'the command, after --, with --rootfs')
    .passThroughOptions()
    .action(async (args: string[], o: Common & Record<string, unknown>) => {
      status = await run({
        ...(typeof o['bundle'] === 'string' ? { bundle: o['bundle'] } : {}),
        ...(typeof o['rootfs'] === 'string' ? { rootfs: o['rootfs'] } : {}),
        tty: o['tty'] === true,
        detach: o['detach'] === true,
        events: o['events'] === true,
        id: typeof o['id'] === 'string' ? o['id'] : `tsshim-${randomBytes(6).toString('hex')}`,
        namespace: o.namespace,
        stateDir: o.stateDir,
        args: afterDashes(args),
      });
    });

  common(cli.command('state'))
    .description("print a container's state as JSON")
    .argument('<id>')
    .action((id: string, o: Common) => state(target(id, o)));

  common(cli.command('ps'))
    .description("list a container's processes")
    .argument('<id>')
    .action((id: string, o: Common) => ps(target(id, o)));

  common(cli.command('kill'))
    .description('send a signal to a container')
    .argument('<id>')
    .argument('[signal]', 'name or number', 'TERM')
    .option('-a, --all', 'signal every process in the container', false)
    .action((id: string, signal: string, o: Common & { all: boolean }) =>
      kill(target(id, o), parseSignal(signal), o.all),
    );

  common(cli.command('exec'))
    .description('run a command in a running container (no terminal)')
    .argument('<id>')
    .argument('<command...>', 'the command, after --')
    .option('--exec-id <id>', 'the process id')
    .passThroughOptions()
    .action(async (id: string, args: string[], o: Common & { execId?: string }) => {
      const execId = o.execId ?? `exec-${randomBytes(4).toString('hex')}`;
      status = await exec(target(id, o), execId, afterDashes(args));
    });

  common(cli.command('events'))
    .description('print the task events of a container left running with -d, until it is deleted')
    .argument('<id>')
    .action((id: string, o: Common) => events(target(id, o)));

  common(cli.command('delete'))
    .description('delete a stopped container and stop its shim')
    .argument('<id>')
    .action((id: string, o: Common) => remove(target(id, o)));

  cli
    .command('doctor')
    .description(
      'check this machine for running our shim under containerd; exit 0 when all is well',
    )
    .option('--json', 'findings as JSON', false)
    .option('--config <file>', "containerd's config", '/etc/containerd/config.toml')
    .option('--containerd-path <PATH>', "containerd's PATH (default: the running containerd's)")
    .option('--runc <binary>', 'the runc to check', 'runc')
    .option('--criu <binary>', 'the CRIU to check', 'criu')
    .action(async (o: Record<string, unknown>) => {
      status = await doctor({
        json: o['json'] === true,
        configPath: o['config'] as string,
        containerdPath: o['containerdPath'] as string | undefined,
        runc: o['runc'] as string,
        criu: o['criu'] as string,
      });
    });

  cli
    .command('config')
    .description('print the containerd config for our runtime and a Kubernetes RuntimeClass')
    .option('--containerd-version <v>', 'instead of asking the containerd on PATH')
    .option('--handler <name>', 'CRI handler and RuntimeClass name', 'tsshim')
    .option('--runtime-path <file>', 'runtime_path for the handler (a copy of our shim)', '')
    .action(async (o: Record<string, unknown>) => {
      status = await config({
        containerdVersion: o['containerdVersion'] as string | undefined,
        handler: o['handler'] as string,
        runtimePath: o['runtimePath'] as string,
      });
    });

  cli
    .command('upgrade')
    .description(
      "make running shim daemons re-execute the installed version in place (see containerd's log)",
    )
    .option('--address <path>', 'only daemons of this containerd (its gRPC socket)')
    .option('-n, --namespace <ns>', 'only daemons of this namespace')
    .argument('[pid...]', 'only these daemons')
    .action((pids: string[], o: Record<string, unknown>) => {
      status = upgrade({
        ...(typeof o['address'] === 'string' ? { address: o['address'] } : {}),
        ...(typeof o['namespace'] === 'string' ? { namespace: o['namespace'] } : {}),
        pids: pids.map(Number),
      });
    });

  return cli;
}

/** Parses argv and runs; resolves with the exit status, never throws. */
export async function main(argv: string[]): Promise<number> {
  try {
    status = 0;
    await program().parseAsync(argv, { from: 'user' });
    return status;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are printed by commander and exit 0.
      if (err.exitCode === 0) return 0;
      process.stderr.write(`tsshim: ${err.message.replace(/^error: /, '')}\n`);
      return err.exitCode || 1;
    }
    process.stderr.write(`tsshim: ${oneLine(err)}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  process.exitCode = await main(process.argv.slice(2));
  // Our stdin may hold the event loop open (a terminal); the work is done.
  process.exit();
}
