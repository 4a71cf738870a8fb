import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShimError } from '../../../src/base/errors.js';
import { MAX_ID_LENGTH, checkId, isValidId } from '../../../src/process/ids.js';
import { checkBundle } from '../../../src/process/bundle.js';

const kindOf = (fn: () => void): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ShimError, String(err));
    return err.kind;
  }
  return 'ok';
};

test('ids containerd accepts are valid: ctr, CRI (64 hex), docker, dotted and dashed names', () => {
  for (const id of [
    'a',
    'e0',
    'warm',
    'exec-1',
    'my_exec.2',
    'A.b-C_d',
    'f'.repeat(64),
    'x'.repeat(MAX_ID_LENGTH),
  ]) {
    assert.equal(isValidId(id), true, id);
    assert.doesNotThrow(() => {
      checkId('exec', id);
    });
  }
});

test('ids that could escape or break a path are invalid', () => {
  for (const id of [
    '',
    '.',
    '..',
    '../x',
    'a/b',
    '/abs',
    'a\0b',
    'a b',
    'a\nb',
    '.hidden',
    'trailing.',
    '-dash',
    'a..b',
    'ünïcødé',
    '日本',
    'x'.repeat(MAX_ID_LENGTH + 1),
    'x'.repeat(10240),
  ]) {
    assert.equal(isValidId(id), false, JSON.stringify(id));
  }
});

test('checkId throws InvalidArgument naming the kind, and quotes at most a prefix of a huge id', () => {
  assert.throws(
    () => {
      checkId('exec', '../x');
    },
    (err: unknown) =>
      err instanceof ShimError &&
      err.kind === 'invalid-argument' &&
      err.message === 'invalid exec id "../x": invalid argument',
  );
  assert.throws(
    () => {
      checkId('container', 'a/b');
    },
    { message: 'invalid container id "a/b": invalid argument' },
  );
  const huge = 'y'.repeat(4 << 20);
  assert.throws(
    () => {
      checkId('exec', huge);
    },
    (err: unknown) =>
      err instanceof ShimError &&
      err.message.length < 200 &&
      err.message.includes(`(${String(huge.length)} characters)`),
  );
});

test('checkBundle: an existing directory by clean absolute path; NotFound when it is missing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bundle-check-'));
  try {
    const file = join(dir, 'file');
    writeFileSync(file, '');
    assert.equal(
      kindOf(() => {
        checkBundle(dir);
      }),
      'ok',
    );
    assert.equal(
      kindOf(() => {
        checkBundle(`${dir}/`);
      }),
      'ok',
    );
    for (const bad of ['', '.', 'relative/x', `${dir}/../x`, `${dir}/..`, `${dir}\0x`]) {
      assert.equal(
        kindOf(() => {
          checkBundle(bad);
        }),
        'invalid-argument',
        JSON.stringify(bad),
      );
    }
    assert.equal(
      kindOf(() => {
        checkBundle(file);
      }),
      'invalid-argument',
    );
    assert.equal(
      kindOf(() => {
        checkBundle(join(dir, 'missing'));
      }),
      'not-found',
    );
    assert.equal(
      kindOf(() => {
        checkBundle(join(file, 'below-a-file'));
      }),
      'invalid-argument',
    );
    // A path of megabytes (ENAMETOOLONG) is refused without being echoed whole.
    assert.throws(
      () => {
        checkBundle(`/${'d'.repeat(4 << 20)}`);
      },
      (err: unknown) =>
        err instanceof ShimError && err.kind === 'invalid-argument' && err.message.length < 300,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
