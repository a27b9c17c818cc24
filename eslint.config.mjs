import js from '@eslint/js';
import tseslint from 'typescript-eslint';

import exampleImports from './scripts/lint/example-imports.mjs';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'build/',
      'dist/',
      'prebuilds/',
      'lib/generated/*.js',
      'lib/generated/*.d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        __filename: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['scripts/**/*.mjs', 'eslint.config.mjs'],
    languageOptions: { sourceType: 'module' },
  },
  // Examples are written only against the published API (package.json exports).
  {
    files: ['examples/**/*.ts', 'examples/**/*.js', 'examples/**/*.mjs', 'examples/**/*.cjs'],
    plugins: { local: { rules: { 'example-imports': exampleImports } } },
    rules: { 'local/example-imports': 'error' },
  },
);
