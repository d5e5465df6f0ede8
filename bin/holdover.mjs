#!/usr/bin/env node
// Entry point of `npx holdover`: runs the prebuilt bundle dist/cli.mjs (bin/build-cli.mjs) when it
// is there and no source is newer; otherwise rebuilds it (esbuild) or, failing that, loads the
// TypeScript CLI through tsx.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'cli.mjs');
const meta = join(root, 'dist', 'cli.meta.json');

function bundleIsFresh() {
  try {
    const built = statSync(bundle).mtimeMs;
    const { sources } = JSON.parse(readFileSync(meta, 'utf8'));
    return sources.every((source) => !existsSync(source) || statSync(source).mtimeMs <= built);
  } catch {
    return false;
  }
}

async function loadCli() {
  // HOLDOVER_CLI_FROM_SOURCE=1: always the TypeScript through tsx (development; bench/cli.ts)
  if (process.env.HOLDOVER_CLI_FROM_SOURCE === '1') return fromSource();
  if (bundleIsFresh()) return import(pathToFileURL(bundle).href);
  try {
    const { buildCli } = await import('./build-cli.mjs');
    if (await buildCli()) return import(`${pathToFileURL(bundle).href}?${Date.now()}`);
  } catch {
    // a read-only install: run from source instead
  }
  return fromSource();
}

async function fromSource() {
  const { register } = await import('tsx/esm/api');
  register();
  return import('../local/cli.ts');
}

const { runCli, CliError, ImportFailedError } = await loadCli();
try {
  await runCli(process.argv.slice(2));
} catch (error) {
  if (error instanceof ImportFailedError) {
    process.stderr.write(`holdover: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else if (error instanceof CliError || error?.code?.startsWith?.('ERR_PARSE_ARGS')) {
    const hint = error instanceof CliError ? '' : '\nRun "npx holdover --help" for the commands and options.';
    process.stderr.write(`holdover: ${error.message}${hint}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(
      `holdover: unexpected failure: ${error?.stack ?? String(error)}\n` +
        'This is a bug in the CLI: please report it with the lines above.\n',
    );
    process.exitCode = 1;
  }
}
