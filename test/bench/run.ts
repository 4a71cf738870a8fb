// Benchmark: the reference shim and ours side by side in one run, against one private containerd.
// Interleaved `ctr run --rm ... true` latency (median, p90 of 30 each); exec latency (`ctr task
// exec ... true`, 30 each, interleaved, one running container per runtime); stdout throughput
// (256 MiB through the stdout FIFO to a reader that only counts bytes, 3 runs each); then per-shim
// RSS and PSS with 10 containers of each runtime running. Prints a table with ratios.
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { startContainerd } from '../helpers/containerd.js';
import { ensureBusyboxImage } from '../helpers/image.js';
import { parentOf, waitFor } from '../helpers/leaks.js';

const RUNTIMES = { reference: 'io.containerd.runc.v2', ours: 'io.containerd.tsshim.v2' } as const;
type Name = keyof typeof RUNTIMES;
const NAMES: Name[] = ['reference', 'ours'];
const RUNS = 30;
const EXECS = 30;
const THROUGHPUT_RUNS = 3;
const THROUGHPUT_BYTES = 256 * 1024 * 1024;
const RUNNING = 10;

/** label, reference, ours */
type Row = [string, number, number];

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

/** RSS and PSS in KiB from smaps_rollup. */
function memory(pid: number): { rss: number; pss: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: field('Rss'), pss: field('Pss') };
}

/**
 * `count` rounds of `sample(name, round)` for both runtimes, alternating which goes first so
 * neither always runs on a warmer machine.
 */
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

/** Milliseconds `ctr args` took; throws if it failed. */
async function timedCtr(args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await cd.ctr(args);
  if (r.exitCode !== 0) throw new Error(`ctr ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const cd = await startContainerd();
try {
  const image = await ensureBusyboxImage(cd);
  const latency = await interleaved(RUNS, (name, i) =>
    timedCtr(['run', '--rm', '--runtime', RUNTIMES[name], image, `b-${name}-${i}`, 'true']),
  );
  for (const name of NAMES) {
    await cd.ctr(['run', '-d', '--runtime', RUNTIMES[name], image, `x-${name}`, 'sleep', '1000']);
  }
  const execLatency = await interleaved(EXECS, (name, i) =>
    timedCtr(['task', 'exec', '--exec-id', `e${i}`, `x-${name}`, 'true']),
  );
  for (const name of NAMES) {
    await cd.ctr(['task', 'kill', '-s', 'SIGKILL', `x-${name}`]);
    await waitFor(
      async () =>
        (await cd.ctr(['task', 'ls'])).stdout
          .split('\n')
          .some((l) => l.startsWith(`x-${name} `) && l.includes('STOPPED')),
      10000,
    );
    await cd.ctr(['task', 'delete', `x-${name}`]);
    await cd.ctr(['container', 'delete', `x-${name}`]);
  }
  // MiB/s of 256 MiB written by the container and read by ctr from the stdout FIFO.
  const throughput = await interleaved(THROUGHPUT_RUNS, async (name, i) => {
    const t0 = process.hrtime.bigint();
    const child = execa(
      'ctr',
      [
        '--address',
        cd.address,
        '--namespace',
        cd.namespace,
        'run',
        '--rm',
        '--runtime',
        RUNTIMES[name],
        image,
        `t-${name}-${i}`,
        'head',
        '-c',
        String(THROUGHPUT_BYTES),
        '/dev/zero',
      ],
      { buffer: false, stdin: 'ignore', stdout: 'pipe' },
    );
    let bytes = 0;
    child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    await child;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (bytes !== THROUGHPUT_BYTES) throw new Error(`${name}: read ${bytes} bytes`);
    return THROUGHPUT_BYTES / (1024 * 1024) / seconds;
  });
  const mem: Record<Name, { rss: number; pss: number }[]> = { reference: [], ours: [] };
  for (const name of NAMES) {
    for (let i = 0; i < RUNNING; i++) {
      await cd.ctr([
        'run',
        '-d',
        '--runtime',
        RUNTIMES[name],
        image,
        `m-${name}-${i}`,
        'sleep',
        '1000',
      ]);
    }
  }
  await waitFor(
    async () =>
      (await cd.ctr(['task', 'ls'])).stdout.split('\n').filter((l) => l.includes('RUNNING'))
        .length ===
      2 * RUNNING,
    30000,
  );
  const tasks = (await cd.ctr(['task', 'ls'])).stdout.split('\n').slice(1);
  for (const line of tasks) {
    const [id, pid] = line.trim().split(/\s+/);
    const name = NAMES.find((n) => id?.startsWith(`m-${n}-`));
    if (name && pid) mem[name].push(memory(parentOf(Number(pid))));
  }
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const at = (label: string, samples: Record<Name, number[]>, q: number): Row => [
    label,
    quantile(samples.reference, q),
    quantile(samples.ours, q),
  ];
  const rows: Row[] = [
    at('ctr run --rm true, median (ms)', latency, 0.5),
    at('ctr run --rm true, p90 (ms)', latency, 0.9),
    at('ctr task exec true, median (ms)', execLatency, 0.5),
    at('ctr task exec true, p90 (ms)', execLatency, 0.9),
    at('stdout 256 MiB through the FIFO, median (MiB/s, higher is better)', throughput, 0.5),
    [
      `shim RSS per container, ${RUNNING} running (KiB)`,
      avg(mem.reference.map((m) => m.rss)),
      avg(mem.ours.map((m) => m.rss)),
    ],
    [
      `shim PSS per container, ${RUNNING} running (KiB)`,
      avg(mem.reference.map((m) => m.pss)),
      avg(mem.ours.map((m) => m.pss)),
    ],
  ];
  console.log('| metric | reference (runc.v2) | ours (tsshim.v2) | ratio ours/ref |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [label, ref, ours] of rows) {
    console.log(
      `| ${label} | ${ref.toFixed(0)} | ${ours.toFixed(0)} | ${(ours / ref).toFixed(2)} |`,
    );
  }
} finally {
  await cd.stop();
}
