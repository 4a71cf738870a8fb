// containerd 2.3's start protocol end to end on the real binary (no 2.3 containerd runs here: its
// build needs a newer Go than Debian has): BootstrapParams on stdin with runc options carrying a
// ShimCgroup and a socket_dir. The daemon lands in that cgroup, its socket in that directory, and
// the answer is a BootstrapResult that containerd 2.3's parser reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { bootstrapParams, readBootstrapResult, runcOptionsAny } from '../helpers/bootstrap-wire.js';
import { execa } from 'execa';
import { REPO } from '../helpers/containerd.js';
import { isAlive, processesMatching, waitFor } from '../helpers/leaks.js';
import { cgroupMounts } from '../../src/shim/shim-cgroup.js';

const params = (id: string, namespace: string, socketDir: string, shimCgroup: string): Uint8Array =>
  bootstrapParams({ id, namespace, logLevel: -4, socketDir, any: runcOptionsAny(shimCgroup) });

test('2.3 BootstrapParams: ShimCgroup and socket_dir honoured, BootstrapResult answered', async () => {
  const work = mkdtempSync('/tmp/tsshim-boot-');
  const bundle = join(work, 'bundle');
  mkdirSync(bundle);
  writeFileSync(join(bundle, 'config.json'), '{}');
  const socketDir = join(work, 's');
  const cgroup = `tsshim-boot-${String(process.pid)}`;
  const v1 = cgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')).filter(
    (m) => m.fsType === 'cgroup',
  );
  const dirs = v1.map((m) => join(m.mountPoint, cgroup));
  for (const d of dirs) mkdirSync(d);
  for (const m of v1.filter((x) => x.superOptions.includes('cpuset'))) {
    for (const f of ['cpuset.cpus', 'cpuset.mems'])
      writeFileSync(join(m.mountPoint, cgroup, f), readFileSync(join(m.mountPoint, f)));
  }
  const address = join(work, 'containerd.sock');
  const id = 'boot1';
  let daemon = 0;
  try {
    const r = await execa(
      join(REPO, 'bin/containerd-shim-tsshim-v2'),
      [
        '-namespace',
        'k8s.io',
        '-address',
        address,
        '-publish-binary',
        '/usr/bin/containerd',
        '-id',
        id,
        'start',
      ],
      {
        cwd: bundle,
        input: Buffer.from(params(id, 'k8s.io', socketDir, `/${cgroup}`)),
        encoding: 'buffer',
        env: { TSSHIM_WARM: '0', TTRPC_ADDRESS: `${address}.ttrpc` },
      },
    );
    // BootstrapResult, field by field: 1 version, 2 address, 3 protocol.
    const fields = readBootstrapResult(Buffer.from(r.stdout));
    assert.equal(fields[1], 2);
    assert.equal(fields[3], 'ttrpc');
    const socket = String(fields[2]).replace(/^unix:\/\//, '');
    assert.ok(socket.startsWith(`${socketDir}/`), `socket in socket_dir: ${socket}`);
    assert.ok(socket.length <= 106);
    assert.ok(statSync(socket).isSocket());
    assert.equal(readFileSync(join(bundle, 'address'), 'utf8'), fields[2]);

    daemon = processesMatching(`-id ${id} -address ${address}`)[0] ?? 0;
    assert.ok(daemon > 0, 'a daemon serves it');
    const lines = readFileSync(`/proc/${String(daemon)}/cgroup`, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('0::'));
    assert.equal(lines.length, v1.length);
    for (const l of lines)
      assert.ok(
        l.endsWith(`:/${cgroup}`),
        `daemon ${String(daemon)} not in /${cgroup}: ${l}\n${lines.join('\n')}`,
      );
  } finally {
    if (daemon > 0) {
      process.kill(daemon, 'SIGKILL');
      await waitFor(() => !isAlive(daemon), 10000).catch(() => undefined);
    }
    for (const d of dirs) {
      await waitFor(() => readFileSync(join(d, 'cgroup.procs'), 'utf8').trim() === '', 10000).catch(
        () => undefined,
      );
      if (existsSync(d)) rmdirSync(d);
    }
    rmSync(work, { recursive: true, force: true });
  }
});
