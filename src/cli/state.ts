// Where `run -d` leaves what later commands need: <state-dir>/<namespace>/<id>/ holds the shim's
// address, the bundle, and whether the bundle was generated (and so is ours to remove). The
// shim's events go to a socket under <state-dir>/events/, where `tsshim events` listens.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_STATE_DIR = '/run/tsshim';

export interface ContainerRecord {
  address: string;
  bundle: string;
  generated: boolean;
}

export function recordDir(stateDir: string, namespace: string, id: string): string {
  return join(stateDir, namespace, id);
}

/**
 * The events socket of a detached container. Hashed: a unix socket path must stay under 108
 * bytes whatever the namespace and id.
 */
export function eventsSocketPath(stateDir: string, namespace: string, id: string): string {
  const key = createHash('sha256').update(`${namespace}/${id}`).digest('hex').slice(0, 24);
  return join(stateDir, 'events', `${key}.sock`);
}

export function saveRecord(dir: string, record: ContainerRecord): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'address'), `${record.address}\n`);
  writeFileSync(join(dir, 'bundle'), `${record.bundle}\n`);
  if (record.generated) writeFileSync(join(dir, 'generated'), '');
}

export function loadRecord(dir: string, id: string): ContainerRecord {
  const addressFile = join(dir, 'address');
  if (!existsSync(addressFile)) throw new Error(`no container ${JSON.stringify(id)} (${dir})`);
  return {
    address: readFileSync(addressFile, 'utf8').trim(),
    bundle: existsSync(join(dir, 'bundle')) ? readFileSync(join(dir, 'bundle'), 'utf8').trim() : '',
    generated: existsSync(join(dir, 'generated')),
  };
}

export function removeRecord(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
