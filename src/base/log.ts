// Logger writing logrus-style text lines, the format containerd re-logs from the bundle's `log` FIFO.
// Writes are synchronous and non-blocking: when nobody reads the FIFO (containerd down) a full pipe
// drops the line instead of blocking or crashing the shim.
import { writeSync } from 'node:fs';

export type Level = 'debug' | 'info' | 'warning' | 'error';
const ORDER: Record<Level, number> = { debug: 0, info: 1, warning: 2, error: 3 };

export type Fields = Record<string, string | number | boolean | undefined>;

const quote = (v: string): string => (/^[\w./:@-]+$/.test(v) ? v : JSON.stringify(v));

export class Logger {
  constructor(
    private fd: number,
    private minLevel: Level = 'info',
    private base: Fields = {},
  ) {}

  setFd(fd: number): void {
    this.fd = fd;
  }

  with(fields: Fields): Logger {
    return new Logger(this.fd, this.minLevel, { ...this.base, ...fields });
  }

  debug(msg: string, fields?: Fields): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.write('warning', msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.write('error', msg, fields);
  }

  private write(level: Level, msg: string, fields?: Fields): void {
    if (this.fd < 0 || ORDER[level] < ORDER[this.minLevel]) return;
    let line = `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}`;
    for (const [key, value] of Object.entries({ ...this.base, ...fields })) {
      if (value !== undefined) line += ` ${key}=${quote(String(value))}`;
    }
    try {
      writeSync(this.fd, line + '\n');
    } catch {
      // EAGAIN (nobody reading) or EPIPE: logging must never take the shim down.
    }
  }
}

/** A logger that discards everything, for the short-lived CLI actions and tests. */
export const nullLogger = new Logger(-1);
