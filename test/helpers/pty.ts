// A person at a terminal: runs `ctr` under a real pty (node-pty), so `ctr -t` finds a console,
// puts it in raw mode and forwards our keystrokes and window size changes to the container.
import { spawn, type IPty } from 'node-pty';
import type { Containerd } from './containerd.js';
import { waitFor } from './leaks.js';

export interface TerminalSession {
  /** Everything the terminal has shown so far (CRLF as the pty delivers it). */
  readonly output: string;
  /** Types text, as keystrokes. */
  type(text: string): void;
  /** Resizes the window: ctr sees SIGWINCH and forwards the size (ResizePty). */
  resize(cols: number, rows: number): void;
  /** Waits until the plain text (see `plain`) of the output after `from` matches. */
  expect(pattern: RegExp, from?: number, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** ctr's exit code once it has exited. */
  readonly exited: Promise<number>;
  kill(): void;
}

export function ctrInTerminal(
  cd: Containerd,
  args: string[],
  size: { cols: number; rows: number } = { cols: 80, rows: 24 },
): TerminalSession {
  return inTerminal(
    cd.ctrPath,
    ['--address', cd.address, '--namespace', cd.namespace, ...args],
    size,
  );
}

/** Any program under a real pty. */
export function inTerminal(
  file: string,
  args: string[],
  size: { cols: number; rows: number } = { cols: 80, rows: 24 },
): TerminalSession {
  const term: IPty = spawn(file, args, {
    name: 'xterm',
    cols: size.cols,
    rows: size.rows,
    cwd: '/',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', TERM: 'xterm' },
  });
  let output = '';
  let exitCode: number | undefined;
  term.onData((d) => {
    output += d;
  });
  const exited = new Promise<number>((resolve) => {
    term.onExit(({ exitCode: code }) => {
      exitCode = code;
      resolve(code);
    });
  });
  return {
    get output() {
      return output;
    },
    type(text) {
      term.write(text);
    },
    resize(cols, rows) {
      term.resize(cols, rows);
    },
    async expect(pattern, from = 0, timeoutMs = 20000) {
      let match: RegExpMatchArray | null = null;
      await waitFor(
        () => {
          match = plain(output.slice(from)).match(pattern);
          return match !== null || exitCode !== undefined;
        },
        timeoutMs,
        20,
      ).catch(() => undefined);
      match ??= plain(output.slice(from)).match(pattern);
      if (match === null) {
        throw new Error(
          `terminal never showed ${String(pattern)}; it showed ${JSON.stringify(output)}`,
        );
      }
      return match;
    },
    exited,
    kill() {
      if (exitCode === undefined) term.kill('SIGKILL');
    },
  };
}

/** The terminal's text without CRs and with ANSI escape sequences removed. */
export function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}
