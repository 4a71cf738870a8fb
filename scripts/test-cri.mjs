#!/usr/bin/env node
// The CRI suite (test/cri, driven with crictl from the test tools) against Debian's containerd 1.6
// and the test tools' 1.7 and 2.1, each with that version's reference shim as the oracle.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// Where the test tools are (as test/helpers/containerd.ts looks for them): crictl comes from there.
const tools =
  process.env.SHIM_TEST_TOOLS ?? new URL('../../shared/test-tools', import.meta.url).pathname;
if (!existsSync(`${tools}/use.sh`)) {
  console.log(`\n==== CRI NOT TESTED: no test tools (crictl) in ${tools} (set SHIM_TEST_TOOLS)`);
  process.exit(0);
}

let failed = false;
for (const version of process.argv.length > 2 ? process.argv.slice(2) : ['1.6', '1.7', '2.1']) {
  console.log(`\n==== CRI on containerd ${version}`);
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', 'build/test/cri/'], {
    stdio: 'inherit',
    env: { ...process.env, SHIM_TEST_CONTAINERD: version },
  });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
