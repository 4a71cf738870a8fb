// The `-info` flag (containerd 2.x): a serialized RuntimeInfo on stdout, as the reference gives
// it: our name and version, the options received (echoed), and the OCI runtime's features, which
// containerd reads (e.g. to allow idmap mounts): the configured runc's own `runc features`.
import { containerd, google } from '../gen/types.js';
import { DEFAULT_RUNTIME_OPTIONS, type RuntimeOptions } from '../process/options.js';
import { resolveExecutable, type Monitor } from '../reaper/index.js';
import { decodeRuntimeOptions } from '../task/options.js';
import { REVISION, RUNTIME_NAME, VERSION } from './version.js';

export const FEATURES_TYPE_URL =
  'types.containerd.io/opencontainers/runtime-spec/1/features/Features';

export interface InfoContext {
  /** The invocation's environment: runc is looked up on its PATH. */
  env: string[];
  monitor: Monitor;
}

function optionsOf(any: google.protobuf.Any | undefined): RuntimeOptions {
  try {
    return any ? decodeRuntimeOptions(any) : DEFAULT_RUNTIME_OPTIONS;
  } catch {
    return DEFAULT_RUNTIME_OPTIONS;
  }
}

/** `runc features` as the reference re-encodes it (compact JSON), or undefined if unsupported. */
async function runtimeFeatures(binary: string, ctx: InfoContext): Promise<Uint8Array | undefined> {
  try {
    const path = ctx.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
    const result = await ctx.monitor.run({
      file: resolveExecutable(binary, path),
      args: ['features'],
      env: ctx.env,
    });
    if (result.status !== 0) return undefined;
    return Buffer.from(JSON.stringify(JSON.parse(result.stdout.toString())));
  } catch {
    // A runtime without `features` (as the reference, this is not an error).
    return undefined;
  }
}

export async function infoAction(stdin: Buffer, ctx: InfoContext): Promise<Uint8Array> {
  const options = stdin.length > 0 ? google.protobuf.Any.decode(stdin) : undefined;
  const features = await runtimeFeatures(optionsOf(options).binaryName || 'runc', ctx);
  return containerd.types.RuntimeInfo.encode({
    name: RUNTIME_NAME,
    version: { version: VERSION, revision: REVISION },
    ...(options ? { options } : {}),
    ...(features ? { features: { type_url: FEATURES_TYPE_URL, value: features } } : {}),
  }).finish();
}
