// The console plumbing without runc: a fake "runc" connects to the console socket and sends an fd
// as runc sends the pty master. A unix socket pair stands in for the pty (bidirectional, and the
// test holds the "slave" end); the real pty is covered by the integration tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  constants,
  closeSync,
  existsSync,
  readFileSync,
  writeFileSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { connect, createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { Console } from '../../../src/io/console.js';
import { Monitor } from '../../../src/reaper/index.js';
import { native } from '../../../src/native/index.js';

const fdOf = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

async function connected(path: string): Promise<Socket> {
  const s = connect(path);
  await new Promise((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

/** Runs `fn` with XDG_RUNTIME_DIR pointing at a fresh dir; removes it afterwards. */
async function withRuntimeDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync('/tmp/console-test-');
  const saved = process.env['XDG_RUNTIME_DIR'];
  process.env['XDG_RUNTIME_DIR'] = dir;
  try {
    return await fn(dir);
  } finally {
    if (saved === undefined) delete process.env['XDG_RUNTIME_DIR'];
    else process.env['XDG_RUNTIME_DIR'] = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}

function collect(s: Socket): { text: () => string; ended: Promise<void> } {
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  const ended = new Promise<void>((resolve) => s.once('end', resolve));
  return { text: () => text, ended };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition never met');
}

test('console: socket under XDG_RUNTIME_DIR, both copy directions, stdin EOF closes it', async () => {
  await withRuntimeDir(async (runtimeDir) => {
    const work = mkdtempSync('/tmp/console-work-');
    const server = createServer();
    try {
      const stdin = join(work, 'stdin');
      const stdout = join(work, 'stdout');
      await execa('mkfifo', [stdin, stdout]);
      // The "slave" side: a connected pair, the test keeps one end.
      const peerPath = join(work, 'peer.sock');
      const peerP = new Promise<Socket>((resolve) => server.once('connection', resolve));
      await new Promise<void>((resolve) => server.listen(peerPath, resolve));
      const masterSide = await connected(peerPath);
      const slave = await peerP;
      // containerd's side: the reader of stdout is open before Create, as clients do.
      const stdoutReader = new Socket({
        fd: openSync(stdout, constants.O_RDONLY | constants.O_NONBLOCK),
        readable: true,
        writable: false,
      });
      const shown = collect(stdoutReader);

      let socketPath = '';
      const cons = await Console.receive(
        { stdin, stdout, stderr: '', terminal: true },
        async (path) => {
          socketPath = path;
          const st = statSync(path);
          assert.ok(st.isSocket());
          assert.equal(st.mode & 0o7777, 0o1755);
          const runc = await connected(path);
          native.sendFd(fdOf(runc), fdOf(masterSide), '/dev/pts/0');
          runc.destroy();
        },
      );
      masterSide.destroy(); // the console holds its own copy now
      assert.match(socketPath, new RegExp(`^${runtimeDir}/pty[^/]+/pty\\.sock$`));
      assert.deepEqual(readdirSync(runtimeDir), [], 'socket dir removed once the fd arrived');

      const typed = collect(slave);
      const stdinWriter = openSync(stdin, constants.O_WRONLY | constants.O_NONBLOCK);
      const clientIn = new Socket({ fd: stdinWriter, readable: false, writable: true });
      clientIn.write('typed');
      await until(() => typed.text() === 'typed');
      slave.write('shown');
      await until(() => shown.text() === 'shown');

      // The client closing alone is no EOF (keep-alive writer); after CloseIO it is, and the
      // console is closed: the slave side hangs up, stdout ends.
      clientIn.end();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(cons.isShutDown, false);
      cons.closeStdin();
      await typed.ended;
      await shown.ended;
      assert.equal(cons.isShutDown, true);
      await cons.drain(1000);
      cons.close();
      slave.destroy();
      stdoutReader.destroy();
    } finally {
      server.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});

test('console: everything is released when runc fails or sends nothing', async () => {
  await withRuntimeDir(async (runtimeDir) => {
    const stdio = { stdin: '', stdout: '', stderr: '', terminal: true };
    // A terminal's output goes to FIFOs or a binary:// logger; like the reference, not a file.
    await assert.rejects(
      Console.receive({ ...stdio, stdout: 'file:///tmp/log' }, () => Promise.resolve()),
      /terminal with file stdio: not implemented/,
    );
    assert.deepEqual(readdirSync(runtimeDir), []);
    await assert.rejects(
      Console.receive(stdio, () => Promise.reject(new Error('runc create failed'))),
      /runc create failed/,
    );
    assert.deepEqual(readdirSync(runtimeDir), []);
    await assert.rejects(
      Console.receive(stdio, () => Promise.resolve()),
      /failed to retrieve console master/,
    );
    assert.deepEqual(readdirSync(runtimeDir), []);
    // The output side of a console without stdout is read and discarded until EOF.
    const [r, w] = native.pipe();
    const cons = await Console.receive(stdio, async (path) => {
      const runc = await connected(path);
      native.sendFd(fdOf(runc), r, 'pty');
      runc.destroy();
    });
    native.closeFd(r);
    closeSync(w);
    await cons.drain(5000);
    cons.close();
    assert.deepEqual(readdirSync(runtimeDir), []);
  });
});

test('console: a socket path over 107 bytes is refused and nothing is left', async () => {
  const base = mkdtempSync('/tmp/console-long-');
  try {
    const long = join(base, 'd'.repeat(100));
    await execa('mkdir', ['-p', long]);
    const saved = process.env['XDG_RUNTIME_DIR'];
    process.env['XDG_RUNTIME_DIR'] = long;
    try {
      await assert.rejects(
        Console.receive({ stdin: '', stdout: '', stderr: '', terminal: true }, () =>
          Promise.resolve(),
        ),
        /console socket path too long/,
      );
    } finally {
      if (saved === undefined) delete process.env['XDG_RUNTIME_DIR'];
      else process.env['XDG_RUNTIME_DIR'] = saved;
    }
    assert.deepEqual(readdirSync(long), []);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

// ctr 1.6 ignores --log-uri with -t, so this wiring is proven here: a real logger process (through
// the real Monitor) gets the pty output on fd 3 and the ready pipe on fd 4, as the reference's
// console copier gives them, and is stopped when the console closes.
test('console: binary:// logger with a terminal reads the pty output on fd 3', async () => {
  await withRuntimeDir(async () => {
    const work = mkdtempSync('/tmp/console-work-');
    const server = createServer();
    const monitor = new Monitor();
    monitor.start();
    let cons: Console | undefined;
    try {
      const logger = join(work, 'logger.sh');
      writeFileSync(
        logger,
        [
          '#!/bin/sh',
          `ls /proc/self/fd > ${work}/fds`,
          `cat <&3 > ${work}/out 4>&- &`,
          'exec 4>&-',
          'wait',
          `echo done > ${work}/done`,
          '',
        ].join('\n'),
      );
      chmodSync(logger, 0o755);
      const peerPath = join(work, 'peer.sock');
      const peerP = new Promise<Socket>((resolve) => server.once('connection', resolve));
      await new Promise<void>((resolve) => server.listen(peerPath, resolve));
      const masterSide = await connected(peerPath);
      const slave = await peerP;
      cons = await Console.receive(
        { stdin: '', stdout: `binary://${logger}?k=v`, stderr: '', terminal: true },
        async (path) => {
          const runc = await connected(path);
          native.sendFd(fdOf(runc), fdOf(masterSide), '/dev/pts/0');
          runc.destroy();
        },
        { id: 'c1', namespace: 'ns', spawner: monitor },
      );
      masterSide.destroy();
      // 0, 1, 2, the pty output (3), the ready pipe (4), and the fd ls opens for the listing.
      const fds = readFileSync(join(work, 'fds'), 'utf8').trim().split('\n').map(Number);
      assert.deepEqual(
        fds.sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5],
      );
      slave.write('through the pty\r\n');
      slave.end();
      await until(() => existsSync(join(work, 'done')));
      assert.equal(readFileSync(join(work, 'out'), 'utf8'), 'through the pty\r\n');
    } finally {
      await cons?.closeAndWait();
      monitor.stop();
      server.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
