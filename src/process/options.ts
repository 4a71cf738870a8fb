// Runtime options the process layer needs, already decoded from whichever protobuf type carried them.

export interface RuntimeOptions {
  /** OCI runtime binary; '' means runc. */
  binaryName: string;
  /** runc state root without the namespace; '' means /run/containerd/runc. */
  root: string;
  noPivotRoot: boolean;
  noNewKeyring: boolean;
  systemdCgroup: boolean;
  ioUid: number;
  ioGid: number;
  shimCgroup: string;
  /** CRIU binary for runc's global `--criu`; '' lets runc pick. */
  criuPath: string;
  /** Checkpoint image path (containerd's tasks service reads it for runc runtimes only). */
  criuImagePath: string;
  /** CRIU work dir for restore; '' means the bundle's `work` link. */
  criuWorkPath: string;
  /** What one shim daemon serves (container, pod, namespace); '' means the default. */
  grouping: string;
}

export const DEFAULT_RUNTIME_OPTIONS: RuntimeOptions = {
  binaryName: '',
  root: '',
  noPivotRoot: false,
  noNewKeyring: false,
  systemdCgroup: false,
  ioUid: 0,
  ioGid: 0,
  shimCgroup: '',
  criuPath: '',
  criuImagePath: '',
  criuWorkPath: '',
  grouping: '',
};

export const DEFAULT_RUNC_ROOT = '/run/containerd/runc';

/** The `--root` runc is given: `<root>/<namespace>`. */
export const runcRoot = (opts: RuntimeOptions, namespace: string): string =>
  `${opts.root === '' ? DEFAULT_RUNC_ROOT : opts.root}/${namespace}`;

/** What a checkpoint asks of runc (containerd.runc.v1 / containerd.linux.runc CheckpointOptions). */
export interface CheckpointOptions {
  exit: boolean;
  openTcp: boolean;
  externalUnixSockets: boolean;
  terminal: boolean;
  fileLocks: boolean;
  emptyNamespaces: string[];
  /** Decoded but, like the reference, not passed to runc. */
  cgroupsMode: string;
  imagePath: string;
  workPath: string;
}

export const DEFAULT_CHECKPOINT_OPTIONS: CheckpointOptions = {
  exit: false,
  openTcp: false,
  externalUnixSockets: false,
  terminal: false,
  fileLocks: false,
  emptyNamespaces: [],
  cgroupsMode: '',
  imagePath: '',
  workPath: '',
};
