// `tsshim events`: the task events of a container left running by `run -d`, as they arrive, until
// the container is deleted or the command is interrupted. The shim holds events while nobody
// listens and delivers them in order, so the first lines may be from before the command started.
import { EventSink } from '../client/index.js';
import { removeStaleSocket } from '../shim/socket.js';
import { UsageError } from './errors.js';
import { eventLine } from './print-event.js';
import { eventsSocketPath, loadRecord, recordDir } from './state.js';
import type { Target } from './ops.js';

export async function events(t: Target): Promise<void> {
  loadRecord(recordDir(t.stateDir, t.namespace, t.id), t.id);
  const path = eventsSocketPath(t.stateDir, t.namespace, t.id);
  if (!(await removeStaleSocket(path))) {
    throw new UsageError(`the events of ${t.id} are being read already (${path})`);
  }
  const sink = await EventSink.listen(path);
  try {
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        resolve();
      };
      sink.on('event', (e) => {
        process.stdout.write(eventLine(e));
        // After the init's delete the shim has nothing more to say about this container.
        if (e.topic === '/tasks/delete' && e.event['container_id'] === t.id) stop();
      });
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  } finally {
    await sink.close();
  }
}
