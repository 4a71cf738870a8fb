// CRI, driven with crictl, under the reference (handler `runc`) and ours (handler `ts`): each
// scenario returns what a kubelet would observe, and both handlers must observe the same (and
// what the scenario expects, so a bug both share cannot pass).
//
// Pods get a network namespace of their own from CNI: Debian's bridge plugin on a test-only
// /24 with host-local addresses, and loopback (test/helpers/cni.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cri, HANDLERS, type Handler } from '../helpers/cri.js';
import { inTerminal, plain } from '../helpers/pty.js';
import { existsSync, readFileSync, readlinkSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { isAlive, mountsUnder, parentOf, waitFor, zombieChildren } from '../helpers/leaks.js';

const cri = new Cri();
before(() => cri.setUp());
after(() => cri.tearDown());

/** Runs a scenario under the reference's handler and ours; both must observe `expected`. */
async function differential<T>(scenario: (h: Handler) => Promise<T>, expected: T): Promise<void> {
  const reference = await scenario(HANDLERS.reference);
  const ours = await scenario(HANDLERS.ours);
  assert.deepEqual(ours, reference, 'our shim differs from the reference');
  assert.deepEqual(ours, expected);
}

const assertClean = async (): Promise<void> => {
  await waitFor(() => zombieChildren(process.pid) === 0, 5000, 50);
  assert.deepEqual(mountsUnder(`${cri.cd.state}/io.containerd.runtime.v2.task`), []);
};

describe('CRI: pods and containers', () => {
  test('a pod sandbox runs, stops and goes away; one shim serves the pod and exits with it', async () => {
    await differential(
      async (h) => {
        const pod = await cri.runPod(h, 'life');
        const ready = await cri.podState(pod.id);
        const sleeper = await cri.create(pod, 'sleeper', ['sleep', '1000']);
        await cri.ok(['start', sleeper]);
        const other = await cri.create(pod, 'other', ['sleep', '1000']);
        await cri.ok(['start', other]);
        const pids = [
          await cri.pidOf(pod.id, true),
          await cri.pidOf(sleeper),
          await cri.pidOf(other),
        ];
        const shims = [...new Set(pids.map(parentOf))];
        await cri.ok(['stopp', pod.id]);
        const stopped = await cri.podState(pod.id);
        const containers = [
          cri.exitOf(await cri.inspect(sleeper)).state,
          cri.exitOf(await cri.inspect(other)).state,
        ];
        await cri.ok(['rmp', pod.id]);
        const gone = (await cri.crictl(['inspectp', pod.id])).exitCode !== 0;
        await waitFor(() => shims.every((pid) => !isAlive(pid)), 20000, 100);
        await assertClean();
        return { ready, shimsServingPod: shims.length, stopped, containers, gone };
      },
      {
        ready: 'SANDBOX_READY',
        shimsServingPod: 1,
        stopped: 'SANDBOX_NOTREADY',
        containers: ['CONTAINER_EXITED', 'CONTAINER_EXITED'],
        gone: true,
      },
    );
  });

  test('containers complete, fail with exit 3, are stopped, log and are removed', async () => {
    await differential(
      async (h) => {
        const pod = await cri.runPod(h, 'ctrs');
        const ok = await cri.create(pod, 'ok', ['sh', '-c', 'echo out; echo err >&2']);
        const fail = await cri.create(pod, 'fail', ['sh', '-c', 'exit 3']);
        const long = await cri.create(pod, 'long', ['sleep', '1000']);
        const created = cri.exitOf(await cri.inspect(ok)).state;
        for (const id of [ok, fail, long]) await cri.ok(['start', id]);
        const okExit = await cri.waitExited(ok);
        const failExit = await cri.waitExited(fail);
        const running = cri.exitOf(await cri.inspect(long)).state;
        // TERM from the host (an ancestor PID namespace) kills PID 1 even without a handler.
        await cri.ok(['stop', '--timeout', '1', long]);
        const longExit = cri.exitOf(await cri.inspect(long));
        const logs = await cri.crictl(['logs', ok]);
        for (const id of [ok, fail, long]) await cri.ok(['rm', id]);
        const left = (await cri.ok(['ps', '-a', '-q', '--pod', pod.id]))
          .split('\n')
          .filter(Boolean);
        await cri.removePod(pod.id);
        await assertClean();
        return {
          created,
          okExit,
          failExit,
          running,
          longExit,
          logs: { stdout: logs.stdout, stderr: logs.stderr, exitCode: logs.exitCode },
          left,
        };
      },
      {
        created: 'CONTAINER_CREATED',
        okExit: { state: 'CONTAINER_EXITED', exitCode: 0, reason: 'Completed' },
        failExit: { state: 'CONTAINER_EXITED', exitCode: 3, reason: 'Error' },
        running: 'CONTAINER_RUNNING',
        longExit: { state: 'CONTAINER_EXITED', exitCode: 143, reason: 'Error' },
        logs: { stdout: 'out', stderr: 'err', exitCode: 0 },
        left: [],
      },
    );
  });

  test('exec and exec -s report output and exit codes', async () => {
    await differential(
      async (h) => {
        const pod = await cri.runPod(h, 'exec');
        const id = await cri.create(pod, 'target', ['sleep', '1000']);
        await cri.ok(['start', id]);
        // crictl itself exits 1 on a non-zero exec exit and names the exec's code in its error
        // (exec -s then prints no output).
        const res = async (
          args: string[],
        ): Promise<{ stdout: string; exitCode: number; reported: string }> => {
          const r = await cri.crictl(args);
          return {
            stdout: r.stdout.trim(),
            exitCode: r.exitCode,
            reported: /(?:exit code|exited with):? *(\d+)/.exec(r.stderr)?.[1] ?? r.stderr,
          };
        };
        const observed = {
          sync: await res(['exec', '-s', id, 'sh', '-c', 'echo sync; exit 0']),
          syncFail: await res(['exec', '-s', id, 'sh', '-c', 'echo no; exit 5']),
          stream: await res(['exec', id, 'sh', '-c', 'echo stream']),
          streamFail: await res(['exec', id, 'sh', '-c', 'exit 7']),
        };
        await cri.removePod(pod.id);
        await assertClean();
        return observed;
      },
      {
        sync: { stdout: 'sync', exitCode: 0, reported: '' },
        syncFail: { stdout: '', exitCode: 1, reported: '5' },
        stream: { stdout: 'stream', exitCode: 0, reported: '' },
        streamFail: { stdout: '', exitCode: 1, reported: '7' },
      },
    );
  });

  test('exec -it on a terminal: a tty of the window size, resizes, typed input, exit codes', async () => {
    await differential(
      async (h) => {
        const pod = await cri.runPod(h, 'tty');
        const id = await cri.create(pod, 'target', ['sleep', '1000']);
        await cri.ok(['start', id]);
        // crictl itself exits 1 on a non-zero exit and names the exec's code in its error.
        const reported = (output: string): string => /exit code (\d+)/.exec(output)?.[1] ?? 'none';
        const lines = (output: string): string[] =>
          plain(output)
            .split('\n')
            .filter((l) => l !== '' && !l.includes('FATA'));
        // crictl's -t needs -i: a command on a terminal (crictl's stdin is the pty too). The
        // window size reaches the exec's terminal as a resize after it started, under either
        // shim: the command waits for it (bounded) rather than race it.
        const waitSize =
          'for i in $(seq 100); do s=$(stty size 2>/dev/null); case "$s" in [1-9]*\\ [1-9]*) break;; esac; sleep 0.1; done; echo "$s"';
        const cmd = inTerminal(
          ...cri.crictlCommand(['exec', '-it', id, 'sh', '-c', `tty; ${waitSize}; exit 3`]),
          { cols: 100, rows: 30 },
        );
        const cmdExit = await cmd.exited;
        const ok = inTerminal(...cri.crictlCommand(['exec', '-it', id, 'sh', '-c', 'exit 0']));
        const okExit = await ok.exited;
        // An interactive shell: what is typed arrives, a resize reaches the exec's terminal.
        const sh = inTerminal(...cri.crictlCommand(['exec', '-it', id, 'sh']), {
          cols: 100,
          rows: 30,
        });
        await sh.expect(/# $/);
        sh.type('echo $((6*7))\r');
        const [sum] = await sh.expect(/^42$/m);
        sh.resize(120, 40);
        const mark = sh.output.length;
        sh.type('stty size\r');
        const [size] = await sh.expect(/^\d+ \d+$/m, mark);
        sh.type('exit 5\r');
        const shExit = await sh.exited;
        await cri.removePod(pod.id);
        await assertClean();
        return {
          command: {
            lines: lines(cmd.output),
            crictlExit: cmdExit,
            reported: reported(cmd.output),
          },
          zero: { crictlExit: okExit, reported: reported(ok.output) },
          shell: { sum, size, crictlExit: shExit, reported: reported(sh.output) },
        };
      },
      {
        command: { lines: ['/dev/pts/0', '30 100'], crictlExit: 1, reported: '3' },
        zero: { crictlExit: 0, reported: 'none' },
        shell: { sum: '42', size: '40 120', crictlExit: 1, reported: '5' },
      },
    );
  });

  test('a crash-looping container: create, start, exit 1, remove, three times in one pod', async () => {
    await differential(
      async (h) => {
        const pod = await cri.runPod(h, 'loop');
        const exits = [];
        for (let attempt = 0; attempt < 3; attempt++) {
          const id = await cri.create(pod, 'crash', ['sh', '-c', 'exit 1'], { attempt });
          await cri.ok(['start', id]);
          exits.push(await cri.waitExited(id));
          await cri.ok(['rm', id]);
        }
        const podState = await cri.podState(pod.id);
        await cri.removePod(pod.id);
        await assertClean();
        return { exits, podState };
      },
      {
        exits: Array.from({ length: 3 }, () => ({
          state: 'CONTAINER_EXITED',
          exitCode: 1,
          reason: 'Error',
        })),
        podState: 'SANDBOX_READY',
      },
    );
  });
});

describe('CRI: pod network (CNI)', () => {
  test('a pod has an address on the bridge subnet in its own netns; its containers reach loopback and the pod IP', async () => {
    await differential(
      async (h) => {
        const net = cri.net;
        assert.ok(net);
        const pod = await cri.runPod(h, 'net');
        const podIp = await cri.podIp(pod.id);
        const netns = await cri.podNetns(pod.id);
        // A web server in one container, a client in another: they share the pod's netns.
        const web = await cri.create(pod, 'web', [
          'sh',
          '-c',
          'mkdir -p /www && echo pong > /www/ping && exec httpd -f -p 8080 -h /www',
        ]);
        const client = await cri.create(pod, 'client', ['sleep', '1000']);
        for (const id of [web, client]) await cri.ok(['start', id]);
        const nsOf = (pid: number): string => readlinkSync(`/proc/${String(pid)}/ns/net`);
        const podNs = nsOf(await cri.pidOf(pod.id, true));
        const hostNs = nsOf(process.pid);
        const sameNs = [nsOf(await cri.pidOf(web)), nsOf(await cri.pidOf(client))].every(
          (ns) => ns === podNs,
        );
        // Until the server listens, wget fails: retry (bounded) inside the container.
        const fetch = async (host: string): Promise<string> => {
          const r = await cri.crictl([
            'exec',
            '-s',
            client,
            'sh',
            '-c',
            `for i in $(seq 200); do wget -qO- http://${host}:8080/ping 2>/dev/null && exit 0; sleep 0.1; done; exit 1`,
          ]);
          return r.exitCode === 0 ? r.stdout.trim() : `unreachable (${host})`;
        };
        const links = (await cri.ok(['exec', '-s', client, 'ip', '-o', 'link']))
          .split('\n')
          .map((l) => l.split(':')[1]?.trim().split('@')[0])
          .sort();
        const eth0 = await cri.ok(['exec', '-s', client, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
        const observed = {
          onSubnet: net.contains(podIp),
          ownNetns: podNs !== hostNs,
          containersInPodNetns: sameNs,
          links,
          eth0HasPodIp: eth0.includes(` ${podIp}/24 `),
          loopback: await fetch('127.0.0.1'),
          podIp: await fetch(podIp),
          bridgePorts: net.ports().length,
          // No ipMasq: nothing of this network in iptables (nothing there to clean up).
          iptablesRules: spawnSync('iptables-save', { encoding: 'utf8' })
            .stdout.split('\n')
            .filter(
              (l) => l.includes(net.bridge) || l.includes(net.subnet.replace(/\.0\/24$/, '.')),
            ).length,
          netnsMounted: mountsUnder(cri.cd.state).includes(netns),
        };
        await cri.removePod(pod.id);
        await assertClean();
        return {
          ...observed,
          // What the pod's network left behind: its veth on the bridge, its netns mount.
          afterRemoval: {
            bridgePorts: net.ports().length,
            netnsMounted: mountsUnder(cri.cd.state).includes(netns),
          },
        };
      },
      {
        onSubnet: true,
        ownNetns: true,
        containersInPodNetns: true,
        links: ['eth0', 'lo'],
        eth0HasPodIp: true,
        loopback: 'pong',
        podIp: 'pong',
        bridgePorts: 1,
        iptablesRules: 0,
        netnsMounted: true,
        afterRemoval: { bridgePorts: 0, netnsMounted: false },
      },
    );
  });
});

describe('CRI: resources', () => {
  test('update sets the memory limit that the container sees; stats report the container', async () => {
    await differential(
      async (h) => {
        const pod = await cri.runPod(h, 'upd');
        const id = await cri.create(pod, 'target', ['sleep', '1000'], {
          linux: { resources: { memory_limit_in_bytes: 64 * 1024 * 1024 } },
        });
        await cri.ok(['start', id]);
        // The memory controller's limit file, cgroup v1 or v2, as the container sees it.
        const limit = async (): Promise<string> =>
          cri.ok([
            'exec',
            '-s',
            id,
            'sh',
            '-c',
            'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
          ]);
        const before = await limit();
        await cri.ok(['update', '--memory', String(96 * 1024 * 1024), id]);
        const after = await limit();
        const stats = JSON.parse(await cri.ok(['stats', '-o', 'json', '--id', id])) as {
          stats: { attributes: { id: string }; memory?: { workingSetBytes?: { value: string } } }[];
        };
        const mine = stats.stats.filter((s) => s.attributes.id === id);
        const observed = {
          before,
          after,
          statsEntries: mine.length,
          memoryReported: Number(mine[0]?.memory?.workingSetBytes?.value ?? 0) > 0,
        };
        await cri.removePod(pod.id);
        await assertClean();
        return observed;
      },
      {
        before: String(64 * 1024 * 1024),
        after: String(96 * 1024 * 1024),
        statsEntries: 1,
        memoryReported: true,
      },
    );
  });

  test('a container over its memory limit is OOMKilled', async () => {
    await differential(
      async (h) => {
        const pod = await cri.runPod(h, 'oom');
        // busybox tail keeps a line without newline whole in memory: 256 MiB against 32 MiB.
        const id = await cri.create(
          pod,
          'hog',
          ['sh', '-c', 'head -c 268435456 /dev/zero | tail'],
          {
            linux: {
              resources: {
                memory_limit_in_bytes: 32 * 1024 * 1024,
                memory_swap_limit_in_bytes: 32 * 1024 * 1024,
              },
            },
          },
        );
        await cri.ok(['start', id]);
        const exit = await cri.waitExited(id);
        await cri.removePod(pod.id);
        await assertClean();
        return exit;
      },
      { state: 'CONTAINER_EXITED', exitCode: 137, reason: 'OOMKilled' },
    );
  });
});

describe('CRI: logs', () => {
  test('ReopenContainerLog after a rotation: later lines go to a new file, none lost across the two', async () => {
    await differential(
      async (h) => {
        const pod = await cri.runPod(h, 'rotate');
        const id = await cri.create(pod, 'writer', [
          'sh',
          '-c',
          'i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.01; done',
        ]);
        await cri.ok(['start', id]);
        const log = join(pod.logDir, 'writer-0.log');
        const rotated = `${log}.1`;
        // CRI's log format: `<RFC3339Nano time> <stream> <F|P> <text>`, one entry a line.
        const entries = (path: string): { tag: string; n: number }[] =>
          (existsSync(path) ? readFileSync(path, 'utf8') : '')
            .split('\n')
            .filter(Boolean)
            .map((l) => {
              const m = /^\S+ (stdout|stderr) ([FP]) line (\d+)$/.exec(l);
              return { tag: m ? `${m[1] ?? ''} ${m[2] ?? ''}` : l, n: Number(m?.[3] ?? -1) };
            });
        await waitFor(() => entries(log).length >= 20, 30000, 50);
        // As kubelet rotates: rename, then ask containerd to reopen. Until the reopen,
        // containerd still writes to the renamed file.
        renameSync(log, rotated);
        const reopen = await cri.reopenContainerLog(id);
        await waitFor(() => entries(log).length >= 20, 30000, 50);
        await cri.ok(['stop', '--timeout', '1', id]);
        const reopenStopped = (await cri.reopenContainerLog(id)).code;
        const before = entries(rotated);
        const after = entries(log);
        const all = [...before, ...after];
        const observed = {
          reopen,
          reopenStopped,
          tags: [...new Set(all.map((e) => e.tag))],
          // Every line once, in order, across the two files: 1, 2, ... with no gap.
          inOrderNoneLost: all.every((e, i) => e.n === i + 1),
          bothFilesHaveLines: before.length > 0 && after.length > 0,
        };
        await cri.removePod(pod.id);
        await assertClean();
        return observed;
      },
      {
        reopen: { code: 0, message: '' },
        reopenStopped: 2, // UNKNOWN: containerd's "container is not running"
        tags: ['stdout F'],
        inOrderNoneLost: true,
        bothFilesHaveLines: true,
      },
    );
  });
});

describe('CRI: attach', () => {
  test('attach -i feeds stdin to the container and streams its output', async () => {
    await differential(
      async (h) => {
        const pod = await cri.runPod(h, 'att');
        // sh reads its script from stdin, so nothing is printed before the attach sends it.
        const id = await cri.create(pod, 'shell', ['sh'], { stdin: true });
        await cri.ok(['start', id]);
        const r = await cri.crictl(['attach', '-i', id], 60000, 'echo attached\nexit 4\n');
        const exit = await cri.waitExited(id);
        const logs = await cri.crictl(['logs', id]);
        await cri.removePod(pod.id);
        await assertClean();
        return { attached: r.stdout.trim(), exit, logs: logs.stdout };
      },
      {
        attached: 'attached',
        exit: { state: 'CONTAINER_EXITED', exitCode: 4, reason: 'Error' },
        logs: 'attached',
      },
    );
  });
});
