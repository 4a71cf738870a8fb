// Our ttrpc client against a real containerd: an event forwarded over ttrpc must come out of
// containerd's gRPC events API bit for bit, and containerd's ttrpc server must answer our
// unknown-method call with the reference status. Needs root (containerd checks peer uid/gid).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { canConnect } from '../helpers/leaks.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { containerd } from '../../src/gen/events.js';
import { Client, Code } from '../../src/ttrpc/index.js';

const CONTAINERD = '/usr/bin/containerd';
const EVENTS_SERVICE = 'containerd.services.events.ttrpc.v1.Events';
const NS_KEY = 'containerd-namespace-ttrpc';

let dir: string;
let proc: ChildProcess | undefined;
let grpcAddress: string;
let ttrpcAddress: string;

async function waitForSockets(paths: string[], log: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (proc?.exitCode !== null) break;
    const ready = await Promise.all(paths.map(canConnect));
    if (ready.every(Boolean)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`containerd did not come up; log:\n${readFileSync(log, 'utf8')}`);
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this test starts a private containerd and must run as root');
  dir = mkdtempSync(join(tmpdir(), 'ttrpc-interop-'));
  grpcAddress = join(dir, 'c.sock');
  ttrpcAddress = `${grpcAddress}.ttrpc`;
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      // Nothing here may touch the host's containerd state or shared paths like /opt/containerd.
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]',
      '[grpc]',
      `  address = ${JSON.stringify(grpcAddress)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(ttrpcAddress)}`,
      '',
    ].join('\n'),
  );
  const log = join(dir, 'containerd.log');
  const logFd = openSync(log, 'a');
  proc = spawn(
    CONTAINERD,
    [
      '--root',
      join(dir, 'root'),
      '--state',
      join(dir, 'state'),
      '--address',
      grpcAddress,
      '--config',
      config,
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  await waitForSockets([grpcAddress, ttrpcAddress], log);
});

after(async () => {
  const child = proc;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

type Envelope = containerd.services.events.v1.Envelope;

/** int64 fields decode as Long (or number); compare them as numbers. */
function int64(value: number | { toString(): string } | null | undefined): number {
  return value === null || value === undefined ? Number.NaN : Number(value.toString());
}

/** A gRPC Subscribe stream whose envelopes are collected in arrival order. */
function subscribe(filters: string[]): {
  envelopes: Envelope[];
  close(): void;
  next(n: number): Promise<void>;
} {
  const client = new grpc.Client(`unix://${grpcAddress}`, grpc.credentials.createInsecure());
  const envelopes: Envelope[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const call = client.makeServerStreamRequest(
    '/containerd.services.events.v1.Events/Subscribe',
    (req: containerd.services.events.v1.SubscribeRequest.$Properties) =>
      Buffer.from(containerd.services.events.v1.SubscribeRequest.encode(req).finish()),
    (bytes: Buffer) => containerd.services.events.v1.Envelope.decode(bytes),
    { filters },
    new grpc.Metadata(),
  );
  call.on('data', (envelope: Envelope) => {
    envelopes.push(envelope);
    wake?.();
  });
  call.on('error', (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED) failure = err;
    wake?.();
  });
  return {
    envelopes,
    async next(n) {
      while (envelopes.length < n) {
        if (failure) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}

function forwardRequest(
  taskExit: containerd.events.TaskExit.$Properties,
  seconds: number,
  nanos: number,
): Uint8Array {
  return containerd.services.events.ttrpc.v1.ForwardRequest.encode({
    envelope: {
      timestamp: { seconds, nanos },
      namespace: 'default',
      topic: '/tasks/exit',
      event: {
        type_url: 'containerd.events.TaskExit',
        value: containerd.events.TaskExit.encode(taskExit).finish(),
      },
    },
  }).finish();
}

void test('Events.Forward through our client reaches a gRPC subscriber intact', async () => {
  const subscription = subscribe(['topic=="/tasks/exit"']);
  const client = await Client.connect(ttrpcAddress);
  try {
    const forward = (body: Uint8Array): Promise<Uint8Array> =>
      client.call(EVENTS_SERVICE, 'Forward', body, {
        timeoutMs: 5000,
        metadata: { [NS_KEY]: 'default' },
      });
    // A gRPC stream gives no signal when the subscription is registered: forward probes until
    // one comes back, then the event under test.
    let probes = 0;
    while (subscription.envelopes.length === 0) {
      const empty = await forward(
        forwardRequest({ container_id: 'probe', id: `probe-${++probes}` }, 1, 0),
      );
      assert.equal(empty.length, 0, 'Forward answers google.protobuf.Empty');
      await Promise.race([
        subscription.next(1),
        new Promise((resolve) => setTimeout(resolve, 100)),
      ]);
    }
    const seen = subscription.envelopes.length;

    const exit: containerd.events.TaskExit.$Properties = {
      container_id: 'c1-container',
      id: 'e1-exec',
      pid: 4_294_967_295,
      exit_status: 137,
      exited_at: { seconds: 1_700_000_123, nanos: 987_654_321 },
    };
    await forward(forwardRequest(exit, 1_700_000_456, 123_456_789));
    // A fence after it: once the fence is out, every copy of the event would be out too.
    await forward(forwardRequest({ container_id: 'probe', id: 'fence' }, 2, 0));
    const exitId = (e: Envelope): string =>
      e.event?.value ? containerd.events.TaskExit.decode(e.event.value).id : '';
    for (
      let n = seen + 1;
      !subscription.envelopes.slice(seen).some((e) => exitId(e) === 'fence');
      n++
    ) {
      await subscription.next(n);
    }
    const ours = subscription.envelopes.slice(seen).filter((e) => exitId(e) === 'e1-exec');
    assert.equal(ours.length, 1, 'exactly one copy of the event');
    const { namespace, topic, timestamp, event } = ours[0]!;
    assert.equal(namespace, 'default');
    assert.equal(topic, '/tasks/exit');
    assert.ok(timestamp && event?.value);
    assert.equal(int64(timestamp.seconds), 1_700_000_456);
    assert.equal(timestamp.nanos, 123_456_789);
    assert.equal(event.type_url, 'containerd.events.TaskExit');
    assert.deepEqual(
      Buffer.from(event.value),
      Buffer.from(containerd.events.TaskExit.encode(exit).finish()),
    );
    const decoded = containerd.events.TaskExit.decode(event.value);
    assert.equal(decoded.container_id, 'c1-container');
    assert.equal(decoded.id, 'e1-exec');
    assert.equal(decoded.pid, 4_294_967_295);
    assert.equal(decoded.exit_status, 137);
    assert.ok(decoded.exited_at);
    assert.equal(int64(decoded.exited_at.seconds), 1_700_000_123);
    assert.equal(decoded.exited_at.nanos, 987_654_321);
  } finally {
    client.close();
    subscription.close();
  }
});

void test("containerd's ttrpc server answers unknown methods and services with Unimplemented", async () => {
  const client = await Client.connect(`unix://${ttrpcAddress}`);
  try {
    await assert.rejects(client.call(EVENTS_SERVICE, 'NoSuchMethod', new Uint8Array(0)), {
      code: Code.Unimplemented,
      message: 'method NoSuchMethod',
    });
    await assert.rejects(client.call('no.such.Service', 'Forward', new Uint8Array(0)), {
      code: Code.Unimplemented,
      message: 'service no.such.Service',
    });
    // The connection is still good afterwards.
    await assert.rejects(client.call(EVENTS_SERVICE, 'Again', new Uint8Array(0)), { code: 12 });
  } finally {
    client.close();
  }
});
