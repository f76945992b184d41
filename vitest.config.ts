import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', 'data/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Log contract suites start brokers and child processes; two cores are all CI has.
    pool: 'forks',
    reporters: ['default'],
  },
});
