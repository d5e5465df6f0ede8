// How every Lambda function is bundled, declared once so the construct (through NodejsFunction)
// and bench/cold.ts (through the esbuild API) build byte-for-byte the same ESM bundle.
// No aws-cdk-lib import here: the benchmark must not pay for loading the CDK.

/** Lambda runtime the bundles target; keep in step with `Runtime.NODEJS_22_X` in function.ts. */
export const BUNDLE_TARGET = 'node22';

/**
 * ESM bundles of CommonJS dependencies (the AWS SDK's, Powertools') still call `require()` for
 * Node built-ins; esbuild's ESM output has no `require`, so import fails with "Dynamic require of
 * node:https is not supported" unless one is made (esbuild issue #1921).
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as holdoverCreateRequire } from 'module'; const require = holdoverCreateRequire(import.meta.url);";

/**
 * The AWS SDK v3 ships inside the nodejs22.x runtime and that runtime resolves ES-module imports
 * through NODE_PATH, so the bundles leave it out: a smaller artifact, and the SDK is patched with
 * the runtime. bench/cold.ts measures the bundled alternative as well.
 */
export const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*'];

/** esbuild options shared by both builders (names as in esbuild's JS API). */
export const esbuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: BUNDLE_TARGET,
  minify: true,
  sourcemap: true,
  // Source text is in the repository; leaving it out of the map keeps the artifact small.
  sourcesContent: false,
  // Prefer the ES-module build of dual packages so tree-shaking can drop unused code.
  mainFields: ['module', 'main'],
  banner: { js: ESM_REQUIRE_BANNER },
} as const;
