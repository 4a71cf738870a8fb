// Errors the CLI reports as one line: its own usage errors, and the message of anything else.
import { TtrpcError } from '../ttrpc/index.js';

export class UsageError extends Error {}

/** One line for stderr, without the `tsshim: ` prefix. */
export function oneLine(err: unknown): string {
  let message: string;
  if (err instanceof TtrpcError) message = `shim: ${err.message}`;
  else if (err instanceof Error) {
    const errno = err as NodeJS.ErrnoException & { address?: string };
    const unreachable = errno.syscall === 'connect' && errno.code !== undefined;
    message = unreachable
      ? `cannot reach the shim at ${errno.address ?? '?'}: ${errno.code ?? ''}`
      : err.message;
  } else message = String(err);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
