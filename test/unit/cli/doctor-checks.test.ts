import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'smol-toml';
import { allChecks, checkCriConfig, type Finding } from '../../../src/cli/doctor/checks.js';
import type { Facts } from '../../../src/cli/doctor/facts.js';
import { configSnippet } from '../../../src/cli/config.js';

const GOOD: Facts = {
  nodeVersion: '20.20.2',
  runc: { version: 'runc version 1.1.5' },
  crun: { version: undefined },
  containerd: { version: 'containerd github.com/containerd/containerd v2.1.5 abc' },
  containerdPath: '/usr/local/bin:/usr/bin',
  shimOnPath: {
    'containerd-shim-tsshim-v2': '/usr/local/bin/containerd-shim-tsshim-v2',
    'containerd-shim-ts-v2': '/usr/local/bin/containerd-shim-ts-v2',
  },
  configPath: '/etc/containerd/config.toml',
  // The snippet goes into a config that has its version line.
  config: parse(`version = 3\n${configSnippet(2, 'tsshim', '').split('\n# ctr')[0] ?? ''}`),
  cgroupMode: 'v2',
  socketDir: { exists: true, uid: 0, mode: 0o700 },
  criu: { ok: true, detail: '' },
};

const failed = (findings: Finding[]): string[] =>
  findings.filter((f) => f.level === 'fail').map((f) => f.check);

test('a good setup has no failure, and the config snippet is what the CRI check accepts', () => {
  assert.deepEqual(failed(allChecks(GOOD)), []);
  assert.equal(checkCriConfig(GOOD)[0]?.check, 'cri:tsshim');
  assert.equal(checkCriConfig(GOOD)[0]?.level, 'ok');
});

test('each problem is found, with a fix', () => {
  const broken: Facts = {
    ...GOOD,
    runc: { version: undefined },
    shimOnPath: { 'containerd-shim-tsshim-v2': '', 'containerd-shim-ts-v2': '' },
    config: parse(`version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tsshim]
  runtime_type = "io.containerd.tsshim.v1"
`),
    cgroupMode: 'none',
    socketDir: { exists: true, uid: 1000, mode: 0o755 },
  };
  const findings = allChecks(broken);
  assert.deepEqual(failed(findings), [
    'runc',
    'path:containerd-shim-tsshim-v2',
    'path:containerd-shim-ts-v2',
    'cri:tsshim',
    'cgroups',
    'socket-dir',
  ]);
  for (const f of findings.filter((x) => x.level !== 'ok')) assert.notEqual(f.fix, '', f.check);
  assert.match(
    findings.find((f) => f.check === 'cri:tsshim')?.message ?? '',
    /runtime_type "io.containerd.tsshim.v1" is not ours/,
  );
});

test('the 1.x config layout (version 2) is read as well as 2.x (version 3)', () => {
  const v1 = {
    ...GOOD,
    config: parse(`version = 2\n${configSnippet(1, 'ts', '').split('\n# ctr')[0] ?? ''}`),
  };
  assert.deepEqual(
    checkCriConfig(v1).map((f) => [f.check, f.level]),
    [['cri:ts', 'ok']],
  );
  assert.equal(checkCriConfig({ ...GOOD, config: 'bad toml' })[0]?.level, 'fail');
  assert.equal(checkCriConfig({ ...GOOD, config: undefined })[0]?.level, 'warn');
});

test('a containerd older than 1.6 fails', () => {
  const old = {
    ...GOOD,
    containerd: { version: 'containerd github.com/containerd/containerd v1.5.9 x' },
  };
  assert.deepEqual(failed(allChecks(old)), ['containerd']);
});
