import { defineConfig } from 'vitest/config';

// Three test kinds (serverless-test-samples taxonomy): unit tests of the pure core with
// in-memory fakes, integration tests against the real local stand-ins, and end-to-end
// tests that drive the whole local system with real SIP (sipp).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        // CDK assertions on the synthesized construct, and both front doors (cdk synth, sst build).
        // Each file synthesizes once; bundling and the CLIs are slow on two cores.
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
