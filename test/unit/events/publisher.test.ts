// The event publisher while containerd is away: events queue in order and are retried until
// delivered; the queue is bounded by dropping the oldest non-exit events, never an exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventPublisher, MAX_QUEUED_EVENTS } from '../../../src/events/publisher.js';
import { Server } from '../../../src/ttrpc/index.js';
import { containerd } from '../../../src/gen/events.js';
import { nullLogger } from '../../../src/base/log.js';
import { tempDir } from '../ttrpc/helpers.js';

const FORWARD = 'containerd.services.events.ttrpc.v1.Events';

/** A stand-in for containerd's ttrpc Events service that records what it is forwarded. */
async function receiver(path: string): Promise<{ got: string[]; close(): Promise<void> }> {
  const got: string[] = [];
  const server = new Server();
  server.register(FORWARD, {
    Forward: (payload) => {
      const req = containerd.services.events.ttrpc.v1.ForwardRequest.decode(payload);
      const value = Buffer.from(req.envelope?.event?.value ?? new Uint8Array()).toString();
      got.push(`${req.envelope?.topic ?? ''}:${value}`);
      return Promise.resolve(new Uint8Array());
    },
  });
  await server.listen(path);
  return { got, close: () => server.close() };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
}

test('the default bound is large', () => {
  assert.equal(MAX_QUEUED_EVENTS, 10_000);
});

test('queued while containerd is down, delivered in order once it is back, nothing lost', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'c.sock.ttrpc');
  const pub = new EventPublisher(`unix://${path}`, 'default', nullLogger, 100);
  try {
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      const topic = i % 5 === 0 ? '/tasks/exit' : '/tasks/start';
      pub.publish(topic, 'x', Buffer.from(String(i)));
      sent.push(`${topic}:${String(i)}`);
    }
    // Several failed attempts (nobody listens) must not drop anything.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(pub.queued, 50);
    const rx = await receiver(path);
    pub.publish('/tasks/delete', 'x', Buffer.from('last'));
    sent.push('/tasks/delete:last');
    await until(() => rx.got.length >= sent.length);
    assert.deepEqual(rx.got, sent);
    assert.equal(pub.dropped, 0);
    await rx.close();
  } finally {
    pub.close();
    dir.remove();
  }
});

test('past the bound the oldest non-exit events go, every exit stays', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'c.sock.ttrpc');
  const limit = 10;
  const pub = new EventPublisher(`unix://${path}`, 'default', nullLogger, limit);
  try {
    const exits: string[] = [];
    for (let i = 0; i < 100; i++) {
      if (i % 4 === 0) {
        pub.publish('/tasks/exit', 'x', Buffer.from(String(i)));
        exits.push(`/tasks/exit:${String(i)}`);
      } else pub.publish('/tasks/start', 'x', Buffer.from(String(i)));
    }
    // 25 exits exceed the bound of 10: they are all kept (the head is one of them), and every
    // other event is dropped.
    assert.equal(pub.queued, 25);
    assert.equal(pub.dropped, 75);
    const rx = await receiver(path);
    pub.publish('/tasks/exit', 'x', Buffer.from('100'));
    exits.push('/tasks/exit:100');
    await until(() => rx.got.filter((e) => e.startsWith('/tasks/exit')).length >= exits.length);
    assert.deepEqual(
      rx.got.filter((e) => e.startsWith('/tasks/exit')),
      exits,
    );
    await rx.close();
  } finally {
    pub.close();
    dir.remove();
  }
});

test('the newest non-exit events survive when the bound is reached', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'c.sock.ttrpc');
  const pub = new EventPublisher(`unix://${path}`, 'default', nullLogger, 5);
  try {
    for (let i = 0; i < 20; i++) pub.publish('/tasks/oom', 'x', Buffer.from(String(i)));
    assert.equal(pub.queued, 5);
    const rx = await receiver(path);
    pub.publish('/tasks/oom', 'x', Buffer.from('20'));
    await until(() => rx.got.includes('/tasks/oom:20'));
    // The head (possibly in flight) is kept, then the newest ones in order.
    assert.deepEqual(
      rx.got.map((e) => e.replace('/tasks/oom:', '')),
      ['0', '17', '18', '19', '20'],
    );
    await rx.close();
  } finally {
    pub.close();
    dir.remove();
  }
});

// On its way out the daemon has nothing else keeping it alive: the flush alone must, through the
// sender's backoff waits, until the queue is delivered (a process ending with pending promises
// exits 13 with its events lost).
test('flush keeps an otherwise idle process alive until its events are delivered', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'c.sock.ttrpc');
  const module = fileURLToPath(new URL('../../../src/events/publisher.js', import.meta.url));
  const logModule = fileURLToPath(new URL('../../../src/base/log.js', import.meta.url));
  const script = `
    const { EventPublisher } = await import(${JSON.stringify(module)});
    const { nullLogger } = await import(${JSON.stringify(logModule)});
    const pub = new EventPublisher(${JSON.stringify(`unix://${path}`)}, 'default', nullLogger);
    pub.publish('/tasks/exit', 'x', Buffer.from('last'));
    process.stdout.write('queued\\n');
    await pub.flush(60000);
    process.stdout.write('flushed ' + String(pub.queued) + '\\n');
    pub.close();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let rx: Awaited<ReturnType<typeof receiver>> | undefined;
  try {
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        // containerd comes back only once the event has been queued and its first send failed.
        if (out.includes('queued') && !rx) void receiver(path).then((r) => (rx = r));
      });
      child.on('exit', resolve);
    });
    assert.equal(code, 0, out);
    assert.match(out, /flushed 0/);
    assert.deepEqual(rx?.got, ['/tasks/exit:last']);
  } finally {
    await rx?.close();
    dir.remove();
  }
});
