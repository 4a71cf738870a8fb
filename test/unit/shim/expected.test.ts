import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExpectedContainers } from '../../../src/shim/expected.js';

test('an announced container is pending until its Create arrives', () => {
  let lapsed = 0;
  const expected = new ExpectedContainers(() => (lapsed += 1), 60_000);
  assert.equal(expected.pending, false);
  assert.equal(expected.expect('a'), true);
  assert.equal(expected.expect('b'), true);
  expected.arrived('a');
  assert.equal(expected.pending, true, 'b is still expected');
  expected.arrived('b');
  assert.equal(expected.pending, false);
  expected.arrived('never-announced');
  assert.equal(lapsed, 0);
  expected.close();
});

test('an announcement that is never followed by a Create lapses and says so', async () => {
  let lapsed = 0;
  const expected = new ExpectedContainers(() => (lapsed += 1), 20);
  expected.expect('a');
  expected.expect('a'); // Announced twice (a retried start): one expectation.
  await sleep(100);
  assert.equal(expected.pending, false);
  assert.equal(lapsed, 1);
  expected.close();
});

test('a closing daemon refuses announcements and drops the pending ones', async () => {
  let lapsed = 0;
  const expected = new ExpectedContainers(() => (lapsed += 1), 20);
  expected.expect('a');
  expected.close();
  assert.equal(expected.pending, false);
  assert.equal(expected.expect('b'), false);
  assert.equal(expected.pending, false);
  await sleep(60);
  assert.equal(lapsed, 0, 'no lapse after close');
});
