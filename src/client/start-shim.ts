// Launches a shim the way containerd does: `<shim> -namespace NS -id ID -address ADDR start` in
// the bundle, TTRPC_ADDRESS naming the events socket, and the shim's socket address on stdout.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The package's shim executable (the same launcher containerd runs). */
export const SHIM_BINARY = fileURLToPath(
  new URL('../../../bin/containerd-shim-tsshim-v2', import.meta.url),
);

export interface StartShimOptions {
  id: string;
  namespace: string;
  /** The bundle directory: the shim's working directory. */
  bundle: string;
  /** Where events go: the socket of an EventSink (TTRPC_ADDRESS). */
  eventsAddress: string;
  /** containerd's gRPC address as the shim would be told it; it only names the socket. */
  address?: string;
  binary?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs `start` and resolves with the shim's address (unix://...). */
export function startShim(options: StartShimOptions): Promise<string> {
  const args = [
    '-namespace',
    options.namespace,
    '-id',
    options.id,
    '-address',
    options.address ?? options.eventsAddress,
    'start',
  ];
  const child = spawn(options.binary ?? SHIM_BINARY, args, {
    cwd: options.bundle,
    env: { ...(options.env ?? process.env), TTRPC_ADDRESS: options.eventsAddress },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const address = out.trim();
      if (code === 0 && address !== '') resolve(address);
      else {
        const why = err.trim().split('\n').pop() || `exit ${signal ?? code}`;
        reject(new Error(`shim start failed: ${why}`));
      }
    });
  });
}
