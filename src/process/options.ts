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
};

export const DEFAULT_RUNC_ROOT = '/run/containerd/runc';

/** The `--root` runc is given: `<root>/<namespace>`. */
export const runcRoot = (opts: RuntimeOptions, namespace: string): string =>
  `${opts.root === '' ? DEFAULT_RUNC_ROOT : opts.root}/${namespace}`;
