#!/usr/bin/env node
// Install step: succeed at once when the addon shipped for this platform loads (no compiler
// needed); otherwise exit 1, so the install falls back to building from source (node-gyp).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';

const dir = new URL(`../prebuilds/${process.platform}-${process.arch}/`, import.meta.url).pathname;
try {
  if (!existsSync(`${dir}tsshim-launcher`)) throw new Error('no prebuilt launcher');
  createRequire(import.meta.url)(`${dir}shim_native.node`);
  process.exit(0);
} catch (err) {
  console.error(
    `containerd-shim-ts-v2: nothing prebuilt for ${process.platform}-${process.arch} ` +
      `(${err instanceof Error ? err.message : String(err)}); building from source`,
  );
  process.exit(1);
}
