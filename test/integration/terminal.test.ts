// Terminals (`-t`), differential: ctr runs under a real pty (node-pty) as a person would use it,
// typing commands, resizing the window and exiting with a code; the same scenario runs under the
// reference shim and ours and the observations must be equal (and equal to what we expect).
import { describe, test } from 'node:test';
import { differential, RUNTIMES, useHarness, type RuntimeName } from '../helpers/differential.js';
import { ctrInTerminal, type TerminalSession } from '../helpers/pty.js';
import { waitFor } from '../helpers/leaks.js';

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
          const topics = await h.waitTopics(id, 4);
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
        topics: ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'],
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
          return { ...seen, execExit, topics: await h.waitTopics(id, 7) };
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
        topics: [
          '/tasks/create',
          '/tasks/start',
          '/tasks/exec-added',
          '/tasks/exec-started',
          '/tasks/exit',
          '/tasks/exit',
          '/tasks/delete',
        ],
      },
    );
  });

  test('no zombies or leftover mounts', h.assertClean);
});

