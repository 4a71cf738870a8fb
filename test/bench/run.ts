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

const cd = await startContainerd();
try {
  const image = await ensureBusyboxImage(cd);
  const latency: Record<Name, number[]> = { reference: [], ours: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const name of i % 2 === 0 ? NAMES : [...NAMES].reverse()) {
      const t0 = process.hrtime.bigint();
      const r = await cd.ctr([
        'run',
        '--rm',
        '--runtime',
        RUNTIMES[name],
        image,
        `b-${name}-${i}`,
        'true',
      ]);
      if (r.exitCode !== 0) throw new Error(`${name} run failed: ${r.stderr}`);
      latency[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const execLatency: Record<Name, number[]> = { reference: [], ours: [] };
  for (const name of NAMES) {
    await cd.ctr(['run', '-d', '--runtime', RUNTIMES[name], image, `x-${name}`, 'sleep', '1000']);
  }
  for (let i = 0; i < EXECS; i++) {
    for (const name of i % 2 === 0 ? NAMES : [...NAMES].reverse()) {
      const t0 = process.hrtime.bigint();
      const r = await cd.ctr(['task', 'exec', '--exec-id', `e${i}`, `x-${name}`, 'true']);
      if (r.exitCode !== 0) throw new Error(`${name} exec failed: ${r.stderr}`);
      execLatency[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
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
  const throughput: Record<Name, number[]> = { reference: [], ours: [] };
  for (let i = 0; i < THROUGHPUT_RUNS; i++) {
    for (const name of i % 2 === 0 ? NAMES : [...NAMES].reverse()) {
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
      throughput[name].push(THROUGHPUT_BYTES / (1024 * 1024) / seconds);
    }
  }
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
  const rows: [string, number, number, string][] = [
    [
      'ctr run --rm true, median (ms)',
      quantile(latency.reference, 0.5),
      quantile(latency.ours, 0.5),
      'ms',
    ],
    [
      'ctr run --rm true, p90 (ms)',
      quantile(latency.reference, 0.9),
      quantile(latency.ours, 0.9),
      'ms',
    ],
    [
      'ctr task exec true, median (ms)',
      quantile(execLatency.reference, 0.5),
      quantile(execLatency.ours, 0.5),
      'ms',
    ],
    [
      'ctr task exec true, p90 (ms)',
      quantile(execLatency.reference, 0.9),
      quantile(execLatency.ours, 0.9),
      'ms',
    ],
    [
      'stdout 256 MiB through the FIFO, median (MiB/s, higher is better)',
      quantile(throughput.reference, 0.5),
      quantile(throughput.ours, 0.5),
      'MiB/s',
    ],
    [
      `shim RSS per container, ${RUNNING} running (KiB)`,
      avg(mem.reference.map((m) => m.rss)),
      avg(mem.ours.map((m) => m.rss)),
      'KiB',
    ],
    [
      `shim PSS per container, ${RUNNING} running (KiB)`,
      avg(mem.reference.map((m) => m.pss)),
      avg(mem.ours.map((m) => m.pss)),
      'KiB',
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
