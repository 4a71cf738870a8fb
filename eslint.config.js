// Lint: strict type-checked rules, plus the module boundaries of src/ (see README, "Layout").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const restrict = (patterns, message) => ({
  'no-restricted-imports': ['error', { patterns: patterns.map((group) => ({ group, message })) }],
});

export default tseslint.config(
  {
    ignores: [
      'build/**',
      'native/build/**',
      'node_modules/**',
      'src/gen/**',
      'scripts/**',
      'eslint.config.js',
      'bin/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner awaits itself.
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'describe', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      eqeqeq: 'error',
      'prefer-const': 'error',
    },
  },
  // The shim never uses child_process: the reaper owns every child (src/reaper).
  {
    files: ['src/**/*.ts'],
    rules: restrict([['node:child_process', 'child_process']], 'spawn through reaper/monitor'),
  },
  {
    files: ['src/ttrpc/**/*.ts'],
    rules: restrict(
      [['../native/*', '../task/*', '../shim/*', '../process/*']],
      'ttrpc knows nothing of containers',
    ),
  },
  {
    files: ['src/process/**/*.ts', 'src/runtime/**/*.ts', 'src/io/**/*.ts', 'src/cgroups/**/*.ts'],
    rules: restrict(
      [['../ttrpc/*', '../task/*', '../shim/*', '../gen/*']],
      'the process layer knows nothing of ttrpc',
    ),
  },
  // The client library and the CLI run outside the shim, where no reaper owns children.
  {
    files: ['src/client/**/*.ts', 'src/cli/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
);
