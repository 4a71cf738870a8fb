// `tsshim config`: the containerd config snippet for our runtime (CRI handler in the layout of
// the containerd version found), and a Kubernetes RuntimeClass for the handler.
import { execa } from 'execa';
import { UsageError } from './errors.js';

/** The major version of the containerd on PATH, or of the one named. */
async function containerdMajor(given: string | undefined): Promise<number> {
  const text = given ?? (await execa('containerd', ['--version'], { reject: false })).stdout;
  const m = /(?:^|\s)v?(\d+)\.\d+/.exec(text.replace(/^containerd\s+\S+\s+/, ''));
  if (!m) throw new UsageError('cannot tell the containerd version: give --containerd-version');
  return Number(m[1]);
}

export function configSnippet(major: number, handler: string, runtimePath: string): string {
  const table =
    major >= 2
      ? `plugins."io.containerd.cri.v1.runtime".containerd.runtimes.${handler}`
      : `plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${handler}`;
  const path = runtimePath !== '' ? `  runtime_path = "${runtimePath}"\n` : '';
  return `# /etc/containerd/config.toml (containerd ${String(major)}.x: version = ${major >= 2 ? '3' : '2'})
[${table}]
  runtime_type = "io.containerd.tsshim.v2"
${path}  # Options reach the shim as runc options (BinaryName, SystemdCgroup, ...) plus ours:
  # Grouping = "pod" | "container" | "namespace"
  [${table}.options]
    BinaryName = "runc"

# ctr / nerdctl: --runtime io.containerd.tsshim.v2

# Kubernetes
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: ${handler}
handler: ${handler}
`;
}

export async function config(opts: {
  containerdVersion: string | undefined;
  handler: string;
  runtimePath: string;
}): Promise<number> {
  const major = await containerdMajor(opts.containerdVersion);
  process.stdout.write(configSnippet(major, opts.handler, opts.runtimePath));
  return 0;
}
