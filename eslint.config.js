// Lint: typescript-eslint's type-aware recommended rules, plus the ones STYLE.md asks for
// (no floating promises, no `any` at boundaries), and the import floors between the rooms of functions/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The rooms' import floors (README "Layout"), as @typescript-eslint/no-restricted-imports options. ESLint
// does not merge one rule's options across config objects (the last matching object wins), so each folder
// below gets the complete list that applies to it; test/lint/boundaries.test.ts proves each one bites.
const RULE = '@typescript-eslint/no-restricted-imports';

// Outside functions/store (and the drivers/migrations in functions/adapters/db), SQL is not written.
const noSql = {
  paths: [{ name: 'kysely', importNames: ['sql'], message: 'SQL lives in functions/store/ (one module per aggregate): call a store function.' }],
};
// app/ holds use cases and ports: no database library, no AWS SDK, no adapters or local runtime.
const appFloor = {
  paths: [{ name: 'kysely', message: 'app/ does not use kysely: queries live in functions/store/ (types too: Executor, Tx from #store/db).' }],
  patterns: [
    { group: ['@aws-sdk/*'], message: 'app/ does not call AWS: define a port in app and implement it in functions/adapters/.' },
    // regex, not group: a group is gitignore syntax, where a leading # starts a comment.
    { regex: '^#(adapters|runtime)/', caseSensitive: true, message: 'app/ does not import adapters or the local runtime: define a port in app; entries and the runtime wire it.' },
    { regex: '^(\\.\\./)+(adapters|runtime)(/|$)', caseSensitive: true, message: 'app/ does not import adapters or the local runtime.' },
  ],
};
// Lambda entries only wire app and adapters together; they reach the database through app and adapters.
const entryFloor = {
  patterns: [
    { regex: '^#store/', caseSensitive: true, message: 'A Lambda entry only wires: it imports app, adapters and shared, not the store.' },
    { regex: '^(\\.\\./)+store(/|$)', caseSensitive: true, message: 'A Lambda entry only wires: it imports app, adapters and shared, not the store.' },
  ],
};
// The CDK app describes the functions by their entry paths and imports only domain and shared (route
// table, configuration keys): no app, store, adapters or runtime code reaches synth.
const cdkFloor = {
  patterns: [
    { regex: '^#(app|store|adapters|runtime)/', caseSensitive: true, message: 'lib/ and bin/ import only domain and shared: point a construct at an entry path instead.' },
    { regex: '^(\\.\\./)+functions/(app|store|adapters|runtime)(/|$)', caseSensitive: true, message: 'lib/ and bin/ import only domain and shared.' },
  ],
};
// domain/ is pure: other domain modules, zod and decimal.js only (no I/O, no node: built-ins, no other room).
const domainFloor = (depth) => ({
  patterns: [
    // decimal.js: exact decimal arithmetic for tariffs and money, a pure computation library with no I/O.
    { regex: '^(?!zod$|decimal\\.js$|#domain/|\\.)', caseSensitive: true, message: 'domain/ imports only domain (relative or #domain/*), zod and decimal.js.' },
    { regex: `^(\\.\\./){${depth}}`, caseSensitive: true, message: 'domain/ imports only domain: this relative path leaves functions/domain/.' },
  ],
});
// web/src is the browser's: no server rooms (#… aliases or paths out of web/), no Node.js built-ins.
const portalFloor = {
  patterns: [
    { regex: '^#', caseSensitive: true, message: 'The portal talks to the platform through the HTTP API, not by importing server code.' },
    { regex: '^node:', caseSensitive: true, message: 'The portal runs in a browser: no Node.js built-ins.' },
    { regex: '^(\\.\\./){2,}', caseSensitive: true, message: 'The portal imports only from web/src and its npm packages.' },
  ],
};
const restrict = (...sets) => ({
  rules: {
    [RULE]: sets.length === 0 ? 'off' : ['error', { paths: sets.flatMap((s) => s.paths ?? []), patterns: sets.flatMap((s) => s.patterns ?? []) }],
  },
});
// zod as a namespace in functions/: esbuild drops the unused members of `import * as z`, but `import { z }`
// is zod's whole namespace object (every schema kind, JSON Schema, 40 locales), ~350 KB more in each Lambda
// bundle (test/cdk/bundle-size.test.ts). A syntax rule, because no-restricted-imports' importNames also
// rejects the namespace import.
const zodNamespaceImport = {
  selector: "ImportDeclaration[source.value='zod'][importKind='value'] > ImportSpecifier[imported.name='z'][importKind='value']",
  message: "Import zod as `import * as z from 'zod'` (keeps Lambda bundles small).",
};
// The store's `Db` type reaches app/ (use cases pass it on), so importing kysely is not the only way to
// write a query there: calling the query builder on it is refused outside the store as well.
const queryBuilderCall = {
  selector: 'CallExpression[callee.property.name=/^(selectFrom|selectNoFrom|insertInto|updateTable|deleteFrom|mergeInto|replaceInto)$/]',
  message: 'Queries live in functions/store/ (one module per aggregate): call a store function.',
};
const syntax = (...selectors) => ({ rules: { 'no-restricted-syntax': ['error', ...selectors] } });
const LAMBDA_ENTRIES = ['functions/api/**/*.ts', 'functions/ingest/*.ts', 'functions/commands/*.ts', 'functions/jobs/**/*.ts', 'functions/migrate/**/*.ts'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', '.data/**', 'coverage/**', 'web/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  // Later objects override earlier ones for the files they match, so the general floors come first.
  { files: ['scripts/**/*.ts'], ...restrict(noSql) },
  { files: ['lib/**/*.ts', 'bin/**/*.ts'], ...restrict(noSql, cdkFloor) },
  { files: ['functions/**/*.ts'], ...restrict(noSql) },
  { files: ['functions/**/*.ts'], ...syntax(zodNamespaceImport, queryBuilderCall) },
  { files: ['functions/store/**/*.ts', 'functions/adapters/db/**/*.ts'], rules: { ...restrict().rules, ...syntax(zodNamespaceImport).rules } },
  { files: ['functions/app/**/*.ts'], ...restrict(appFloor) },
  { files: LAMBDA_ENTRIES, ...restrict(noSql, entryFloor) },
  // The portal (web/src, its own tsconfig with the DOM) runs in a browser: it reaches the platform only
  // through the HTTP API and its live channel, never by importing server code.
  { files: ['web/src/**/*.{ts,tsx}'], ...restrict(portalFloor) },
  { files: ['functions/domain/*.ts'], ...restrict(domainFloor(1)) },
  { files: ['functions/domain/*/*.ts'], ...restrict(domainFloor(2)) },
  { files: ['functions/domain/*/*/*.ts'], ...restrict(domainFloor(3)) },
  {
    files: ['eslint.config.js', 'scripts/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
  },
);
