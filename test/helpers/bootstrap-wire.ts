// containerd 2.3's start messages built field by field from its published field numbers (not with
// our generated code), as containerd 2.3 sends them; and a BootstrapResult read the same way.
import protobuf from 'protobufjs/minimal.js';

export const RUNC_OPTIONS = 'containerd.runc.v1.Options';

/** google.protobuf.Any{1: type_url, 2: value} with runc Options{shim_cgroup = 3}. */
export function runcOptionsAny(shimCgroup: string): Uint8Array {
  const opts = protobuf.Writer.create()
    .uint32((3 << 3) | 2)
    .string(shimCgroup)
    .finish();
  return protobuf.Writer.create()
    .uint32((1 << 3) | 2)
    .string(RUNC_OPTIONS)
    .uint32((2 << 3) | 2)
    .bytes(opts)
    .finish();
}

/** BootstrapParams; `any` goes into extensions[0].value. */
export function bootstrapParams(p: {
  id?: string;
  namespace?: string;
  logLevel: number;
  socketDir?: string;
  any?: Uint8Array;
}): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(p.id ?? 'c1'); // instance_id
  w.uint32((2 << 3) | 2).string(p.namespace ?? 'k8s.io'); // namespace
  w.uint32(3 << 3).int32(p.logLevel); // log_level: a negative enum is a 10-byte varint
  w.uint32((4 << 3) | 2).string('2.3.0');
  w.uint32((5 << 3) | 2).string('/run/containerd/containerd.sock.ttrpc');
  w.uint32((6 << 3) | 2).string('/run/containerd/containerd.sock');
  w.uint32((7 << 3) | 2).string('/usr/bin/containerd');
  if (p.any) {
    w.uint32((8 << 3) | 2).bytes(
      protobuf.Writer.create()
        .uint32((1 << 3) | 2)
        .bytes(p.any)
        .finish(),
    );
  }
  if (p.socketDir !== undefined) w.uint32((9 << 3) | 2).string(p.socketDir);
  return w.finish();
}

/** A BootstrapResult's fields by number (1 version, 2 address, 3 protocol). */
export function readBootstrapResult(bytes: Uint8Array): Record<number, unknown> {
  const r = protobuf.Reader.create(bytes);
  const fields: Record<number, unknown> = {};
  while (r.pos < r.len) {
    const tag = r.uint32();
    fields[tag >>> 3] = (tag & 7) === 0 ? r.int32() : r.string();
  }
  return fields;
}
