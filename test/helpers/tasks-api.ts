// The few calls of containerd's gRPC Tasks API (containerd.services.tasks.v1.Tasks) that ctr 1.6
// has no command for: Create (without Start), Wait, ResizePty, CloseIO and Update. The messages
// are tiny, so they are encoded by hand.
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';
import type { Harness } from './differential.js';
import { RUNTIMES, type RuntimeName } from './differential.js';

export interface CallResult {
  /** gRPC status code (0 = OK). */
  code: number;
  message: string;
}

async function call(
  address: string,
  namespace: string,
  method: string,
  body: Uint8Array,
): Promise<CallResult> {
  const { code, message } = await callWithResponse(address, namespace, method, body);
  return { code, message };
}

/** The call, with the response message when it succeeded. */
function callWithResponse(
  address: string,
  namespace: string,
  method: string,
  body: Uint8Array,
  deadlineMs?: number,
) {
  const client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure());
  const meta = new grpc.Metadata();
  meta.set('containerd-namespace', namespace);
  return new Promise<CallResult & { body?: Buffer }>((resolve) => {
    client.makeUnaryRequest(
      `/containerd.services.tasks.v1.Tasks/${method}`,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      body,
      meta,
      deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs },
      (err: grpc.ServiceError | null, response?: Buffer) => {
        client.close();
        resolve(
          err
            ? { code: err.code, message: err.details }
            : { code: 0, message: '', ...(response ? { body: response } : {}) },
        );
      },
    );
  });
}

/** Tasks.ResizePty{container_id = 1, exec_id = 2, width = 3, height = 4}. */
export function resizePty(
  cd: { address: string; namespace: string },
  id: string,
  execId: string,
  width: number,
  height: number,
): Promise<CallResult> {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(id);
  if (execId !== '') w.uint32((2 << 3) | 2).string(execId);
  w.uint32(3 << 3).uint32(width);
  w.uint32(4 << 3).uint32(height);
  return call(cd.address, cd.namespace, 'ResizePty', w.finish());
}

/** Tasks.CloseIO{container_id = 1, exec_id = 2, stdin = 3}. */
export function closeIO(
  cd: { address: string; namespace: string },
  id: string,
  execId = '',
): Promise<CallResult> {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(id);
  if (execId !== '') w.uint32((2 << 3) | 2).string(execId);
  w.uint32(3 << 3).bool(true);
  return call(cd.address, cd.namespace, 'CloseIO', w.finish());
}

/** Tasks.Update{container_id = 1, resources = 2}: OCI LinuxResources as JSON in an Any. */
export function updateTask(
  cd: { address: string; namespace: string },
  id: string,
  resources: object,
): Promise<CallResult> {
  const any = protobuf.Writer.create();
  any
    .uint32((1 << 3) | 2)
    .string('types.containerd.io/opencontainers/runtime-spec/1/LinuxResources');
  any.uint32((2 << 3) | 2).bytes(Buffer.from(JSON.stringify(resources)));
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(id);
  w.uint32((2 << 3) | 2).bytes(any.finish());
  return call(cd.address, cd.namespace, 'Update', w.finish());
}

/** The varint field `field` of a message (0 when absent). */
function varintField(body: Buffer | undefined, field: number): number {
  if (!body) return 0;
  const r = protobuf.Reader.create(body);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === field && (tag & 7) === 0) return r.uint32();
    r.skipType(tag & 7);
  }
  return 0;
}

export interface Mount {
  type: string;
  source: string;
  options: string[];
}

/** A created container (not its task) under runtime `rt`, and its snapshot's mounts. */
export async function containerWithRootfs(
  h: Harness,
  rt: RuntimeName,
  id: string,
  args: string[],
): Promise<Mount[]> {
  const made = await h.ctr([
    'container',
    'create',
    '--runtime',
    RUNTIMES[rt],
    h.image,
    id,
    // ctr 1.6 reads a later `-c` as its own flag unless `--` ends them; ctr 1.7 and 2.x pass a
    // `--` on to the process as its first argument.
    ...(h.cd.version === '1.6' ? ['--'] : []),
    ...args,
  ]);
  assert.equal(made.exitCode, 0, made.stderr);
  // `mount -t <type> <source> -o <options> <target>`: the container's snapshot.
  const cmd = (await h.ctr(['snapshots', 'mounts', '/x', id])).stdout.trim().split(/\s+/);
  const flag = (f: string): string => cmd[cmd.indexOf(f) + 1] ?? '';
  return [
    { type: flag('-t'), source: cmd[cmd.indexOf('-t') + 2] ?? '', options: flag('-o').split(',') },
  ];
}

/**
 * Tasks.Create{container_id = 1, rootfs = 3, stdout = 5, stderr = 6}, with no stdio unless given:
 * the task is created, not started. The rootfs mounts are the client's to give (as `ctr` reads
 * them from the snapshotter).
 */
export async function createTask(
  cd: { address: string; namespace: string },
  id: string,
  rootfs: Mount[],
  stdio: { stdout?: string; stderr?: string } = {},
): Promise<CallResult & { pid: number }> {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(id);
  if (stdio.stdout !== undefined) w.uint32((5 << 3) | 2).string(stdio.stdout);
  if (stdio.stderr !== undefined) w.uint32((6 << 3) | 2).string(stdio.stderr);
  for (const m of rootfs) {
    const mount = protobuf.Writer.create();
    mount.uint32((1 << 3) | 2).string(m.type);
    mount.uint32((2 << 3) | 2).string(m.source);
    for (const o of m.options) mount.uint32((4 << 3) | 2).string(o);
    w.uint32((3 << 3) | 2).bytes(mount.finish());
  }
  const r = await callWithResponse(cd.address, cd.namespace, 'Create', w.finish());
  return { code: r.code, message: r.message, pid: varintField(r.body, 2) };
}

/** Tasks.Start{container_id = 1}: the init's pid (StartResponse.pid = 1). */
export async function startTask(
  cd: { address: string; namespace: string },
  id: string,
): Promise<CallResult & { pid: number }> {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(id);
  const r = await callWithResponse(cd.address, cd.namespace, 'Start', w.finish());
  return { code: r.code, message: r.message, pid: varintField(r.body, 1) };
}

/** Tasks.Wait{container_id = 1}, bounded by `deadlineMs`: its exit status (WaitResponse = 1). */
export async function waitTask(
  cd: { address: string; namespace: string },
  id: string,
  deadlineMs: number,
): Promise<CallResult & { exitStatus: number }> {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(id);
  const r = await callWithResponse(cd.address, cd.namespace, 'Wait', w.finish(), deadlineMs);
  return { code: r.code, message: r.message, exitStatus: varintField(r.body, 1) };
}

/**
 * Tasks.Checkpoint{container_id = 1, options = 3 (Any: type_url = 1, value = 2)}: how many
 * descriptors containerd stored (CheckpointTaskResponse.descriptors = 1).
 */
export async function checkpointTask(
  cd: { address: string; namespace: string },
  id: string,
  options: { type_url: string; value: Uint8Array },
): Promise<CallResult & { descriptors: number }> {
  const any = protobuf.Writer.create();
  any.uint32((1 << 3) | 2).string(options.type_url);
  any.uint32((2 << 3) | 2).bytes(options.value);
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(id);
  w.uint32((3 << 3) | 2).bytes(any.finish());
  const r = await callWithResponse(cd.address, cd.namespace, 'Checkpoint', w.finish(), 60000);
  let descriptors = 0;
  if (r.body) {
    const reader = protobuf.Reader.create(r.body);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1) descriptors += 1;
      reader.skipType(tag & 7);
    }
  }
  return { code: r.code, message: r.message, descriptors };
}

/** Tasks.Kill{container_id = 1, exec_id = 2, signal = 3, all = 4}. */
export function killTask(
  cd: { address: string; namespace: string },
  id: string,
  signal: number,
): Promise<CallResult> {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(id);
  w.uint32(3 << 3).uint32(signal);
  return call(cd.address, cd.namespace, 'Kill', w.finish());
}
