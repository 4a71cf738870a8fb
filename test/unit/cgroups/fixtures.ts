// Fixture cgroup trees for unit tests: files written under a temp dir, as the kernel shows them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function writeTree(files: Record<string, string>): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'cgfix-'));
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
  return {
    root,
    cleanup: () => {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A container's v1 memory cgroup as this host's kernel (6.x, memsw on) writes it. */
export const V1_MEMORY: Record<string, string> = {
  'memory.stat': `cache 4096
rss 110592
rss_huge 0
shmem 0
mapped_file 8192
dirty 4096
writeback 0
workingset_refault_anon 0
swap 0
pgpgin 499
pgpgout 471
pgfault 875
pgmajfault 3
inactive_anon 102400
active_anon 8192
inactive_file 0
active_file 4096
unevictable 0
hierarchical_memory_limit 33554432
hierarchical_memsw_limit 9223372036854771712
total_cache 4096
total_rss 110592
total_rss_huge 0
total_shmem 0
total_mapped_file 8192
total_dirty 4096
total_writeback 0
total_pgpgin 499
total_pgpgout 471
total_pgfault 875
total_pgmajfault 3
total_inactive_anon 102400
total_active_anon 8192
total_inactive_file 0
total_active_file 4096
total_unevictable 0
`,
  'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
  'memory.usage_in_bytes': '937984\n',
  'memory.max_usage_in_bytes': '2764800\n',
  'memory.failcnt': '5\n',
  'memory.limit_in_bytes': '33554432\n',
  'memory.memsw.usage_in_bytes': '937984\n',
  'memory.memsw.max_usage_in_bytes': '2764800\n',
  'memory.memsw.failcnt': '0\n',
  'memory.memsw.limit_in_bytes': '9223372036854771712\n',
  'memory.kmem.usage_in_bytes': '323584\n',
  'memory.kmem.max_usage_in_bytes': '618496\n',
  'memory.kmem.failcnt': '0\n',
  'memory.kmem.limit_in_bytes': '9223372036854771712\n',
  'memory.kmem.tcp.usage_in_bytes': '0\n',
  'memory.kmem.tcp.max_usage_in_bytes': '0\n',
  'memory.kmem.tcp.failcnt': '0\n',
  'memory.kmem.tcp.limit_in_bytes': '9223372036854771712\n',
};
