// Binds the TaskService to ttrpc under both service names containerd uses (task v2 and v3 carry
// byte-identical messages). Decoding, encoding and error mapping happen here, at the edge.
import { containerd } from '../gen/task.js';
import { Code, TtrpcError, type Handler, type Server } from '../ttrpc/index.js';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { checkId } from '../process/ids.js';
import { toTtrpcError } from './to-status.js';
import type { TaskService } from './service.js';

export const TASK_SERVICES = ['containerd.task.v2.Task', 'containerd.task.v3.Task'] as const;

const v2 = containerd.task.v2;
const EMPTY = new Uint8Array();

/** Refusals a client causes and can act on: warnings; anything else is the shim's error. */
const CLIENT_CODES = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.FailedPrecondition,
  Code.Unimplemented,
  Code.Canceled,
]);

interface Decoder<T> {
  decode(bytes: Uint8Array): T;
}
interface Encoder<R> {
  encode(message: R): { finish(): Uint8Array };
}

/** A unary handler: decode, validate the id, run, encode; every failure becomes a status. */
function unary<T extends { id: string }, R>(
  log: Logger,
  method: string,
  request: Decoder<T>,
  response: Encoder<R> | undefined,
  run: (req: T) => Promise<R | undefined> | R | undefined,
): Handler {
  return async (payload) => {
    let req: T;
    try {
      req = request.decode(payload);
    } catch (err) {
      throw new TtrpcError(
        Code.Internal,
        `ttrpc: error unmarshalling payload: ${errorMessage(err)}`,
      );
    }
    // Ids are checked before any lookup or path; an empty exec id means the init, except for Exec.
    const rawExecId = (req as { exec_id?: unknown }).exec_id;
    const execId = typeof rawExecId === 'string' ? rawExecId : undefined;
    try {
      if (method !== 'Connect' && method !== 'Shutdown') checkId('container', req.id);
      if (execId !== undefined && (execId !== '' || method === 'Exec')) checkId('exec', execId);
    } catch (err) {
      throw toTtrpcError(err);
    }
    // Every line about this request names it, so an operator can follow one container.
    const fields = { method, id: req.id, exec_id: execId === '' ? undefined : execId };
    log.debug('request', fields);
    try {
      const result = await run(req);
      return response && result !== undefined ? response.encode(result).finish() : EMPTY;
    } catch (err) {
      const status = toTtrpcError(err);
      const failure = { ...fields, code: Code[status.code], error: status.message };
      if (CLIENT_CODES.has(status.code)) log.warn('request failed', failure);
      else log.error('request failed', failure);
      throw status;
    }
  };
}

export function registerTaskService(server: Server, svc: TaskService, log: Logger): void {
  const methods: Record<string, Handler> = {
    Create: unary(log, 'Create', v2.CreateTaskRequest, v2.CreateTaskResponse, (r) => svc.create(r)),
    Start: unary(log, 'Start', v2.StartRequest, v2.StartResponse, (r) => svc.start(r)),
    Delete: unary(log, 'Delete', v2.DeleteRequest, v2.DeleteResponse, (r) => svc.delete(r)),
    Exec: unary(log, 'Exec', v2.ExecProcessRequest, undefined, (r) => svc.exec(r)),
    State: unary(log, 'State', v2.StateRequest, v2.StateResponse, (r) => svc.state(r)),
    Wait: unary(log, 'Wait', v2.WaitRequest, v2.WaitResponse, (r) => svc.wait(r)),
    Kill: unary(log, 'Kill', v2.KillRequest, undefined, (r) => svc.kill(r)),
    Pids: unary(log, 'Pids', v2.PidsRequest, v2.PidsResponse, (r) => svc.pids(r)),
    CloseIO: unary(log, 'CloseIO', v2.CloseIORequest, undefined, (r) => {
      svc.closeIO(r);
    }),
    Pause: unary(log, 'Pause', v2.PauseRequest, undefined, (r) => svc.pause(r)),
    Resume: unary(log, 'Resume', v2.ResumeRequest, undefined, (r) => svc.resume(r)),
    Update: unary(log, 'Update', v2.UpdateTaskRequest, undefined, (r) => svc.update(r)),
    ResizePty: unary(log, 'ResizePty', v2.ResizePtyRequest, undefined, (r) => {
      svc.resizePty(r);
    }),
    Connect: unary(log, 'Connect', v2.ConnectRequest, v2.ConnectResponse, (r) => svc.connect(r)),
    Shutdown: unary(log, 'Shutdown', v2.ShutdownRequest, undefined, () => {
      svc.shutdown();
    }),
    Stats: unary(log, 'Stats', v2.StatsRequest, v2.StatsResponse, (r) => svc.stats(r)),
    Checkpoint: unary(log, 'Checkpoint', v2.CheckpointTaskRequest, undefined, (r) =>
      svc.checkpoint(r),
    ),
  };
  for (const name of TASK_SERVICES) server.register(name, methods);
}
