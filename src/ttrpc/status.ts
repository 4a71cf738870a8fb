// gRPC status codes and the error type that carries one across the ttrpc boundary.

export enum Code {
  OK = 0,
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

/** An error with a status code: what handlers throw and what a failed call rejects with. */
export class TtrpcError extends Error {
  override name = 'TtrpcError';
  constructor(
    readonly code: Code,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export const CLOSED_MESSAGE = 'ttrpc: closed';

/**
 * The connection closed (EOF, reset, or a local close) before the call completed. containerd
 * reads the same text as "shim gone"; `closed` lets callers test for it without matching text.
 */
export class ClosedError extends TtrpcError {
  override name = 'ClosedError';
  readonly closed = true;
  constructor(options?: ErrorOptions) {
    super(Code.Unavailable, CLOSED_MESSAGE, options);
  }
}

export function isClosedError(err: unknown): err is ClosedError {
  return err instanceof ClosedError;
}

export interface Status {
  code: Code;
  message: string;
}

// Node's counterparts of the well-known Go errors the reference maps before falling back to Unknown.
const ERRNO_CODES: Readonly<Record<string, Code>> = {
  ENOENT: Code.NotFound,
  EEXIST: Code.AlreadyExists,
  EACCES: Code.PermissionDenied,
  EPERM: Code.PermissionDenied,
  EINVAL: Code.InvalidArgument,
};

const CODES_BY_NUMBER = new Map<number, Code>(
  Object.values(Code)
    .filter((value): value is Code => typeof value === 'number')
    .map((code) => [code, code]),
);

/** A status code off the wire; values outside the gRPC range read as Unknown. */
export function codeFromNumber(value: number): Code {
  return CODES_BY_NUMBER.get(value) ?? Code.Unknown;
}

/** The status to send for anything a handler threw. */
export function toStatus(err: unknown): Status {
  if (err instanceof TtrpcError) return { code: err.code, message: err.message };
  if (err instanceof Error) {
    if (err.name === 'AbortError') return { code: Code.Canceled, message: err.message };
    if (err.name === 'TimeoutError') return { code: Code.DeadlineExceeded, message: err.message };
    const errno = (err as { code?: unknown }).code;
    const code = typeof errno === 'string' ? ERRNO_CODES[errno] : undefined;
    return { code: code ?? Code.Unknown, message: err.message };
  }
  return { code: Code.Unknown, message: String(err) };
}
