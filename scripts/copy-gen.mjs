#!/usr/bin/env node
// tsc does not emit the generated .js next to its .d.ts; copy it into the build tree.
import { copyFileSync, mkdirSync } from 'node:fs';
const root = new URL('..', import.meta.url).pathname;
mkdirSync(`${root}build/src/gen`, { recursive: true });
copyFileSync(`${root}src/gen/proto.js`, `${root}build/src/gen/proto.js`);
