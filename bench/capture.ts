// npm run bench:capture — sipp MESSAGE load through the edge into DynamoDB Local, and, in the
// same run against the same DynamoDB Local, the raw PutItem rate of equal items.
// Usage: npm run bench:capture [-- --calls 10000 --rates 250,500,1000]
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { DynamoStore, messageItem } from '../functions/adapters/dynamodb/store.ts';
import { dedupeKey } from '../functions/core/capture.ts';
import type { HeldMessage } from '../functions/core/held-message.ts';
import { dynamoClient } from '../local/stand-ins.ts';
import { startSystem } from '../test/support/system.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '10000' },
    rates: { type: 'string', default: '250,500,1000' },
  },
});
const calls = Number(values.calls);
const rates = values.rates.split(',').map(Number);
const here = import.meta.dirname;
const resultsDir = join(here, 'results');

interface SippFigures {
  offered: number;
  successful: number;
  failed: number;
  retransmissions: number;
  seconds: number;
  achieved: number;
  p50: number;
  p99: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function lastCsvRow(file: string): Record<string, string> {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const header = (lines[0] ?? '').split(';');
  const last = (lines.at(-1) ?? '').split(';');
  return Object.fromEntries(header.map((name, i) => [name, last[i] ?? '']));
}

async function runSipp(sipPort: number, rate: number): Promise<SippFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'holdover-bench-'));
  const timeout = Math.ceil(calls / rate) + 60;
  const args = [
    '-sf',
    join(here, 'scenarios', 'message_uac_many.xml'),
    '-t',
    'u1',
    '-r',
    String(rate),
    '-m',
    String(calls),
    '-i',
    '127.0.0.1',
    '-nostdin',
    '-timeout',
    `${timeout}s`,
    '-timeout_error',
    '-trace_stat',
    '-fd',
    '1',
    '-trace_rtt',
    '-rtt_freq',
    '1',
    `127.0.0.1:${sipPort}`,
  ];
  const started = Date.now();
  await new Promise<void>((done) => {
    execFile('sipp', args, { cwd: dir, timeout: (timeout + 30) * 1000, maxBuffer: 64 * 1024 * 1024 }, () =>
      done(),
    );
  });
  const seconds = (Date.now() - started) / 1000;
  const files = readdirSync(dir);
  const statFile = files.find(
    (name) => name.endsWith('_.csv') || (name.endsWith('.csv') && !name.includes('rtt')),
  );
  const rttFile = files.find((name) => name.endsWith('_rtt.csv'));
  const stat = statFile ? lastCsvRow(join(dir, statFile)) : {};
  const times = rttFile
    ? readFileSync(join(dir, rttFile), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => Number(line.split(';')[1]))
        .filter((value) => Number.isFinite(value))
        .sort((a, b) => a - b)
    : [];
  const successful = Number(stat['SuccessfulCall(C)'] ?? 0);
  const elapsed = parseElapsed(stat['ElapsedTime(C)']) || seconds;
  return {
    offered: rate,
    successful,
    failed: Number(stat['FailedCall(C)'] ?? 0),
    retransmissions: Number(stat['Retransmissions(C)'] ?? 0),
    seconds: elapsed,
    achieved: successful / elapsed,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: times.at(-1) ?? Number.NaN,
  };
}

function parseElapsed(text: string | undefined): number {
  const match = /(\d+):(\d+):(\d+)(?::(\d+))?/.exec(text ?? '');
  if (!match) return 0;
  return (
    Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]) + Number(match[4] ?? 0) / 1_000_000
  );
}

/** Runs `op` `count` times with `concurrency` in flight; returns operations per second. */
async function ratePerSecond(
  concurrency: number,
  count: number,
  op: (n: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await op(next++);
    }),
  );
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** A held message equal to what the benchmark's MESSAGEs become. */
function benchMessage(recipient: string): HeldMessage {
  const id = ulid();
  const now = new Date().toISOString();
  return {
    id,
    recipient,
    sender: 'sip:alice@example.com',
    senderUri: 'sip:alice@example.com',
    senderName: 'Alice',
    callId: `${id}@bench`,
    cseq: 1,
    contentType: 'text/plain;charset=UTF-8',
    body: Buffer.from('Offline hello #1 from alice, with ümlauts 🎉'),
    receivedAt: now,
    expiresAt: now,
    state: 'pending',
  };
}

/** One PutItem of an equal item per message: the stand-in's raw write rate. */
async function rawPutRate(port: number, concurrency: number, count: number): Promise<number> {
  const client = DynamoDBDocumentClient.from(dynamoClient(port));
  const rate = await ratePerSecond(concurrency, count, (n) =>
    client.send(
      new PutCommand({ TableName: 'holdover', Item: messageItem(benchMessage(`sip:raw-${n}@example.com`)) }),
    ),
  );
  client.destroy();
  return rate;
}

/** The same writes capture makes (query the user, then the 3-item transaction), without the edge and API. */
async function rawHoldRate(port: number, concurrency: number, count: number): Promise<number> {
  const client = DynamoDBDocumentClient.from(dynamoClient(port));
  const store = new DynamoStore(client, 'holdover');
  const rate = await ratePerSecond(concurrency, count, async (n) => {
    const message = benchMessage(`sip:rawhold-${n}-${ulid()}@example.com`);
    await store.getUser(message.recipient);
    await store.hold(message, { dedupeKeys: [dedupeKey('call', message.callId, '1')], quota: 1000 });
  });
  client.destroy();
  return rate;
}

async function main(): Promise<void> {
  console.log(
    `bench:capture — ${calls} MESSAGEs per rate at ${rates.join(', ')}/s (sipp UDP → edge → API → DynamoDB Local)`,
  );
  const system = await startSystem({ env: { POWERTOOLS_LOG_LEVEL: 'ERROR', HOLDOVER_QUOTA: '1000' } });
  const rows: SippFigures[] = [];
  let raw32 = 0;
  let raw8 = 0;
  let rawHold = 0;
  try {
    const dynamodbPort = Number(system.env.DYNAMODB_PORT);
    console.log('warming up (200 PutItem)…');
    await rawPutRate(dynamodbPort, 8, 200);
    for (const rate of rates) {
      console.log(`sipp at ${rate}/s…`);
      const figures = await runSipp(system.sipPort, rate);
      rows.push(figures);
      console.log(
        `  achieved ${figures.achieved.toFixed(0)}/s, failed ${figures.failed}, retransmissions ${figures.retransmissions}, p50 ${figures.p50} ms, p99 ${figures.p99} ms`,
      );
    }
    console.log(`raw PutItem, ${calls} items…`);
    raw8 = await rawPutRate(dynamodbPort, 8, calls);
    raw32 = await rawPutRate(dynamodbPort, 32, calls);
    console.log(`  ${raw8.toFixed(0)}/s with 8 in flight, ${raw32.toFixed(0)}/s with 32 in flight`);
    console.log(`capture's own writes straight to the store (Query + 3-item TransactWriteItems), ${calls}…`);
    rawHold = await rawHoldRate(dynamodbPort, 32, calls);
    console.log(`  ${rawHold.toFixed(0)}/s with 32 in flight`);
  } finally {
    await system.stop();
  }
  const best = Math.max(...rows.map((row) => row.achieved));
  const rawBest = Math.max(raw8, raw32);
  const result = {
    at: new Date().toISOString(),
    calls,
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
    capture: rows,
    rawPutItem: { concurrency8: raw8, concurrency32: raw32 },
    rawCaptureWrites: { concurrency32: rawHold },
    ratioBestCaptureToRawCaptureWrites: best / rawHold,
    ratioBestCaptureToRawPut: best / rawBest,
  };
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'capture.json'), `${JSON.stringify(result, null, 2)}\n`);
  const table = [
    '| offered/s | achieved/s | failed | retransmissions | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (row) =>
        `| ${row.offered} | ${row.achieved.toFixed(0)} | ${row.failed} | ${row.retransmissions} | ${row.p50} | ${row.p99} | ${row.max} |`,
    ),
  ].join('\n');
  const summary = `# bench:capture (${result.at})\n\n${calls} MESSAGEs per rate, sipp over UDP → edge → capture → DynamoDB Local (TransactWriteItems: counter, dedupe marker, message).\n\n${table}\n\nRaw PutItem of equal items on the same DynamoDB Local, same run: ${raw8.toFixed(0)}/s (8 in flight), ${raw32.toFixed(0)}/s (32 in flight).\nBest capture rate / best raw PutItem rate: **${result.ratioBestCaptureToRawPut.toFixed(2)}**.\nCapture's own writes straight to the store (a Query and the 3-item TransactWriteItems: counter, dedupe marker, message), 32 in flight: ${rawHold.toFixed(0)}/s; best capture / that: **${result.ratioBestCaptureToRawCaptureWrites.toFixed(2)}** (what the edge, the HTTP hop and the handler cost on top of the store).\n\nCommand: \`npm run bench:capture -- --calls ${calls} --rates ${rates.join(',')}\`\n`;
  writeFileSync(join(resultsDir, 'capture.md'), summary);
  console.log(`\n${summary}`);
  console.log(`written to ${resolve(resultsDir, 'capture.md')} and capture.json`);
}

await main();
