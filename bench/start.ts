// npm run bench:start — seconds from `npm start` to GET /v1/health answering 200, on the default
// store (SQLite) and on HOLDOVER_STORE=dynamodb (DynamoDB Local and the SQS stand-in): a first
// start on an empty data directory, then restarts on the data it left. Non-default ports and a
// temporary data directory, so it runs beside anything else. Writes bench/results/start.{json,md}.
// Usage: npm run bench:start [-- --runs 3]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePorts } from '../test/support/ports.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const root = resolve(import.meta.dirname, '..');
const resultsDir = join(import.meta.dirname, 'results');

type Store = 'sqlite' | 'dynamodb';

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('exit', () => done());
  });
}

/** One `npm start`: seconds until healthy, then stopped with Ctrl-C (SIGINT) and awaited. */
async function startOnce(store: Store, dataDir: string): Promise<number> {
  const [port, edge, sip, ses, smtp, dynamodb, sqs] = (await freePorts(7)).map(String);
  const env = {
    ...process.env,
    HOLDOVER_STORE: store,
    HOLDOVER_DATA_DIR: dataDir,
    HOLDOVER_SECRET: 'bench-secret-0123456789abcdef',
    PORT: port,
    EDGE_HTTP_PORT: edge,
    SIP_PORT: sip,
    SES_PORT: ses,
    SMTP_PORT: smtp,
    DYNAMODB_PORT: dynamodb,
    SQS_PORT: sqs,
  } as NodeJS.ProcessEnv;
  const started = performance.now();
  // its own process group, so Ctrl-C reaches npm and everything under it, as in a terminal
  const child = spawn('npm', ['start'], { cwd: root, env, stdio: 'ignore', detached: true });
  const url = `http://127.0.0.1:${port}/v1/health`;
  const deadline = started + 120_000;
  try {
    for (;;) {
      if (await healthy(url)) return (performance.now() - started) / 1000;
      if (child.exitCode !== null) throw new Error(`npm start (${store}) exited with ${child.exitCode}`);
      if (performance.now() > deadline) throw new Error(`npm start (${store}) not healthy in 120 s`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGINT');
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, 20_000);
    await exited(child);
    clearTimeout(timer);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const results: Array<{ store: Store; first: number; restarts: number[] }> = [];
  for (const store of ['sqlite', 'dynamodb'] as const) {
    const dataDir = mkdtempSync(join(tmpdir(), `holdover-start-${store}-`));
    try {
      const first = await startOnce(store, dataDir);
      const restarts: number[] = [];
      for (let i = 0; i < runs; i++) restarts.push(await startOnce(store, dataDir));
      console.log(
        `${store}: first start ${first.toFixed(2)} s, restarts ${restarts.map((s) => s.toFixed(2)).join(', ')} s`,
      );
      results.push({ store, first, restarts });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  const load = loadavg()[0]?.toFixed(1);
  const table = [
    '| store | first start (empty data directory) | restart, median | restarts |',
    '|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.store} | ${r.first.toFixed(2)} s | ${median(r.restarts).toFixed(2)} s | ${r.restarts.map((s) => s.toFixed(2)).join(', ')} s |`,
    ),
  ].join('\n');
  const summary = `# npm start to healthy (${new Date().toISOString()})\n\nSeconds from spawning \`npm start\` to \`GET /v1/health\` answering 200 (polled every 25 ms), then Ctrl-C; ${cpus().length} cores, load average ${load} when it ended (the machine is shared).\n\n${table}\n\nCommand: \`npm run bench:start -- --runs ${runs}\`\n`;
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'start.md'), summary);
  writeFileSync(
    join(resultsDir, 'start.json'),
    `${JSON.stringify({ at: new Date().toISOString(), runs, results }, null, 2)}\n`,
  );
  console.log(`\n${summary}`);
}

await main();
