// What a process's stdio is, as containerd describes it (paths or URIs, terminal flag).

export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export const isNullStdio = (s: Stdio): boolean =>
  s.stdin === '' && s.stdout === '' && s.stderr === '';

export type StdioTarget =
  | { kind: 'null' }
  | { kind: 'fifo' }
  | { kind: 'file'; path: string }
  | { kind: 'binary'; path: string; args: string[] };

/** Decides the stdio mode from the stdout URI (task API: the scheme of stdout selects it). */
export function parseStdioTarget(s: Stdio): StdioTarget {
  if (isNullStdio(s)) return { kind: 'null' };
  const uri = s.stdout;
  const colon = uri.indexOf('://');
  if (colon === -1) return { kind: 'fifo' };
  const scheme = uri.slice(0, colon);
  let url: URL;
  try {
    url = new URL(uri);
  } catch (err) {
    throw new Error(`unable to parse stdout uri: ${uri}`, { cause: err });
  }
  const path = decodeURIComponent(url.pathname);
  switch (scheme) {
    case 'fifo':
      return { kind: 'fifo' };
    case 'file':
      return { kind: 'file', path };
    case 'binary': {
      // Like Go's url.Query(): a repeated key passes only its first value.
      const args: string[] = [];
      const seen = new Set<string>();
      for (const [k, v] of url.searchParams) {
        if (seen.has(k)) continue;
        seen.add(k);
        args.push(k, v);
      }
      return { kind: 'binary', path, args };
    }
    default:
      throw new Error(`unknown STDIO scheme ${scheme}`);
  }
}
