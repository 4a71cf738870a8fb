import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseToml, TomlError } from '../../../src/base/toml.js';

const obj = (text: string): Record<string, unknown> => Object.fromEntries(parseToml(text));

test('strings, booleans, integers, comments and blank lines', () => {
  const doc = `
# runc options
BinaryName = "/usr/local/bin/my runc"   # trailing comment
Root='C:\\literal\\path'
SystemdCgroup = true
NoPivotRoot=false
IoUid = 1_000
IoGid = +0
Neg = -5
Hex = 0xff
Oct = 0o17
Bin = 0b101
"quoted key" = "x"
'literal key' = ""
`;
  assert.deepEqual(obj(doc), {
    BinaryName: '/usr/local/bin/my runc',
    Root: 'C:\\literal\\path',
    SystemdCgroup: true,
    NoPivotRoot: false,
    IoUid: 1000,
    IoGid: 0,
    Neg: -5,
    Hex: 255,
    Oct: 15,
    Bin: 5,
    'quoted key': 'x',
    'literal key': '',
  });
});

test('basic string escapes, a hash inside a string, CRLF and a BOM', () => {
  const doc =
    '\uFEFFa = "tab\\there \\"q\\" \\\\ \\u00e9 \\U0001F600 # not a comment"\r\nb = 1\r\n';
  assert.deepEqual(obj(doc), { a: 'tab\there "q" \\ é 😀 # not a comment', b: 1 });
});

test('an empty document is an empty table', () => {
  assert.equal(parseToml('').size, 0);
  assert.equal(parseToml('# only a comment\n\n').size, 0);
});

const rejects: [string, RegExp][] = [
  ['[plugins]\nx = 1', /line 1: tables are not supported/],
  ['a.b = 1', /dotted keys are not supported/],
  ['a = [1, 2]', /arrays are not supported/],
  ['a = { b = 1 }', /inline tables are not supported/],
  ['a = """x"""', /multi-line strings are not supported/],
  ["a = '''x'''", /multi-line strings are not supported/],
  ['a = 1.5', /unsupported value 1\.5/],
  ['a = 1979-05-27', /unsupported value/],
  ['a = yes', /unsupported value yes/],
  ['a = True', /unsupported value True/],
  ['a = 01', /unsupported value 01/],
  ['a = 1__0', /unsupported value/],
  ['a = 0o8', /invalid integer 0o8/],
  ['a = 0b12', /invalid integer 0b12/],
  ['a = 99999999999999999999', /integer out of range/],
  ['a = "unterminated', /unterminated string/],
  ["a = 'unterminated", /unterminated string/],
  ['a = "bad \\q escape"', /invalid escape \\q/],
  ['a = "\\u12"', /invalid unicode escape/],
  ['a = "\\uD800"', /invalid unicode code point/],
  ['a = 1 2', /unexpected text after value of a/],
  ['a', /expected '=' after key a/],
  ['a =', /missing value/],
  ['= 1', /invalid key/],
  ['a = 1\nb = 2\na = 3', /line 3: duplicate key a/],
];

for (const [doc, message] of rejects) {
  test(`rejects ${JSON.stringify(doc)}`, () => {
    assert.throws(
      () => parseToml(doc),
      (err: unknown) => err instanceof TomlError && message.test(err.message),
    );
  });
}
