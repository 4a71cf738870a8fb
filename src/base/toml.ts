// A deliberately small TOML reader for runtime option files: top-level `key = value` pairs whose
// values are strings, booleans or integers, with comments and blank lines. Anything else (tables,
// arrays, floats, dates, multi-line strings) is rejected with the line number, rather than
// half-understood; runc options need nothing more.

export type TomlValue = string | boolean | number;

export class TomlError extends Error {
  override readonly name = 'TomlError';
  constructor(line: number, message: string) {
    super(`toml: line ${String(line)}: ${message}`);
  }
}

const BARE_KEY = /^[A-Za-z0-9_-]+/;
const ESCAPES: Record<string, string> = {
  b: '\b',
  t: '\t',
  n: '\n',
  f: '\f',
  r: '\r',
  '"': '"',
  '\\': '\\',
};

/** Parses the document into a key → value map (keys as written). */
export function parseToml(text: string): Map<string, TomlValue> {
  const out = new Map<string, TomlValue>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const n = index + 1;
    const line = new Cursor(raw, n);
    line.skipSpace();
    if (line.atEndOrComment()) return;
    if (line.peek() === '[') throw new TomlError(n, 'tables are not supported');
    const key = line.key();
    line.skipSpace();
    if (line.peek() === '.') throw new TomlError(n, 'dotted keys are not supported');
    if (line.next() !== '=') throw new TomlError(n, `expected '=' after key ${key}`);
    line.skipSpace();
    const value = line.value();
    line.skipSpace();
    if (!line.atEndOrComment()) throw new TomlError(n, `unexpected text after value of ${key}`);
    if (out.has(key)) throw new TomlError(n, `duplicate key ${key}`);
    out.set(key, value);
  });
  return out;
}

class Cursor {
  #pos = 0;
  constructor(
    readonly text: string,
    readonly line: number,
  ) {}

  peek(): string {
    return this.text[this.#pos] ?? '';
  }

  next(): string {
    return this.text[this.#pos++] ?? '';
  }

  skipSpace(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.#pos++;
  }

  atEndOrComment(): boolean {
    return this.#pos >= this.text.length || this.peek() === '#';
  }

  fail(message: string): never {
    throw new TomlError(this.line, message);
  }

  key(): string {
    const c = this.peek();
    if (c === '"') return this.basicString();
    if (c === "'") return this.literalString();
    const m = BARE_KEY.exec(this.text.slice(this.#pos));
    if (!m) this.fail(`invalid key at ${JSON.stringify(this.text.slice(this.#pos))}`);
    this.#pos += m[0].length;
    return m[0];
  }

  value(): TomlValue {
    const rest = this.text.slice(this.#pos);
    if (rest.startsWith('"""') || rest.startsWith("'''")) {
      this.fail('multi-line strings are not supported');
    }
    const c = this.peek();
    if (c === '"') return this.basicString();
    if (c === "'") return this.literalString();
    if (c === '[') this.fail('arrays are not supported');
    if (c === '{') this.fail('inline tables are not supported');
    const m = /^[^\s#]+/.exec(rest);
    if (!m) this.fail('missing value');
    this.#pos += m[0].length;
    return scalar(m[0], this);
  }

  basicString(): string {
    this.#pos++; // opening quote
    let s = '';
    for (;;) {
      const c = this.next();
      if (c === '') this.fail('unterminated string');
      if (c === '"') return s;
      if (c !== '\\') {
        s += c;
        continue;
      }
      const e = this.next();
      const simple = ESCAPES[e];
      if (simple !== undefined) s += simple;
      else if (e === 'u' || e === 'U') s += this.unicode(e === 'u' ? 4 : 8);
      else this.fail(`invalid escape \\${e}`);
    }
  }

  private unicode(digits: number): string {
    const hex = this.text.slice(this.#pos, this.#pos + digits);
    if (!new RegExp(`^[0-9A-Fa-f]{${String(digits)}}$`).test(hex)) {
      this.fail(`invalid unicode escape ${hex}`);
    }
    this.#pos += digits;
    const code = Number.parseInt(hex, 16);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      this.fail(`invalid unicode code point ${hex}`);
    }
    return String.fromCodePoint(code);
  }

  literalString(): string {
    const end = this.text.indexOf("'", this.#pos + 1);
    if (end < 0) this.fail('unterminated string');
    const s = this.text.slice(this.#pos + 1, end);
    this.#pos = end + 1;
    return s;
  }
}

function scalar(token: string, at: Cursor): boolean | number {
  if (token === 'true') return true;
  if (token === 'false') return false;
  let m: RegExpExecArray | null;
  let n: number;
  if ((m = /^([+-]?)(0|[1-9](?:_?[0-9])*)$/.exec(token))) {
    n = Number((m[1] ?? '') + (m[2] ?? '').replace(/_/g, ''));
  } else if ((m = /^0([xob])([0-9A-Fa-f](?:_?[0-9A-Fa-f])*)$/.exec(token))) {
    const radix = m[1] === 'x' ? 16 : m[1] === 'o' ? 8 : 2;
    const digits = (m[2] ?? '').replace(/_/g, '');
    const valid = radix === 16 ? /^[0-9A-Fa-f]+$/ : radix === 8 ? /^[0-7]+$/ : /^[01]+$/;
    if (!valid.test(digits)) at.fail(`invalid integer ${token}`);
    n = Number.parseInt(digits, radix);
  } else {
    at.fail(`unsupported value ${token} (only strings, booleans and integers)`);
  }
  if (!Number.isSafeInteger(n)) at.fail(`integer out of range ${token}`);
  return n;
}
