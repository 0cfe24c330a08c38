import { defineConfig } from 'vitest/config';

// Integration tests open databases (PGlite is WASM, ~1 s to boot) and brokers: keep the pool small on
// a 2-core machine and give them room.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The operator portal's build, served by the platform at `/` (web/dist; not committed).
    globalSetup: ['test/support/build-portal.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
