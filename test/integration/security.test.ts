// Security properties, ours vs the reference shim where both can be observed the same way:
//  - the shim socket is a filesystem socket (never abstract: CVE-2020-15257), 0600, in a
//    directory nobody but root can enter, and a host-network container cannot reach it;
//  - no fd beyond 0, 1, 2 reaches a container's init or exec, whatever the stdio, nor runc itself
//    (the CVE-2024-21626 class);
//  - ids that would escape the bundle never touch a path;
//  - a container's stdio is copied byte for byte, never interpreted, and never reaches the log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { differential, RUNTIMES, useHarness, type RuntimeName } from '../helpers/differential.js';
import { REPO, startContainerd, type Containerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';
import { parentOf, waitFor } from '../helpers/leaks.js';
import { ctrInTerminal, plain } from '../helpers/pty.js';

const h = useHarness();
const ctr = h.ctr.bind(h);
const uid = h.uid.bind(h);
const SLEEP = ['sleep', '1000'];

let dir = '';
let logger = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'security-'));
  // A binary:// logger that copies the process's stdout (fd 3) into the file named by its `f`
  // query parameter, and says it is done once the copy has ended.
  logger = join(dir, 'logger.sh');
  writeFileSync(
    logger,
    [
      '#!/bin/sh',
      "trap '' TERM",
      'cat <&3 > "$2" 5>&- &',
      'cat <&4 > /dev/null 5>&- &',
      'exec 5>&-',
      'wait',
      'echo done > "$2.done"',
      '',
    ].join('\n'),
  );
  chmodSync(logger, 0o755);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const bundleOf = (id: string): string =>
  join(h.cd.state, 'io.containerd.runtime.v2.task', h.cd.namespace, id);

/** The shim's socket path, from the `address` file it wrote into the bundle. */
const socketPathOf = (id: string): string =>
  readFileSync(join(bundleOf(id), 'address'), 'utf8').replace(/^unix:\/\//, '');

/** Inodes of the unix sockets a process holds open. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) out.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** /proc/net/unix as inode → bound path ('' for unbound; abstract names start with '@'). */
function parseNetUnix(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 7 || cols[6] === undefined) continue;
    out.set(cols[6], cols.slice(7).join(' '));
  }
  return out;
}

/** connect(2) to an abstract unix name; resolves to the error code, or 'connected'. */
function dialAbstract(name: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(`\0${name}`);
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code ?? 'error');
    });
  });
}

describe('shim sockets', () => {
  test('filesystem socket 0600 in a root-only dir; no abstract socket', async () => {
    await differential(
      async (rt) => {
        const id = uid(rt, 'sock');
        const init = await h.runDetached(rt, id, SLEEP);
        const shim = parentOf(init);
        const path = socketPathOf(id);
        const sock = statSync(path);
        const sockDir = lstatSync(join(path, '..'));
        const bound = parseNetUnix(readFileSync(`/proc/${shim}/net/unix`, 'utf8'));
        const names = [...socketInodes(shim)].map((inode) => bound.get(inode) ?? '');
        const observed = {
          isSocket: sock.isSocket(),
          socketMode: (sock.mode & 0o7777).toString(8),
          socketOwner: sock.uid,
          dirIsDirectory: sockDir.isDirectory(),
          dirOwner: sockDir.uid,
          // The reference 1.6 creates the dir 0600, ours 0700: either way no group/other access.
          dirGroupOtherBits: sockDir.mode & 0o077,
          inSocketDir: path.startsWith('/run/containerd/s/'),
          listensOnPath: names.includes(path),
          abstractNames: names.filter((n) => n.startsWith('@')),
          // containerd dials an address without unix:// as abstract: nothing must answer there.
          abstractDial: await dialAbstract(path),
        };
        await h.destroy(id);
        return observed;
      },
      {
        isSocket: true,
        socketMode: '600',
        socketOwner: 0,
        dirIsDirectory: true,
        dirOwner: 0,
        dirGroupOtherBits: 0,
        inSocketDir: true,
        listensOnPath: true,
        abstractNames: [],
        abstractDial: 'ECONNREFUSED',
      },
    );
  });

  test('a host-network container sees the socket only as a path it cannot open', async () => {
    await differential(
      async (rt) => {
        const id = uid(rt, 'target');
        const init = await h.runDetached(rt, id, SLEEP);
        const shim = parentOf(init);
        const path = socketPathOf(id);
        const inodes = socketInodes(shim);
        const probe = await h.run(
          rt,
          uid(rt, 'nethost'),
          [
            'sh',
            '-c',
            `cat /proc/net/unix; echo ---; test -e ${path} && echo PRESENT || echo ABSENT;` +
              ' ls -d /run/containerd/s 2>/dev/null || echo NO-DIR',
          ],
          ['--net-host'],
        );
        assert.equal(probe.exitCode, 0, probe.stderr);
        const [table = '', rest = ''] = probe.stdout.split('---\n');
        const seen = parseNetUnix(table);
        const shimEntries = [...inodes].filter((i) => seen.has(i)).map((i) => seen.get(i) ?? '');
        const observed = {
          // The probe really shares the host's network namespace: it sees the shim's socket...
          seesShimListener: shimEntries.includes(path),
          // ...but none of the shim's sockets has an abstract name it could connect to...
          abstractOfShim: shimEntries.filter((n) => n.startsWith('@')),
          // ...and the path is not in its mount namespace.
          inside: rest.trim().split('\n'),
        };
        await h.destroy(id);
        return observed;
      },
      { seesShimListener: true, abstractOfShim: [], inside: ['ABSENT', 'NO-DIR'] },
    );
  });
});

/** `ls -l /proc/self/fd` output → "fd:kind" per fd, leaving out ls's own directory fd. */
function fdList(lsOutput: string): string[] {
  const out: string[] = [];
  for (const line of plain(lsOutput).split('\n')) {
    const m = / (\d+) -> (.*)$/.exec(line.trim());
    if (!m?.[1] || m[2] === undefined) continue;
    const target = m[2].trim();
    if (/^\/proc\/\d+\/fd$/.test(target)) continue;
    const kind = target.startsWith('pipe:')
      ? 'pipe'
      : target.startsWith('socket:')
        ? 'socket'
        : /^\/dev\/pts\/\d+$/.test(target)
          ? 'pty'
          : target;
    out.push(`${m[1]}:${kind}`);
  }
  return out.sort();
}

const LS_FD = ['ls', '-l', '/proc/self/fd'];

/** Reads what a binary:// logger or file:// wrote once it is complete. */
async function readLog(path: string, loggerDone: boolean): Promise<string> {
  await waitFor(() => existsSync(loggerDone ? `${path}.done` : path), 20000);
  return readFileSync(path, 'utf8');
}

async function inTerminal(args: string[], cd: Containerd = h.cd): Promise<string> {
  const term = ctrInTerminal(cd, args);
  try {
    assert.equal(await term.exited, 0, term.output);
    return term.output;
  } finally {
    term.kill();
  }
}

describe('no fd leaks into containers', () => {
  test('init and execs get only fds 0, 1 and 2, with every kind of stdio', async () => {
    await differential(async (rt) => {
      const seen: Record<string, string[]> = {};
      const rtFlags = ['--runtime', RUNTIMES[rt]];
      // The init, each stdio kind.
      const plainRun = await h.run(rt, uid(rt, 'fd-init'), LS_FD);
      assert.equal(plainRun.exitCode, 0, plainRun.stderr);
      seen['init fifo'] = fdList(plainRun.stdout);
      seen['init terminal'] = fdList(
        await inTerminal(['run', '--rm', '-t', ...rtFlags, h.image, uid(rt, 'fd-tty'), ...LS_FD]),
      );
      const binOut = join(dir, `${uid(rt, 'bin')}.out`);
      const binRun = await h.run(rt, uid(rt, 'fd-bin'), LS_FD, [
        '--log-uri',
        `binary://${logger}?f=${binOut}`,
      ]);
      assert.equal(binRun.exitCode, 0, binRun.stderr);
      seen['init binary://'] = fdList(await readLog(binOut, true));
      const fileOut = join(dir, `${uid(rt, 'file')}.log`);
      const fileRun = await h.run(rt, uid(rt, 'fd-file'), LS_FD, [
        '--log-uri',
        `file://${fileOut}`,
      ]);
      assert.equal(fileRun.exitCode, 0, fileRun.stderr);
      seen['init file://'] = fdList(await readLog(fileOut, false));

      // Execs in one running container.
      const id = uid(rt, 'fd-exec');
      await h.runDetached(rt, id, SLEEP);
      const exec = await ctr(['task', 'exec', '--exec-id', 'e1', id, ...LS_FD]);
      assert.equal(exec.exitCode, 0, exec.stderr);
      seen['exec fifo'] = fdList(exec.stdout);
      seen['exec terminal'] = fdList(
        await inTerminal(['task', 'exec', '-t', '--exec-id', 'e2', id, ...LS_FD]),
      );
      const execBin = join(dir, `${uid(rt, 'ebin')}.out`);
      const e3 = await ctr([
        'task',
        'exec',
        '--exec-id',
        'e3',
        '--log-uri',
        `binary://${logger}?f=${execBin}`,
        id,
        ...LS_FD,
      ]);
      assert.equal(e3.exitCode, 0, e3.stderr);
      // The logger's copy ends when the shim closes the exec's pipes, at its delete (done by ctr).
      seen['exec binary://'] = fdList(await readLog(execBin, true));
      const execFile = join(dir, `${uid(rt, 'efile')}.log`);
      const e4 = await ctr([
        'task',
        'exec',
        '--exec-id',
        'e4',
        '--log-uri',
        `file://${execFile}`,
        id,
        ...LS_FD,
      ]);
      assert.equal(e4.exitCode, 0, e4.stderr);
      seen['exec file://'] = fdList(await readLog(execFile, false));
      await h.destroy(id);
      for (const [what, fds] of Object.entries(seen)) {
        assert.deepEqual(
          fds.map((f) => f.split(':')[0]),
          ['0', '1', '2'],
          `${rt}: ${what} has fds ${fds.join(' ')}`,
        );
      }
      return seen;
    });
  });

  // Its own containerd, started with a canary file open as fd 6 without O_CLOEXEC, as a
  // containerd may inherit one from whatever started it: it reaches every shim `start`, and must
  // go no further.
  test('runc is handed only its stdio, never an fd the shim inherited', async () => {
    const canary = join(dir, 'canary');
    const canaryFd = openSync(canary, 'w');
    const cd = await startContainerd({ extraFds: ['ignore', 'ignore', 'ignore', canaryFd] });
    closeSync(canaryFd);
    const byRuntime = new Map<RuntimeName, RuncCall[]>();
    try {
      const image = await ensureBusyboxImage(cd);
      for (const rt of ['reference', 'ours'] as const) {
        const wrapperDir = mkdtempSync(join(tmpdir(), 'runc-fds-'));
        const bin = join(wrapperDir, 'runc');
        symlinkSync(join(REPO, 'test/fixtures/runc-fd-recorder'), bin);
        const toml = join(wrapperDir, 'runtime.toml');
        writeFileSync(toml, `BinaryName = "${bin}"\n`);
        // ctr takes --runc-binary for the reference only, the TOML config for other runtimes.
        const flags = rt === 'reference' ? ['--runc-binary', bin] : ['--runtime-config-path', toml];
        try {
          const id = uid(rt, 'runcfd');
          const run = await cd.ctr([
            'run',
            '-d',
            ...flags,
            '--runtime',
            RUNTIMES[rt],
            image,
            id,
            ...SLEEP,
          ]);
          assert.equal(run.exitCode, 0, run.stderr);
          const exec = await cd.ctr(['task', 'exec', '--exec-id', 'x1', id, 'true']);
          assert.equal(exec.exitCode, 0, exec.stderr);
          await inTerminal(['task', 'exec', '-t', '--exec-id', 'x2', id, 'true'], cd);
          await cd.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
          await waitFor(
            async () => (await cd.ctr(['task', 'ls'])).stdout.includes('STOPPED'),
            10000,
          );
          await cd.ctr(['task', 'delete', id]);
          await cd.ctr(['container', 'delete', id]);
          byRuntime.set(rt, runcCalls(readFileSync(`${bin}.fds`, 'utf8')));
        } finally {
          rmSync(wrapperDir, { recursive: true, force: true });
        }
      }
    } finally {
      await cd.stop();
    }
    const summary = (rt: RuntimeName) => {
      const calls = byRuntime.get(rt) ?? [];
      const commands = new Set(calls.map((c) => c.cmd));
      return {
        sawCreateStartExec: ['create', 'start', 'exec'].every((c) => commands.has(c)),
        // Socket mode, then its directory's: the directory is private to the shim.
        consoleModes: calls.filter((c) => c.console !== undefined).map((c) => c.console),
        canaryReachedRunc: calls.some((c) => c.fds.some((f) => f.endsWith(canary))),
        // The environment runc runs in (and passes on to `runc init`), per command: the
        // reference gives its daemon GOMAXPROCS=4, over containerd's 2.
        gomaxprocs: Object.fromEntries(calls.map((c) => [c.cmd, c.gomaxprocs])),
      };
    };
    const ours = byRuntime.get('ours') ?? [];
    assert.deepEqual(
      ours.filter(
        (c) =>
          c.fds
            .map((f) => f.split(' ')[0])
            .sort()
            .join(',') !== '0,1,2',
      ),
      [],
      'our runc calls with fds beyond stdio',
    );
    assert.deepEqual(summary('ours'), {
      sawCreateStartExec: true,
      consoleModes: ['755 700'],
      canaryReachedRunc: false,
      // The last call of each: the last `delete` is the shim binary's, run by containerd (2).
      gomaxprocs: { create: '4', start: '4', exec: '4', kill: '4', delete: '2' },
    });
    // Deliberate difference: the reference passes containerd's inherited fd on to runc.
    assert.deepEqual(summary('reference'), { ...summary('ours'), canaryReachedRunc: true });
  });
});

interface RuncCall {
  cmd: string;
  /** "<fd> <target>" */
  fds: string[];
  console?: string;
  gomaxprocs?: string;
}

/** The fd recorder's log as calls. */
function runcCalls(text: string): RuncCall[] {
  const calls: RuncCall[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('call ')) {
      const argv = line.slice(5).split(' ');
      // The subcommand: the first word that is neither a flag nor a global flag's value.
      const cmd = argv.find(
        (a, i) => !a.startsWith('-') && !/^--(root|log|log-format)$/.test(argv[i - 1] ?? ''),
      );
      calls.push({ cmd: cmd ?? '', fds: [] });
    } else if (line.startsWith('fd ')) {
      calls.at(-1)?.fds.push(line.slice(3));
    } else if (line.startsWith('console ')) {
      const last = calls.at(-1);
      if (last) last.console = line.slice(8);
    } else if (line.startsWith('gomaxprocs ')) {
      const last = calls.at(-1);
      if (last) last.gomaxprocs = line.slice(11);
    }
  }
  return calls;
}

/** Every file and dir under `root` (not following symlinks, leaving out `skip`). */
function walk(root: string, skip: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      if (p === skip) continue;
      out.push(p);
      try {
        if (lstatSync(p).isDirectory()) visit(p);
      } catch {
        // removed meanwhile
      }
    }
  };
  visit(root);
  return out;
}

describe('ids that would escape the bundle', () => {
  test('exec ids with path elements are refused and create nothing outside the bundle', async () => {
    const escapes = ['../../esc1', '../../../esc2', 'a/../../../../esc3', '..', '/tmp/esc4'];
    const results = new Map<RuntimeName, Record<string, unknown>>();
    for (const rt of ['reference', 'ours'] as const) {
      const id = uid(rt, 'execid');
      await h.runDetached(rt, id, SLEEP);
      const bundle = bundleOf(id);
      const files = (): string[] => [
        ...walk(h.cd.dir, bundle),
        ...readdirSync('/tmp').map((n) => join('/tmp', n)),
      ];
      const before = new Set(files());
      const outcome: Record<string, unknown> = {};
      for (const execId of escapes) {
        const r = await ctr(['task', 'exec', '--exec-id', execId, id, 'true']);
        outcome[execId] =
          r.exitCode === 0 ? 'accepted' : `refused: ${r.stderr.split('\n')[0] ?? ''}`;
      }
      const created = files().filter((p) => !before.has(p) && /esc\d/.test(p));
      await h.destroy(id);
      results.set(rt, { ...outcome, createdOutsideBundle: created });
    }
    const ours = results.get('ours');
    // Reported for comparison: what the reference does with the same requests.
    console.log('reference:', JSON.stringify(results.get('reference')));
    console.log('ours:', JSON.stringify(ours));
    for (const execId of escapes) assert.match(String(ours?.[execId]), /^refused/, execId);
    assert.deepEqual(ours?.['createdOutsideBundle'], []);
  });

  test('container ids with path elements never reach a shim', async () => {
    await differential(
      async (rt) => {
        const out: Record<string, string> = {};
        for (const bad of ['../esc5', 'a/b', '..']) {
          const r = await h.run(rt, bad, ['true']);
          out[bad] = r.exitCode === 0 ? 'accepted' : 'refused';
        }
        return out;
      },
      { '../esc5': 'refused', 'a/b': 'refused', '..': 'refused' },
    );
  });
});

/**
 * What a hostile container prints: terminal escapes, NULs, invalid UTF-8, lines that look like log
 * lines and a ttrpc frame header, CRs, and a 300 000-byte line without a newline. The marker is
 * written as printf octal escapes, so it appears in the output but nowhere in the command line.
 */
function hostileScript(marker: string): { script: string; expected: Buffer } {
  const octal = (s: string): string =>
    [...Buffer.from(s, 'latin1')].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
  const parts = [
    `\x1b[2J\x1b[31m${marker}-red\x1b[0m\x1b]0;title\x07\r`,
    `\0\0nul\0`,
    `\xff\xfe\xc0\x80\xed\xa0\x80 invalid utf-8\n`,
    `{"level":"error","msg":"${marker} json","time":"2020-01-01T00:00:00Z"}\n`,
    `time="2020-01-01T00:00:00Z" level=error msg="${marker} logrus" runtime=io.containerd.tsshim.v2\n`,
    // A ttrpc frame: length 5, stream 1, type request, flags 0, then a payload.
    `\0\0\0\x05\0\0\0\x01\x01\0${marker}`,
  ];
  const head = parts.map((p) => `printf '${octal(p)}'`).join('; ');
  const script = `${head}; head -c 300000 /dev/zero | tr '\\000' A; printf '${octal(marker)}-end'`;
  const expected = Buffer.concat([
    Buffer.from(parts.join(''), 'latin1'),
    Buffer.alloc(300000, 'A'),
    Buffer.from(`${marker}-end`),
  ]);
  return { script, expected };
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `ctr` with its stdout and stderr as raw bytes. */
async function ctrBytes(args: string[]): Promise<{ code: number; out: Buffer; err: Buffer }> {
  const r = await execa(
    h.cd.ctrPath,
    ['--address', h.cd.address, '--namespace', h.cd.namespace, ...args],
    { reject: false, encoding: 'buffer', stripFinalNewline: false, input: '' },
  );
  return { code: r.exitCode ?? -1, out: Buffer.from(r.stdout), err: Buffer.from(r.stderr) };
}

describe('container stdio is never interpreted', () => {
  test('hostile output arrives byte-exact and stays out of the log', async () => {
    const marker = `STDIOMARK${String(process.pid)}`;
    const { script, expected } = hostileScript(marker);
    assert.ok(!script.includes(marker));
    await differential(
      async (rt) => {
        const runId = uid(rt, 'hostile');
        const init = await ctrBytes([
          'run',
          '--rm',
          '--runtime',
          RUNTIMES[rt],
          h.image,
          runId,
          'sh',
          '-c',
          `(${script}) ; (${script}) >&2`,
        ]);
        const id = uid(rt, 'hostile-exec');
        await h.runDetached(rt, id, SLEEP);
        const exec = await ctrBytes([
          'task',
          'exec',
          '--exec-id',
          'h1',
          id,
          'sh',
          '-c',
          `(${script}) ; (${script}) >&2`,
        ]);
        await h.destroy(id);
        return {
          codes: [init.code, exec.code],
          sha: [init.out, init.err, exec.out, exec.err].map(sha256),
          lengths: [init.out, init.err, exec.out, exec.err].map((b) => b.length),
        };
      },
      {
        codes: [0, 0],
        sha: Array<string>(4).fill(sha256(expected)),
        lengths: Array<number>(4).fill(expected.length),
      },
    );
    const log = h.cd.log();
    assert.ok(!log.includes(marker), 'container output reached containerd log');
    const ours = log.split('\n').filter((l) => l.includes('runtime=io.containerd.tsshim.v2'));
    assert.ok(ours.length > 0, 'no line of our shim in the log');
    // No control character of the container's output in any of our lines.
    // eslint-disable-next-line no-control-regex
    const control = /[\x00-\x08\x0b-\x1f\x7f]/;
    assert.deepEqual(
      ours.filter((l) => control.test(l)),
      [],
    );
  });
});
