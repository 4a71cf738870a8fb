// The recording runc wrapper (test/fixtures/runc-recorder) in a private directory: every runc call
// a shim makes through it is logged, and can be read back normalised (ids, bundle, temp paths).
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './containerd.js';

const FIXTURE = join(REPO, 'test/fixtures/runc-recorder');

export class RuncRecorder {
  readonly dir = mkdtempSync('/tmp/runc-rec-');
  /** The wrapper to give a shim as its runtime binary. */
  readonly bin = join(this.dir, 'runc');

  /** `fakeCriu`: emulate CRIU; `criu`: the CRIU binary runc runs (runc's --criu). */
  constructor(opts: { fakeCriu?: boolean; criu?: string } = {}) {
    symlinkSync(FIXTURE, this.bin);
    if (opts.fakeCriu === true) writeFileSync(`${this.bin}.fake-criu`, '');
    if (opts.criu !== undefined) writeFileSync(`${this.bin}.criu`, opts.criu);
  }

  /** A runtime config TOML (for ctr --runtime-config-path) naming this wrapper, plus extras. */
  toml(extra = ''): string {
    const path = join(this.dir, 'runtime.toml');
    writeFileSync(path, `# written by the test\nBinaryName = "${this.bin}"\n${extra}`);
    return path;
  }

  /** Every recorded call, as argv arrays. */
  calls(): string[][] {
    const log = `${this.bin}.log`;
    if (!existsSync(log)) return [];
    return readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\x1f').slice(0, -1));
  }

  /**
   * Calls as strings, with the bundle, ids and temp paths replaced by placeholders, so two shims'
   * command lines can be compared.
   */
  normalized(subs: Record<string, string>): string[] {
    const pairs = Object.entries(subs).sort((a, b) => b[0].length - a[0].length);
    return this.calls().map((argv) =>
      argv
        .map((arg, i) => {
          if (argv[i - 1] === '--process') return '<process.json>';
          let out = arg.replace(/[^\s]*\/ctr?d-checkpoint\d+/g, '<checkpoint>');
          for (const [from, to] of pairs) out = out.split(from).join(to);
          return out;
        })
        .join(' '),
    );
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
