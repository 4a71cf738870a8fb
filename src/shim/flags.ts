// Go `flag`-package compatible parser for the shim command line (containerd builds argv as
// `<shim> <flags> <action>`); see the shim CLI spec. Unknown flags are an error (exit 2 upstream).

export interface ShimFlags {
  namespace: string;
  id: string;
  address: string;
  publishBinary: string;
  bundle: string;
  socket: string;
  debugSocket: string;
  debug: boolean;
  version: boolean;
  info: boolean;
  /** First non-flag argument: 'start', 'delete', or '' for the serving daemon. */
  action: string;
  /** Arguments after the action. */
  rest: string[];
}

type FlagName = keyof Omit<ShimFlags, 'action' | 'rest'>;

const STRING_FLAGS: Record<string, FlagName> = {
  namespace: 'namespace',
  id: 'id',
  address: 'address',
  'publish-binary': 'publishBinary',
  bundle: 'bundle',
  socket: 'socket',
  'debug-socket': 'debugSocket',
};
const BOOL_FLAGS: Record<string, FlagName> = {
  debug: 'debug',
  v: 'version',
  version: 'version',
  info: 'info',
};

export class FlagError extends Error {
  override readonly name = 'FlagError';
}

export function parseFlags(argv: readonly string[]): ShimFlags {
  const flags: ShimFlags = {
    namespace: '',
    id: '',
    address: '',
    publishBinary: '',
    bundle: '',
    socket: '',
    debugSocket: '',
    debug: false,
    version: false,
    info: false,
    action: '',
    rest: [],
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.length < 2 || !arg.startsWith('-')) break;
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) {
      throw new FlagError(`bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    const inline = eq === -1 ? undefined : body.slice(eq + 1);
    const stringKey = STRING_FLAGS[name];
    const boolKey = BOOL_FLAGS[name];
    if (stringKey !== undefined) {
      let value = inline;
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
        value = argv[++i] ?? '';
      }
      (flags[stringKey] as string) = value;
    } else if (boolKey !== undefined) {
      (flags[boolKey] as boolean) = parseBool(name, inline);
    } else {
      throw new FlagError(`flag provided but not defined: -${name}`);
    }
  }
  flags.action = argv[i] ?? '';
  flags.rest = argv.slice(i + 1);
  return flags;
}

function parseBool(name: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw new FlagError(`invalid boolean value "${value}" for -${name}`);
}

export const USAGE = `Usage of containerd-shim-ts-v2:
  -address string      grpc address back to main containerd
  -bundle string       path to the bundle if not workdir
  -debug               enable debug output in logs
  -id string           id of the task
  -info                print the runtime info as a protobuf
  -namespace string    namespace that owns the shim
  -publish-binary string  path to publish binary (used for publishing events)
  -socket string       socket path to serve
  -v                   show the shim version and exit
`;
