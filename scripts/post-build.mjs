#!/usr/bin/env node
// After tsc: copy the generated protobuf JS (tsc only sees its .d.ts) into the build tree; bundle
// the entry script (bundle.mjs); record the git revision that `-v` and `-info` report and the
// build id (a hash of the built code and addon: warm processes only pair with their own build);
// write the launcher's configuration and install the launcher as the shim executables in bin/.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { bundle } from './bundle.mjs';

const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const build = join(root, 'build');
mkdirSync(join(build, 'src/gen'), { recursive: true });
for (const name of readdirSync(join(root, 'src/gen'))) {
  if (name.endsWith('.js') || name.endsWith('.d.ts'))
    copyFileSync(join(root, 'src/gen', name), join(build, 'src/gen', name));
}

// Before the build id is computed: the bundle is part of the built code.
await bundle(root);

let revision = 'unknown';
try {
  revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
} catch {
  // not a git checkout
}
writeFileSync(join(build, 'revision'), `${revision}\n`);

const launcher = join(root, 'native/build/Release/tsshim-launcher');
const addon = join(root, 'native/build/Release/shim_native.node');

function files(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : [path];
    });
}
const hash = createHash('sha256');
hash.update(readFileSync(join(root, 'package.json')));
for (const path of [...files(join(build, 'src')), addon, launcher]) {
  if (!existsSync(path)) continue;
  hash.update(path.slice(root.length));
  hash.update(readFileSync(path));
}
const buildId = hash.digest('hex').slice(0, 16);
writeFileSync(join(build, 'build-id'), `${buildId}\n`);

const { nodeCommand } = await import(join(build, 'src/shim/node-command.js'));
const { DEFAULT_WARM_DIR } = await import(join(build, 'src/shim/handoff/warm-socket.js'));
// Node's path as built (the launcher falls back to `node` on PATH), the script relative to the
// package root (@ROOT@), wherever the package is installed.
const exec = nodeCommand([]).map((a) =>
  a.startsWith(`${root}/`) ? `@ROOT@${a.slice(root.length)}` : a,
);
const conf = [
  `build_id=${buildId}`,
  `warm_dir=${DEFAULT_WARM_DIR}`,
  ...exec.map((a) => `exec=${a}`),
];
writeFileSync(join(build, 'launcher.conf'), `${conf.join('\n')}\n`);

// The executables containerd runs: the launcher, with this checkout's root embedded so that a
// copy of it anywhere on disk still finds it (`--portable`, for the package: nothing embedded).
if (existsSync(launcher)) {
  const placeholder = Buffer.from('@@TSSHIM_PACKAGE_ROOT@@');
  const binary = readFileSync(launcher);
  const at = binary.indexOf(placeholder);
  if (at < 0) throw new Error('launcher: no package root placeholder');
  const rootBytes = Buffer.from(`${root}\0`);
  if (rootBytes.length > 4096) throw new Error('launcher: package root path too long');
  if (!process.argv.includes('--portable')) rootBytes.copy(binary, at);
  mkdirSync(join(root, 'bin'), { recursive: true });
  for (const name of ['containerd-shim-ts-v2', 'containerd-shim-tsshim-v2']) {
    const target = join(root, 'bin', name);
    // Replaced by rename: a running copy must not be overwritten in place.
    writeFileSync(`${target}.tmp`, binary);
    chmodSync(`${target}.tmp`, 0o755);
    renameSync(`${target}.tmp`, target);
  }
} else {
  console.warn('post-build: the launcher is not built (npm run build:native); bin/ not updated');
}
