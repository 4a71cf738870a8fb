// Terminals (`-t`), differential: ctr runs under a real pty (node-pty) as a person would use it,
// typing commands, resizing the window and exiting with a code; the same scenario runs under the
// reference shim and ours and the observations must be equal (and equal to what we expect).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { differential, RUNTIMES, useHarness, type RuntimeName } from '../helpers/differential.js';
import { ctrInTerminal, plain, type TerminalSession } from '../helpers/pty.js';
import { waitFor } from '../helpers/leaks.js';
import { closeIO, resizePty } from '../helpers/tasks-api.js';

const h = useHarness();
const uid = h.uid.bind(h);

/** busybox sh's prompt as root in `/`. */
const PROMPT = /\/ # $/;

/**
 * Types a command and returns the lines it printed: the text between the echo of the command
 * line and the next prompt, without CRs and escape sequences (busybox's line editor redraws).
 */
async function run(term: TerminalSession, command: string): Promise<string[]> {
  const from = term.output.length;
  term.type(`${command}\r`);
  // The echoed command, then its output, then a fresh prompt.
  const m = await term.expect(/\n([\s\S]*?)\/ # $/, from);
  return (m[1] ?? '').split('\n').filter((l) => l !== '');
}

/** `stty size` until it shows `want` (ctr forwards SIGWINCH asynchronously), bounded retries. */
async function sizeAfterResize(term: TerminalSession, want: string): Promise<string> {
  let last = '';
  for (let i = 0; i < 50; i++) {
    last = (await run(term, 'stty size')).join('|');
    if (last === want) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

/** An interactive shell session: arithmetic echo, initial size, resized size, `exit 3`. */
interface ShellSeen {
  hi: string[];
  tty: string[];
  initial: string[];
  resized: string;
  resizedAgain: string;
  code: number;
}

async function interactiveShell(term: TerminalSession): Promise<ShellSeen> {
  await term.expect(PROMPT);
  const hi = await run(term, 'echo hi-$((1+2))');
  const tty = await run(term, 'tty');
  const initial = await run(term, 'stty size');
  term.resize(100, 30);
  const resized = await sizeAfterResize(term, '30 100');
  term.resize(57, 13);
  const resizedAgain = await sizeAfterResize(term, '13 57');
  term.type('exit 3\r');
  const code = await term.exited;
  return { hi, tty, initial, resized, resizedAgain, code };
}

/**
 * ctr resizes the pty right after Start. A very short exec may already be stopped when that
 * resize arrives; ctr then logs "resize pty ... cannot resize a stopped container" and carries on
 * (its exit code is unaffected). Who wins that race is timing: our shim processes an exit seen
 * during Start before answering it, so it loses more often, but the reference loses it too on a
 * busy machine. Only this exact ctr log line is dropped, from both runs.
 */
const RESIZE_RACE =
  /^ERRO\[\d+\] resize pty\s+error="cannot resize a stopped container(: unknown)?"$/;
function withoutResizeRace(lines: string[]): string[] {
  return lines.filter((l) => l !== '' && !RESIZE_RACE.test(l));
}

describe('terminal: ours vs the reference shim', () => {
  test('interactive ctr run -t sh: type, resize, exit 3', async () => {
    await differential(
      async (rt: RuntimeName) => {
        const id = uid(rt, 'tty-run');
        const term = ctrInTerminal(h.cd, [
          'run',
          '-t',
          '--rm',
          '--runtime',
          RUNTIMES[rt],
          h.image,
          id,
          'sh',
        ]);
        try {
          const seen = await interactiveShell(term);
          const topics = await h.waitLifecycle(rt, id, 4);
          return { ...seen, topics, exit: h.eventFor(id, '/tasks/exit')['exit_status'] };
        } finally {
          term.kill();
        }
      },
      {
        hi: ['hi-3'],
        tty: ['/dev/pts/0'],
        initial: ['24 80'],
        resized: '30 100',
        resizedAgain: '13 57',
        code: 3,
        topics: h.compared(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']),
        exit: 3,
      },
    );
  });

  test('interactive ctr task exec -t sh: type, resize, exit 3', async () => {
    await differential(
      async (rt: RuntimeName) => {
        const id = uid(rt, 'tty-exec');
        await h.runDetached(rt, id, ['sleep', '1000']);
        const term = ctrInTerminal(h.cd, ['task', 'exec', '-t', '--exec-id', 'x', id, 'sh']);
        try {
          const seen = await interactiveShell(term);
          await waitFor(() => h.eventsFor(id).some((e) => e.topic === '/tasks/exit'), 10000);
          const execExit = h.eventFor(id, '/tasks/exit', 'x')['exit_status'];
          await h.destroy(id);
          return { ...seen, execExit, topics: await h.waitLifecycle(rt, id, 7) };
        } finally {
          term.kill();
        }
      },
      {
        hi: ['hi-3'],
        tty: ['/dev/pts/0'],
        initial: ['24 80'],
        resized: '30 100',
        resizedAgain: '13 57',
        code: 3,
        execExit: 3,
        topics: h.compared([
          '/tasks/create',
          '/tasks/start',
          '/tasks/exec-added',
          '/tasks/exec-started',
          '/tasks/exit',
          '/tasks/exit',
          '/tasks/delete',
        ]),
      },
    );
  });

  // stdout and stderr both reach the terminal (the pty merges them). (No `stty size` here: ctr
  // sets the size only after Start, so a one-shot may see 0x0 under either shim.)
  test('ctr run --rm -t sh -c: tty, stderr on the terminal, stdin is a tty, exit 4', async () => {
    await differential(
      async (rt: RuntimeName) => {
        const id = uid(rt, 'tty-oneshot');
        const script = 'tty; echo out; echo err >&2; test -t 0 && echo stdin-is-tty; exit 4';
        const term = ctrInTerminal(
          h.cd,
          ['run', '--rm', '-t', '--runtime', RUNTIMES[rt], h.image, id, 'sh', '-c', script],
          { cols: 50, rows: 20 },
        );
        try {
          const code = await term.exited;
          const lines = plain(term.output)
            .split('\n')
            .filter((l) => l !== '');
          return { lines, code, topics: await h.waitLifecycle(rt, id, 4) };
        } finally {
          term.kill();
        }
      },
      {
        lines: ['/dev/pts/0', 'out', 'err', 'stdin-is-tty'],
        code: 4,
        topics: h.compared(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']),
      },
    );
  });

  // A process that writes a lot and exits at once: everything it wrote before exiting reaches
  // ctr (the console is drained before it is shut down), in order.
  test('ctr run --rm -t and exec -t: large output is drained completely', async () => {
    const count = 20000;
    const scenario = async (rt: RuntimeName) => {
      const id = uid(rt, 'tty-bulk');
      const script = `seq 1 ${count}`;
      const summary = (out: string) => {
        const lines = withoutResizeRace(plain(out).split('\n'));
        const numbers = lines.filter((l) => /^\d+$/.test(l)).map(Number);
        return {
          lines: lines.length,
          inOrder: numbers.every((n, i) => n === i + 1),
          last: numbers.at(-1),
        };
      };
      const runTerm = ctrInTerminal(h.cd, [
        'run',
        '--rm',
        '-t',
        '--runtime',
        RUNTIMES[rt],
        h.image,
        id,
        'sh',
        '-c',
        script,
      ]);
      const runCode = await runTerm.exited;
      runTerm.kill();
      const execId = `${id}-x`;
      await h.runDetached(rt, execId, ['sleep', '1000']);
      const execTerm = ctrInTerminal(h.cd, [
        'task',
        'exec',
        '-t',
        '--exec-id',
        'bulk',
        execId,
        'sh',
        '-c',
        script,
      ]);
      const execCode = await execTerm.exited;
      execTerm.kill();
      await h.destroy(execId);
      return {
        run: { code: runCode, ...summary(runTerm.output) },
        exec: { code: execCode, ...summary(execTerm.output) },
      };
    };
    const whole = { code: 0, lines: count, inOrder: true, last: count };
    const ours = await scenario('ours');
    assert.deepEqual(ours, { run: whole, exec: whole });
    // The reference sometimes ends a terminal's output early (seen on exec -t: 18,792 of 20,000
    // lines): its console copy stops at the process's exit. What it delivers is still a prefix, in
    // order, with the right exit code; ours must deliver everything.
    const reference = await scenario('reference');
    for (const part of [reference.run, reference.exec]) {
      assert.deepEqual(
        { code: part.code, inOrder: part.inOrder, prefix: part.last === part.lines },
        { code: 0, inOrder: true, prefix: true },
      );
      if (part.lines < count)
        console.log(
          `reference lost terminal output: ${String(part.lines)} of ${String(count)} lines`,
        );
    }
  });

  // A container that does not read its terminal input: the pty's input queue fills up and the
  // shim must hold the rest back (stop reading the stdin FIFO) without blocking itself; other
  // requests are still served. (libuv's TTY handle would write the master with blocking writes
  // and freeze the shim here.)
  test('input to a terminal nobody reads does not block the shim', async () => {
    await differential(
      async (rt: RuntimeName) => {
        const id = uid(rt, 'tty-full');
        await h.runDetached(rt, id, ['sleep', '1000']);
        const term = ctrInTerminal(h.cd, [
          'task',
          'exec',
          '-t',
          '--exec-id',
          'deaf',
          id,
          'sh',
          '-c',
          'stty raw -echo; echo deaf; exec sleep 1000',
        ]);
        try {
          await term.expect(/^deaf$/m);
          term.type('y'.repeat(256 * 1024));
          const other = await h.ctr(['task', 'exec', '--exec-id', 'other', id, 'echo', 'alive']);
          const ps = await h.ctr(['task', 'ps', id]);
          await h.ctr(['task', 'kill', '--exec-id', 'deaf', '-s', 'SIGKILL', id]);
          const code = await term.exited;
          await h.destroy(id);
          return { other: other.stdout, otherCode: other.exitCode, psCode: ps.exitCode, code };
        } finally {
          term.kill();
        }
      },
      { other: 'alive', otherCode: 0, psCode: 0, code: 137 },
    );
  });

  test('ctr task exec -t exit codes and the events of terminal execs', async () => {
    const cases = [
      { execId: 'ok', script: 'echo zero', code: 0 },
      { execId: 'five', script: 'echo five; exit 5', code: 5 },
      { execId: 'killed', script: 'echo bye; kill -KILL $$', code: 137 },
    ];
    await differential(
      async (rt: RuntimeName) => {
        const id = uid(rt, 'tty-codes');
        await h.runDetached(rt, id, ['sleep', '1000']);
        const seen = [];
        for (const c of cases) {
          const term = ctrInTerminal(h.cd, [
            'task',
            'exec',
            '-t',
            '--exec-id',
            c.execId,
            id,
            'sh',
            '-c',
            c.script,
          ]);
          try {
            const code = await term.exited;
            const lines = withoutResizeRace(plain(term.output).split('\n'));
            seen.push({ lines, code });
          } finally {
            term.kill();
          }
        }
        const execExits = cases.map((c) => h.eventFor(id, '/tasks/exit', c.execId)['exit_status']);
        const started = h
          .eventsFor(id)
          .filter((e) => e.topic === '/tasks/exec-started')
          .map((e) => e.payload['exec_id']);
        await h.destroy(id);
        return {
          seen,
          execExits,
          started,
          topics: await h.waitLifecycle(rt, id, 3 + 3 * cases.length + 1),
        };
      },
      {
        seen: [
          { lines: ['zero'], code: 0 },
          { lines: ['five'], code: 5 },
          { lines: ['bye'], code: 137 },
        ],
        execExits: [0, 5, 137],
        started: ['ok', 'five', 'killed'],
        topics: h.compared([
          '/tasks/create',
          '/tasks/start',
          ...cases.flatMap(() => ['/tasks/exec-added', '/tasks/exec-started', '/tasks/exit']),
          '/tasks/exit',
          '/tasks/delete',
        ]),
      },
    );
  });

  // ResizePty straight through containerd's API (ctr 1.6 has no resize command): it reaches an
  // exec's own pty; it is a no-op for a process without a console; a stopped exec refuses; the
  // init is not state-checked at all by the reference, so a stopped init answers success.
  test('ResizePty on an exec, without a console, on a stopped exec and a stopped init', async () => {
    await differential(
      async (rt: RuntimeName) => {
        const id = uid(rt, 'tty-resize');
        await h.runDetached(rt, id, ['sleep', '1000']);
        const term = ctrInTerminal(h.cd, ['task', 'exec', '-t', '--exec-id', 'x', id, 'sh']);
        // Detached, ctr leaves the exec undeleted after it exits: a stopped exec with a console.
        const detached = ctrInTerminal(h.cd, [
          'task',
          'exec',
          '-d',
          '-t',
          '--exec-id',
          'gone',
          id,
          'sh',
          '-c',
          'exit 2',
        ]);
        try {
          await term.expect(PROMPT);
          // ctr sets the console to its own window size first; resize only after that landed.
          await waitFor(async () => (await run(term, 'stty size')).includes('24 80'), 10000);
          const resize = await resizePty(h.cd, id, 'x', 123, 45);
          const size = await run(term, 'stty size');
          const noConsole = await resizePty(h.cd, id, '', 10, 10);
          term.type('exit\r');
          const code = await term.exited;
          const detachCode = await detached.exited;
          await waitFor(
            () =>
              h.eventsFor(id).some((e) => e.topic === '/tasks/exit' && e.payload['id'] === 'gone'),
            10000,
          );
          const stoppedExec = await resizePty(h.cd, id, 'gone', 10, 10);
          await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
          await h.waitStatus(id, 'STOPPED');
          const stoppedInit = await resizePty(h.cd, id, '', 10, 10);
          await h.destroy(id);
          return { resize, size, noConsole, code, detachCode, stoppedExec, stoppedInit };
        } finally {
          term.kill();
          detached.kill();
        }
      },
      {
        resize: { code: 0, message: '' },
        size: ['45 123'],
        noConsole: { code: 0, message: '' },
        code: 0,
        detachCode: 0,
        stoppedExec: { code: 2, message: `cannot resize a stopped container${h.unknown}` },
        stoppedInit: { code: 0, message: '' },
      },
    );
  });

  // `ctr run -d -t` leaves only the shim's keep-alive writer on the stdin FIFO. CloseIO drops it,
  // the stdin copy reaches EOF, and the reference then closes the console: the interactive shell
  // reads EOF from its hung-up terminal and exits 0. Before CloseIO it keeps running.
  test('CloseIO on a detached terminal closes the console', async () => {
    await differential(
      async (rt: RuntimeName) => {
        const id = uid(rt, 'tty-closeio');
        const term = ctrInTerminal(h.cd, [
          'run',
          '-d',
          '-t',
          '--runtime',
          RUNTIMES[rt],
          h.image,
          id,
          'sh',
        ]);
        try {
          const detach = await term.exited;
          await h.waitStatus(id, 'RUNNING');
          const resize = await resizePty(h.cd, id, '', 90, 30);
          const before = await h.taskStatus(id);
          const close = await closeIO(h.cd, id);
          const exit = await h.waitEvent(id, '/tasks/exit');
          const del = await h.ctr(['task', 'delete', id]);
          await h.ctr(['container', 'delete', id]);
          return {
            detach,
            resize,
            before,
            close,
            exitStatus: exit.payload['exit_status'],
            del: del.exitCode,
          };
        } finally {
          term.kill();
        }
      },
      {
        detach: 0,
        resize: { code: 0, message: '' },
        before: 'RUNNING',
        close: { code: 0, message: '' },
        exitStatus: 0,
        del: 0,
      },
    );
  });

  // The console's FIFO ends have keep-alive partners, so a terminal container keeps running
  // while containerd is down, and `ctr task attach` afterwards sees its output continue.
  test('a terminal container survives a containerd restart and can be attached', async () => {
    await differential(
      async (rt: RuntimeName) => {
        const id = uid(rt, 'tty-restart');
        const loop = 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done';
        const detach = ctrInTerminal(h.cd, [
          'run',
          '-d',
          '-t',
          '--runtime',
          RUNTIMES[rt],
          h.image,
          id,
          'sh',
          '-c',
          loop,
        ]);
        const detachCode = await detach.exited;
        detach.kill();
        await h.waitStatus(id, 'RUNNING');
        await h.cd.kill9();
        await h.cd.restart();
        h.events.close();
        await h.subscribe();
        const afterRestart = await h.taskStatus(id);
        const attach = ctrInTerminal(h.cd, ['task', 'attach', id]);
        try {
          const first = Number((await attach.expect(/tick-(\d+)\n/))[1]);
          const from = attach.output.length;
          const later = Number((await attach.expect(/tick-(\d+)\n/, from))[1]);
          await h.ctr(['task', 'kill', '-s', 'SIGKILL', id]);
          const attachCode = await attach.exited;
          const exit = await h.waitEvent(id, '/tasks/exit');
          // ctr attach deletes the task once it has exited (under both shims).
          await h.waitStatus(id, 'ABSENT').catch(() => undefined);
          const after = await h.taskStatus(id);
          await h.ctr(['task', 'delete', id]);
          await h.ctr(['container', 'delete', id]);
          return {
            detachCode,
            afterRestart,
            progressed: later > first,
            attachCode,
            exitStatus: exit.payload['exit_status'],
            after,
          };
        } finally {
          attach.kill();
        }
      },
      {
        detachCode: 0,
        afterRestart: 'RUNNING',
        progressed: true,
        attachCode: 137,
        exitStatus: 137,
        after: 'ABSENT',
      },
    );
  });

  test('no zombies or leftover mounts', h.assertClean);
});
