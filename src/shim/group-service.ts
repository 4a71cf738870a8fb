// The Group service at the ttrpc edge: the daemon side registers it, `start` calls it. Decoding
// and status codes live here; the decision is ExpectedContainers'.
import { tsshim } from '../gen/group.js';
import { Client, Code, TtrpcError, type Server } from '../ttrpc/index.js';
import { checkId } from '../process/ids.js';
import { errorCode, errorMessage } from '../base/errors.js';
import type { ExpectedContainers } from './expected.js';

const SERVICE = 'tsshim.group.v1.Group';
const v1 = tsshim.group.v1;
/** Covers a daemon busy with other containers; a daemon slower than this is treated as live. */
const EXPECT_TIMEOUT_MS = 10_000;

export function registerGroupService(server: Server, expected: ExpectedContainers): void {
  server.register(SERVICE, {
    Expect: (payload) => {
      let id: string;
      try {
        id = v1.ExpectRequest.decode(payload).id;
        checkId('container', id);
      } catch (err) {
        return Promise.reject(new TtrpcError(Code.InvalidArgument, errorMessage(err)));
      }
      if (!expected.expect(id)) {
        return Promise.reject(new TtrpcError(Code.Unavailable, 'shim is shutting down'));
      }
      return Promise.resolve(v1.ExpectResponse.encode({}).finish());
    },
  });
}

/** What a live daemon said to an announced container. */
export type ExpectAnswer = 'held' | 'exiting';

/**
 * Announces `id` to the daemon on `path`. 'exiting': it refused or went away, so `start` must
 * wait for its socket to go and start a new daemon. A daemon that predates the Group service, or
 * does not answer in time, is still live: 'held', as before announcements existed.
 */
export async function announceContainer(path: string, id: string): Promise<ExpectAnswer> {
  let client: Client;
  try {
    client = await Client.connect(path, { timeoutMs: EXPECT_TIMEOUT_MS });
  } catch (err) {
    // Refused or gone: the listener closed. Anything else (a full backlog): a busy, live daemon.
    const cause = errorCode(err instanceof Error ? err.cause : undefined);
    return cause === 'ECONNREFUSED' || cause === 'ENOENT' ? 'exiting' : 'held';
  }
  try {
    await client.call(SERVICE, 'Expect', v1.ExpectRequest.encode({ id }).finish(), {
      timeoutMs: EXPECT_TIMEOUT_MS,
    });
    return 'held';
  } catch (err) {
    const code = err instanceof TtrpcError ? err.code : undefined;
    if (code === Code.Unimplemented || code === Code.DeadlineExceeded) return 'held';
    return 'exiting';
  } finally {
    client.close();
  }
}
