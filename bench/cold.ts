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
  /** The fastest of the RUNS imports: the least disturbed by other work on the machine. */
  importMinMs: number;
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
  // Every bundle first; then RUNS rounds, each importing every bundle once in turn, so that a
  // burst of load on a shared machine falls on all functions alike instead of on a few.
  const subjects: Array<{ name: string; variant: Variant; outfile: string; bundleBytes: number }> = [];
  for (const entry of HOLDOVER_FUNCTIONS.filter((fn) => only === undefined || only.has(fn.name))) {
    for (const variant of ['sdk-bundled', 'sdk-external'] as const) {
      // Inside the repository so an external `@aws-sdk/*` resolves from node_modules.
      const outfile = path.join(rawDir, variant, entry.name, 'index.mjs');
      const bundleBytes = await bundle(entry.entry, variant, outfile);
      await coldImport(outfile); // warm the file-system cache once, as a re-used sandbox would be
      subjects.push({ name: entry.name, variant, outfile, bundleBytes });
    }
  }
  const samples = subjects.map(() => [] as { importMs: number; processMs: number }[]);
  for (let i = 0; i < RUNS; i++) {
    for (const [index, subject] of subjects.entries())
      samples[index]?.push(await coldImport(subject.outfile));
  }
  const measurements: Measurement[] = subjects.map((subject, index) => {
    const taken = samples[index] ?? [];
    const importMedianMs = median(taken.map((sample) => sample.importMs));
    const measurement: Measurement = {
      function: subject.name,
      variant: subject.variant,
      bundleBytes: subject.bundleBytes,
      gzipBytes: gzipSync(fs.readFileSync(subject.outfile), { level: 9 }).length,
      importMedianMs: round(importMedianMs),
      importMinMs: round(Math.min(...taken.map((sample) => sample.importMs))),
      processMedianMs: round(median(taken.map((sample) => sample.processMs))),
      withinTargets: importMedianMs <= TARGET_IMPORT_MS,
    };
    console.log(
      `${subject.name.padEnd(12)} ${subject.variant.padEnd(12)} ${kb(subject.bundleBytes).padStart(9)} ${`${measurement.importMedianMs} ms`.padStart(10)} ${`${measurement.processMedianMs} ms`.padStart(10)}`,
    );
    return measurement;
  });
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
      `| ${m.function} | ${m.variant} | ${kb(m.bundleBytes)} | ${kb(m.gzipBytes)} | ${m.importMedianMs} | ${m.importMinMs} | ${m.processMedianMs} | ${m.withinTargets ? 'yes' : 'no'} |`,
  );
  return [
    '# Cold import of the Lambda bundles',
    '',
    `Measured ${report.measuredAt} with \`npm run bench:cold\` on Node ${report.node}, ${report.cpus} cores, load average ${report.loadAverage.start} at the start and ${report.loadAverage.end} at the end; median and fastest of ${RUNS} fresh processes each (\`node --enable-source-maps\`), taken in rounds that import every bundle in turn. Empty \`node\` process: ${report.emptyNodeProcessMedianMs} ms.`,
    '',
    `Target: import ≤ ${TARGET_IMPORT_MS} ms (the bundle size is reported, not capped). \`sdk-bundled\` is what the construct deploys (the AWS SDK folded into each bundle, infra/bundling.ts); \`sdk-external\` leaves the SDK to the nodejs22.x runtime (here imported unbundled from node_modules, as the runtime's copy is), for comparison. A shared 2-core machine: figures vary by ±15 % between runs.`,
    '',
    'inboundEmail parses mail with postal-mime (no dependencies; mailparser and its charset and HTML dependencies were about 1.1 MB of the bundle) and reads it from S3 with one SigV4-signed GET instead of @aws-sdk/client-s3 (about 170 KB): see functions/adapters/mail-parser.ts and s3-object.ts.',
    '',
    '| function | variant | bundle | gzip | import median (ms) | import fastest (ms) | process median (ms) | within target |',
    '|---|---|---|---|---|---|---|---|',
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
