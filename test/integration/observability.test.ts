// What an operator reads: our shim's lines in containerd's log (copied there from the bundle's
// `log` FIFO). Every ttrpc request at debug level and every failed one at warn/error name the
// namespace, the container id and the method; lifecycle lines (created, started, exited with
// status, deleted, OOM) are at info level; without -debug there are no per-request lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RUNTIMES, useHarness } from '../helpers/differential.js';
import { startContainerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';

const h = useHarness();
const OURS = RUNTIMES.ours;

type Line = Record<string, string>;

/** A logrus text line (`key=value`, values bare or JSON-quoted) as fields. */
function parseLine(text: string): Line {
  const out: Line = {};
  for (const m of text.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const [, key = '', raw = ''] = m;
    out[key] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  }
  return out;
}

/** Our shim's lines in a containerd log. */
function ourLines(log: string): Line[] {
  return log
    .split('\n')
    .filter((l) => l.includes(`runtime=${OURS}`))
    .map(parseLine);
}

const find = (lines: Line[], want: Line): Line | undefined =>
  lines.find((l) => Object.entries(want).every(([k, v]) => l[k] === v));

test('requests, failures and lifecycle are logged with namespace, id and method', async () => {
  const id = h.uid('ours', 'obs');
  const ns = h.cd.namespace;
  await h.runDetached('ours', id, ['sleep', '1000']);
  const exec = await h.ctr(['task', 'exec', '--exec-id', 'e1', id, 'sh', '-c', 'exit 3']);
  assert.equal(exec.exitCode, 3, exec.stderr);
  await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
  await h.waitStatus(id, 'STOPPED');
  // A request the shim refuses: exec in a stopped task.
  const late = await h.ctr(['task', 'exec', '--exec-id', 'late', id, 'true']);
  assert.notEqual(late.exitCode, 0);
  assert.equal((await h.ctr(['task', 'delete', id])).exitCode, 0);
  await h.ctr(['container', 'delete', id]);
  // An OOM-killed container: its OOM is an info line too.
  const oomId = h.uid('ours', 'obs-oom');
  const oom = await h.run(
    'ours',
    oomId,
    ['sh', '-c', 'tail /dev/zero'],
    ['--memory-limit', '16777216'],
  );
  assert.equal(oom.exitCode, 137, oom.stderr);

  const lines = ourLines(h.cd.log()).filter((l) => l['id'] === id || l['id'] === oomId);
  const show = JSON.stringify(lines, null, 1);
  // Every line names its namespace.
  assert.deepEqual(
    lines.filter((l) => l['namespace'] !== ns),
    [],
  );
  // Each request at debug level, named by method (and exec id for an exec's requests).
  for (const method of ['Create', 'Start', 'State', 'Kill', 'Delete', 'Wait']) {
    assert.ok(find(lines, { level: 'debug', msg: 'request', method, id }), `${method}: ${show}`);
  }
  for (const method of ['Exec', 'Start', 'Delete']) {
    const want = { level: 'debug', msg: 'request', method, id, exec_id: 'e1' };
    assert.ok(find(lines, want), `${method} e1: ${show}`);
  }
  // The refused request: an error with its method, id, exec id and reason.
  const failed = find(lines, { msg: 'request failed', method: 'Exec', id, exec_id: 'late' });
  assert.ok(failed, show);
  assert.equal(failed['level'], 'error');
  assert.match(failed['error'] ?? '', /cannot exec in a stopped state/);
  assert.equal(failed['code'], 'Unknown');
  // Lifecycle at info level, with pids and exit statuses.
  const info = (msg: string, extra: Line = {}): Line => {
    const l = find(lines, { level: 'info', msg, ...extra });
    assert.ok(l, `${msg} ${JSON.stringify(extra)}: ${show}`);
    return l;
  };
  const pid = info('container created', { id })['pid'] ?? '';
  assert.match(pid, /^[1-9]\d*$/);
  info('container started', { id, pid });
  assert.match(info('exec started', { id, exec_id: 'e1' })['pid'] ?? '', /^[1-9]\d*$/);
  info('exec exited', { id, exec_id: 'e1', exit_status: '3' });
  info('exec deleted', { id, exec_id: 'e1' });
  info('container exited', { id, pid, exit_status: '137' });
  info('container deleted', { id });
  info('container oom', { id: oomId });
  info('container exited', { id: oomId, exit_status: '137' });
});

test('without -debug: lifecycle lines, no per-request lines', async () => {
  const cd = await startContainerd({ logLevel: 'info' });
  try {
    const image = await ensureBusyboxImage(cd);
    const id = `obs-info-${String(process.pid)}`;
    const run = await cd.ctr(['run', '--rm', '--runtime', OURS, image, id, 'true']);
    assert.equal(run.exitCode, 0, run.stderr);
    const lines = ourLines(cd.log());
    const show = JSON.stringify(lines, null, 1);
    assert.ok(find(lines, { level: 'info', msg: 'container created', id }), show);
    assert.ok(find(lines, { level: 'info', msg: 'container exited', id, exit_status: '0' }), show);
    assert.deepEqual(
      lines.filter((l) => l['level'] === 'debug'),
      [],
    );
  } finally {
    await cd.stop();
  }
});
