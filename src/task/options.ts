// Decodes the runtime options Any of CreateTaskRequest (or `start`'s stdin) into RuntimeOptions, and
// the Any of CheckpointTaskRequest into CheckpointOptions. Accepted runtime option types:
//  - containerd.runc.v1.Options (what the reference accepts);
//  - containerd.linux.runc.CreateOptions / RuncOptions, which 1.6/1.7 Go clients send for runtime
//    names not starting with io.containerd.runc (the reference would ignore them);
//  - runtimeoptions.v1.Options, what CRI and `ctr --runtime-config-path` send for other runtime
//    types: a TOML table of runc Options keys, from config_path (a file) or config_body.
import { readFileSync } from 'node:fs';
import { containerd, runtimeoptions } from '../gen/options.js';
import { ShimError, errorMessage } from '../base/errors.js';
import { parseToml, type TomlValue } from '../base/toml.js';
import {
  DEFAULT_CHECKPOINT_OPTIONS,
  DEFAULT_RUNTIME_OPTIONS,
  type CheckpointOptions,
  type RuntimeOptions,
} from '../process/options.js';

export interface AnyLike {
  type_url?: string | null;
  value?: Uint8Array | null;
}

const bareTypeUrl = (any: AnyLike | null | undefined): string =>
  (any?.type_url ?? '').replace(/^type\.googleapis\.com\//, '');

export function decodeRuntimeOptions(any: AnyLike | null | undefined): RuntimeOptions {
  const value = any?.value ?? new Uint8Array();
  switch (bareTypeUrl(any)) {
    case 'containerd.runc.v1.Options': {
      const o = containerd.runc.v1.Options.decode(value);
      return {
        binaryName: o.binary_name,
        root: o.root,
        noPivotRoot: o.no_pivot_root,
        noNewKeyring: o.no_new_keyring,
        systemdCgroup: o.systemd_cgroup,
        ioUid: o.io_uid,
        ioGid: o.io_gid,
        shimCgroup: o.shim_cgroup,
        criuPath: o.criu_path,
        criuImagePath: o.criu_image_path,
        criuWorkPath: o.criu_work_path,
        grouping: '',
      };
    }
    case 'containerd.linux.runc.CreateOptions': {
      // Its open_tcp/terminal/... fields fed v1-shim restores; the v2 restore takes no such flags.
      const o = containerd.linux.runc.CreateOptions.decode(value);
      return {
        ...DEFAULT_RUNTIME_OPTIONS,
        noPivotRoot: o.no_pivot_root,
        noNewKeyring: o.no_new_keyring,
        ioUid: o.io_uid,
        ioGid: o.io_gid,
        shimCgroup: o.shim_cgroup,
        criuImagePath: o.criu_image_path,
        criuWorkPath: o.criu_work_path,
      };
    }
    case 'containerd.linux.runc.RuncOptions': {
      const o = containerd.linux.runc.RuncOptions.decode(value);
      return {
        ...DEFAULT_RUNTIME_OPTIONS,
        binaryName: o.runtime,
        root: o.runtime_root,
        criuPath: o.criu_path,
        systemdCgroup: o.systemd_cgroup,
      };
    }
    case 'runtimeoptions.v1.Options':
      return decodeGenericOptions(runtimeoptions.v1.Options.decode(value));
    default:
      // Empty or unknown: defaults (unknown types are ignored, as spec §7.3 recommends).
      return { ...DEFAULT_RUNTIME_OPTIONS };
  }
}

/** runtimeoptions.v1.Options: the TOML file named by config_path, else config_body. */
function decodeGenericOptions(o: runtimeoptions.v1.Options): RuntimeOptions {
  let text: string;
  let source: string;
  if (o.config_path !== '') {
    source = o.config_path;
    try {
      text = readFileSync(o.config_path, 'utf8');
    } catch (err) {
      throw new ShimError(
        'invalid-argument',
        `failed to read runtime config ${o.config_path}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  } else {
    source = 'config_body';
    text = Buffer.from(o.config_body).toString('utf8');
  }
  try {
    return optionsFromToml(text);
  } catch (err) {
    throw new ShimError('invalid-argument', `runtime config ${source}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

type Field = { key: keyof RuntimeOptions; type: 'string' | 'boolean' | 'uint32' };

/** runc Options keys by Go field name, lower-cased: BurntSushi/toml matches them ignoring case. */
const TOML_FIELDS = new Map<string, Field>(
  (
    [
      ['NoPivotRoot', 'noPivotRoot', 'boolean'],
      ['NoNewKeyring', 'noNewKeyring', 'boolean'],
      ['ShimCgroup', 'shimCgroup', 'string'],
      ['IoUid', 'ioUid', 'uint32'],
      ['IoGid', 'ioGid', 'uint32'],
      ['BinaryName', 'binaryName', 'string'],
      ['Root', 'root', 'string'],
      ['CriuPath', 'criuPath', 'string'],
      ['SystemdCgroup', 'systemdCgroup', 'boolean'],
      ['CriuImagePath', 'criuImagePath', 'string'],
      ['CriuWorkPath', 'criuWorkPath', 'string'],
      // Ours, not runc's: read by `start` only.
      ['Grouping', 'grouping', 'string'],
    ] as const
  ).map(([name, key, type]) => [name.toLowerCase(), { key, type }]),
);

/** A TOML table of runc Options keys; unknown keys are ignored (as the Go decoder does). */
export function optionsFromToml(text: string): RuntimeOptions {
  const opts: RuntimeOptions = { ...DEFAULT_RUNTIME_OPTIONS };
  const record = opts as unknown as Record<string, TomlValue>;
  for (const [name, value] of parseToml(text)) {
    const field = TOML_FIELDS.get(name.toLowerCase());
    if (!field) continue;
    if (field.type === 'uint32') {
      if (typeof value !== 'number' || value < 0 || value > 0xffffffff) {
        throw new Error(`${name} must be an integer between 0 and 4294967295`);
      }
    } else if (typeof value !== field.type) {
      throw new Error(`${name} must be a ${field.type}, not ${JSON.stringify(value)}`);
    }
    record[field.key] = value;
  }
  return opts;
}

/**
 * CheckpointTaskRequest.options. runc.v1 and linux.runc CheckpointOptions share field numbers 1-7
 * and swap 8/9 (image_path/work_path). Empty means defaults; any other type is refused (the
 * reference fails decoding it too).
 */
export function decodeCheckpointOptions(any: AnyLike | null | undefined): CheckpointOptions {
  const value = any?.value ?? new Uint8Array();
  const typeUrl = bareTypeUrl(any);
  switch (typeUrl) {
    case '':
      return { ...DEFAULT_CHECKPOINT_OPTIONS, emptyNamespaces: [] };
    case 'containerd.runc.v1.CheckpointOptions':
    case 'containerd.linux.runc.CheckpointOptions': {
      const o =
        typeUrl === 'containerd.runc.v1.CheckpointOptions'
          ? containerd.runc.v1.CheckpointOptions.decode(value)
          : containerd.linux.runc.CheckpointOptions.decode(value);
      return {
        exit: o.exit,
        openTcp: o.open_tcp,
        externalUnixSockets: o.external_unix_sockets,
        terminal: o.terminal,
        fileLocks: o.file_locks,
        emptyNamespaces: [...o.empty_namespaces],
        cgroupsMode: o.cgroups_mode,
        imagePath: o.image_path,
        workPath: o.work_path,
      };
    }
    default:
      throw new ShimError('invalid-argument', `unsupported checkpoint options type ${typeUrl}`);
  }
}
