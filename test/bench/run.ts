// Benchmark: the reference shim (io.containerd.runc.v2) and ours side by side in one run, against
// private containerd instances, samples interleaved (ref, ours, ours, ref, ...), medians and p90,
// ratios ours/reference, and the target next to each. A benchmark, not a test: it fails
// only when something errors. `--quick` for a smoke run; `--json <file>` to keep the figures.
//
// Modes: "warm" is a containerd after one warm-up container (our warm process and spare are up);
// "cold" is a containerd whose environment has TSSHIM_WARM=0 (every start and delete of ours
// boots Node), and the warm containerd's first container once its warm process has left (the
// start boots Node, which starts the warm process for the delete). Our spares are forked by the
// zygote (the default) and, in rows that say so, booted (TSSHIM_ZYGOTE=0). Memory is summed over
// every process of a runtime serving that containerd (ours: daemons, the warm process, its zygote
// and spare), divided by the running containers. CPU is read from
// a cpuacct cgroup holding containerd and all it starts (shims, warm processes, runc), per
// lifecycle and over the 50 parallel starts; the containers' own CPU is not in it (runc moves
// them out), nor is ctr's.
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { spawn as spawnPty } from 'node-pty';
import { REPO, startContainerd, type Containerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';
import { waitFor } from '../helpers/leaks.js';
import { WARM_PATH_ROLES } from '../../src/shim/handoff/warm.js';
import { isMainScript } from '../../src/shim/node-command.js';

const RUNTIMES = { reference: 'io.containerd.runc.v2', ours: 'io.containerd.tsshim.v2' } as const;
type Name = keyof typeof RUNTIMES;
const NAMES: Name[] = ['reference', 'ours'];

const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');
const jsonPath = jsonAt > 0 ? process.argv[jsonAt + 1] : undefined;
const N = {
  runs: quick ? 6 : 30,
  execs: quick ? 6 : 30,
  parallel: 50,
  throughputRuns: quick ? 1 : 3,
  bytes: (quick ? 32 : 256) * 1024 * 1024,
  versions: quick ? 5 : 20,
  cpuLifecycles: quick ? 5 : 20,
  levels: quick ? [1, 10] : [1, 10, 30],
};

interface Row {
  metric: string;
  reference: number;
  ours: number;
  /** Ratio ours/reference, or (for throughput) as it reads best: higher is better. */
  target?: string;
  unit: string;
}
const rows: Row[] = [];

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

/** Alternates which runtime goes first, so neither always runs on a warmer machine. */
async function interleaved(
  count: number,
  sample: (name: Name, round: number) => Promise<number>,
): Promise<Record<Name, number[]>> {
  const out: Record<Name, number[]> = { reference: [], ours: [] };
  for (let i = 0; i < count; i++) {
    for (const name of i % 2 === 0 ? NAMES : [...NAMES].reverse()) {
      out[name].push(await sample(name, i));
    }
  }
  return out;
}

function addQuantiles(
  metric: string,
  s: Record<Name, number[]>,
  unit: string,
  target?: string,
): void {
  for (const [q, label] of [
    [0.5, 'median'],
    [0.9, 'p90'],
  ] as const) {
    rows.push({
      metric: `${metric}, ${label}`,
      reference: quantile(s.reference, q),
      ours: quantile(s.ours, q),
      unit,
      ...(q === 0.5 && target ? { target } : {}),
    });
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function ctrOk(cd: Containerd, args: string[]): Promise<void> {
  const r = await cd.ctr(args, { reject: false, timeoutMs: 600000 });
  if (r.exitCode !== 0) throw new Error(`ctr ${args.join(' ')} failed: ${r.stderr}`);
}

async function remove(cd: Containerd, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => cd.ctr(['task', 'delete', '-f', id], { reject: false })));
  await Promise.all(ids.map((id) => cd.ctr(['container', 'delete', id], { reject: false })));
}

let seq = 0;
const uid = (name: Name, what: string): string => `${what}-${name}-${String(++seq)}`;
const run = (image: string, name: Name, extra: string[] = []): string[] => [
  'run',
  ...extra,
  '--runtime',
  RUNTIMES[name],
  image,
  uid(name, 'b'),
];

// ---- memory ----

/**
 * The warm process's idle limit where the bench measures a node once it has left: production's
 * default (300 s) is too long to wait for, and starts keep it from being idle meanwhile.
 */
const WARM_IDLE = 8;

/** Pids of every process of `name` serving containerd `cd`. */
function processesOf(cd: Containerd, name: Name): number[] {
  const ofRuntime = (arg: string): boolean =>
    name === 'ours' ? isMainScript(arg) : arg.endsWith('containerd-shim-runc-v2');
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split(/[\0 ]+/);
      const at = args.indexOf('-address');
      if (args.some(ofRuntime) && at >= 0 && args[at + 1] === cd.address) {
        out.push(Number(entry));
      }
    } catch {
      // gone
    }
  }
  return out;
}

function memoryKiB(pids: number[]): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${String(pid)}/smaps_rollup`, 'utf8');
      const field = (f: string): number =>
        Number(new RegExp(`^${f}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
      rss += field('Rss');
      pss += field('Pss');
    } catch {
      // gone
    }
  }
  return { rss, pss };
}

/**
 * RSS/PSS per container at each level of running containers. `idleMode`: at the last level, also
 * once the warm process has left for idleness (its zygote and spare with it), under that name.
 */
async function memoryLevels(
  cd: Containerd,
  image: string,
  name: Name,
  mode: string,
  extra: string[],
  idleMode?: string,
): Promise<void> {
  const ids: string[] = [];
  /** After a pause, the memory of every process of `name` divided by the running containers. */
  const record = async (as: string): Promise<void> => {
    await new Promise((r) => setTimeout(r, 2000));
    const m = memoryKiB(processesOf(cd, name));
    const per = (v: number): number => v / 1024 / ids.length;
    results.memory.push({
      name,
      mode: as,
      level: ids.length,
      rssMiB: per(m.rss),
      pssMiB: per(m.pss),
    });
  };
  try {
    for (const level of N.levels) {
      while (ids.length < level) {
        const args = run(image, name, ['-d', ...extra]);
        ids.push(args[args.length - 1] ?? '');
        await ctrOk(cd, [...args, 'sleep', '100000']);
      }
      await record(mode);
    }
    if (idleMode !== undefined) {
      await waitFor(() => warmPathPids(cd).length === 0, 120000);
      await record(idleMode);
    }
  } finally {
    await remove(cd, ids);
  }
}

/** Our warm process, zygote and spares serving `cd` (their titles or argv name the role). */
function warmPathPids(cd: Containerd): number[] {
  return processesOf(cd, 'ours').filter((pid) => {
    try {
      const args = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8')
        .split(/[\0 ]+/)
        .filter((arg) => arg !== '');
      return WARM_PATH_ROLES.has(args.at(-1) ?? '');
    } catch {
      return false;
    }
  });
}

const results: {
  memory: { name: Name; mode: string; level: number; rssMiB: number; pssMiB: number }[];
} = { memory: [] };

// ---- spares: forked by the zygote (the default), or booted (TSSHIM_ZYGOTE=0) ----

/** Runs `fn` against a containerd of its own whose warm process boots its spares. */
async function withBootedSpares<T>(fn: (cd: Containerd, cpu: CpuGroup) => Promise<T>): Promise<T> {
  const cd = await startContainerd({ env: { TSSHIM_ZYGOTE: '0' } });
  const cpu = cpuGroup(cd);
  try {
    return await fn(cd, cpu);
  } finally {
    await cd.stop();
    await cpu.remove();
  }
}

/** Waits until a spare of `cd` waits for a job: one forked by the zygote, or one booted. */
async function spareUp(cd: Containerd, forked = true): Promise<void> {
  const waitingSpare = (): boolean =>
    processesOf(cd, 'ours').some((pid) => {
      // A booted spare's argv is NUL-separated; a forked one's title, space-separated.
      const args = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').replace(/\0/g, ' ');
      return args.includes('--single-threaded') === forked && / spare\b/.test(args);
    });
  await waitFor(waitingSpare, 60000);
}

/** Runs a container of ours (`--rm`: the warm process is up after it), then waits for a spare. */
async function oursReady(
  cd: Containerd,
  image: string,
  forked = true,
  extra: readonly string[] = [],
): Promise<void> {
  await ctrOk(cd, [...run(image, 'ours', ['--rm', ...extra]), 'true']);
  await spareUp(cd, forked);
}

/**
 * Starts a container of ours that runs until removed, as on a node in use: the harness's
 * containerd lets our warm process leave 1 s after the last shim (production: 10 s), and a sample
 * after a longer pause would find none and boot Node. Returns its id once a spare waits.
 */
async function keepOursRunning(cd: Containerd, image: string): Promise<string> {
  const args = run(image, 'ours', ['-d']);
  await ctrOk(cd, [...args, 'sleep', '100000']);
  await spareUp(cd);
  return args[args.length - 1] ?? '';
}

// ---- CPU ----

const CPUACCT = '/sys/fs/cgroup/cpuacct';

/** A cpuacct cgroup holding containerd `cd` and all it starts from now on. */
interface CpuGroup {
  /** CPU seconds used in it so far. */
  usage(): number;
  /** Removes it, once containerd and its shims are gone. */
  remove(): Promise<void>;
}

function cpuGroup(cd: Containerd): CpuGroup {
  const group = join(CPUACCT, `tsshim-bench-${String(process.pid)}-${String(cd.pid)}`);
  mkdirSync(group);
  writeFileSync(join(group, 'cgroup.procs'), String(cd.pid));
  return {
    usage: () => Number(readFileSync(join(group, 'cpuacct.usage'), 'utf8')) / 1e9,
    async remove() {
      // Everything has left it once containerd and its shims are gone.
      await waitFor(
        () => readFileSync(join(group, 'cgroup.procs'), 'utf8').trim() === '',
        30000,
      ).catch(() => undefined);
      rmdirSync(group);
    },
  };
}

/** CPU seconds per `ctr run --rm true` of containerd and everything it starts. */
async function cpuPerLifecycle(): Promise<Record<Name, number>> {
  const cd = await startContainerd();
  const group = cpuGroup(cd);
  const out: Record<Name, number> = { reference: NaN, ours: NaN };
  try {
    const image = await ensureBusyboxImage(cd);
    for (const name of NAMES) {
      await ctrOk(cd, [...run(image, name, ['--rm']), 'true']); // warm-up
      // Ours at once, before the harness's 1 s linger lets the warm process go.
      if (name === 'ours') await spareUp(cd);
      else await new Promise((r) => setTimeout(r, 1000));
      const before = group.usage();
      for (let i = 0; i < N.cpuLifecycles; i++)
        await ctrOk(cd, [...run(image, name, ['--rm']), 'true']);
      out[name] = (group.usage() - before) / N.cpuLifecycles;
    }
  } finally {
    await cd.stop();
    await group.remove();
  }
  return out;
}

// ---- throughput ----

/** `ctr run --rm` of a container writing N.bytes of zeros to its stdout. */
const floodArgs = (cd: Containerd, image: string, name: Name, extra: string[]): string[] => [
  '--address',
  cd.address,
  '--namespace',
  cd.namespace,
  ...run(image, name, ['--rm', ...extra]),
  'head',
  '-c',
  String(N.bytes),
  '/dev/zero',
];

async function stdoutMiBps(cd: Containerd, image: string, name: Name): Promise<number> {
  const t0 = process.hrtime.bigint();
  const child = execa(cd.ctrPath, floodArgs(cd, image, name, []), {
    buffer: false,
    stdin: 'ignore',
    stdout: 'pipe',
  });
  let bytes = 0;
  child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
  await child;
  if (bytes !== N.bytes) throw new Error(`${name}: read ${String(bytes)} bytes`);
  return N.bytes / 1048576 / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Bytes a TTY run delivered short of N.bytes, per runtime (the reference's drain may cut it). */
const ttyShort: Record<Name, number> = { reference: 0, ours: 0 };

/** The rate of what arrived; a shortfall is counted in ttyShort, not an error of the bench. */
function ttyMiBps(cd: Containerd, image: string, name: Name): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const term = spawnPty(cd.ctrPath, floodArgs(cd, image, name, ['-t']), {
      cols: 80,
      rows: 24,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', TERM: 'xterm' },
    });
    let chars = 0;
    term.onData((d) => (chars += d.length));
    term.onExit(({ exitCode }) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (exitCode !== 0) {
        reject(new Error(`${name}: tty run exit ${String(exitCode)}, ${String(chars)} chars`));
        return;
      }
      ttyShort[name] += Math.max(0, N.bytes - chars);
      resolve(Math.min(chars, N.bytes) / 1048576 / seconds);
    });
  });
}

// ---- the run ----

async function main(): Promise<void> {
  const warm = await startContainerd();
  const warmCpu = cpuGroup(warm);
  const cold = await startContainerd({ env: { TSSHIM_WARM: '0' } });
  try {
    const image = await ensureBusyboxImage(warm);
    await ensureBusyboxImage(cold);

    // The binary's own -v: the reference's Go binary, ours relayed to the warm process, and ours
    // with no warm process (Node starts).
    await ctrOk(warm, [...run(image, 'ours', ['--rm']), 'true']); // warm-up: warm process up
    // Through the waits below and the reference's runs of seconds.
    const keeper = await keepOursRunning(warm, image);
    await new Promise((r) => setTimeout(r, 3000));
    const refShim = (await execa('sh', ['-c', 'command -v containerd-shim-runc-v2'])).stdout.trim();
    const ourShim = join(REPO, 'bin/containerd-shim-tsshim-v2');
    const version = await interleaved(N.versions, (name) =>
      timed(() => execa(name === 'ours' ? ourShim : refShim, ['-address', warm.address, '-v'])),
    );
    addQuantiles('`-v` (ours: warm process)', version, 'ms');
    const versionCold = await interleaved(N.versions, (name) =>
      timed(() =>
        execa(name === 'ours' ? ourShim : refShim, ['-v'], { env: { TSSHIM_WARM: '0' } }),
      ),
    );
    addQuantiles('`-v` (ours: no warm process)', versionCold, 'ms');

    addQuantiles(
      '`ctr run --rm true`, warm',
      await interleaved(N.runs, (name) =>
        timed(() => ctrOk(warm, [...run(image, name, ['--rm']), 'true'])),
      ),
      'ms',
      '≤ 1.0',
    );
    addQuantiles(
      '`ctr run --rm true`, cold',
      await interleaved(N.runs, (name) =>
        timed(() => ctrOk(cold, [...run(image, name, ['--rm']), 'true'])),
      ),
      'ms',
      '≤ 1.5',
    );
    await remove(warm, [keeper]);
    // The first container with the warm path on: no warm process yet (none ran for the last
    // linger time), so the start boots Node and that process starts the warm process.
    addQuantiles(
      '`ctr run --rm true`, cold with the warm path on (no warm process running)',
      await interleaved(N.runs, async (name) => {
        if (name === 'ours') await waitFor(() => processesOf(warm, 'ours').length === 0, 60000);
        return timed(() => ctrOk(warm, [...run(image, name, ['--rm']), 'true']));
      }),
      'ms',
    );
    // Warm again, with a container of ours running until the last warm row.
    const keeperAgain = await keepOursRunning(warm, image);
    const detached: string[] = [];
    addQuantiles(
      '`ctr run -d` until RUNNING',
      await interleaved(N.runs, (name) => {
        const args = run(image, name, ['-d']);
        detached.push(args[args.length - 1] ?? '');
        return timed(() => ctrOk(warm, [...args, 'sleep', '100000']));
      }),
      'ms',
      '≤ 1.0',
    );
    await remove(warm, detached);
    await withBootedSpares(async (cd) => {
      const img = await ensureBusyboxImage(cd);
      await oursReady(cd, img, false);
      const ids: string[] = [];
      addQuantiles(
        '`ctr run -d` until RUNNING, booted spares (`TSSHIM_ZYGOTE=0`)',
        await interleaved(N.runs, (name) => {
          const args = run(img, name, ['-d']);
          ids.push(args[args.length - 1] ?? '');
          return timed(() => ctrOk(cd, [...args, 'sleep', '100000']));
        }),
        'ms',
      );
      await remove(cd, ids);
    });

    const execIn: Record<Name, string> = {
      reference: uid('reference', 'x'),
      ours: uid('ours', 'x'),
    };
    for (const name of NAMES)
      await ctrOk(warm, [
        'run',
        '-d',
        '--runtime',
        RUNTIMES[name],
        image,
        execIn[name],
        'sleep',
        '100000',
      ]);
    addQuantiles(
      '`ctr task exec true`',
      await interleaved(N.execs, (name, i) =>
        timed(() =>
          ctrOk(warm, ['task', 'exec', '--exec-id', `e${String(i)}`, execIn[name], 'true']),
        ),
      ),
      'ms',
      '≤ 1.0',
    );
    await remove(warm, Object.values(execIn));

    // 50 parallel `ctr run -d`: wall time until all RUNNING, and errors; ours also with one
    // daemon for the namespace (the reference has no such mode: its figure is one per container).
    const NAMESPACE_GROUPING = ['--annotation', 'io.containerd.tsshim.v2.grouping=namespace'];
    const parallelRuns = async (
      name: Name,
      extra: string[],
      cd: Containerd = warm,
      cpu: CpuGroup = warmCpu,
      forked = true,
    ) => {
      // Our warm process and a spare up, as for every warm row: the harness's containerd lets
      // the warm process leave 1 s after the last shim, and the burst would start cold.
      if (name === 'ours') await oursReady(cd, image, forked);
      const ids = Array.from({ length: N.parallel }, () => uid(name, 'p'));
      let errors = 0;
      const cpuBefore = cpu.usage();
      const ms = await timed(() =>
        Promise.all(
          ids.map(async (id) => {
            const r = await cd.ctr(
              ['run', '-d', ...extra, '--runtime', RUNTIMES[name], image, id, 'sleep', '100000'],
              { reject: false, timeoutMs: 600000 },
            );
            if (r.exitCode !== 0) errors++;
          }),
        ),
      );
      const cpuSeconds = cpu.usage() - cpuBefore;
      await remove(cd, ids);
      return { ms, errors, cpuSeconds };
    };
    const parallel = {
      reference: await parallelRuns('reference', []),
      ours: await parallelRuns('ours', []),
      oursGrouped: await parallelRuns('ours', NAMESPACE_GROUPING),
      // Spares booted (TSSHIM_ZYGOTE=0), in a containerd of its own.
      oursBooted: await withBootedSpares(async (cd, cpu) => {
        await ensureBusyboxImage(cd);
        return parallelRuns('ours', [], cd, cpu, false);
      }),
    };
    for (const [mode, ours] of [
      ['', parallel.ours],
      [', namespace grouping (ref: one per container)', parallel.oursGrouped],
      [', booted spares (`TSSHIM_ZYGOTE=0`)', parallel.oursBooted],
    ] as const) {
      rows.push({
        metric: `${String(N.parallel)} parallel \`ctr run -d\`${mode}, wall`,
        reference: parallel.reference.ms,
        ours: ours.ms,
        unit: 'ms',
        target: '≤ 1.0, 0 errors',
      });
      rows.push({
        metric: `${String(N.parallel)} parallel \`ctr run -d\`${mode}, errors`,
        reference: parallel.reference.errors,
        ours: ours.errors,
        unit: 'count',
      });
      rows.push({
        metric: `${String(N.parallel)} parallel \`ctr run -d\`${mode}, CPU of containerd + shims + runc`,
        reference: parallel.reference.cpuSeconds,
        ours: ours.cpuSeconds,
        unit: 's CPU',
      });
    }

    const mib = N.bytes / 1048576;
    addQuantiles(
      `stdout ${String(mib)} MiB through the FIFO`,
      await interleaved(N.throughputRuns, (name) => stdoutMiBps(warm, image, name)),
      'MiB/s',
      '≥ 1.5',
    );
    addQuantiles(
      `TTY ${String(mib)} MiB`,
      await interleaved(N.throughputRuns, (name) => ttyMiBps(warm, image, name)),
      'MiB/s',
      '≥ 1.0',
    );
    rows.push({
      metric: `TTY ${String(mib)} MiB, bytes lost over ${String(N.throughputRuns)} runs`,
      reference: ttyShort.reference,
      ours: ttyShort.ours,
      unit: 'bytes',
    });
    await remove(warm, [keeperAgain]);

    // Memory: a fresh containerd each, so no earlier processes count.
    for (const [mode, extra, env] of [
      ['one shim per container', [], {}],
      ['namespace grouping', NAMESPACE_GROUPING, { TSSHIM_WARM_IDLE_SECONDS: String(WARM_IDLE) }],
      ['one shim per container, booted spares (`TSSHIM_ZYGOTE=0`)', [], { TSSHIM_ZYGOTE: '0' }],
    ] as const) {
      const cd = await startContainerd({ env });
      try {
        const img = await ensureBusyboxImage(cd);
        // Ours first, right once a spare waits: the harness's containerd lets our warm process
        // leave 1 s after the last shim, and the first daemon would then be a cold one.
        for (const name of ['ours', 'reference'] as const) {
          if (name === 'reference' && mode !== 'one shim per container') continue;
          if (name === 'ours') await oursReady(cd, img, !('TSSHIM_ZYGOTE' in env), extra);
          await memoryLevels(
            cd,
            img,
            name,
            mode,
            [...extra],
            name === 'ours' && 'TSSHIM_WARM_IDLE_SECONDS' in env
              ? `${mode}, once the warm process has left (idle ${String(WARM_IDLE)} s; default 300)`
              : undefined,
          );
        }
      } finally {
        await cd.stop();
      }
    }
    const refMem = (level: number) =>
      results.memory.find((m) => m.name === 'reference' && m.level === level);
    for (const m of results.memory.filter((x) => x.name === 'ours')) {
      const ref = refMem(m.level);
      for (const kind of ['pss', 'rss'] as const) {
        const target =
          kind === 'pss' && m.mode === 'namespace grouping' && m.level === 30
            ? '≤ 1 MiB and below ref'
            : kind === 'pss' && m.mode === 'one shim per container' && m.level === 10
              ? '≤ 2.0'
              : undefined;
        rows.push({
          metric: `${kind.toUpperCase()} per container, ${String(m.level)} running, ${m.mode} (ref: one per container)`,
          reference: ref ? (kind === 'pss' ? ref.pssMiB : ref.rssMiB) : NaN,
          ours: kind === 'pss' ? m.pssMiB : m.rssMiB,
          unit: 'MiB',
          ...(target ? { target } : {}),
        });
      }
    }
  } finally {
    await warm.stop();
    await cold.stop();
    await warmCpu.remove();
  }
  const cpu = await cpuPerLifecycle();
  rows.push({
    metric: 'CPU per `ctr run --rm true` lifecycle (containerd + shims + runc)',
    reference: cpu.reference * 1000,
    ours: cpu.ours * 1000,
    unit: 'ms CPU',
    target: '≤ 1.5',
  });

  console.log('| metric | unit | reference | ours | ours/ref | target |');
  console.log('| --- | --- | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    const digits = r.unit === 'MiB' || r.unit === 's CPU' ? 1 : 0;
    console.log(
      `| ${r.metric} | ${r.unit} | ${r.reference.toFixed(digits)} | ${r.ours.toFixed(digits)} | ${(r.ours / r.reference).toFixed(2)} | ${r.target ?? ''} |`,
    );
  }
  if (jsonPath)
    writeFileSync(jsonPath, JSON.stringify({ quick, rows, memory: results.memory }, null, 2));
}

await main();
