// Checkpoint and restore, ours vs the reference, on the private containerd.
//
// Debian's CRIU cannot dump on some kernels (`criu check` fails), so the main scenario runs runc
// through the recording wrapper in its fake-CRIU mode: `checkpoint` only writes a marker into the
// image directory and `restore` EMULATES CRIU with `runc create` + `runc start` of the bundle (see
// test/fixtures/runc-recorder). What it proves is everything the shims do around CRIU: the exact
// runc command lines (image/work/parent paths, flags, pid file, -no-subreaper), the state machine
// (created-from-checkpoint, pid 0 until Start) and the events. Two more tests use the real CRIU:
// a full round trip where `criu check` passes, and the failure path where it does not; each
// reports itself skipped, with the reason, where the host decides it cannot run.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { containerd } from '../../src/gen/task.js';
import { containerd as runcOptions } from '../../src/gen/options.js';
import { Client } from '../../src/ttrpc/index.js';
import { execa } from 'execa';
import { differential, RUNTIMES, useHarness, type RuntimeName } from '../helpers/differential.js';
import { RuncRecorder } from '../helpers/runc-recorder.js';
import { waitFor } from '../helpers/leaks.js';
import { criuBin } from '../helpers/containerd.js';
import { ctrInTerminal } from '../helpers/pty.js';
import { checkpointTask } from '../helpers/tasks-api.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const h = useHarness();

const bundleOf = (id: string): string =>
  `${h.cd.state}/io.containerd.runtime.v2.task/default/${id}`;
const GLOBALS = '--root /run/containerd/runc/default --log <bundle>/log.json --log-format json';
const DEBIAN_CRIU = '/usr/sbin/criu';
/**
 * A shell that counts in memory and exits with its count on SIGTERM: a task restored from its
 * memory goes on counting (10 or more after 3 s), a fresh start begins at 0.
 */
const COUNTER = 'n=0; trap "exit \\$n" TERM; while :; do n=$((n+1)); sleep 0.1; done';
const CHECKPOINT_DIR = /[^\s"]*\/ctr?d-checkpoint\d+/g;

function wrapperFlags(rt: RuntimeName, rec: RuncRecorder): string[] {
  return rt === 'reference' ? ['--runc-binary', rec.bin] : ['--runtime-config-path', rec.toml()];
}

/** The CRIU runc runs by default: the test tools' (first on containerd's PATH), else Debian's. */
function defaultCriu(): string {
  const bin = criuBin();
  return bin === '' ? DEBIAN_CRIU : join(bin, 'criu');
}

/** A bundle in `dir` running `from`'s spec on `from`'s (still mounted) rootfs. */
function writeBundleOf(from: string, dir: string): void {
  const spec = JSON.parse(readFileSync(`${bundleOf(from)}/config.json`, 'utf8')) as {
    root: { path: string };
  };
  spec.root.path = `${bundleOf(from)}/rootfs`;
  writeFileSync(`${dir}/config.json`, JSON.stringify(spec));
}

/** A Task API answer as compared: 'ok', or its status code and message. */
function outcome(r: Awaited<ReturnType<typeof taskRpc>>): string {
  return r.ok ? 'ok' : `${String(r.code)} ${r.message}`;
}

/** The Task service containerd uses: v3 from 2.0 on (the 2.x reference serves only that one). */
function taskService(): string {
  return h.cd.version.startsWith('1.') ? 'containerd.task.v2.Task' : 'containerd.task.v3.Task';
}

/** The shim's address as containerd keeps it: `address`, or 2.x's `bootstrap.json`. */
function shimAddress(id: string): string {
  const bundle = bundleOf(id);
  if (existsSync(`${bundle}/address`)) return readFileSync(`${bundle}/address`, 'utf8');
  return (JSON.parse(readFileSync(`${bundle}/bootstrap.json`, 'utf8')) as { address: string })
    .address;
}

async function criuCheck(criu: string): Promise<{ ok: boolean; reason: string }> {
  const r = await execa(criu, ['check'], { reject: false, all: true });
  const errors = r.all.split('\n').filter((l) => l.startsWith('Error'));
  return {
    ok: r.exitCode === 0,
    reason: `${criu} check fails on this host: ${errors.at(-1) ?? ''}`,
  };
}

async function taskPid(id: string): Promise<number> {
  const line = (await h.ctr(['task', 'ls'])).stdout.split('\n').find((l) => l.startsWith(`${id} `));
  return Number(line?.trim().split(/\s+/)[1]);
}

/** Whether an event line is compared on this version (see Harness.deleteCompared). */
function compared(topic: string): boolean {
  return h.deleteCompared || !topic.startsWith('/tasks/delete');
}

/** Topics of one container with the payload fields that matter, paths normalised. */
function eventSummary(id: string, subs: Record<string, string>): string[] {
  return h.eventsFor(id).map((e) => {
    let text = e.topic;
    if (e.topic === '/tasks/create') {
      const raw = e.payload['checkpoint'];
      const cp = (typeof raw === 'string' ? raw : '').replace(CHECKPOINT_DIR, '<checkpoint>');
      text += ` checkpoint=${cp} pid=${Number(e.payload['pid'] ?? 0) > 0 ? 'N' : '0'}`;
    }
    if (e.topic === '/tasks/start') text += ` pid>0=${String(Number(e.payload['pid']) > 0)}`;
    for (const [from, to] of Object.entries(subs)) text = text.split(from).join(to);
    return text;
  });
}

/** One Task API call on the shim serving `id`; resolves to `ok` or the status it failed with. */
async function taskRpc(
  id: string,
  method: string,
  payload: Uint8Array,
): Promise<{ ok: true; reply: Uint8Array } | { ok: false; code: number; message: string }> {
  const client = await Client.connect(shimAddress(id));
  try {
    const reply = await client.call(taskService(), method, payload, {
      metadata: { 'containerd-namespace': h.cd.namespace },
      timeoutMs: 30000,
    });
    return { ok: true, reply };
  } catch (err) {
    const e = err as { code?: number; message?: string };
    return { ok: false, code: e.code ?? -1, message: e.message ?? '' };
  } finally {
    client.close();
  }
}

interface Restored {
  create: string;
  start: string;
  state: number | undefined;
  countContinued: true | number;
  delete: string;
}

/**
 * Restores `image` as task `restored` in the running shim of `host` (Create with `create`'s
 * checkpoint fields, Start), then ends it with SIGTERM: what each step answered, its state while
 * running, and whether the COUNTER it runs went on counting. The bundle reuses the rootfs of the
 * dumped container `from`, still mounted: CRIU finds its files there.
 */
async function restoreInShim(
  host: string,
  from: string,
  restored: string,
  create: { checkpoint?: string; options?: { type_url: string; value: Uint8Array } },
): Promise<Restored> {
  const v2 = containerd.task.v2;
  const bundle = mkdtempSync('/tmp/ckpt-bundle-');
  try {
    writeBundleOf(from, bundle);
    const call = (method: string, payload: Uint8Array) => taskRpc(host, method, payload);
    const id = restored;
    const created = await call(
      'Create',
      v2.CreateTaskRequest.encode({ id, bundle, ...create }).finish(),
    );
    const started = await call('Start', v2.StartRequest.encode({ id }).finish());
    const state = await call('State', v2.StateRequest.encode({ id }).finish());
    await call('Kill', v2.KillRequest.encode({ id, signal: 15 }).finish());
    const waited = await call('Wait', v2.WaitRequest.encode({ id }).finish());
    const count = waited.ok ? v2.WaitResponse.decode(waited.reply).exit_status : -1;
    const del = await call('Delete', v2.DeleteRequest.encode({ id }).finish());
    return {
      create: outcome(created),
      start: outcome(started),
      state: state.ok ? v2.StateResponse.decode(state.reply).status : undefined,
      countContinued: count >= 10 ? true : count,
      delete: outcome(del),
    };
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
}

/** An exec in `id` that exits with `code`, then `signal` to the init: both exit statuses. */
async function execThenSignal(id: string, code: number, signal: string): Promise<[number, number]> {
  const exec = await h.ctr([
    'task',
    'exec',
    '--exec-id',
    'e1',
    id,
    'sh',
    '-c',
    `exit ${String(code)}`,
  ]);
  await h.ctr(['task', 'kill', '-s', signal, id]);
  const exit = await h.waitInitExit(id);
  return [exec.exitCode, Number(exit.payload['exit_status'])];
}

/** Calls the shim's Task/Checkpoint directly, as containerd's tasks service would. */
async function checkpointRpc(
  id: string,
  path: string,
  options?: { type_url: string; value: Uint8Array },
): Promise<void> {
  const req = containerd.task.v2.CheckpointTaskRequest.encode({
    id,
    path,
    ...(options ? { options } : {}),
  }).finish();
  const r = await taskRpc(id, 'Checkpoint', req);
  if (!r.ok) throw Object.assign(new Error(r.message), { code: r.code });
}

describe('checkpoint / restore', () => {
  test('emulated CRIU: same runc command lines, states and events', async () => {
    await differential(
      async (rt) => {
        const rec = new RuncRecorder({ fakeCriu: true });
        const id = h.uid(rt, 'cp');
        const restored = h.uid(rt, 'rs');
        const ref = `example.com/checkpoint/${id}:latest`;
        try {
          await h.runDetached(rt, id, ['sleep', '1000'], wrapperFlags(rt, rec));
          const cp = await h.ctr(['container', 'checkpoint', '--task', id, ref]);
          const afterCheckpoint = await h.taskStatus(id);
          await h.destroy(id);
          await waitFor(() => rec.calls().some((c) => c.includes('--force')), 20000);

          const rs = await h.ctr(['container', 'restore', '--live', restored, ref]);
          await h.waitStatus(restored, 'RUNNING');
          const pid = await taskPid(restored);
          await h.destroy(restored);
          await waitFor(() => rec.calls().filter((c) => c.includes('--force')).length === 2, 20000);
          await h.waitTopics(restored, 3);
          const subs = {
            [bundleOf(id)]: '<bundle>',
            [bundleOf(restored)]: '<bundle2>',
            [restored]: '<id2>',
            [id]: '<id>',
          };
          return {
            checkpoint: [cp.exitCode, cp.stderr],
            afterCheckpoint,
            restore: [rs.exitCode, rs.stderr],
            restoredPidKnown: pid > 0,
            calls: rec.normalized(subs),
            events: [...eventSummary(id, subs), ...eventSummary(restored, subs)].filter(compared),
          };
        } finally {
          await h.ctr(['image', 'rm', ref]);
          rec.remove();
        }
      },
      {
        checkpoint: [0, ''],
        afterCheckpoint: 'RUNNING',
        restore: [0, ''],
        restoredPidKnown: true,
        calls: [
          `${GLOBALS} create --bundle <bundle> --pid-file <bundle>/init.pid <id>`,
          `${GLOBALS} start <id>`,
          `${GLOBALS} pause <id>`,
          `${GLOBALS} checkpoint --image-path <checkpoint> --work-path <bundle>/work/criu-work --file-locks --leave-running <id>`,
          `${GLOBALS} resume <id>`,
          `${GLOBALS} kill <id> 9`,
          `${GLOBALS} delete <id>`,
          `${GLOBALS} delete --force <id>`,
          `${GLOBALS.replace('<bundle>', '<bundle2>')} restore --image-path <checkpoint> --work-path <bundle2>/work --detach --pid-file <bundle2>/init.pid -no-subreaper --bundle <bundle2> <id2>`,
          `${GLOBALS.replace('<bundle>', '<bundle2>')} kill <id2> 9`,
          `${GLOBALS.replace('<bundle>', '<bundle2>')} delete <id2>`,
          `${GLOBALS.replace('<bundle>', '<bundle2>')} delete --force <id2>`,
        ],
        events: [
          '/tasks/create checkpoint= pid=N',
          '/tasks/start pid>0=true',
          '/tasks/paused',
          '/tasks/resumed',
          '/tasks/exit',
          '/tasks/delete',
          '/tasks/create checkpoint=<checkpoint> pid=0',
          '/tasks/start pid>0=true',
          '/tasks/exit',
          '/tasks/delete',
        ].filter(compared),
      },
    );
  });

  // `ctr task checkpoint` sends empty runc.v1.CheckpointOptions to the reference and no options
  // at all to ours (ctr fills them only for runc runtime names): both mean the defaults.
  test('ctr task checkpoint (default options): same runc command lines', async () => {
    await differential(
      async (rt) => {
        const rec = new RuncRecorder({ fakeCriu: true });
        const id = h.uid(rt, 'tcp');
        try {
          await h.runDetached(rt, id, ['sleep', '1000'], wrapperFlags(rt, rec));
          const cp = await h.ctr(['task', 'checkpoint', id]);
          const ref = cp.stdout.trim();
          const status = await h.taskStatus(id);
          await h.destroy(id);
          if (ref !== '') await h.ctr(['image', 'rm', ref]);
          const calls = rec
            .normalized({ [bundleOf(id)]: '<bundle>', [id]: '<id>' })
            .filter((c) => / (pause|checkpoint|resume) /.test(c));
          return { code: cp.exitCode, status, calls };
        } finally {
          rec.remove();
        }
      },
      {
        code: 0,
        status: 'RUNNING',
        calls: [
          `${GLOBALS} pause <id>`,
          `${GLOBALS} checkpoint --image-path <checkpoint> --work-path <bundle>/work/criu-work --leave-running <id>`,
          `${GLOBALS} resume <id>`,
        ],
      },
    );
  });

  // ctr 1.6 cannot send exit/open_tcp/... for a non-runc runtime name, so this calls the shims'
  // Checkpoint RPC directly: the reference gets containerd.runc.v1.CheckpointOptions (the only
  // type it decodes), ours the containerd.linux.runc.CheckpointOptions that 1.6/1.7 clients send
  // for other runtime names (fields 8/9 swapped). Both must run the same `runc checkpoint`.
  test('checkpoint options reach runc (exit, tcp, unix sockets, shell job, empty ns, work path)', async () => {
    await differential(
      async (rt) => {
        const rec = new RuncRecorder({ fakeCriu: true });
        const image = mkdtempSync('/tmp/ckpt-image-');
        const work = mkdtempSync('/tmp/ckpt-work-');
        const id = h.uid(rt, 'cpopts');
        try {
          await h.runDetached(rt, id, ['sleep', '1000'], wrapperFlags(rt, rec));
          const fields = {
            exit: true,
            open_tcp: true,
            external_unix_sockets: true,
            terminal: true,
            file_locks: true,
            empty_namespaces: ['network'],
            cgroups_mode: 'soft',
            // The checkpoint path itself, as containerd sends it to runc runtime names (ours dumps
            // into a different one and copies, see the image path test).
            image_path: image,
            work_path: work,
          };
          await checkpointRpc(
            id,
            image,
            rt === 'reference'
              ? {
                  type_url: 'containerd.runc.v1.CheckpointOptions',
                  value: runcOptions.runc.v1.CheckpointOptions.encode(fields).finish(),
                }
              : {
                  type_url: 'containerd.linux.runc.CheckpointOptions',
                  value: runcOptions.linux.runc.CheckpointOptions.encode(fields).finish(),
                },
          );
          // exit: the (emulated) dump stops the container.
          const exit = await h.waitInitExit(id, 20000);
          const marker = existsSync(`${image}/fake-criu-dump`);
          const workKept = existsSync(work);
          await h.ctr(['task', 'delete', id]);
          await h.ctr(['container', 'delete', id]);
          const checkpoint = rec
            .normalized({
              [bundleOf(id)]: '<bundle>',
              [image]: '<image>',
              [work]: '<work>',
              [id]: '<id>',
            })
            .find((c) => c.includes(' checkpoint '));
          return { checkpoint, marker, workKept, exitStatus: exit.payload['exit_status'] };
        } finally {
          rec.remove();
          rmSync(image, { recursive: true, force: true });
          rmSync(work, { recursive: true, force: true });
        }
      },
      {
        checkpoint: `${GLOBALS} checkpoint --image-path <image> --work-path <work> --tcp-established --ext-unix-sk --shell-job --file-locks --empty-ns network <id>`,
        marker: true,
        workKept: true,
        exitStatus: 137,
      },
    );
  });

  test('checkpoint of a stopped task is refused with the reference wording', async () => {
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'cpstopped');
        const run = await h.ctr(['run', '-d', '--runtime', RUNTIMES[rt], h.image, id, 'true']);
        assert.equal(run.exitCode, 0, run.stderr);
        await h.waitStatus(id, 'STOPPED');
        const image = mkdtempSync('/tmp/ckpt-image-');
        try {
          // No options, as containerd sends when the client gave none.
          await checkpointRpc(id, image);
          return { refused: false, code: 0, message: '' };
        } catch (err) {
          const e = err as { code?: number; message?: string };
          return { refused: true, code: e.code, message: e.message };
        } finally {
          rmSync(image, { recursive: true, force: true });
          await h.ctr(['task', 'delete', id]);
          await h.ctr(['container', 'delete', id]);
        }
      },
      { refused: true, code: 2, message: 'cannot checkpoint a stopped container' },
    );
  });

  // ctr has no create-only restore (`ctr c restore --live` starts at once), so the
  // created-from-checkpoint state is driven over the Task API of a running shim: a second
  // container is created in it with `checkpoint` set and is never started.
  test('created-from-checkpoint state machine (Task API, before Start)', async () => {
    const v2 = containerd.task.v2;
    await differential(
      async (rt) => {
        const host = h.uid(rt, 'cphost');
        const id = h.uid(rt, 'cpcreated');
        await h.runDetached(rt, host, ['sleep', '1000']);
        const bundle = mkdtempSync('/tmp/ckpt-bundle-');
        const image = mkdtempSync('/tmp/ckpt-image-');
        try {
          writeBundleOf(host, bundle);
          const call = (method: string, payload: Uint8Array) => taskRpc(host, method, payload);

          const created = await call(
            'Create',
            v2.CreateTaskRequest.encode({ id, bundle, checkpoint: image }).finish(),
          );
          const createPid = created.ok ? v2.CreateTaskResponse.decode(created.reply).pid : -1;
          const state = await call('State', v2.StateRequest.encode({ id }).finish());
          const st = state.ok ? v2.StateResponse.decode(state.reply) : undefined;
          const processSpec = {
            args: ['true'],
            cwd: '/',
            env: ['PATH=/bin'],
            user: { uid: 0, gid: 0 },
          };
          const exec = await call(
            'Exec',
            v2.ExecProcessRequest.encode({
              id,
              exec_id: 'e1',
              spec: {
                type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
                value: Buffer.from(JSON.stringify(processSpec)),
              },
            }).finish(),
          );
          const pause = await call('Pause', v2.PauseRequest.encode({ id }).finish());
          const checkpoint = await call(
            'Checkpoint',
            v2.CheckpointTaskRequest.encode({ id, path: image }).finish(),
          );
          const kill = await call('Kill', v2.KillRequest.encode({ id, signal: 9 }).finish());
          const del = await call('Delete', v2.DeleteRequest.encode({ id }).finish());
          const delPid = del.ok ? v2.DeleteResponse.decode(del.reply).pid : -1;
          return {
            create: [outcome(created), createPid],
            state: [st?.status, st?.pid],
            exec: outcome(exec),
            pause: outcome(pause),
            checkpoint: outcome(checkpoint),
            kill: outcome(kill),
            delete: [outcome(del), delPid],
          };
        } finally {
          rmSync(bundle, { recursive: true, force: true });
          rmSync(image, { recursive: true, force: true });
          await h.destroy(host);
        }
      },
      {
        create: ['ok', 0],
        state: [containerd.v1.types.Status.CREATED, 0],
        exec: '2 cannot exec in a created state',
        pause: '2 cannot pause task in created state',
        checkpoint: '2 cannot checkpoint a task in created state',
        kill: '5 no such container: not found',
        delete: ['ok', 0],
      },
    );
  });

  test('real CRIU: checkpoint and restore round trip', async (t: TestContext) => {
    const criu = await criuCheck(defaultCriu());
    if (!criu.ok) {
      t.skip(criu.reason);
      return;
    }
    await differential(
      async (rt) => {
        const id = h.uid(rt, 'criu');
        const restored = h.uid(rt, 'criurs');
        const ref = `example.com/checkpoint/${id}:latest`;
        try {
          await h.runDetached(rt, id, ['sh', '-c', COUNTER]);
          await sleep(3000);
          const cp = await h.ctr(['container', 'checkpoint', '--task', id, ref]);
          const afterCheckpoint = await h.taskStatus(id);
          await h.destroy(id);
          const rs = await h.ctr(['container', 'restore', '--live', restored, ref]);
          const status = await h.taskStatus(restored);
          const [exec, count] = await execThenSignal(restored, 4, 'SIGTERM');
          await h.destroy(restored);
          return {
            checkpoint: [cp.exitCode, cp.stderr],
            afterCheckpoint,
            restore: [rs.exitCode, rs.stderr],
            status,
            exec,
            countContinued: count >= 10 ? true : count,
            topics: h
              .eventsFor(restored)
              .map((e) => e.topic)
              .filter(compared),
          };
        } finally {
          await h.ctr(['image', 'rm', ref]);
        }
      },
      {
        checkpoint: [0, ''],
        afterCheckpoint: 'RUNNING',
        restore: [0, ''],
        status: 'RUNNING',
        exec: 4,
        countContinued: true,
        topics: [
          '/tasks/create',
          '/tasks/start',
          '/tasks/exec-added',
          '/tasks/exec-started',
          '/tasks/exit',
          '/tasks/exit',
          '/tasks/delete',
        ].filter(compared),
      },
    );
  });

  // The Task API directly: Checkpoint with `exit` (each options type ours accepts; the reference
  // gets its own runc.v1 type), then the image is restored as a new task created and started in
  // a running shim (as the previous test's state machine, but to the end).
  for (const ours of [
    'containerd.runc.v1.CheckpointOptions',
    'containerd.linux.runc.CheckpointOptions',
  ]) {
    test(`real CRIU: Task API checkpoint with exit (ours: ${ours}), restored task continues`, async (t: TestContext) => {
      const criu = await criuCheck(defaultCriu());
      if (!criu.ok) {
        t.skip(criu.reason);
        return;
      }
      await differential(
        async (rt) => {
          const id = h.uid(rt, 'criuexit');
          const host = h.uid(rt, 'criuhost');
          const restored = h.uid(rt, 'criunew');
          const image = mkdtempSync('/tmp/ckpt-image-');
          try {
            await h.runDetached(rt, id, ['sh', '-c', COUNTER]);
            await h.runDetached(rt, host, ['sleep', '1000']);
            await sleep(3000);
            const type = rt === 'reference' ? 'containerd.runc.v1.CheckpointOptions' : ours;
            const fields = { exit: true };
            const value =
              type === 'containerd.runc.v1.CheckpointOptions'
                ? runcOptions.runc.v1.CheckpointOptions.encode(fields).finish()
                : runcOptions.linux.runc.CheckpointOptions.encode(fields).finish();
            await checkpointRpc(id, image, { type_url: type, value });
            const exit = await h.waitInitExit(id, 20000);
            const dumped = existsSync(`${image}/inventory.img`);
            return {
              exitStatus: exit.payload['exit_status'],
              dumped,
              ...(await restoreInShim(host, id, restored, { checkpoint: image })),
            };
          } finally {
            await h.destroy(id);
            await h.destroy(host);
            rmSync(image, { recursive: true, force: true });
          }
        },
        {
          exitStatus: 137,
          dumped: true,
          create: 'ok',
          start: 'ok',
          state: containerd.v1.types.Status.RUNNING,
          countContinued: true,
          delete: 'ok',
        },
      );
    });
  }

  // A client's checkpoint image path (the Go client's WithCheckpointImagePath; ctr 1.6 sends its
  // --image-path only to runc runtime names): containerd 1.6/1.7 make it the reference's
  // checkpoint path and store nothing, but hand ours a temporary path (stored as a checkpoint
  // image afterwards) with the image path only in the options. Ours must dump into the image path
  // too, and what containerd stores must not be empty. A task created with `criu_image_path`
  // (which 1.6/1.7 likewise pass to ours only in the options) restores from it.
  test('real CRIU: a checkpoint image path is honoured, and restored from', async (t: TestContext) => {
    const criu = await criuCheck(defaultCriu());
    if (!criu.ok) {
      t.skip(criu.reason);
      return;
    }
    const scenario = async (rt: RuntimeName) => {
      const id = h.uid(rt, 'criudir');
      const host = h.uid(rt, 'criudirhost');
      const restored = h.uid(rt, 'criudirnew');
      const dir = mkdtempSync('/tmp/ckpt-dir-');
      try {
        await h.runDetached(rt, id, ['sh', '-c', COUNTER]);
        await h.runDetached(rt, host, ['sleep', '1000']);
        await sleep(3000);
        // The option types the Go client sends each runtime name (2.x knows only runc.v1's).
        const checkpointOptions =
          rt === 'reference' || !h.cd.version.startsWith('1.')
            ? {
                type_url: 'containerd.runc.v1.CheckpointOptions',
                value: runcOptions.runc.v1.CheckpointOptions.encode({ image_path: dir }).finish(),
              }
            : {
                type_url: 'containerd.linux.runc.CheckpointOptions',
                value: runcOptions.linux.runc.CheckpointOptions.encode({
                  image_path: dir,
                }).finish(),
              };
        const cp = await checkpointTask(h.cd, id, checkpointOptions);
        const inDir = existsSync(`${dir}/inventory.img`);
        await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        await h.waitStatus(id, 'STOPPED');
        const options = {
          type_url: 'containerd.runc.v1.Options',
          value: runcOptions.runc.v1.Options.encode({ criu_image_path: dir }).finish(),
        };
        // What containerd 1.6/1.7 send each runtime name for a restore from `dir`.
        const restore = await restoreInShim(
          host,
          id,
          restored,
          rt === 'reference' ? { checkpoint: dir, options } : { options },
        );
        return {
          checkpoint: [cp.code, cp.message],
          stored: cp.descriptors > 0,
          inDir,
          ...restore,
        };
      } finally {
        await h.destroy(id);
        await h.destroy(host);
        rmSync(dir, { recursive: true, force: true });
        for (const image of (await h.ctr(['image', 'ls', '-q'])).stdout.split('\n')) {
          if (image.includes(`checkpoint/${id}`)) await h.ctr(['image', 'rm', image]);
        }
      }
    };
    const same = {
      checkpoint: [0, ''],
      inDir: true,
      create: 'ok',
      start: 'ok',
      state: containerd.v1.types.Status.RUNNING,
      countContinued: true,
      delete: 'ok',
    };
    const pathForAll = h.cd.version !== '1.6' && h.cd.version !== '1.7';
    // 2.x applies the image path for every runtime name: then neither stores anything.
    assert.deepEqual(await scenario('reference'), { ...same, stored: false });
    assert.deepEqual(await scenario('ours'), { ...same, stored: !pathForAll });
  });

  test('real CRIU: a paused task and a terminal task, through ctr', async (t: TestContext) => {
    const criu = await criuCheck(defaultCriu());
    if (!criu.ok) {
      t.skip(criu.reason);
      return;
    }
    await differential(
      async (rt) => {
        const paused = h.uid(rt, 'criupaused');
        const tty = h.uid(rt, 'criutty');
        const refs = [paused, tty].map((id) => `example.com/checkpoint/${id}:latest`);
        try {
          await h.runDetached(rt, paused, ['sh', '-c', COUNTER]);
          await h.ctr(['task', 'pause', paused]);
          const cpPaused = await h.ctr([
            'container',
            'checkpoint',
            '--task',
            paused,
            refs[0] ?? '',
          ]);
          const afterPaused = await h.taskStatus(paused);
          const term = ctrInTerminal(h.cd, [
            'run',
            '-d',
            '-t',
            '--runtime',
            RUNTIMES[rt],
            h.image,
            tty,
            'sh',
            '-c',
            COUNTER,
          ]);
          assert.equal(await term.exited, 0);
          await h.waitStatus(tty, 'RUNNING');
          const cpTty = await h.ctr(['container', 'checkpoint', '--task', tty, refs[1] ?? '']);
          const afterTty = await h.taskStatus(tty);
          const subs = (text: string): string =>
            text
              .split(bundleOf(paused))
              .join('<bundle>')
              .split(bundleOf(tty))
              .join('<bundle>')
              .replace(/runc did not terminate successfully: exit status 1: .*$/s, 'runc failed');
          // ctr pauses before it checkpoints, which a paused task refuses; the Task API does not.
          const image = mkdtempSync('/tmp/ckpt-image-');
          let apiPaused = 'ok';
          try {
            await checkpointRpc(paused, image);
          } catch (err) {
            apiPaused = (err as Error).message;
          }
          const dumped = existsSync(`${image}/inventory.img`);
          rmSync(image, { recursive: true, force: true });
          const afterApi = await h.taskStatus(paused);
          return {
            paused: [cpPaused.exitCode, subs(cpPaused.stderr), afterPaused],
            pausedApi: [apiPaused, dumped, afterApi],
            tty: [cpTty.exitCode, subs(cpTty.stderr), afterTty],
          };
        } finally {
          await h.destroy(paused);
          await h.destroy(tty);
          for (const ref of refs) await h.ctr(['image', 'rm', ref]);
        }
      },
      {
        paused: [1, `ctr: cannot pause a paused container${h.unknown}`, 'PAUSED'],
        pausedApi: ['ok', true, 'PAUSED'],
        tty: [0, '', 'RUNNING'],
      },
    );
  });

  test('real CRIU failure: error names <bundle>/criu-dump.log', async (t: TestContext) => {
    // Debian's CRIU fails to dump on kernels whose vDSO it does not know: a real CRIU failure.
    const criu = await criuCheck(DEBIAN_CRIU);
    if (criu.ok) {
      t.skip(`${DEBIAN_CRIU} can dump on this host, so runc checkpoint does not fail here`);
      return;
    }
    await differential(
      async (rt) => {
        const rec = new RuncRecorder({ criu: DEBIAN_CRIU });
        const id = h.uid(rt, 'criufail');
        const ref = `example.com/checkpoint/${id}:latest`;
        try {
          await h.runDetached(rt, id, ['sleep', '1000'], wrapperFlags(rt, rec));
          const cp = await h.ctr(['container', 'checkpoint', '--task', id, ref]);
          const dumpLogKept = existsSync(`${bundleOf(id)}/criu-dump.log`);
          const workLeft = existsSync(`${bundleOf(id)}/work/criu-work`);
          const status = await h.taskStatus(id);
          await h.destroy(id);
          // After go-runc's prefix comes runc's first output line (CRIU's wording, not ours).
          const message = cp.stderr
            .replace(bundleOf(id), '<bundle>')
            .replace(rec.bin, '<runc>')
            .replace(
              /successfully: exit status 1: .* path= /,
              'successfully: exit status 1: <criu> path= ',
            );
          return {
            failed: cp.exitCode !== 0,
            message,
            dumpLogKept,
            workLeft,
            status,
          };
        } finally {
          await h.ctr(['image', 'rm', ref]);
          rec.remove();
        }
      },
      {
        failed: true,
        message: `ctr: <runc> did not terminate successfully: exit status 1: <criu> path= <bundle>/criu-dump.log${h.unknown}`,
        dumpLogKept: true,
        workLeft: false,
        status: 'RUNNING',
      },
    );
  });

  test('a restored task behaves as a started init (exec, exit status)', async () => {
    await differential(
      async (rt) => {
        const rec = new RuncRecorder({ fakeCriu: true });
        const id = h.uid(rt, 'sm');
        const restored = h.uid(rt, 'smrs');
        const ref = `example.com/checkpoint/${id}:latest`;
        try {
          await h.runDetached(rt, id, ['sleep', '1000'], wrapperFlags(rt, rec));
          const cp = await h.ctr(['container', 'checkpoint', '--task', id, ref]);
          assert.equal(cp.exitCode, 0, cp.stderr);
          await h.destroy(id);
          const rs = await h.ctr(['container', 'restore', '--live', restored, ref]);
          assert.equal(rs.exitCode, 0, rs.stderr);
          await h.waitStatus(restored, 'RUNNING');
          const [exec, initExit] = await execThenSignal(restored, 5, 'SIGKILL');
          await h.destroy(restored);
          return { exec, initExit };
        } finally {
          await h.ctr(['image', 'rm', ref]);
          rec.remove();
        }
      },
      { exec: 5, initExit: 137 },
    );
  });
});
