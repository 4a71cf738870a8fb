// Runtime options end to end, on the private containerd: a recording runc wrapper proves which
// command lines each shim runs (BinaryName), and the effects of IoUid/IoGid, NoPivotRoot,
// NoNewKeyring and ShimCgroup are checked where they can be observed.
//
// How each shim gets its options from ctr 1.6 (the two runtimes cannot be driven identically):
//  - reference: `ctr run --runc-binary <wrapper>`, which ctr accepts only for io.containerd.runc.v2
//    and sends as containerd.runc.v1.Options{binary_name};
//  - ours: `ctr run --runtime-config-path <toml>`, which ctr sends for other runtimes as
//    runtimeoptions.v1.Options{config_path}; the shim reads the TOML file.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { differential, RUNTIMES, useHarness, type RuntimeName } from '../helpers/differential.js';
import { RuncRecorder } from '../helpers/runc-recorder.js';
import { cgroupMounts } from '../../src/shim/shim-cgroup.js';
import { parentOf, waitFor } from '../helpers/leaks.js';

const h = useHarness();

const bundleOf = (id: string): string =>
  `${h.cd.state}/io.containerd.runtime.v2.task/default/${id}`;

/** ctr run flags that make `rt` use the wrapper (see the header comment). */
function wrapperFlags(rt: RuntimeName, rec: RuncRecorder, tomlExtra = ''): string[] {
  return rt === 'reference'
    ? ['--runc-binary', rec.bin]
    : ['--runtime-config-path', rec.toml(tomlExtra)];
}

/** runc's own record of a container's config (both shims use the default runc root). */
function runcConfig(id: string): Record<string, unknown> {
  const state = JSON.parse(
    readFileSync(`/run/containerd/runc/default/${id}/state.json`, 'utf8'),
  ) as {
    config: Record<string, unknown>;
  };
  return state.config;
}

const GLOBALS = '--root /run/containerd/runc/default --log <bundle>/log.json --log-format json';

describe('runtime options', () => {
  test('BinaryName: both shims run the same runc command lines', async () => {
    await differential(
      async (rt) => {
        const rec = new RuncRecorder();
        try {
          const id = h.uid(rt, 'rec');
          await h.runDetached(rt, id, ['sleep', '1000'], wrapperFlags(rt, rec));
          const exec = await h.ctr(['task', 'exec', '--exec-id', 'e1', id, 'sh', '-c', 'exit 3']);
          const ps = await h.ctr(['task', 'ps', id]);
          const pause = await h.ctr(['task', 'pause', id]);
          const resume = await h.ctr(['task', 'resume', id]);
          await h.destroy(id);
          // containerd runs the shim's `delete` action when the connection drops after
          // Shutdown, asynchronously to `ctr task delete`, under both runtimes.
          await waitFor(() => rec.calls().some((c) => c.includes('--force')), 20000);
          return {
            codes: [exec.exitCode, ps.exitCode, pause.exitCode, resume.exitCode],
            calls: rec.normalized({ [bundleOf(id)]: '<bundle>', [id]: '<id>' }),
          };
        } finally {
          rec.remove();
        }
      },
      {
        codes: [3, 0, 0, 0],
        calls: [
          `${GLOBALS} create --bundle <bundle> --pid-file <bundle>/init.pid <id>`,
          `${GLOBALS} start <id>`,
          `${GLOBALS} exec --process <process.json> --detach --pid-file <bundle>/e1.pid <id>`,
          `${GLOBALS} ps --format json <id>`,
          `${GLOBALS} pause <id>`,
          `${GLOBALS} resume <id>`,
          `${GLOBALS} kill <id> 9`,
          `${GLOBALS} delete <id>`,
          `${GLOBALS} delete --force <id>`,
        ],
      },
    );
  });

  test('Root (--runc-root) reaches runc as --root <root>/<namespace>', async () => {
    await differential(
      async (rt) => {
        const rec = new RuncRecorder();
        const root = `${rec.dir}/state`;
        try {
          const id = h.uid(rt, 'root');
          const flags =
            rt === 'reference'
              ? ['--runc-binary', rec.bin, '--runc-root', root]
              : ['--runtime-config-path', rec.toml(`Root = "${root}"\n`)];
          await h.runDetached(rt, id, ['sleep', '1000'], flags);
          const stateKept = existsSync(`${root}/default/${id}/state.json`);
          await h.destroy(id);
          await waitFor(() => rec.calls().some((c) => c.includes('--force')), 20000);
          return {
            stateKept,
            calls: rec.normalized({ [bundleOf(id)]: '<bundle>', [root]: '<root>', [id]: '<id>' }),
          };
        } finally {
          rec.remove();
        }
      },
      {
        stateKept: true,
        calls: [
          'create --bundle <bundle> --pid-file <bundle>/init.pid <id>',
          'start <id>',
          'kill <id> 9',
          'delete <id>',
          'delete --force <id>',
        ].map((c) => `--root <root>/default --log <bundle>/log.json --log-format json ${c}`),
      },
    );
  });

  // ctr accepts --runc-systemd-cgroup only for io.containerd.runc.v2 and wants a systemd style
  // --cgroup with it; both runtimes get the same --cgroup. Whether runc can reach systemd here is
  // not the point: only the global flags of the first call are compared.
  test('SystemdCgroup reaches runc as the global --systemd-cgroup', async () => {
    await differential(
      async (rt) => {
        const rec = new RuncRecorder();
        try {
          const id = h.uid(rt, 'systemd');
          const flags =
            rt === 'reference'
              ? ['--runc-binary', rec.bin, '--runc-systemd-cgroup']
              : ['--runtime-config-path', rec.toml('SystemdCgroup = true\n')];
          flags.push('--cgroup', `system.slice:tsshim-test:${id}`);
          const run = await h.ctr([
            'run',
            '-d',
            ...flags,
            '--runtime',
            RUNTIMES[rt],
            h.image,
            id,
            'sleep',
            '1000',
          ]);
          const first = rec.calls()[0] ?? [];
          assert.equal(rec.calls().length > 0, true, run.stderr);
          await h.destroy(id);
          return first
            .slice(0, first.indexOf('create') + 1)
            .map((a) => a.replace(bundleOf(id), '<bundle>'));
        } finally {
          rec.remove();
        }
      },
      [
        '--root',
        '/run/containerd/runc/default',
        '--log',
        '<bundle>/log.json',
        '--log-format',
        'json',
        '--systemd-cgroup',
        'create',
      ],
    );
  });

  // ctr 1.6 has no way to give the reference a CRIU path, so this is ours alone. The `delete`
  // action's `delete --force` is left out: the reference builds that runc without a CRIU path too.
  test('CriuPath reaches every runc call as the global --criu (ours)', async () => {
    const rec = new RuncRecorder();
    try {
      const id = h.uid('ours', 'criu');
      await h.runDetached(
        'ours',
        id,
        ['sleep', '1000'],
        ['--runtime-config-path', rec.toml('CriuPath = "/usr/sbin/criu"\n')],
      );
      await h.destroy(id);
      const calls = rec
        .normalized({ [bundleOf(id)]: '<bundle>', [id]: '<id>' })
        .filter((c) => !c.endsWith('delete --force <id>'));
      assert.ok(calls.length >= 4, calls.join('\n'));
      for (const c of calls) {
        assert.ok(c.startsWith(`${GLOBALS} --criu /usr/sbin/criu `), `no --criu in: ${c}`);
      }
    } finally {
      rec.remove();
    }
  });

  // ctr sends --no-pivot as task options (runc.v1.Options for the reference, the older
  // linux.runc.CreateOptions for ours), which replace the container's runtime options, so the
  // wrapper cannot be combined with it. runc's state.json records what it was told instead.
  test('--no-pivot reaches runc under both shims (runc state.json)', async () => {
    await differential(
      async (rt) => {
        const seen: unknown[] = [];
        for (const flags of [[], ['--no-pivot']]) {
          const id = h.uid(rt, 'pivot');
          await h.runDetached(rt, id, ['sleep', '1000'], flags);
          seen.push(runcConfig(id)['no_pivot_root']);
          await h.destroy(id);
        }
        return seen;
      },
      [false, true],
    );
  });

  // Not reachable for the reference through ctr 1.6 together with the wrapper (see above).
  test('NoPivotRoot and NoNewKeyring from the TOML reach runc create (ours)', async () => {
    const rec = new RuncRecorder();
    try {
      const id = h.uid('ours', 'flags');
      await h.runDetached(
        'ours',
        id,
        ['sleep', '1000'],
        ['--runtime-config-path', rec.toml('NoPivotRoot = true\nNoNewKeyring = true\n')],
      );
      const config = runcConfig(id);
      await h.destroy(id);
      assert.equal(config['no_pivot_root'], true);
      assert.equal(config['no_new_keyring'], true);
      const create = rec.normalized({ [bundleOf(id)]: '<bundle>', [id]: '<id>' })[0];
      assert.equal(
        create,
        `${GLOBALS} create --bundle <bundle> --pid-file <bundle>/init.pid --no-pivot --no-new-keyring <id>`,
      );
    } finally {
      rec.remove();
    }
  });

  // ctr 1.6 has no flag for IoUid/IoGid; the reference takes them only from runc.v1.Options,
  // which ctr never sends with them set, so this is checked on ours alone, against a control.
  // The shim creates the pipes owned by IoUid:IoGid (unit test: test/unit/io/process-io-owner);
  // then runc init's fixStdioPermissions re-owns them to the container user (root here),
  // keeping the group, so from the host the pipes show `<container uid>:<IoGid>`.
  test('IoUid/IoGid own the container stdio pipes (ours)', async () => {
    const rec = new RuncRecorder();
    try {
      const owners = async (extra: string): Promise<string[]> => {
        const id = h.uid('ours', 'iouid');
        const pid = await h.runDetached(
          'ours',
          id,
          ['sleep', '1000'],
          ['--runtime-config-path', rec.toml(extra)],
        );
        try {
          return [1, 2].map((fd) => {
            const st = statSync(`/proc/${String(pid)}/fd/${String(fd)}`);
            return `${String(st.uid)}:${String(st.gid)}`;
          });
        } finally {
          await h.destroy(id);
        }
      };
      assert.deepEqual(await owners(''), ['0:0', '0:0']);
      assert.deepEqual(await owners('IoUid = 1000\nIoGid = 1001\n'), ['0:1001', '0:1001']);
    } finally {
      rec.remove();
    }
  });

  // Ours alone: ctr 1.6 cannot give the reference a shim cgroup. Deliberate difference: the
  // reference takes ShimCgroup only from runc.v1.Options, ours also from the TOML config (and
  // linux.runc.CreateOptions), which is how a non-runc runtime name receives it.
  test('ShimCgroup: the daemon is moved into the cgroup before it serves (ours)', async () => {
    const name = `tsshim-test-${String(process.pid)}`;
    // Every v1 hierarchy, devices and the named systemd one included.
    const v1 = cgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')).filter(
      (m) => m.fsType === 'cgroup',
    );
    assert.ok(
      v1.some((m) => m.superOptions.includes('devices')),
      'expected a cgroup v1 devices hierarchy (hybrid host)',
    );
    const dirs = v1.map((m) => join(m.mountPoint, name));
    for (const d of dirs) mkdirSync(d, { recursive: true });
    // A new cpuset cgroup has no cpus or mems, so nobody can join it: give it its parent's.
    for (const m of v1.filter((x) => x.superOptions.includes('cpuset'))) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        writeFileSync(join(m.mountPoint, name, f), readFileSync(join(m.mountPoint, f)));
      }
    }
    const rec = new RuncRecorder();
    try {
      const id = h.uid('ours', 'shimcg');
      const pid = await h.runDetached(
        'ours',
        id,
        ['sleep', '1000'],
        ['--runtime-config-path', rec.toml(`ShimCgroup = "/${name}"\n`)],
      );
      const shim = parentOf(pid);
      const cgroups = readFileSync(`/proc/${String(shim)}/cgroup`, 'utf8');
      await h.destroy(id);
      // /proc/<pid>/cgroup: one line per v1 hierarchy, each must name the shim cgroup.
      const v1Lines = cgroups.split('\n').filter((l) => l !== '' && !l.startsWith('0::'));
      assert.equal(v1Lines.length, v1.length, cgroups);
      for (const l of v1Lines) {
        assert.ok(l.endsWith(`:/${name}`), `shim ${String(shim)} not in /${name}: ${l}`);
      }
    } finally {
      rec.remove();
      // The daemon leaves the cgroup when it exits (it does not go back to the warm process: its
      // cgroups are no longer a spare's), a moment after the container's delete.
      const empty = (d: string): boolean =>
        !existsSync(d) || readFileSync(join(d, 'cgroup.procs'), 'utf8').trim() === '';
      await waitFor(() => dirs.every(empty), 10000).catch(() => undefined);
      for (const d of dirs) if (existsSync(d)) rmdirSync(d);
    }
  });

  test('a bad runtime config fails the create with a clear error (ours)', async () => {
    const rec = new RuncRecorder();
    try {
      const id = h.uid('ours', 'badtoml');
      const r = await h.ctr([
        'run',
        '-d',
        '--runtime-config-path',
        rec.toml('[table]\n'),
        '--runtime',
        RUNTIMES.ours,
        h.image,
        id,
        'true',
      ]);
      await h.ctr(['container', 'delete', id]);
      assert.notEqual(r.exitCode, 0);
      assert.match(r.stderr, /toml: line 3: tables are not supported/);
    } finally {
      rec.remove();
    }
  });
});
