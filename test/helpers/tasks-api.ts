// The few calls of containerd's gRPC Tasks API (containerd.services.tasks.v1.Tasks) that ctr 1.6
// has no command for: ResizePty, CloseIO and Update. The requests are tiny, so they are encoded by hand.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';

export interface CallResult {
  /** gRPC status code (0 = OK). */
  code: number;
  message: string;
}

function call(address: string, namespace: string, method: string, body: Uint8Array) {
  const client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure());
  const meta = new grpc.Metadata();
  meta.set('containerd-namespace', namespace);
  return new Promise<CallResult>((resolve) => {
    client.makeUnaryRequest(
      `/containerd.services.tasks.v1.Tasks/${method}`,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      body,
      meta,
      (err: grpc.ServiceError | null) => {
        client.close();
        resolve(err ? { code: err.code, message: err.details } : { code: 0, message: '' });
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
