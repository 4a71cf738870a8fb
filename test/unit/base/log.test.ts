import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../../../src/base/log.js';

/** Lines a logger writes, through a temp file. */
function capture(minLevel: 'debug' | 'info', write: (log: Logger) => void): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'log-'));
  const path = join(dir, 'log');
  const fd = openSync(path, 'w');
  try {
    write(new Logger(fd, minLevel, { namespace: 'ns1', runtime: 'rt' }));
  } finally {
    closeSync(fd);
  }
  const text = readFileSync(path, 'utf8');
  rmSync(dir, { recursive: true, force: true });
  return text.split('\n').slice(0, -1);
}

test('child loggers carry their fields; lines are logrus text', () => {
  const lines = capture('debug', (log) => {
    log.with({ method: 'Exec', id: 'c1', exec_id: undefined }).debug('request', { n: 3 });
  });
  assert.equal(lines.length, 1);
  assert.match(
    lines[0] ?? '',
    /^time="[^"]+" level=debug msg="request" namespace=ns1 runtime=rt method=Exec id=c1 n=3$/,
  );
});

test('values from outside cannot forge lines or fields', () => {
  const hostile = 'a\nlevel=error msg="forged"\r\x1b[31m\0 b';
  const lines = capture('info', (log) => {
    log.with({ id: hostile }).warn(hostile, { error: hostile });
  });
  assert.equal(lines.length, 1);
  const line = lines[0] ?? '';
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(line, /[\x00-\x1f]/);
  const quoted = JSON.stringify(hostile);
  assert.ok(line.includes(` msg=${quoted} `), line);
  assert.ok(line.includes(` id=${quoted} `), line);
  assert.ok(line.endsWith(` error=${quoted}`), line);
});

test('debug lines only at debug level', () => {
  const lines = capture('info', (log) => {
    log.debug('hidden');
    log.info('shown');
  });
  assert.deepEqual(
    lines.map((l) => /msg="(\w+)"/.exec(l)?.[1]),
    ['shown'],
  );
});
