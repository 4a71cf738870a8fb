// The whole contract with the N-API addon (native/), primitives only, and its single loader.
import { createRequire } from 'node:module';

export interface ReapedChild {
  pid: number;
  /** Exit code, or 128 + signal number when killed by a signal. */
  status: number;
  signaled: boolean;
  exitCode: number | null;
  signal: number | null;
}

export interface SpawnOptions {
  /** Absolute path of the program. */
  file: string;
  argv: string[];
  env: string[];
  cwd?: string;
  /** Child fd i becomes fds[i]; -1 means /dev/null. Every other fd is closed. */
  fds: number[];
  setsid?: boolean;
  setpgid?: boolean;
}

/** uv_poll event bits (libuv's UV_READABLE, UV_WRITABLE). */
export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;

/** Readiness of one fd through libuv's loop; the fd stays owned (and closed) by the caller. */
export interface FdWatcher {
  /** Watches for POLL_READABLE | POLL_WRITABLE; 0 stops. */
  start(events: number): void;
  /** An active watcher alone no longer keeps the process alive. */
  unref(): void;
  /** Stops for good; no callback runs afterwards. Idempotent. */
  close(): void;
}

export interface NativeBinding {
  /** `status` is 0 or a negative errno (then watching has stopped); `events` the ready bits. */
  FdWatcher: new (fd: number, onReady: (status: number, events: number) => void) => FdWatcher;
  setChildSubreaper(): void;
  isChildSubreaper(): boolean;
  reapAll(): ReapedChild[];
  spawn(opts: SpawnOptions): number;
  setsid(): number;
  pipe(): [number, number];
  closeFd(fd: number): void;
  setNonBlocking(fd: number, on: boolean): void;
  listenUnix(path: string, backlog: number): number;
  acceptRecvFd(listenFd: number): { fd: number; name: string };
  sendFd(sockFd: number, fd: number, name: string): void;
  setWinsize(fd: number, rows: number, cols: number): void;
  /** Bytes waiting in a pipe or FIFO, asked through either end. */
  unreadBytes(fd: number): number;
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount2(target: string, flags: number): void;
  eventfd(initval: number, flags: number): number;
  /** Reads (and resets) an eventfd counter; 0 when nothing is pending on a non-blocking fd. */
  eventfdRead(fd: number): number;

  // Handing work between shim processes (native/src/handoff.cc).
  /** Like spawn, but the child runs in a new session with init as its parent. */
  spawnDetached(opts: Omit<SpawnOptions, 'setsid' | 'setpgid'>): number;
  peerCred(fd: number): PeerCred;
  /** A close-on-exec duplicate of `fd`. */
  dupFd(fd: number): number;
  seqpacketPair(): [number, number];
  /** One message; `fd` (or -1) travels with it. */
  sendMessage(sockFd: number, data: Uint8Array, fd: number): void;
  /** One message; null when a non-blocking socket has none yet; empty data and fd -1 at EOF. */
  recvMessage(sockFd: number, maxBytes: number): { data: Buffer; fd: number } | null;

  // Zero-copy output (native/src/splice.cc).
  /** A thread splicing `src` into `dst` (pipes) until `src` ends, a splice fails or stop(). */
  SplicePump: new (src: number, dst: number) => SplicePump;

  // The daemon's last words (native/src/last-words.cc).
  /** The line written to stderr on SIGABRT, SIGBUS, SIGILL or SIGFPE (" signal=N" appended). */
  setLastWords(line: string): void;
  /** fd 2 becomes a duplicate of `fd`. */
  redirectStderr(fd: number): void;

  // Live upgrade (native/src/reexec.cc).
  /**
   * execve(2) in this process: returns only by throwing. The fds in `keep` are inherited; every
   * other fd above 2 is closed by the exec.
   */
  execve(opts: { file: string; argv: string[]; env: string[]; keep: number[] }): never;
  /** The exit status of one child (128 + signal if killed), or null while it runs. */
  waitPid(pid: number): number | null;

  // Forking a booted Node process, for the zygote (native/src/zygote.cc).
  /**
   * Forks this process into a grandchild in a new session with init as its parent: its pid here,
   * 0 in the grandchild (whose event loop is re-made). Only for a process running V8 without
   * background threads, while idle.
   */
  forkDetached(): number;
  /** The kernel's pid and ppid (Node's process.pid is the zygote's in a forked process). */
  processIds(): { pid: number; ppid: number };
  /** _exit(2): a forked process must not run Node's exit path. */
  exitNow(code: number): never;
  /** Whether `fd` has input (or EOF) within `ms` milliseconds. */
  waitReadable(fd: number, ms: number): boolean;
}

/** How a SplicePump stands; `code` is the errno name of a failed splice. */
export interface SplicePumpState {
  end: 'running' | 'eof' | 'error' | 'stopped';
  code: string | undefined;
  moved: number;
}

export interface SplicePump {
  /** An eventfd, readable once the thread has ended by itself (end of input or an error). */
  readonly doneFd: number;
  state(): SplicePumpState;
  /** Ends the thread; once it returns the copied fds are left alone. Idempotent. */
  stop(): void;
}

/** Credentials of a unix socket's peer at connect time. */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** eventfd(2) flag: reads return EAGAIN instead of blocking. */
export const EFD_NONBLOCK = 0o4000;

/** Built from source here, else the one shipped prebuilt for this platform in the package. */
const ADDON_PATHS = [
  '../../../native/build/Release/shim_native.node',
  `../../../prebuilds/${process.platform}-${process.arch}/shim_native.node`,
];

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const path of ADDON_PATHS) {
    try {
      return require(path) as NativeBinding;
    } catch (err) {
      errors.push(String(err));
    }
  }
  throw new Error(
    `no native addon for ${process.platform}-${process.arch}: none was shipped for this platform, ` +
      `and none was built (build it with: npm rebuild --foreground-scripts containerd-shim-ts-v2; ` +
      `that needs a C++ compiler, make and Python): ${errors.join('; ')}`,
  );
}

export const native: NativeBinding = load();
