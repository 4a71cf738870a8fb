// Decodes the runtime options Any of CreateTaskRequest (or `start`'s stdin) into RuntimeOptions.
// Accepts containerd.runc.v1.Options and the older containerd.linux.runc.CreateOptions that 1.6/1.7
// clients send for runtime names not starting with io.containerd.runc.
import { containerd } from '../gen/proto.js';
import { DEFAULT_RUNTIME_OPTIONS, type RuntimeOptions } from '../process/options.js';

export interface AnyLike {
  type_url?: string | null;
  value?: Uint8Array | null;
}

export function decodeRuntimeOptions(any: AnyLike | null | undefined): RuntimeOptions {
  const typeUrl = (any?.type_url ?? '').replace(/^type\.googleapis\.com\//, '');
  const value = any?.value ?? new Uint8Array();
  switch (typeUrl) {
    case 'containerd.runc.v1.Options': {
      const o = containerd.runc.v1.Options.decode(value);
      return {
        binaryName: o.binary_name,
        root: o.root,
        noPivotRoot: o.no_pivot_root,
        noNewKeyring: o.no_new_keyring,
        systemdCgroup: o.systemd_cgroup,
        ioUid: o.io_uid,
        ioGid: o.io_gid,
        shimCgroup: o.shim_cgroup,
      };
    }
    case 'containerd.linux.runc.CreateOptions': {
      const o = containerd.linux.runc.CreateOptions.decode(value);
      return {
        ...DEFAULT_RUNTIME_OPTIONS,
        noPivotRoot: o.no_pivot_root,
        noNewKeyring: o.no_new_keyring,
        ioUid: o.io_uid,
        ioGid: o.io_gid,
        shimCgroup: o.shim_cgroup,
      };
    }
    default:
      // Empty, runtimeoptions.v1.Options (CRI, no runc fields) or unknown: defaults.
      return { ...DEFAULT_RUNTIME_OPTIONS };
  }
}
