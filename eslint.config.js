// `npm run lint`: @eslint/js recommended + typescript-eslint recommended (not type-checked, to
// stay fast; `npm run typecheck` is the type gate), over packages, services, cli, bench, test
// and scripts.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

// The globals of the Node that runs the linter (process, Buffer, fetch, URL, structuredClone,
// ...), so plain .js/.mjs scripts get `no-undef` checking without another dependency.
const nodeGlobals = Object.fromEntries(
  Object.getOwnPropertyNames(globalThis)
    .filter((name) => /^[A-Za-z_$][\w$]*$/.test(name))
    .map((name) => [name, 'readonly']),
);

const unusedVars = [
  'error',
  {
    args: 'after-used',
    argsIgnorePattern: '^_',
    varsIgnorePattern: '^_',
    caughtErrorsIgnorePattern: '^_',
    destructuredArrayIgnorePattern: '^_',
    ignoreRestSiblings: true,
  },
];

const ENV_MESSAGE =
  'Read configuration from the typed config (packages/platform/src/config.ts), not process.env: the environment is parsed once (DESIGN.md, convention 5).';

export default defineConfig([
  globalIgnores([
    '**/node_modules/',
    '**/dist/',
    '**/data/',
    '**/coverage/',
    '**/.tmp/',
    'console/build/',
    // generated: the @gatehouse/sdk browser build (packages/sdk/scripts/browser.mjs)
    'console/lib/gatehouse-sdk.js',
    'console/.vite/',
    'deploy/',
    'docs/',
  ]),

  {
    files: ['**/*.{js,mjs,cjs,ts,mts,cts,tsx}'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      globals: nodeGlobals,
    },
    rules: {
      'no-unused-vars': unusedVars,
    },
  },
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs' } },

  // The web console runs in browsers: their globals on top of those shared with Node.
  {
    files: ['console/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'history', 'localStorage', 'sessionStorage', 'Node', 'Element', 'HTMLElement', 'PublicKeyCredential'].map((name) => [name, 'readonly']),
      ),
    },
  },

  {
    files: ['**/*.{ts,mts,cts,tsx}'],
    extends: [tseslint.configs.recommended],
    rules: {
      'no-unused-vars': 'off',
      '@typescript-eslint/no-unused-vars': unusedVars,
    },
  },

  // Nothing but the config module (and entry points, scripts, tests and test-only helpers
  // such as packages/platform/src/testing.ts, which read the TEST_* contract) reads process.env.
  {
    files: ['**/*.{js,mjs,cjs,ts,mts,cts,tsx}'],
    ignores: [
      'packages/platform/src/config.ts',
      '**/main.ts',
      'scripts/**',
      '**/*.test.ts',
      '**/testing.ts',
      '**/testing/**',
      'test/**',
      'bench/**',
      'cli/**',
      'eslint.config.js',
    ],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: ENV_MESSAGE }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.type='MemberExpression'][object.property.name='process'][property.name='env']",
          message: ENV_MESSAGE,
        },
        {
          selector: "MemberExpression[object.type='MemberExpression'][object.property.name='process'][property.value='env']",
          message: ENV_MESSAGE,
        },
      ],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'node:process', importNames: ['env'], message: ENV_MESSAGE },
            { name: 'process', importNames: ['env'], message: ENV_MESSAGE },
          ],
        },
      ],
    },
  },
]);
