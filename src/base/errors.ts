// Domain errors. The process and task layers throw ShimError; only task/to-status.ts maps a kind
// to a ttrpc status code (the edge).

export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'unavailable'
  | 'not-implemented'
  | 'unknown';

/** containerd's errdefs class text, appended to messages so containerd can rebase them. */
const CLASS_TEXT: Record<ErrorKind, string> = {
  'invalid-argument': 'invalid argument',
  'not-found': 'not found',
  'already-exists': 'already exists',
  'failed-precondition': 'failed precondition',
  unavailable: 'unavailable',
  'not-implemented': 'not implemented',
  unknown: '',
};

export class ShimError extends Error {
  override readonly name = 'ShimError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    const suffix = CLASS_TEXT[kind];
    super(suffix === '' || message.endsWith(suffix) ? message : `${message}: ${suffix}`, options);
  }
}

export const isShimError = (err: unknown): err is ShimError => err instanceof ShimError;

/** The message of any thrown value, without `any` casts. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The errno-style code (`ENOENT`, ...) of a Node or native error, if any. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
