// The binary:// logger with the real reaper Monitor and real /bin/sh loggers: argv, env, fds 3/4/5,
// readiness, failures that leave nothing behind, and the SIGTERM-then-SIGKILL close.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSync } from 'node:fs';
import { Monitor } from '../../../src/reaper/index.js';
import { BinaryLogger, LOGGER_TERM_TIMEOUT_MS } from '../../../src/io/binary-logger.js';
import { fdCount, isAlive, waitFor, zombieChildren } from '../../helpers/leaks.js';

const monitor = new Monitor();
let dir = '';

before(() => {
  monitor.start();
  dir = mkdtempSync(join(tmpdir(), 'binlog-unit-'));
});
after(() => {
  monitor.stop();
  rmSync(dir, { recursive: true, force: true });
});

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const ctx = (id = 'c1') => ({ id, namespace: 'ns1', spawner: monitor });

/** The exit status the Monitor reaps for pid (subscribed before the exit can happen). */
function exitStatusOf(pid: number): Promise<number> {
  return new Promise((resolve) => {
    const sub = monitor.subscribe((e) => {
      if (e.pid === pid) {
        sub.dispose();
        resolve(e.status);
      }
    });
  });
}

test('logger gets argv, only the two env vars, /dev/null stdio, and the pipes on fds 3 and 4', async () => {
  const out = join(dir, 'a');
  const path = script(
    'logger-a',
    [
      // Flush-then-exit on EOF: SIGTERM comes right after the pipes close, as in the reference.
      "trap '' TERM",
      `printf '%s\\n' "$0" "$@" > ${out}.argv`,
      `env > ${out}.env`,
      `readlink /proc/$$/fd/0 > ${out}.stdin`,
      // The copies must not inherit fd 5, or readiness would wait for them.
      `cat <&3 > ${out}.out 5>&- & cat <&4 > ${out}.err 5>&- &`,
      'exec 5>&-',
      'wait',
      `echo done > ${out}.done`,
    ].join('\n'),
  );
  const fdsBefore = fdCount();
  const logger = await BinaryLogger.start(path, ['k1', 'v1', 'k2', 'v2'], ctx());
  writeSync(logger.stdoutFd, 'to stdout\n');
  writeSync(logger.stderrFd, 'to stderr\n');
  // The copies end only when we close our write ends; close() then waits for the logger's exit.
  await logger.close();
  assert.ok(existsSync(`${out}.done`), 'close() returned before the logger exited');
  assert.equal(readFileSync(`${out}.argv`, 'utf8'), `${path}\nk1\nv1\nk2\nv2\n`);
  assert.deepEqual(
    readFileSync(`${out}.env`, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => !/^(PWD|SHLVL|_)=/.test(l))
      .sort(),
    ['CONTAINER_ID=c1', 'CONTAINER_NAMESPACE=ns1'],
  );
  assert.equal(readFileSync(`${out}.stdin`, 'utf8').trim(), '/dev/null');
  assert.equal(readFileSync(`${out}.out`, 'utf8'), 'to stdout\n');
  assert.equal(readFileSync(`${out}.err`, 'utf8'), 'to stderr\n');
  assert.equal(isAlive(logger.pid), false);
  await waitFor(() => zombieChildren(process.pid) === 0, 5000);
  assert.equal(fdCount(), fdsBefore);
});

test('start waits for readiness: nothing is returned before fd 5 is closed', async () => {
  const gate = join(dir, 'gate');
  const path = script(
    'logger-gated',
    `while [ ! -e ${gate} ]; do sleep 0.05; done\nexec 5>&-\nexec sleep 1000`,
  );
  let ready = false;
  const starting = BinaryLogger.start(path, [], ctx()).then((l) => {
    ready = true;
    return l;
  });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(ready, false, 'start returned before the logger closed fd 5');
  writeFileSync(gate, '');
  const logger = await starting;
  assert.ok(isAlive(logger.pid));
  await logger.close();
  await waitFor(() => !isAlive(logger.pid), 5000);
});

test('a byte written on fd 5 also means ready (the reference reads one byte)', async () => {
  const path = script('logger-byte', 'printf x >&5\nexec sleep 1000');
  const logger = await BinaryLogger.start(path, [], ctx());
  assert.ok(isAlive(logger.pid));
  const status = exitStatusOf(logger.pid);
  await logger.close();
  // close() returns once the logger has exited, and it was SIGTERM that ended it.
  assert.equal(isAlive(logger.pid), false);
  assert.equal(await status, 143);
});

test('a missing binary fails with the reference message and leaves no fd', async () => {
  const fdsBefore = fdCount();
  await assert.rejects(BinaryLogger.start(join(dir, 'nope'), [], ctx()), {
    message: `failed to start binary process: fork/exec ${join(dir, 'nope')}: no such file or directory`,
  });
  assert.equal(fdCount(), fdsBefore);
});

test('a logger that exits non-zero before ready fails start and leaves no fd or zombie', async () => {
  const path = script('logger-fails', 'echo broken >&2\nexit 3');
  const fdsBefore = fdCount();
  await assert.rejects(BinaryLogger.start(path, [], ctx()), {
    message: `logging binary ${path} exited with status 3 before it was ready`,
  });
  assert.equal(fdCount(), fdsBefore);
  await waitFor(() => zombieChildren(process.pid) === 0, 5000);
});

test('a logger that exits 0 without using fd 5 is accepted, as by the reference', async () => {
  const path = script('logger-zero', 'exit 0');
  const logger = await BinaryLogger.start(path, [], ctx());
  await logger.close();
  await waitFor(() => zombieChildren(process.pid) === 0, 5000);
});

test(`a logger ignoring SIGTERM is SIGKILLed after ${LOGGER_TERM_TIMEOUT_MS} ms`, async () => {
  const path = script('logger-stubborn', "trap '' TERM\nexec 5>&-\nwhile :; do sleep 0.1; done");
  const logger = await BinaryLogger.start(path, [], ctx());
  const status = exitStatusOf(logger.pid);
  await logger.close();
  assert.equal(await status, 137, 'the logger was not killed by SIGKILL');
});

test('a console copier can write through stdoutStream(); close() still owns the fd', async () => {
  const out = join(dir, 'console');
  const path = script(
    'logger-console',
    `trap '' TERM\ncat <&3 > ${out} 5>&- &\nexec 5>&-\nwait\necho done > ${out}.done`,
  );
  const fdsBefore = fdCount();
  const logger = await BinaryLogger.start(path, [], ctx());
  const stream = logger.stdoutStream();
  assert.equal(logger.stdoutStream(), stream, 'one stream per logger');
  await new Promise<void>((resolve) =>
    stream.write('from the pty\n', () => {
      resolve();
    }),
  );
  await logger.close();
  assert.equal(readFileSync(out, 'utf8'), 'from the pty\n');
  assert.ok(existsSync(`${out}.done`));
  await waitFor(() => fdCount() === fdsBefore, 5000);
});
