#!/usr/bin/env node
// Starts a private containerd (temp dir; never the system one), imports a locally built busybox
// image and runs one container through our shim, then tears everything down.
import { startContainerd } from '../build/test/helpers/containerd.js';
import { ensureBusyboxImage } from '../build/test/helpers/image.js';

const cd = await startContainerd();
let code = 1;
try {
  const image = await ensureBusyboxImage(cd);
  const r = await cd.ctr(
    [
      'run',
      '--rm',
      '--runtime',
      'io.containerd.tsshim.v2',
      image,
      `demo-${process.pid}`,
      'sh',
      '-c',
      'echo "hello from a container run by containerd-shim-ts-v2 ($(uname -s), pid $$)"',
    ],
    { reject: false },
  );
  process.stdout.write(r.stdout + '\n');
  if (r.stderr) process.stderr.write(r.stderr + '\n');
  code = r.exitCode;
} finally {
  if (code !== 0) process.stderr.write(cd.log().split('\n').slice(-30).join('\n') + '\n');
  await cd.stop();
}
process.exit(code);
