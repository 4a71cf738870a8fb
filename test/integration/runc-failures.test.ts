// runc failing at create or start: the user gets an error that quotes runc's own message, worded
// as the reference words it, and a failed create leaves nothing behind: no mounts under the
// bundle, no runc state, no stray processes, and (in a grouped shim that outlives the failure)
// the shim's fd count back where it was.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { differential, useHarness, RUNTIMES, type RuntimeName } from '../helpers/differential.js';
import { fdCount, mountsUnder, parentOf, waitFor, zombieChildren } from '../helpers/leaks.js';

const h = useHarness();
const RUNC_ROOT = '/run/containerd/runc/default';

/** ctr's error text without ids, paths and numbers, so both shims' messages compare. */
function normalize(text: string, id: string): string {
  return text
    .replaceAll(id, '<id>')
    .replaceAll(h.cd.state, '<state>')
    .replace(/time="[^"]*"\s*/g, '')
    .replace(/level=\w+\s*/g, '')
    .replace(/\b\d{3,}\b/g, '<n>')
    .trim();
}

/** Live (non-zombie) children of a process. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === pid && rest[0] !== 'Z') out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

async function runcKnows(id: string): Promise<boolean> {
  const r = await execa('runc', ['--root', RUNC_ROOT, 'list', '-q'], { reject: false });
  return r.stdout.split('\n').includes(id) || existsSync(`${RUNC_ROOT}/${id}`);
}

interface Failure {
  name: string;
  /** ctr run flags before the image. */
  flags: (rt: RuntimeName) => string[];
  args: string[];
  /** A fragment of runc's own message the error must quote. */
  runcSays: RegExp;
}

const tomlDir = mkdtempSync(join(tmpdir(), 'runc-fail-'));
after(() => {
  rmSync(tomlDir, { recursive: true, force: true });
});

function tomlFile(body: string): string {
  const path = join(tomlDir, 'options.toml');
  writeFileSync(path, body);
  return path;
}

const FAILURES: Failure[] = [
  {
    name: 'missing binary',
    flags: () => [],
    args: ['/no/such/binary'],
    runcSays: /no such file or directory/,
  },
  {
    name: 'cwd that is not a directory',
    flags: () => ['--cwd', '/bin/busybox'],
    args: ['true'],
    runcSays: /not a directory/,
  },
  {
    name: 'runtime binary that does not exist',
    // ctr sends --runc-binary only for runc.v2; other runtimes get the TOML options file.
    flags: (rt) =>
      rt === 'reference'
        ? ['--runc-binary', '/no/such/runc']
        : ['--runtime-config-path', tomlFile('BinaryName = "/no/such/runc"\n')],
    args: ['true'],
    runcSays: /\/no\/such\/runc/,
  },
  {
    name: 'memory limit below the current usage',
    flags: () => ['--memory-limit', '1'],
    args: ['true'],
    runcSays: /memory/,
  },
];

describe('runc failures', () => {
  const group = `faults-${String(process.pid)}`;
  const keeper = `keeper-${String(process.pid)}`;
  let shimPid = 0;
  let baselineFds = 0;

  before(async () => {
    // A container that keeps the grouped shim alive across the failures.
    const initPid = await h.runDetached(
      'ours',
      keeper,
      ['sleep', '100000'],
      ['--annotation', `io.containerd.tsshim.v2.group=${group}`],
    );
    shimPid = parentOf(initPid);
    // One failure first, so lazily created state (modules, event connection) is in the baseline.
    await h.run(
      'ours',
      `warm-${String(process.pid)}`,
      ['/no/such/binary'],
      ['--annotation', `io.containerd.tsshim.v2.group=${group}`],
    );
    await h.ctr(['container', 'delete', `warm-${String(process.pid)}`]);
    baselineFds = fdCount(shimPid);
  });

  after(async () => {
    await h.destroy(keeper);
  });

  for (const f of FAILURES) {
    test(`${f.name}: runc's message, as the reference, nothing left behind`, async (t) => {
      await differential(async (rt: RuntimeName) => {
        const id = h.uid(rt, 'fail');
        const r = await h.ctr([
          'run',
          '--rm',
          ...f.flags(rt),
          ...(rt === 'ours' ? ['--annotation', `io.containerd.tsshim.v2.group=${group}`] : []),
          '--runtime',
          RUNTIMES[rt],
          h.image,
          id,
          ...f.args,
        ]);
        const error = normalize(r.stderr, id);
        t.diagnostic(`${rt}: ${error}`);
        assert.match(error, f.runcSays, `${rt}: ${error}`);
        const bundle = `${h.cd.state}/io.containerd.runtime.v2.task/${h.cd.namespace}/${id}`;
        const leftovers = {
          mounts: mountsUnder(bundle).length,
          bundle: existsSync(bundle),
          runcState: await runcKnows(id),
        };
        await h.ctr(['container', 'delete', id]);
        return { code: r.exitCode, error, leftovers };
      });
      // Our grouped shim is still serving the keeper, with nothing more than before.
      assert.deepEqual(childrenOf(shimPid).length, 1, 'only the keeper is a child of the shim');
      await waitFor(() => fdCount(shimPid) === baselineFds, 5000).catch(() => undefined);
      assert.equal(fdCount(shimPid), baselineFds, 'shim fd count back to baseline');
      assert.equal(zombieChildren(shimPid), 0);
      assert.equal(await h.taskStatus(keeper), 'RUNNING');
    });
  }
});

test('no zombies or leftover mounts', h.assertClean);
