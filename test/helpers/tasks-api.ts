// A minimal client of containerd's own gRPC Tasks API for what `ctr` 1.6 cannot do (Update).
// Messages are encoded by hand with protobufjs's Writer: the shim's generated module carries
// only the shim-side protocol, and these two messages are tiny.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';

const LINUX_RESOURCES_URL = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';

function unary(
  address: string,
  namespace: string,
  method: string,
  body: Uint8Array,
): Promise<void> {
  const client = new grpc.Client(`unix://${address}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('containerd-namespace', namespace);
  return new Promise<void>((resolve, reject) => {
    client.makeUnaryRequest(
      method,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      body,
      metadata,
      (err) => {
        client.close();
        if (err) reject(err);
        else resolve();
      },
    );
  });
}

/** Tasks.Update with OCI LinuxResources (JSON in an Any, as containerd's clients send it). */
export function updateTask(
  address: string,
  namespace: string,
  id: string,
  resources: object,
): Promise<void> {
  const any = protobuf.Writer.create()
    .uint32(10)
    .string(LINUX_RESOURCES_URL)
    .uint32(18)
    .bytes(Buffer.from(JSON.stringify(resources)))
    .finish();
  const request = protobuf.Writer.create().uint32(10).string(id).uint32(18).bytes(any).finish();
  return unary(address, namespace, '/containerd.services.tasks.v1.Tasks/Update', request);
}
