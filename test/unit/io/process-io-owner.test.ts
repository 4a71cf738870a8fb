// IoUid/IoGid: the container-side pipe ends the shim hands to runc are owned by them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ProcessIO } from '../../../src/io/process-io.js';

async function withFifos(
  run: (paths: { stdin: string; stdout: string; stderr: string }) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'io-owner-'));
  try {
    const paths = { stdin: join(dir, 'in'), stdout: join(dir, 'out'), stderr: join(dir, 'err') };
    execFileSync('mkfifo', [paths.stdin, paths.stdout, paths.stderr]);
    await run(paths);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const owners = (io: ProcessIO): string[] =>
  io.childFds.map((fd) => {
    const st = fstatSync(fd);
    return `${String(st.uid)}:${String(st.gid)}`;
  });

test('pipes handed to the container are owned by IoUid:IoGid', async () => {
  await withFifos(async (paths) => {
    const io = await ProcessIO.open({ ...paths, terminal: false }, { uid: 1000, gid: 1001 });
    try {
      assert.deepEqual(owners(io), ['1000:1001', '1000:1001', '1000:1001']);
    } finally {
      io.close();
    }
  });
});

test('without IoUid/IoGid the pipes stay root-owned', async () => {
  await withFifos(async (paths) => {
    const io = await ProcessIO.open({ ...paths, terminal: false }, { uid: 0, gid: 0 });
    try {
      assert.deepEqual(owners(io), ['0:0', '0:0', '0:0']);
    } finally {
      io.close();
    }
  });
});
