import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../../../src/base/log.js';
import {
  DEFAULT_MAX_CONNECTIONS,
  RefusalLog,
  maxConnections,
  sameUserOnly,
} from '../../../src/shim/connection-policy.js';

/** A Logger whose lines are kept (it writes to an fd; a pipe's read end would do, this is simpler). */
function recordingLog(): { log: Logger; lines: { msg: string; fields: unknown }[] } {
  const lines: { msg: string; fields: unknown }[] = [];
  const log = new Logger(-1, 'debug', {});
  log.warn = (msg, fields) => {
    lines.push({ msg, fields });
  };
  return { log, lines };
}

test('maxConnections: the environment, else the default; nonsense falls back', () => {
  assert.equal(maxConnections({}), DEFAULT_MAX_CONNECTIONS);
  assert.equal(maxConnections({ TSSHIM_MAX_CONNECTIONS: '8' }), 8);
  for (const bad of ['0', '-3', 'x', '1.5'])
    assert.equal(maxConnections({ TSSHIM_MAX_CONNECTIONS: bad }), DEFAULT_MAX_CONNECTIONS);
});

test('RefusalLog: one line a second per kind, the refusals in between counted in the next', () => {
  const { log, lines } = recordingLog();
  let now = 10_000;
  const refusals = new RefusalLog(log, () => now);
  refusals.refused('limit', 'a');
  now += 100;
  refusals.refused('limit', 'b');
  refusals.refused('credentials', 'x');
  refusals.refused('limit', 'c');
  now += 1000;
  refusals.refused('limit', 'd');
  const line = (reason: string, unlogged: number) => ({
    msg: 'ttrpc connection refused',
    fields: { reason, 'refused.unlogged': unlogged },
  });
  assert.deepEqual(lines, [line('a', 0), line('x', 0), line('d', 2)]);
});

test('sameUserOnly: our own uid and gid pass, any other is refused and logged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-'));
  const path = join(dir, 's.sock');
  const accepted: Socket[] = [];
  const server = createServer((s) => accepted.push(s));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    const client = connect(path);
    await new Promise((resolve) => client.once('connect', resolve));
    while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
    const peer = accepted[0] as Socket;
    const { log, lines } = recordingLog();
    const uid = process.geteuid?.() ?? 0;
    const gid = process.getegid?.() ?? 0;
    assert.equal(sameUserOnly(new RefusalLog(log), uid, gid)(peer), true);
    assert.equal(sameUserOnly(new RefusalLog(log), uid + 1, gid)(peer), false);
    assert.equal(sameUserOnly(new RefusalLog(log), uid, gid + 1)(peer), false);
    assert.equal(lines.length, 2);
    assert.match(
      (lines[0]?.fields as { reason: string }).reason,
      new RegExp(`^peer pid ${String(process.pid)} uid ${String(uid)} gid ${String(gid)} is not`),
    );
    client.destroy();
  } finally {
    for (const s of accepted) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
