// Starts our shim the way containerd does: the shim binary's `start` action in the bundle, which
// launches (or finds) the daemon and prints the socket address to connect to.
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** The package's own shim executable. */
export const SHIM_BINARY = fileURLToPath(
  new URL('../../../bin/containerd-shim-tsshim-v2', import.meta.url),
);

export interface StartShimOptions {
  id: string;
  namespace: string;
  /** The OCI bundle (config.json, rootfs): the shim's working directory. */
  bundle: string;
  /** Where the shim forwards its events (an EventSink's socket). */
  eventsAddress: string;
  /** Names the daemon's socket as containerd's address would; any path of ours. */
  address: string;
  /** The shim executable (default: this package's). */
  binary?: string;
  debug?: boolean;
}

/** Runs `start` and returns the address it printed (`unix://...`). */
export async function startShim(opts: StartShimOptions): Promise<string> {
  const args = ['-namespace', opts.namespace, '-id', opts.id, '-address', opts.address];
  if (opts.debug === true) args.push('-debug');
  const r = await execa(opts.binary ?? SHIM_BINARY, [...args, 'start'], {
    cwd: opts.bundle,
    input: '',
    reject: false,
    env: {
      TTRPC_ADDRESS: opts.eventsAddress,
      // No warm process for a lone daemonless shim: it would outlive the run for nothing.
      TSSHIM_WARM: '0',
    },
  });
  if (r.exitCode !== 0) {
    const why = (r.stderr || r.stdout || `exit status ${String(r.exitCode)}`).trim();
    throw new Error(`shim start failed: ${why.split('\n').at(-1) ?? why}`);
  }
  return r.stdout.trim();
}
