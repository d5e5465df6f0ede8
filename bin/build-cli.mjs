#!/usr/bin/env node
// Bundles the CLI (local/cli.ts and what it imports) into dist/cli.mjs, so `npx holdover` starts
// plain Node on one file instead of transpiling TypeScript on every call. Run by `npm install`
// (the `prepare` script) and, when the bundle is missing or older than a source, by
// bin/holdover.mjs itself. dist/cli.meta.json lists the sources, so freshness is checked cheaply.
// Without esbuild (a production install) it does nothing: bin/holdover.mjs falls back to tsx.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE = join(root, 'dist', 'cli.mjs');
export const META = join(root, 'dist', 'cli.meta.json');

/** Builds the bundle; false if esbuild is not installed. */
export async function buildCli() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    return false;
  }
  mkdirSync(dirname(BUNDLE), { recursive: true });
  const result = await esbuild.build({
    entryPoints: [join(root, 'local', 'cli.ts')],
    outfile: BUNDLE,
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'bundle',
    minify: true,
    metafile: true,
    legalComments: 'none',
    logLevel: 'error',
  });
  // Written aside and renamed, so a CLI started meanwhile never imports half a file.
  const [output] = result.outputFiles;
  const sources = Object.keys(result.metafile.inputs).map((input) => join(root, input));
  const suffix = `.${process.pid}.tmp`;
  writeFileSync(BUNDLE + suffix, output.contents);
  writeFileSync(META + suffix, JSON.stringify({ sources: [...sources, join(root, 'package.json')] }));
  renameSync(BUNDLE + suffix, BUNDLE);
  renameSync(META + suffix, META);
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (await buildCli()) process.stdout.write(`holdover: CLI bundled into ${BUNDLE}\n`);
  else process.stdout.write('holdover: esbuild not installed; the CLI runs through tsx\n');
}
