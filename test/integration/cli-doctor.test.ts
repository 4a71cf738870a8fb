// The operator commands that need no container: `tsshim doctor` against a good and a broken
// setup of this machine (given through its options), and `tsshim config`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { REPO } from '../helpers/containerd.js';

const TSSHIM = join(REPO, 'bin/tsshim');
let dir = '';

before(() => {
  dir = mkdtempSync('/tmp/tsshim-doctor-');
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tsshim(args: string[]) {
  return execa(TSSHIM, args, { reject: false });
}

test('doctor: a good setup passes; runc missing, binaries off the PATH and a wrong handler fail', async () => {
  const good = join(dir, 'good.toml');
  const snippet = (await tsshim(['config', '--containerd-version', '1.6.20'])).stdout;
  writeFileSync(good, `version = 2\n${snippet.split('\n# ctr')[0] ?? ''}`);
  const ok = await tsshim([
    'doctor',
    '--config',
    good,
    '--containerd-path',
    `${join(REPO, 'bin')}:/usr/sbin:/usr/bin:/sbin:/bin`,
  ]);
  assert.equal(ok.exitCode, 0, ok.stdout);
  assert.match(
    ok.stdout,
    /^ok {3}cri:tsshim: handler tsshim: runtime_type io\.containerd\.tsshim\.v2$/m,
  );
  assert.match(ok.stdout, /^ok {3}cgroups: /m);

  const bad = join(dir, 'bad.toml');
  writeFileSync(
    bad,
    'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tsshim]\n  runtime_type = "io.containerd.runc.v2"\n',
  );
  const r = await tsshim([
    'doctor',
    '--json',
    '--config',
    bad,
    '--containerd-path',
    '/usr/sbin:/usr/bin',
    '--runc',
    join(dir, 'no-runc'),
  ]);
  assert.equal(r.exitCode, 1);
  const findings = JSON.parse(r.stdout) as { check: string; level: string; fix: string }[];
  const failedChecks = findings.filter((f) => f.level === 'fail').map((f) => f.check);
  assert.deepEqual(failedChecks, [
    'runc',
    'path:containerd-shim-tsshim-v2',
    'path:containerd-shim-ts-v2',
    'cri:tsshim',
  ]);
  for (const f of findings.filter((x) => x.level === 'fail')) assert.notEqual(f.fix, '');
});

test('config: the CRI table of each containerd generation, and a RuntimeClass', async () => {
  const v1 = await tsshim(['config', '--containerd-version', 'v1.7.29', '--handler', 'ts']);
  assert.equal(v1.exitCode, 0);
  assert.match(
    v1.stdout,
    /^\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.ts\]$/m,
  );
  const v2 = await tsshim(['config', '--containerd-version', '2.1.5']);
  assert.match(
    v2.stdout,
    /^\[plugins\."io\.containerd\.cri\.v1\.runtime"\.containerd\.runtimes\.tsshim\]$/m,
  );
  assert.match(v2.stdout, /^kind: RuntimeClass\nmetadata:\n {2}name: tsshim\nhandler: tsshim$/m);
  const bad = await tsshim(['doctor', '--bogus']);
  assert.notEqual(bad.exitCode, 0);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
});
