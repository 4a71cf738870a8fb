// Output integrity under load: many short-lived containers (`ctr run --rm`) and execs, under both
// shims interleaved (so both see the same conditions), each writing a known output, and every
// byte of every stdout and stderr checked against it. Used by the starvation soak (test/soak/)
// and its short variant (test/integration/).
import { execa } from 'execa';
import type { Harness, RuntimeName } from './differential.js';
import { RUNTIMES } from './differential.js';

/** What one run writes: the shell script and the exact bytes expected on stdout and stderr. */
interface Case {
  kind: 'echo' | 'printf' | 'kib' | 'exit';
  script: string;
  stdout: string;
  stderr: string;
  code: number;
}

const PAD = 'x'.repeat(90);
const KIB_LINES = 48;

/** The four kinds, in turn: a line, bytes without a newline, a few KiB, a line right before exit. */
function caseFor(i: number, tag: string): Case {
  switch (i % 4) {
    case 0:
      return { kind: 'echo', script: `echo ${tag}`, stdout: `${tag}\n`, stderr: '', code: 0 };
    case 1:
      return { kind: 'printf', script: `printf %s ${tag}`, stdout: tag, stderr: '', code: 0 };
    case 2: {
      let stdout = '';
      for (let n = 0; n < KIB_LINES; n++) stdout += `${tag} ${String(n)} ${PAD}\n`;
      const script = `n=0; while [ $n -lt ${String(KIB_LINES)} ]; do echo "${tag} $n ${PAD}"; n=$((n+1)); done`;
      return { kind: 'kib', script, stdout, stderr: '', code: 0 };
    }
    default: {
      const code = 1 + (i % 7);
      const script = `echo ${tag}-e >&2; echo ${tag}; exit ${String(code)}`;
      return { kind: 'exit', script, stdout: `${tag}\n`, stderr: `${tag}-e\n`, code };
    }
  }
}

/** Bytes of `expected` not delivered: everything after the first difference counts as lost. */
function lostBytes(expected: string, got: string): { lost: number; extra: number } {
  let same = 0;
  while (same < expected.length && same < got.length && expected[same] === got[same]) same++;
  return { lost: expected.length - same, extra: got.length - same };
}

export interface Failure {
  runtime: RuntimeName;
  run: number;
  lifecycle: boolean;
  kind: Case['kind'];
  code: number;
  expectedCode: number;
  stdout: string;
  stderr: string;
  at: string;
}

export interface Tally {
  runs: number;
  lifecycles: number;
  execs: number;
  bytesChecked: number;
  bytesLost: number;
  extraBytes: number;
  /** Runs whose output was not exactly the expected one. */
  badOutput: number;
  /** Runs whose exit status was wrong (or that ctr could not run). */
  badExit: number;
}

export interface SoakResult {
  tallies: Record<RuntimeName, Tally>;
  failures: Failure[];
}

const emptyTally = (): Tally => ({
  runs: 0,
  lifecycles: 0,
  execs: 0,
  bytesChecked: 0,
  bytesLost: 0,
  extraBytes: 0,
  badOutput: 0,
  badExit: 0,
});

export async function runOutputSoak(
  h: Harness,
  opts: {
    /** Runs per shim. */
    runs: number;
    runtimes: RuntimeName[];
    /** One run in this many is a whole container lifecycle; the others are execs. */
    lifecycleEvery: number;
    /** Runs in flight at once. */
    width: number;
    /** Called every `every` runs (all shims counted) with the tallies so far. */
    every?: number;
    report?: (r: SoakResult, done: number) => void;
    onFailure?: (f: Failure) => void;
    /** No new run starts after this time (epoch ms): a partial run, its figures exact. */
    until?: number;
  },
): Promise<SoakResult> {
  const tag = String(process.pid);
  const keepers = new Map<RuntimeName, string>();
  for (const rt of opts.runtimes) {
    const id = `soak-keeper-${rt}-${tag}`;
    await h.runDetached(rt, id, ['sleep', '1000000']);
    keepers.set(rt, id);
  }
  const result: SoakResult = {
    tallies: { reference: emptyTally(), ours: emptyTally() },
    failures: [],
  };

  const one = async (job: number): Promise<void> => {
    const rt = opts.runtimes[job % opts.runtimes.length] as RuntimeName;
    const i = Math.floor(job / opts.runtimes.length);
    const name = `soak-${rt === 'ours' ? 'o' : 'r'}-${tag}-${String(i)}`;
    const c = caseFor(i, name);
    const lifecycle = i % opts.lifecycleEvery === 0;
    const args = lifecycle
      ? ['run', '--rm', '--runtime', RUNTIMES[rt], h.image, name, 'sh', '-c', c.script]
      : ['task', 'exec', '--exec-id', name, keepers.get(rt) ?? '', 'sh', '-c', c.script];
    const r = await execa(
      h.cd.ctrPath,
      ['--address', h.cd.address, '--namespace', h.cd.namespace, ...args],
      { reject: false, stripFinalNewline: false, timeout: 900_000, input: '' },
    );
    const out = lostBytes(c.stdout, r.stdout);
    const err = lostBytes(c.stderr, r.stderr);
    const t = result.tallies[rt];
    t.runs++;
    if (lifecycle) t.lifecycles++;
    else t.execs++;
    t.bytesChecked += c.stdout.length + c.stderr.length;
    t.bytesLost += out.lost + err.lost;
    t.extraBytes += out.extra + err.extra;
    const badOutput = out.lost + out.extra + err.lost + err.extra > 0;
    const badExit = r.exitCode !== c.code;
    if (badOutput) t.badOutput++;
    if (badExit) t.badExit++;
    if (badOutput || badExit) {
      const failure: Failure = {
        runtime: rt,
        run: i,
        lifecycle,
        kind: c.kind,
        code: r.exitCode ?? -1,
        expectedCode: c.code,
        stdout: r.stdout.slice(0, 200),
        stderr: r.stderr.slice(0, 400),
        at: new Date().toISOString(),
      };
      result.failures.push(failure);
      opts.onFailure?.(failure);
    }
  };

  try {
    const total = opts.runs * opts.runtimes.length;
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (next < total && (opts.until === undefined || Date.now() < opts.until)) {
        await one(next++);
        done++;
        if (opts.every !== undefined && done % opts.every === 0) opts.report?.(result, done);
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.width, total) }, worker));
    return result;
  } finally {
    for (const id of keepers.values()) await h.destroy(id);
  }
}
