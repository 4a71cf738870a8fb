// Where the time of one `ctr run -d` and one `ctr task exec` goes, ours against the reference:
// each sample is recorded with `perf record` on the scheduler's exec and exit tracepoints (no
// ptrace, so nothing is slowed the way strace slows it), and cut into phases by the processes
// that start and end: the shim binary's `start`, runc create, runc start, runc exec, the exec'd
// process, ctr. Medians of N samples each, interleaved. A diagnostic, not a benchmark: it needs
// `perf` (Debian: linux-perf) and root. `--samples N` (default 10).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';

const RUNTIMES = { reference: 'io.containerd.runc.v2', ours: 'io.containerd.tsshim.v2' } as const;
type Name = keyof typeof RUNTIMES;

const at = process.argv.indexOf('--samples');
const SAMPLES = at > 0 ? Number(process.argv[at + 1]) : 10;

interface SchedEvent {
  comm: string;
  pid: number;
  /** ms */
  time: number;
  kind: 'exec' | 'exit';
  /** For an exec, the file it ran. */
  file: string;
}

const LINE = /^\s*(.+?)\s+(\d+)\s+([\d.]+):\s+sched:sched_process_(exec|exit):\s*(.*)$/;

/** Exec and exit events of a perf recording, in time order. */
async function events(data: string): Promise<SchedEvent[]> {
  const { stdout } = await execa('perf', ['script', '-i', data, '-F', 'comm,pid,time,event,trace']);
  const out: SchedEvent[] = [];
  for (const line of stdout.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    out.push({
      comm: m[1] ?? '',
      pid: Number(m[2]),
      time: Number(m[3]) * 1000,
      kind: m[4] === 'exec' ? 'exec' : 'exit',
      file: /filename=(\S+)/.exec(m[5] ?? '')?.[1] ?? '',
    });
  }
  return out;
}

/** Runs `command` under perf and returns its scheduler events from ctr's exec to ctr's exit. */
async function recorded(dir: string, command: () => Promise<unknown>): Promise<SchedEvent[]> {
  const data = join(dir, 'perf.data');
  const perf = execa(
    'perf',
    [
      'record',
      '-a',
      '-q',
      '-e',
      'sched:sched_process_exec',
      '-e',
      'sched:sched_process_exit',
      '-o',
      data,
    ],
    { reject: false },
  );
  // perf takes a moment to open its buffers on every CPU.
  await new Promise((r) => setTimeout(r, 700));
  try {
    await command();
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    perf.kill('SIGINT');
    await perf;
  }
  const all = await events(data);
  const ctr = all.find((e) => e.kind === 'exec' && e.file.endsWith('/ctr'));
  if (!ctr) throw new Error('perf saw no ctr');
  // Every thread reports its exit: the last one is the process's.
  const end = all.filter((e) => e.kind === 'exit' && e.pid === ctr.pid).pop();
  if (!end) throw new Error('perf saw ctr start but not end');
  return all.filter((e) => e.time >= ctr.time && e.time <= end.time);
}

/** The first exec of a file matching `file` at or after `from`, and the exit of that pid. */
function span(
  evs: SchedEvent[],
  file: (f: string) => boolean,
  from = -Infinity,
): { start: number; end: number } {
  const exec = evs.find((e) => e.kind === 'exec' && file(e.file) && e.time >= from);
  if (!exec) throw new Error('an expected process never ran');
  // The last exit of the pid (every thread reports one).
  const exits = evs.filter((e) => e.kind === 'exit' && e.pid === exec.pid && e.time >= exec.time);
  const end = exits[exits.length - 1]?.time;
  if (end === undefined) throw new Error(`${exec.file} did not end in time`);
  return { start: exec.time, end };
}

const isRunc = (f: string): boolean => f.endsWith('/runc');

/** Phases of `ctr run -d`, in ms. */
function runPhases(evs: SchedEvent[]): Record<string, number> {
  const t0 = evs[0]?.time ?? 0;
  const end = evs[evs.length - 1]?.time ?? 0;
  const start = span(evs, (f) => /containerd-shim-/.test(f));
  const create = span(evs, isRunc, start.end);
  const run = span(evs, isRunc, create.end);
  return {
    'to the shim binary': start.start - t0,
    'shim start (binary exec to exit)': start.end - start.start,
    'to runc create': create.start - start.end,
    'runc create': create.end - create.start,
    'to runc start': run.start - create.end,
    'runc start': run.end - run.start,
    'to ctr exit': end - run.end,
    total: end - t0,
  };
}

/** Phases of `ctr task exec ... true`, in ms. */
function execPhases(evs: SchedEvent[]): Record<string, number> {
  const t0 = evs[0]?.time ?? 0;
  const end = evs[evs.length - 1]?.time ?? 0;
  const runc = span(evs, isRunc);
  const proc = span(evs, (f) => f.endsWith('/true'), runc.start);
  return {
    'to runc exec': runc.start - t0,
    'runc exec': runc.end - runc.start,
    'the process exits to ctr exit': end - proc.end,
    total: end - t0,
  };
}

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function phasesOf(
  dir: string,
  label: string,
  sample: (name: Name, i: number) => Promise<unknown>,
  cut: (evs: SchedEvent[]) => Record<string, number>,
): Promise<void> {
  const got: Record<Name, Record<string, number>[]> = { reference: [], ours: [] };
  for (let i = 0; i < SAMPLES; i++) {
    const order: Name[] = i % 2 === 0 ? ['reference', 'ours'] : ['ours', 'reference'];
    for (const name of order) got[name].push(cut(await recorded(dir, () => sample(name, i))));
  }
  console.log(`\n${label}, medians of ${String(SAMPLES)} (ms)\n`);
  console.log('| phase | reference | ours | ours - ref |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const phase of Object.keys(got.ours[0] ?? {})) {
    const ref = median(got.reference.map((p) => p[phase] ?? NaN));
    const ours = median(got.ours.map((p) => p[phase] ?? NaN));
    console.log(
      `| ${phase} | ${ref.toFixed(1)} | ${ours.toFixed(1)} | ${(ours - ref).toFixed(1)} |`,
    );
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsshim-phases-'));
  let cd: Containerd | undefined;
  try {
    cd = await startContainerd();
    const c = cd;
    const image = await ensureBusyboxImage(c);
    const ok = async (args: string[]): Promise<void> => {
      const r = await c.ctr(args, { reject: false });
      if (r.exitCode !== 0) throw new Error(`ctr ${args.join(' ')}: ${r.stderr}`);
    };
    // Warm up: our warm process and spare, and a container of each to exec in.
    await ok(['run', '--rm', '--runtime', RUNTIMES.ours, image, 'warmup', 'true']);
    for (const name of ['reference', 'ours'] as const)
      await ok(['run', '-d', '--runtime', RUNTIMES[name], image, `x-${name}`, 'sleep', '100000']);
    await new Promise((r) => setTimeout(r, 2000));
    const detached: string[] = [];
    await phasesOf(
      dir,
      '`ctr run -d` until RUNNING',
      (name, i) => {
        const id = `d-${name}-${String(i)}`;
        detached.push(id);
        return ok(['run', '-d', '--runtime', RUNTIMES[name], image, id, 'sleep', '100000']);
      },
      runPhases,
    );
    await phasesOf(
      dir,
      '`ctr task exec true`',
      (name, i) => ok(['task', 'exec', '--exec-id', `e${String(i)}`, `x-${name}`, 'true']),
      execPhases,
    );
    for (const id of [...detached, 'x-reference', 'x-ours']) {
      await c.ctr(['task', 'delete', '-f', id], { reject: false });
      await c.ctr(['container', 'delete', id], { reject: false });
    }
  } finally {
    await cd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
