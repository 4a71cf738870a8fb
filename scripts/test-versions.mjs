#!/usr/bin/env node
// Differential suites against containerd 1.7.29 and 2.1.5 (release builds kept with the test
// tools), each with the reference shim of the same version as the oracle. The full suite runs
// against Debian's 1.6.20 (`npm run test:integration`); the others run a core subset.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Per version, the suites run there (the same on both; where versions differ, the suites say so,
 * see the README's compatibility section).
 */
const SUITES_RUN = [
  'differential', // run, exit codes, stdin, signals
  'diff-lifecycle', // pause/resume, exec, kill, update, pids
  'terminal', // ctr -t under a real pty, resize, large output
  'stdio-uris', // binary://, file://, FIFOs, reattach
  'shim-kill', // shim SIGKILL, clean-up through delete, last words
  'grouping', // pods share a shim
  'grouping-modes', // container / pod / namespace
  'runtime-options', // BinaryName, Root, ShimCgroup, TOML
  'warm-path', // launcher, warm process, spares
  'diff-create-exit', // init killed between create and start
  'checkpoint', // real CRIU where the test tools have it
  'stats-oom', // metrics, OOM of an init and of an exec, OOM watchers freed
  'containerd-restarts', // exits during containerd kill -9 / restart cycles
  'live-upgrade', // in-place re-exec: containers, stdio streams, exits, grouped daemons
];
const SUITES = { 1.7: SUITES_RUN, 2.1: SUITES_RUN };

// Where the test tools are (as test/helpers/containerd.ts looks for them).
const tools =
  process.env.SHIM_TEST_TOOLS ?? new URL('../../shared/test-tools', import.meta.url).pathname;
if (!existsSync(`${tools}/use.sh`)) {
  console.log(
    `\n==== containerd 1.7 and 2.1 NOT TESTED: no test tools in ${tools} (set SHIM_TEST_TOOLS)`,
  );
  process.exit(0);
}

let failed = false;
for (const version of process.argv.length > 2 ? process.argv.slice(2) : Object.keys(SUITES)) {
  const suites = SUITES[version] ?? [];
  console.log(`\n==== containerd ${version}: ${suites.join(', ')}`);
  const r = spawnSync(
    process.execPath,
    ['--test', '--test-concurrency=1', ...suites.map((t) => `build/test/integration/${t}.test.js`)],
    { stdio: 'inherit', env: { ...process.env, SHIM_TEST_CONTAINERD: version } },
  );
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
