#!/usr/bin/env node
// After tsc: copy the generated protobuf JS (tsc only sees its .d.ts) into the build tree, and
// record the git revision that `-v` and `-info` report.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
mkdirSync(`${root}build/src/gen`, { recursive: true });
copyFileSync(`${root}src/gen/proto.js`, `${root}build/src/gen/proto.js`);

let revision = 'unknown';
try {
  revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
} catch {
  // not a git checkout
}
writeFileSync(`${root}build/revision`, `${revision}\n`);
