// Forking a booted Node process (the zygote's primitive): the copy runs on its own (own session,
// loop, timers, heap), knows its own pid, and exits with the code it asks for instead of crashing
// in Node's teardown. Run in a separate Node with the zygote's flags, as the zygote is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DAEMON_NODE_FLAGS, ZYGOTE_NODE_FLAGS } from '../../../src/shim/node-command.js';

const NATIVE = fileURLToPath(new URL('../../../src/native/index.js', import.meta.url));
const ZYGOTE = fileURLToPath(new URL('../../../src/shim/handoff/zygote.js', import.meta.url));

// The forking process is the copy's subreaper, so it can collect the copy's exit status.
const script = (out: string): string => `
import { readFileSync, writeFileSync } from 'node:fs';
import { native } from ${JSON.stringify(NATIVE)};
import { becomeForked } from ${JSON.stringify(ZYGOTE)};
native.setChildSubreaper();
const me = process.pid;
const pid = native.forkDetached();
if (pid === 0) {
  becomeForked();
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const sid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  setTimeout(() => {
    const junk = [];
    for (let i = 0; i < 200000; i++) junk.push({ i, s: 'x' + i });
    writeFileSync(${JSON.stringify(out)}, JSON.stringify({
      pid: process.pid, kernelPid: native.processIds().pid, ppid: process.ppid, sid,
      allocated: junk.length,
    }));
    process.exit(7);
  }, 20);
} else {
  let status = null;
  for (let i = 0; i < 1000 && status === null; i++) {
    await new Promise((r) => setTimeout(r, 10));
    status = native.waitPid(pid);
  }
  console.log(JSON.stringify({ forked: pid, status, me }));
}
`;

test('a forked Node runs on its own and exits with its code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fork-'));
  const out = join(dir, 'child.json');
  try {
    const source = script(out);
    const stdout = execFileSync(
      process.execPath,
      [...DAEMON_NODE_FLAGS, ...ZYGOTE_NODE_FLAGS, '--input-type=module', '-e', source],
      { encoding: 'utf8', timeout: 30_000 },
    );
    const parent = JSON.parse(stdout) as { forked: number; status: number | null; me: number };
    // 7, not 128 + SIGSEGV: Node's own exit path would join threads the fork did not copy.
    assert.equal(parent.status, 7);
    const child = JSON.parse(readFileSync(out, 'utf8')) as Record<string, number>;
    assert.equal(child['pid'], parent.forked);
    assert.equal(child['kernelPid'], parent.forked);
    assert.notEqual(child['pid'], parent.me);
    assert.equal(child['sid'], parent.forked, 'leads its own session');
    // Reparented when the intermediate child exited: to the forker here (its subreaper), to init
    // for the zygote.
    assert.equal(child['ppid'], parent.me);
    assert.equal(child['allocated'], 200000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
