// `-info` through containerd 2.1 (`ctr plugins inspect-runtime`, test tools): ours reports its
// name and version and the same OCI runtime features as the reference (the configured runc's own
// `runc features`), which containerd needs, e.g. to allow idmap mounts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startContainerd, testToolsAvailable, type Containerd } from '../helpers/containerd.js';
import { RUNTIMES } from '../helpers/differential.js';

// Needs containerd 2.1 from the test tools (SHIM_TEST_TOOLS); reported as skipped without them.
const skip = testToolsAvailable() ? false : 'containerd 2.1 test tools not found (SHIM_TEST_TOOLS)';
let cd: Containerd | undefined;
before(async () => {
  if (!skip) cd = await startContainerd({ version: '2.1' });
});
after(() => cd?.stop());

async function inspect(runtime: string): Promise<Record<string, unknown>> {
  if (!cd) throw new Error('no containerd 2.1');
  const r = await cd.ctr(['plugins', 'inspect-runtime', '--runtime', runtime]);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

test(
  "inspect-runtime: our name and version, and the reference's runc features",
  { skip },
  async () => {
    const reference = await inspect(RUNTIMES.reference);
    const ours = await inspect(RUNTIMES.ours);
    assert.equal(ours['Name'], 'io.containerd.tsshim.v2');
    assert.match(String((ours['Version'] as Record<string, unknown>)['Version']), /^\d+\.\d+\.\d+/);
    assert.ok(ours['Features'], 'features are reported');
    assert.deepEqual(ours['Features'], reference['Features']);
    // Options are echoed as received: containerd 2.1 sends runc options only to runc runtimes.
    assert.equal(ours['Options'], null);
  },
);
