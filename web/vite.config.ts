// The operator portal's build: Preact (JSX by esbuild, no plugin), one hashed JS and CSS bundle in
// web/dist/assets, no source maps shipped. `npm run build:web`; served at `/` by the local platform.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // Everything in one origin's /assets: nothing inlined as data: URLs that the CSP would have to allow.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
