// Every Task method with hostile fields, sent straight to the real shim over ttrpc: hostile and
// unknown container and exec ids, exec specs that are not JSON or too big, Creates with bad
// bundles, bogus mounts and stdio. Each gets its expected code; after each group the same shim
// is alive with its baseline fd count and both containers of its group still RUNNING and
// exec-able. Where it is cheap the reference shim gets the same request: where we agree the
// codes are asserted equal, where we deliberately differ the test says so.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { containerd } from '../../src/gen/task.js';
import { Harness } from '../helpers/differential.js';
import { fdCount, mountsUnder, parentOf } from '../helpers/leaks.js';
import { TaskClient, assertHealthy, shimSocket, type Watched } from '../helpers/shim-probe.js';

const v2 = containerd.task.v2;
const h = new Harness();
const tag = String(process.pid);
const idA = `ht-a-${tag}`;
const idB = `ht-b-${tag}`;
const refId = `ht-ref-${tag}`;
const PROCESS_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

let w: Watched;
let ours: TaskClient;
let ref: TaskClient;
let scratch = '';
let bundleA = '';
let cases = 0;

const HOSTILE_IDS = [
  'a/b',
  '..',
  '../../../etc',
  'a\0b',
  'x'.repeat(10_240),
  '',
  'ünïcødé',
  '日本語',
  'a b',
  '-rf',
  '.hidden',
  'x'.repeat(77),
];

/** Methods addressed by container id (and exec id where they have one). */
const BY_ID: Record<
  string,
  { type: { encode(m: never): { finish(): Uint8Array } }; exec: boolean }
> = {
  State: { type: v2.StateRequest, exec: true },
  Start: { type: v2.StartRequest, exec: true },
  Delete: { type: v2.DeleteRequest, exec: true },
  Pids: { type: v2.PidsRequest, exec: false },
  Pause: { type: v2.PauseRequest, exec: false },
  Resume: { type: v2.ResumeRequest, exec: false },
  Checkpoint: { type: v2.CheckpointTaskRequest, exec: false },
  Kill: { type: v2.KillRequest, exec: true },
  ResizePty: { type: v2.ResizePtyRequest, exec: true },
  CloseIO: { type: v2.CloseIORequest, exec: true },
  Update: { type: v2.UpdateTaskRequest, exec: false },
  Wait: { type: v2.WaitRequest, exec: true },
  Stats: { type: v2.StatsRequest, exec: false },
  Exec: { type: v2.ExecProcessRequest, exec: true },
};

function body(method: string, id: string, execId: string): Uint8Array {
  const entry = BY_ID[method];
  assert.ok(entry, method);
  const fields: Record<string, unknown> = { id };
  if (entry.exec) fields['exec_id'] = execId;
  if (method === 'Kill') fields['signal'] = 0;
  if (method === 'CloseIO') fields['stdin'] = true;
  if (method === 'ResizePty') Object.assign(fields, { width: 80, height: 24 });
  if (method === 'Exec')
    fields['spec'] = execSpec({ args: ['true'], cwd: '/', env: ['PATH=/bin'] });
  return entry.type.encode(fields as never).finish();
}

function execSpec(spec: unknown): { type_url: string; value: Buffer } {
  return { type_url: PROCESS_URL, value: Buffer.from(JSON.stringify(spec)) };
}

const show = (s: string): string => JSON.stringify(s.length > 20 ? `${s.slice(0, 20)}...` : s);

/** A bundle that runs `sleep` on container A's (read-only) rootfs, for direct Creates. */
function freshBundle(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const spec = JSON.parse(readFileSync(join(bundleA, 'config.json'), 'utf8')) as {
    root: unknown;
    process: { args: string[] };
    linux: { cgroupsPath?: string };
  };
  spec.root = { path: join(bundleA, 'rootfs'), readonly: true };
  spec.process.args = ['sleep', '1000'];
  spec.linux.cgroupsPath = `/default/${name}`;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

function create(
  client: TaskClient,
  fields: containerd.task.v2.CreateTaskRequest.$Properties,
): ReturnType<TaskClient['call']> {
  cases++;
  return client.call('Create', v2.CreateTaskRequest, fields);
}

/** True if runc (the root our shims use in this namespace) still knows the container. */
async function runcKnows(id: string): Promise<boolean> {
  const r = await execa('runc', ['--root', `/run/containerd/runc/${h.cd.namespace}`, 'state', id], {
    reject: false,
  });
  return r.exitCode === 0;
}

/** Only so that a shim that never answers fails the test instead of hanging it. */
const HANG_LIMIT = { timeout: 10 * 60_000 };

before(async () => {
  await h.setUp();
  const group = `ht-${tag}`;
  const flags = ['--annotation', `io.containerd.tsshim.v2.group=${group}`];
  const pidA = await h.runDetached('ours', idA, ['sleep', '100000'], flags);
  const pidB = await h.runDetached('ours', idB, ['sleep', '100000'], flags);
  const shimPid = parentOf(pidA);
  assert.equal(parentOf(pidB), shimPid, 'both containers are served by one shim');
  await h.runDetached('reference', refId, ['sleep', '100000']);
  bundleA = `${h.cd.state}/io.containerd.runtime.v2.task/${h.cd.namespace}/${idA}`;
  scratch = mkdtempSync(join(tmpdir(), 'hostile-task-'));
  for (const id of [idA, idB]) await h.ctr(['task', 'exec', '--exec-id', 'warm', id, 'true']);
  ours = await TaskClient.connect(shimSocket(h, idA), h.cd.namespace);
  ref = await TaskClient.connect(shimSocket(h, refId), h.cd.namespace);
  // Our own connection is part of the baseline: one answered call proves the shim accepted it.
  for (const [client, id] of [
    [ours, idA],
    [ref, refId],
  ] as const) {
    assert.equal((await client.call('Connect', v2.ConnectRequest, { id })).code, 0);
  }
  w = { shimPid, fds: fdCount(shimPid), ids: [idA, idB] };
});

after(async () => {
  console.log(`hostile task fields: ${String(cases)} requests`);
  ours.close();
  ref.close();
  for (const id of [idA, idB, refId]) await h.destroy(id);
  rmSync(scratch, { recursive: true, force: true });
  await h.tearDown();
});

test(
  'hostile container ids: InvalidArgument for every method (the reference: NotFound)',
  HANG_LIMIT,
  async () => {
    for (const id of HOSTILE_IDS) {
      for (const method of Object.keys(BY_ID)) {
        const r = await ours.callRaw(method, body(method, id, ''));
        assert.equal(r.code, 3, `${method} ${show(id)}: ${r.message}`);
        assert.ok(r.message.length < 300, 'a huge id is not echoed whole');
        cases++;
        // Deliberate difference: the reference looks the id up and answers NotFound.
        const rr = await ref.callRaw(method, body(method, id, ''));
        assert.equal(rr.code, 5, `reference ${method} ${show(id)}: ${rr.message}`);
      }
      const c = await create(ours, { id, bundle: freshBundle(`hostile-${String(cases)}`) });
      assert.equal(c.code, 3, `Create ${show(id)}: ${c.message}`);
      // Connect answers for any id (task_pid 0 when unknown), Shutdown is a no-op with containers.
      const connect = await ours.call('Connect', v2.ConnectRequest, { id });
      assert.equal(connect.code, 0);
      assert.equal(v2.ConnectResponse.decode(connect.payload).task_pid, 0);
      assert.equal((await ours.call('Shutdown', v2.ShutdownRequest, { id })).code, 0);
      cases += 2;
    }
    // An id that is not UTF-8 does not even decode here (Internal, as protobuf-go in 1.7+ does);
    // 1.6's gogo decoder in the reference takes it and answers NotFound.
    const notUtf8 = Buffer.from([0x0a, 0x03, 0x61, 0xff, 0xfe]);
    assert.equal((await ours.callRaw('State', notUtf8)).code, 13);
    assert.equal((await ref.callRaw('State', notUtf8)).code, 5);
    cases++;
    await assertHealthy(h, w, 'hostile container ids');
  },
);

test(
  'unknown container id: NotFound "container not created" for every method, as the reference',
  HANG_LIMIT,
  async () => {
    const id = `nosuch-${tag}`;
    for (const method of Object.keys(BY_ID)) {
      // Exec needs an exec id of its own (an empty one is refused first).
      const execId = method === 'Exec' ? 'e1' : '';
      const r = await ours.callRaw(method, body(method, id, execId));
      const rr = await ref.callRaw(method, body(method, id, execId));
      assert.equal(r.code, 5, `${method}: ${r.message}`);
      assert.equal(r.message, 'container not created: not found');
      assert.deepEqual(
        { code: r.code, message: r.message },
        { code: rr.code, message: rr.message },
      );
      cases++;
    }
    await assertHealthy(h, w, 'unknown container id');
  },
);

test(
  'unknown exec id: NotFound "process does not exist" for every exec method, as the reference',
  HANG_LIMIT,
  async () => {
    for (const method of Object.keys(BY_ID).filter((m) => BY_ID[m]?.exec && m !== 'Exec')) {
      const r = await ours.callRaw(method, body(method, idA, 'nosuch-exec'));
      const rr = await ref.callRaw(method, body(method, refId, 'nosuch-exec'));
      assert.equal(r.code, 5, `${method}: ${r.message}`);
      assert.equal(r.message, 'process does not exist nosuch-exec: not found');
      assert.equal(rr.message, r.message);
      // Deliberate difference: the reference's CloseIO loses the class (Unknown); task-api.md says
      // NotFound for every method.
      assert.equal(rr.code, method === 'CloseIO' ? 2 : 5, `reference ${method}`);
      cases++;
    }
    await assertHealthy(h, w, 'unknown exec id');
  },
);

test(
  'hostile exec ids: InvalidArgument before they name a file (the reference accepts them)',
  HANG_LIMIT,
  async () => {
    const outside = mkdtempSync(join(tmpdir(), 'hostile-escape-'));
    // path.join normalizes `x/..` away, so this lands in `outside` for both file names.
    const escape = `x/${'../'.repeat(12)}..${outside}/escaped`;
    // An exec id climbing out of the bundle: Exec and Start write nothing outside it (runc would
    // write `<exec_id>.pid`, we `.<exec_id>.process.json`), whatever they answer.
    const added = await ours.callRaw('Exec', body('Exec', idA, escape));
    const started = await ours.callRaw('Start', body('Start', idA, escape));
    const written = readdirSync(outside);
    rmSync(outside, { recursive: true, force: true });
    assert.deepEqual(written, [], 'files written outside the bundle');
    assert.deepEqual([added.code, started.code], [3, 3], started.message);
    cases += 2;
    for (const execId of [...HOSTILE_IDS.filter((id) => id !== ''), escape]) {
      for (const method of Object.keys(BY_ID).filter((m) => BY_ID[m]?.exec)) {
        const r = await ours.callRaw(method, body(method, idA, execId));
        assert.equal(r.code, 3, `${method} exec ${show(execId)}: ${r.message}`);
        cases++;
      }
    }
    // Exec needs an exec id; an empty one would alias the init.
    assert.equal((await ours.callRaw('Exec', body('Exec', idA, ''))).code, 3);
    cases++;
    // Deliberate difference: the reference adds such an exec (and would write its pid file
    // outside the bundle at Start). Added here only, then deleted again.
    const rr = await ref.callRaw('Exec', body('Exec', refId, escape));
    assert.equal(rr.code, 0, rr.message);
    assert.equal((await ref.callRaw('Delete', body('Delete', refId, escape))).code, 0);
    await assertHealthy(h, w, 'hostile exec ids');
  },
);

test(
  'exec bodies: duplicate id, spec not JSON or not an object, huge args, missing stdio',
  HANG_LIMIT,
  async () => {
    const exec = (execId: string, spec: { type_url: string; value: Buffer }, extra = {}) => {
      cases++;
      return ours.call('Exec', v2.ExecProcessRequest, { id: idA, exec_id: execId, spec, ...extra });
    };
    const del = async (execId: string): Promise<void> => {
      const r = await ours.call('Delete', v2.DeleteRequest, { id: idA, exec_id: execId });
      assert.equal(r.code, 0, `delete ${execId}: ${r.message}`);
    };

    // Duplicate exec id: AlreadyExists, as the reference.
    const good = execSpec({ args: ['true'], cwd: '/', env: ['PATH=/bin'] });
    assert.equal((await exec('dup', good)).code, 0);
    const dup = await exec('dup', good);
    assert.equal(dup.code, 6, dup.message);
    const refDup = [
      await ref.call('Exec', v2.ExecProcessRequest, { id: refId, exec_id: 'dup', spec: good }),
      await ref.call('Exec', v2.ExecProcessRequest, { id: refId, exec_id: 'dup', spec: good }),
    ];
    assert.deepEqual(
      refDup.map((r) => r.code),
      [0, 6],
    );
    assert.equal(
      (await ref.call('Delete', v2.DeleteRequest, { id: refId, exec_id: 'dup' })).code,
      0,
    );
    await del('dup');

    // Not JSON, and JSON that is no Process object: InvalidArgument (the reference: Unknown).
    for (const text of ['not json', '{"args":', '[1,2]', '42', 'null', '"str"']) {
      const r = await exec('badspec', { type_url: PROCESS_URL, value: Buffer.from(text) });
      assert.equal(r.code, 3, `${text}: ${r.message}`);
      const st = await ours.call('State', v2.StateRequest, { id: idA, exec_id: 'badspec' });
      assert.equal(st.code, 5, 'a refused exec is not added');
    }
    const refNotJson = await ref.call('Exec', v2.ExecProcessRequest, {
      id: refId,
      exec_id: 'badspec',
      spec: { type_url: PROCESS_URL, value: Buffer.from('not json') },
    });
    assert.equal(refNotJson.code, 2);

    // Args of 3 MiB fit in a frame but not in execve: Start fails with runc's error, the shim and
    // the container carry on, and the exec can be deleted.
    assert.equal(
      (await exec('bigargs', execSpec({ args: ['echo', 'x'.repeat(3 << 20)], cwd: '/' }))).code,
      0,
    );
    const start = await ours.call('Start', v2.StartRequest, { id: idA, exec_id: 'bigargs' });
    assert.equal(start.code, 2, start.message);
    assert.match(start.message, /OCI runtime exec failed/);
    await del('bigargs');

    // Stdio paths that do not exist: Start fails, nothing is left open.
    for (const [field, path] of [
      ['stdout', join(scratch, 'missing', 'out')],
      ['stdin', join(scratch, 'missing', 'in')],
      ['stderr', join(scratch, 'missing', 'err')],
    ] as const) {
      assert.equal((await exec('nostdio', good, { [field]: path })).code, 0);
      const r = await ours.call('Start', v2.StartRequest, { id: idA, exec_id: 'nostdio' });
      assert.equal(r.code, 2, `${field}: ${r.message}`);
      assert.match(r.message, /ENOENT/);
      await del('nostdio');
    }
    // A bad stdout URI scheme.
    assert.equal((await exec('scheme', good, { stdout: 'foo://bar/baz' })).code, 0);
    const scheme = await ours.call('Start', v2.StartRequest, { id: idA, exec_id: 'scheme' });
    assert.equal(scheme.code, 2);
    assert.match(scheme.message, /unknown STDIO scheme foo/);
    await del('scheme');
    await assertHealthy(h, w, 'exec bodies');
  },
);

test(
  'Create: duplicate id, bad bundles, bogus mounts, missing stdio, bad URI scheme',
  HANG_LIMIT,
  async () => {
    const stateOf = (id: string) => ours.call('State', v2.StateRequest, { id });
    const filesOfA = (): string[] =>
      ['init.pid', 'options.json', 'config.json'].map((f) =>
        readFileSync(join(bundleA, f), 'utf8'),
      );
    const aBefore = filesOfA();
    let n = 0;
    const fresh = (): { id: string; bundle: string } => {
      const id = `hc-${tag}-${String(++n)}`;
      return { id, bundle: freshBundle(id) };
    };

    // A duplicate id (even with a fine bundle) and A's own bundle under a new id.
    const dup = await create(ours, { id: idA, bundle: fresh().bundle });
    assert.equal(dup.code, 6, dup.message);
    const other = fresh();
    for (const bundle of [bundleA, `${bundleA}/`, `${bundleA}/../${idA}`]) {
      const r = await create(ours, { id: other.id, bundle });
      assert.equal(r.code, 3, `${bundle}: ${r.message}`);
    }
    // Relative bundles would resolve against the shim's cwd: container A's bundle.
    for (const bundle of ['.', 'rootfs/..', 'relative/x', '']) {
      const r = await create(ours, { id: other.id, bundle });
      assert.equal(r.code, 3, `${JSON.stringify(bundle)}: ${r.message}`);
    }
    assert.deepEqual(filesOfA(), aBefore, "container A's bundle files are untouched");

    // A bundle that does not exist: NotFound, as the reference; one that is a file: InvalidArgument.
    const missing = join(scratch, 'no-such-bundle');
    const r1 = await create(ours, { id: other.id, bundle: missing });
    const rr1 = await create(ref, { id: `${other.id}-ref`, bundle: missing });
    assert.equal(r1.code, 5, r1.message);
    assert.equal(rr1.code, 5, rr1.message);
    writeFileSync(join(scratch, 'a-file'), '');
    assert.equal((await create(ours, { id: other.id, bundle: join(scratch, 'a-file') })).code, 3);

    // Fields that fail later: each fails with Unknown, leaves no container, runc state or mount.
    const failing: [string, Partial<containerd.task.v2.CreateTaskRequest.$Properties>, RegExp][] = [
      [
        'bogus mount type',
        { rootfs: [{ type: 'bogusfs', source: 'none', options: [] }] },
        /ENODEV/,
      ],
      ['missing stdout', { stdout: join(scratch, 'missing', 'out') }, /ENOENT/],
      // The reference never answers this one (its Create blocks on the missing FIFO).
      ['missing stdin', { stdin: join(scratch, 'missing', 'in') }, /ENOENT/],
      ['missing stderr', { stderr: join(scratch, 'missing', 'err') }, /ENOENT/],
      ['bad stdout scheme', { stdout: 'foo://bar/baz' }, /unknown STDIO scheme foo/],
      ['stdout a directory', { stdout: scratch }, /EISDIR/],
      [
        'undecodable options',
        { options: { type_url: 'containerd.runc.v1.Options', value: Buffer.from([0x0a, 0x7f]) } },
        /./,
      ],
    ];
    for (const [what, fields, message] of failing) {
      const c = fresh();
      const r = await create(ours, { ...c, ...fields });
      assert.equal(r.code, 2, `${what}: ${r.message}`);
      assert.match(r.message, message, what);
      assert.equal((await stateOf(c.id)).code, 5, `${what}: no container`);
      assert.equal(await runcKnows(c.id), false, `${what}: no runc container`);
      assert.deepEqual(mountsUnder(c.bundle), [], `${what}: no mount`);
    }

    // The control: the same recipe with sane fields creates (and deletes) a container.
    const ok = fresh();
    const created = await create(ours, ok);
    assert.equal(created.code, 0, created.message);
    const st = await stateOf(ok.id);
    assert.equal(v2.StateResponse.decode(st.payload).status, containerd.v1.types.Status.CREATED);
    assert.equal((await ours.call('Delete', v2.DeleteRequest, { id: ok.id })).code, 0);
    assert.equal(await runcKnows(ok.id), false);
    await assertHealthy(h, w, 'Create');
  },
);
