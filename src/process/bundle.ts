// Files in the bundle directory that the shim reads or writes for itself.
import { readFileSync, writeFileSync, renameSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ShimError, errorCode } from '../base/errors.js';
import type { RuncConfig } from '../runtime/runc.js';
import { runcRoot, type RuntimeOptions } from './options.js';

export const bundleFiles = {
  config: 'config.json',
  rootfs: 'rootfs',
  initPid: 'init.pid',
  runcLog: 'log.json',
  /** Our record of the runtime options, so `delete` can find runc's root after the daemon died. */
  options: 'options.json',
  /** The init's exit, written when it is processed, so `delete` can report the real status. */
  initExit: 'init.exit',
} as const;

/**
 * A Create's bundle must be an existing directory named by an absolute path without `..`: a
 * relative one would resolve against the shim's cwd, which is another container's bundle.
 */
export function checkBundle(bundle: string): void {
  // Quoted, and cut short: the path comes from the request and may be megabytes long.
  const shown = JSON.stringify(bundle.length > 200 ? `${bundle.slice(0, 200)}...` : bundle);
  if (!isAbsolute(bundle) || bundle.includes('\0') || bundle.split('/').includes('..')) {
    throw new ShimError('invalid-argument', `bundle path ${shown} is not a clean absolute path`);
  }
  let isDir: boolean;
  try {
    isDir = statSync(bundle).isDirectory();
  } catch (err) {
    if (errorCode(err) === 'ENOENT') throw new ShimError('not-found', `bundle ${shown}`);
    throw new ShimError('invalid-argument', `bundle ${shown}: ${String(errorCode(err))}`);
  }
  if (!isDir) throw new ShimError('invalid-argument', `bundle ${shown} is not a directory`);
}

export const bundlePath = (bundle: string, name: string): string => join(bundle, name);

/** Writes a file atomically (temp file in the same directory, then rename). */
export function writeFileAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

export function readPidFile(path: string): number {
  const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`invalid pid in ${path}`);
  return pid;
}

export function saveRuntimeOptions(bundle: string, opts: RuntimeOptions): void {
  writeFileAtomic(bundlePath(bundle, bundleFiles.options), JSON.stringify(opts), 0o600);
}

export function loadRuntimeOptions(bundle: string): Partial<RuntimeOptions> {
  try {
    return JSON.parse(
      readFileSync(bundlePath(bundle, bundleFiles.options), 'utf8'),
    ) as Partial<RuntimeOptions>;
  } catch {
    return {};
  }
}

export interface SavedExit {
  status: number;
  exitedAt: string;
}

export function saveInitExit(bundle: string, status: number, at: Date): void {
  const saved: SavedExit = { status, exitedAt: at.toISOString() };
  writeFileAtomic(bundlePath(bundle, bundleFiles.initExit), JSON.stringify(saved), 0o600);
}

export function loadInitExit(bundle: string): SavedExit | undefined {
  try {
    return JSON.parse(readFileSync(bundlePath(bundle, bundleFiles.initExit), 'utf8')) as SavedExit;
  } catch {
    return undefined;
  }
}

interface OciSpec {
  annotations?: Record<string, string>;
  linux?: { namespaces?: { type?: string; path?: string }[] };
}

export function readSpec(bundle: string): OciSpec {
  return JSON.parse(readFileSync(bundlePath(bundle, bundleFiles.config), 'utf8')) as OciSpec;
}

/** True when the spec gives the container its own (new) PID namespace. */
export function hasPrivatePidNamespace(spec: OciSpec): boolean {
  return (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'pid' && (ns.path ?? '') === '');
}

/** How runc is driven for a container: its state root, its log in the bundle, global flags. */
export function runcConfig(opts: RuntimeOptions, namespace: string, bundle: string): RuncConfig {
  return {
    binary: opts.binaryName || 'runc',
    root: runcRoot(opts, namespace),
    logPath: bundlePath(bundle, bundleFiles.runcLog),
    systemdCgroup: opts.systemdCgroup,
    criu: opts.criuPath,
  };
}
