// The package as people install it: `npm pack`, then `npm install -g --ignore-scripts` into an
// empty prefix (no compiler involved: the addon and the launcher ship prebuilt), with only that
// prefix's bin/ on a private containerd's PATH. Containers run through both runtime names (echo,
// exit code, exec, terminal), on the installed code; and copies of the executables elsewhere on
// disk, used as an absolute runtime path, run them too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { REPO, startContainerd, type Containerd } from '../helpers/containerd.js';
import { buildBusyboxRootfs, ensureBusyboxImage } from '../helpers/image.js';
import { ctrInTerminal } from '../helpers/pty.js';
import { processesMatching } from '../helpers/leaks.js';

const work = mkdtempSync('/tmp/tsshim-install-');
const prefix = join(work, 'prefix');
const installed = join(prefix, 'lib/node_modules/containerd-shim-ts-v2');
let cd: Containerd;
let image = '';

before(async () => {
  // What `npm pack` runs as prepack, minus the compile the test command has just done.
  await execa('node', ['scripts/pack-prebuilt.mjs'], { cwd: REPO });
  try {
    await execa('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: REPO });
  } finally {
    await execa('node', ['scripts/post-build.mjs'], { cwd: REPO }); // the checkout's own bin/ again
  }
  const tgz = readdirSync(work).find((f) => f.endsWith('.tgz')) ?? '';
  await execa('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', join(work, tgz)]);
  cd = await startContainerd({ binDir: join(prefix, 'bin') });
  image = await ensureBusyboxImage(cd);
});

after(async () => {
  await cd.stop();
  rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the runtime only, with both shim executables and the CLI', async () => {
  const tgz = readdirSync(work).find((f) => f.endsWith('.tgz')) ?? '';
  const files = (await execa('tar', ['tzf', join(work, tgz)])).stdout.split('\n');
  for (const f of [
    'package/bin/containerd-shim-ts-v2',
    'package/bin/containerd-shim-tsshim-v2',
    'package/build/src/main.js',
    'package/build/launcher.conf',
    `package/prebuilds/${process.platform}-${process.arch}/shim_native.node`,
    `package/prebuilds/${process.platform}-${process.arch}/tsshim-launcher`,
  ]) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  assert.deepEqual(
    files.filter((f) => /\/test\/|\.ts$|\/fixtures\//.test(f) && !f.endsWith('.d.ts')),
    [],
    'no tests, TypeScript sources or fixtures',
  );
  assert.deepEqual(readdirSync(join(prefix, 'bin')).sort(), [
    'containerd-shim-ts-v2',
    'containerd-shim-tsshim-v2',
    'tsshim',
  ]);
});

test('the installed tsshim runs a container without containerd', async () => {
  const rootfs = join(work, 'cli-rootfs');
  await buildBusyboxRootfs(rootfs);
  const r = await execa(
    join(prefix, 'bin/tsshim'),
    [
      'run',
      '--rootfs',
      rootfs,
      '--state-dir',
      join(work, 'cli-state'),
      '--',
      'sh',
      '-c',
      'echo installed; exit 4',
    ],
    { reject: false },
  );
  assert.equal(r.exitCode, 4, r.stderr);
  assert.equal(r.stdout, 'installed');
});

for (const runtime of ['io.containerd.tsshim.v2', 'io.containerd.ts.v2']) {
  test(`${runtime} from the installed package: echo, exit code, exec, terminal`, async () => {
    const tag = runtime.split('.')[2] ?? '';
    const echo = await cd.ctr([
      'run',
      '--rm',
      '--runtime',
      runtime,
      image,
      `i-echo-${tag}`,
      'echo',
      'hi',
    ]);
    assert.equal(echo.stdout.trim(), 'hi');
    const code = await cd.ctr(
      ['run', '--rm', '--runtime', runtime, image, `i-code-${tag}`, 'sh', '-c', 'exit 3'],
      {
        reject: false,
      },
    );
    assert.equal(code.exitCode, 3);

    const id = `i-exec-${tag}`;
    await cd.ctr(['run', '-d', '--runtime', runtime, image, id, 'sleep', '1000']);
    const daemons = processesMatching(`-id ${id} -address ${cd.address}`);
    assert.equal(daemons.length, 1);
    const cmdline = readFileSync(`/proc/${String(daemons[0])}/cmdline`, 'utf8');
    assert.ok(cmdline.includes(installed), `the installed code serves it: ${cmdline}`);
    const exec = await cd.ctr(
      ['task', 'exec', '--exec-id', 'e', id, 'sh', '-c', 'echo in; exit 4'],
      {
        reject: false,
      },
    );
    assert.deepEqual([exec.stdout.trim(), exec.exitCode], ['in', 4]);
    await cd.ctr(['task', 'delete', '-f', id]);
    await cd.ctr(['container', 'delete', id]);

    const term = ctrInTerminal(cd, [
      'run',
      '--rm',
      '-t',
      '--runtime',
      runtime,
      image,
      `i-tty-${tag}`,
      'sh',
      '-c',
      'tty; exit 5',
    ]);
    await term.expect(/\/dev\/pts\/\d+/);
    assert.equal(await term.exited, 5);
  });
}

test('copies of the executables elsewhere run as an absolute runtime path', async () => {
  const dir = join(work, 'copies');
  mkdirSync(dir);
  // The installed one finds its package through TSSHIM_PACKAGE_ROOT (nothing is embedded in the
  // package); a checkout's build embeds its own path.
  copyFileSync(
    join(prefix, 'bin/containerd-shim-tsshim-v2'),
    join(dir, 'containerd-shim-tsshim-v2'),
  );
  copyFileSync(join(REPO, 'bin/containerd-shim-ts-v2'), join(dir, 'containerd-shim-ts-v2'));
  const other = await startContainerd({ env: { TSSHIM_PACKAGE_ROOT: installed } });
  try {
    const img = await ensureBusyboxImage(other);
    for (const name of ['containerd-shim-tsshim-v2', 'containerd-shim-ts-v2']) {
      const r = await other.ctr([
        'run',
        '--rm',
        '--runtime',
        join(dir, name),
        img,
        `copy-${name}`,
        'echo',
        name,
      ]);
      assert.equal(r.stdout.trim(), name);
    }
  } finally {
    await other.stop();
  }
});
