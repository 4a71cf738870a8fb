// The one place where domain errors become ttrpc status codes (the edge).
import { Code, TtrpcError } from '../ttrpc/index.js';
import { errorMessage, isShimError, type ErrorKind } from '../base/errors.js';
import { RuncError } from '../runtime/errors.js';

const CODES: Record<ErrorKind, Code> = {
  'invalid-argument': Code.InvalidArgument,
  'not-found': Code.NotFound,
  'already-exists': Code.AlreadyExists,
  'failed-precondition': Code.FailedPrecondition,
  unavailable: Code.Unavailable,
  'not-implemented': Code.Unimplemented,
  unknown: Code.Unknown,
};

export function toTtrpcError(err: unknown): TtrpcError {
  if (err instanceof TtrpcError) return err;
  if (isShimError(err)) return new TtrpcError(CODES[err.kind], err.message);
  if (err instanceof RuncError)
    return new TtrpcError(Code.Unknown, `OCI runtime ${err.command} failed: ${err.message}`);
  return new TtrpcError(Code.Unknown, errorMessage(err));
}
