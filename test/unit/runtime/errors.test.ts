import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuncError, killError } from '../../../src/runtime/errors.js';
import { lastLogError } from '../../../src/runtime/runc.js';

const runcErr = (msg: string) => new RuncError(['kill'], 1, '', msg);

test('kill errors are normalised to what containerd clients expect', () => {
  assert.equal(killError(runcErr('container not running')).kind, 'not-found');
  assert.equal(killError(runcErr('container "x" does not exist')).kind, 'not-found');
  assert.equal(killError(runcErr('no such process')).kind, 'not-found');
  const other = killError(runcErr('permission denied'));
  assert.equal(other.kind, 'unknown');
  assert.match(other.message, /^unknown error after kill: permission denied/);
});

test('lastLogError reads the last error line of runc JSON logs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runc-log-'));
  try {
    const path = join(dir, 'log.json');
    writeFileSync(
      path,
      [
        '{"level":"error","msg":"first","time":"t"}',
        '{"level":"info","msg":"later info","time":"t"}',
        '{"level":"error","msg":"second","time":"t"}',
        'not json',
        '{"level":"warning","msg":"w","time":"t"}',
      ].join('\n'),
    );
    assert.equal(await lastLogError(path), 'second');
    assert.equal(await lastLogError(join(dir, 'missing')), '');
  } finally {
    rmSync(dir, { recursive: true });
  }
});
