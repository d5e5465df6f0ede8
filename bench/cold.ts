// Cold-start cost of each Lambda bundle: builds the same ESM bundle the construct deploys
// (infra/bundling.ts options through the esbuild API), then times a fresh `node` process
// importing it, median of RUNS. Run: npm run bench:cold. Writes bench/results/cold.{json,md}.
// `npm run bench:cold -- --only capture,inboundEmail` measures those functions and writes nothing
// (a quick look while working; the results files always hold every function).
//
// Two variants per function: `sdk-bundled` is what is deployed (the AWS SDK folded into the
// bundle) and `sdk-external` leaves it to the Lambda runtime (here resolved from node_modules,
// unbundled, as the runtime's copy is), for comparison. The target is on import time only; the
// bundle size is reported, not capped.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { EXTERNAL_MODULES, esbuildBuildOptions, SDK_EXTERNAL } from '../infra/bundling.ts';
import { HOLDOVER_FUNCTIONS } from '../infra/catalogue.ts';

const RUNS = 10;
const onlyArgument = process.argv.indexOf('--only');
const only =
  onlyArgument === -1
    ? undefined
    : new Set((process.argv[onlyArgument + 1] ?? '').split(',').filter(Boolean));
const TARGET_IMPORT_MS = 80;
const root = path.resolve(import.meta.dirname, '..');
const rawDir = path.join(root, 'bench', 'results', 'raw', 'cold');
const run = promisify(execFile);

type Variant = 'sdk-external' | 'sdk-bundled';

interface Measurement {
  function: string;
  variant: Variant;
  bundleBytes: number;
  gzipBytes: number;
  importMedianMs: number;
  processMedianMs: number;
  withinTargets: boolean;
}

// What the functions read at module scope (each gets a subset in AWS; extra ones are unread);
// values only need to be well-formed, as no call is made.
const moduleScopeEnvironment = {
  HOLDOVER_TABLE: 'holdover-bench',
  HOLDOVER_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:holdover-bench',
  HOLDOVER_DOMAINS: 'example.com',
  HOLDOVER_DELIVERY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/holdover-delivery',
  HOLDOVER_EXPIRED_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/holdover-expired',
  HOLDOVER_EDGE_URL: 'http://holdover-edge.example.com:8080',
  HOLDOVER_MAIL_FROM: 'holdover@example.com',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIABENCH',
  AWS_SECRET_ACCESS_KEY: 'bench',
  POWERTOOLS_SERVICE_NAME: 'holdover',
  POWERTOOLS_METRICS_NAMESPACE: 'Holdover',
  NODE_NO_WARNINGS: '1',
};

async function bundle(entry: string, variant: Variant, outfile: string): Promise<number> {
  await build(
    esbuildBuildOptions(root, entry, outfile, variant === 'sdk-external' ? SDK_EXTERNAL : EXTERNAL_MODULES),
  );
  return fs.statSync(outfile).size;
}

/** One fresh process: how long `import()` of the bundle takes, and the whole process. */
async function coldImport(file: string): Promise<{ importMs: number; processMs: number }> {
  const script = `const t = performance.now(); await import(${JSON.stringify(`file://${file}`)}); console.log(performance.now() - t);`;
  const started = process.hrtime.bigint();
  // --enable-source-maps: NodejsFunction sets it in NODE_OPTIONS when source maps are on.
  const { stdout } = await run(
    process.execPath,
    ['--enable-source-maps', '--input-type=module', '-e', script],
    {
      env: { PATH: process.env.PATH, ...moduleScopeEnvironment },
    },
  );
  const processMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { importMs: Number(stdout.trim()), processMs };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function main(): Promise<void> {
  fs.rmSync(rawDir, { recursive: true, force: true });
  const loadBefore = os.loadavg()[0] ?? 0;
  const measurements: Measurement[] = [];
  for (const entry of HOLDOVER_FUNCTIONS.filter((fn) => only === undefined || only.has(fn.name))) {
    for (const variant of ['sdk-bundled', 'sdk-external'] as const) {
      // Inside the repository so an external `@aws-sdk/*` resolves from node_modules.
      const outfile = path.join(rawDir, variant, entry.name, 'index.mjs');
      const bundleBytes = await bundle(entry.entry, variant, outfile);
      await coldImport(outfile); // warm the file-system cache once, as a re-used sandbox would be
      const samples: { importMs: number; processMs: number }[] = [];
      for (let i = 0; i < RUNS; i++) samples.push(await coldImport(outfile));
      const importMedianMs = median(samples.map((sample) => sample.importMs));
      const measurement: Measurement = {
        function: entry.name,
        variant,
        bundleBytes,
        gzipBytes: gzipSync(fs.readFileSync(outfile), { level: 9 }).length,
        importMedianMs: round(importMedianMs),
        processMedianMs: round(median(samples.map((sample) => sample.processMs))),
        withinTargets: importMedianMs <= TARGET_IMPORT_MS,
      };
      measurements.push(measurement);
      console.log(
        `${entry.name.padEnd(12)} ${variant.padEnd(12)} ${kb(bundleBytes).padStart(9)} ${`${measurement.importMedianMs} ms`.padStart(10)} ${`${measurement.processMedianMs} ms`.padStart(10)}`,
      );
    }
  }
  const emptyProcessMs = round(median(await emptyNode()));
  const report = {
    measuredAt: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    // the 1-minute load average when the run started and ended: the machine may be shared
    loadAverage: { start: round(loadBefore), end: round(os.loadavg()[0] ?? 0) },
    runs: RUNS,
    targets: { importMs: TARGET_IMPORT_MS },
    emptyNodeProcessMedianMs: emptyProcessMs,
    measurements,
  };
  console.log(`\nempty node process: ${emptyProcessMs} ms (median of ${RUNS})`);
  if (only !== undefined) return;
  const resultsDir = path.join(root, 'bench', 'results');
  fs.writeFileSync(path.join(resultsDir, 'cold.json'), `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(path.join(resultsDir, 'cold.md'), markdown(report));
  console.log(`wrote bench/results/cold.json and bench/results/cold.md`);
}

async function emptyNode(): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = process.hrtime.bigint();
    await run(process.execPath, ['-e', '0']);
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return samples;
}

function markdown(report: {
  measuredAt: string;
  node: string;
  cpus: number;
  loadAverage: { start: number; end: number };
  emptyNodeProcessMedianMs: number;
  measurements: Measurement[];
}): string {
  const rows = report.measurements.map(
    (m) =>
      `| ${m.function} | ${m.variant} | ${kb(m.bundleBytes)} | ${kb(m.gzipBytes)} | ${m.importMedianMs} | ${m.processMedianMs} | ${m.withinTargets ? 'yes' : 'no'} |`,
  );
  return [
    '# Cold import of the Lambda bundles',
    '',
    `Measured ${report.measuredAt} with \`npm run bench:cold\` on Node ${report.node}, ${report.cpus} cores, load average ${report.loadAverage.start} at the start and ${report.loadAverage.end} at the end; median of ${RUNS} fresh processes each (\`node --enable-source-maps\`). Empty \`node\` process: ${report.emptyNodeProcessMedianMs} ms.`,
    '',
    `Target: import ≤ ${TARGET_IMPORT_MS} ms (the bundle size is reported, not capped). \`sdk-bundled\` is what the construct deploys (the AWS SDK folded into each bundle, infra/bundling.ts); \`sdk-external\` leaves the SDK to the nodejs22.x runtime (here imported unbundled from node_modules, as the runtime's copy is), for comparison. A shared 2-core machine: figures vary by ±15 % between runs.`,
    '',
    '| function | variant | bundle | gzip | import (ms) | process (ms) | within target |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

await main();
