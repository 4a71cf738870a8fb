// Errors from the OCI runtime binary, and the normalisation of its many ways of saying "gone".
import { ShimError } from '../base/errors.js';

export class RuncError extends Error {
  override readonly name = 'RuncError';
  constructor(
    readonly argv: string[],
    readonly exitStatus: number,
    readonly stderr: string,
    readonly lastLogError: string,
    /** The runtime subcommand (`create`, `exec`, ...), for "OCI runtime <command> failed". */
    readonly command: string = argv[0] ?? '',
  ) {
    const detail = lastLogError || stderr.trim() || `exit status ${exitStatus}`;
    super(detail);
  }
}

const detail = (err: unknown): string =>
  err instanceof RuncError ? `${err.lastLogError} ${err.stderr}` : String(err);

/** Maps a failed kill to the errors containerd's clients expect (NotFound when already gone). */
export function killError(err: unknown): ShimError {
  const text = detail(err);
  if (/does not exist/.test(text)) {
    return new ShimError('not-found', 'no such container', { cause: err });
  }
  if (/container not running|no such process|process already finished|ESRCH/.test(text)) {
    return new ShimError('not-found', 'process already finished', { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ShimError('unknown', `unknown error after kill: ${message}`, { cause: err });
}
