import { defineConfig } from 'vitest/config';

// Unit tests run in plain Node: `fetch` is stubbed per test and IndexedDB comes from
// fake-indexeddb (imported by the tests), so no DOM emulation is needed.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
    restoreMocks: true,
    unstubGlobals: true,
  },
});
