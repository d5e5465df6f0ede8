// How every Lambda function is bundled, declared once so the construct (through NodejsFunction)
// and bench/cold.ts (through the esbuild API) build byte-for-byte the same ESM bundle.
// No aws-cdk-lib import here: the benchmark must not pay for loading the CDK.
import * as path from 'node:path';

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
 * Nothing is left to the runtime: the AWS SDK is bundled into each function. The nodejs22.x
 * runtime ships the SDK, but importing its unbundled modules takes a cold start about twice as long
 * as the minified, tree-shaken bundle (bench/results/cold.md, `sdk-external`); the bundle is larger (reported,
 * not capped) and the SDK version is the one the tests ran with. NodejsFunction's default would
 * leave `@aws-sdk/*` out, so this is passed explicitly. bench/cold.ts still measures the
 * runtime-SDK variant for comparison (SDK_EXTERNAL).
 */
export const EXTERNAL_MODULES: readonly string[] = [];

/** The alternative bench/cold.ts compares with: the SDK taken from the runtime. */
export const SDK_EXTERNAL: readonly string[] = ['@aws-sdk/*'];

/**
 * Module replacements in every bundle, paths relative to the project root (esbuild resolves an
 * alias's target in its working directory, which both builders set to the project root). The SDK's
 * default credential chain becomes functions/adapters/lambda-credentials.ts: the links Lambda uses
 * (environment, then the container and instance endpoints) without the profile, SSO, process and
 * token-file links, whose code is most of a cold start's SDK cost (bench/results/cold.md).
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node': './functions/adapters/lambda-credentials.ts',
};

/** esbuild options shared by both builders (names as in esbuild's JS API). */
export const esbuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: BUNDLE_TARGET,
  minify: true,
  // An external .map beside the bundle; NodejsFunction then sets NODE_OPTIONS=--enable-source-maps,
  // so stack traces name the TypeScript sources. Node reads the map when it loads the bundle, which
  // bench/cold.ts measures too (it runs node with the same flag).
  sourcemap: true,
  // Source text is in the repository; leaving it out of the map keeps the artifact small.
  sourcesContent: false,
  // Prefer the ES-module build of dual packages so tree-shaking can drop unused code.
  mainFields: ['module', 'main'],
  banner: { js: ESM_REQUIRE_BANNER },
  alias: BUNDLE_ALIASES,
} as const;

/**
 * The same aliases as esbuild CLI arguments, for NodejsFunction's `esbuildArgs` (it writes
 * `--alias:"<value>"`; a Record holds one `--alias` key, so one alias is all it can pass).
 */
export function aliasCliArgs(): Record<string, string> {
  const entries = Object.entries(BUNDLE_ALIASES);
  if (entries.length > 1) throw new Error('NodejsFunction passes one --alias; join the aliases differently');
  return Object.fromEntries(entries.map(([from, to]) => ['--alias', `${from}=${to}`]));
}

/**
 * The esbuild JS-API call that builds `entry` as the construct does (bench/cold.ts measures its
 * output; test/infra checks it is byte-for-byte the construct's asset). `external` is for the
 * benchmark's comparison only.
 */
export function esbuildBuildOptions(
  projectRoot: string,
  entry: string,
  outfile: string,
  external: readonly string[] = EXTERNAL_MODULES,
) {
  return {
    ...esbuildOptions,
    mainFields: [...esbuildOptions.mainFields],
    alias: { ...esbuildOptions.alias },
    // the aliases' targets are relative to the project root, as in the construct's esbuild run
    absWorkingDir: projectRoot,
    entryPoints: [path.join(projectRoot, entry)],
    outfile,
    external: [...external],
    logLevel: 'error' as const,
  };
}
