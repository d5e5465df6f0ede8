// npm run bench:capture — sipp MESSAGE load through the edge into the store, on the default store
// (SQLite) or on DynamoDB Local (`--store dynamodb`, with the raw PutItem rate of equal items on
// the same DynamoDB Local), and in the same run Kamailio msilo's store path at the same rates
// (the peer's bench-store.sh; `--peer off` leaves it out).
// Usage: npm run bench:capture [-- --calls 10000 --rates 500,1000,2000 --store sqlite --peer on]
import { execFile, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { DynamoStore, messageItem } from '../functions/adapters/dynamodb/store.ts';
import { DynamoRecipients } from '../functions/adapters/dynamodb/users.ts';
import { connect } from '../functions/adapters/sqlite/db.ts';
import { SqliteStore } from '../functions/adapters/sqlite/index.ts';
import { dedupeKey } from '../functions/core/capture.ts';
import type { HeldMessage } from '../functions/core/held-message.ts';
import { dynamoClient } from '../local/stand-ins.ts';
import { freePort } from '../test/support/ports.ts';
import { startSystem } from '../test/support/system.ts';
import { peerPortsBusy } from './peer-port.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '10000' },
    rates: { type: 'string', default: '500,1000,2000' },
    store: { type: 'string', default: 'sqlite' },
    peer: { type: 'string', default: 'on' },
  },
});
const storeKind = values.store;
if (storeKind !== 'sqlite' && storeKind !== 'dynamodb') throw new Error('--store must be sqlite or dynamodb');
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
  /** From sipp's gettimeofday (microseconds), ms. */
  p99: number;
  max: number;
  /** sipp's own rtd statistic (-trace_rtt), whose clock moves in 4 ms steps: as msilo's p99. */
  rtdP99: number;
  /** How evenly sipp offered the load: p99 of the gap between two sends, ms. */
  sendGapP99: number;
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

async function runSipp(sipPort: number, rate: number, count = calls): Promise<SippFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'holdover-bench-'));
  const timeout = Math.ceil(count / rate) + 60;
  const args = [
    '-sf',
    join(here, 'scenarios', 'message_uac_many.xml'),
    '-t',
    'u1',
    '-r',
    String(rate),
    '-m',
    String(count),
    '-i',
    '127.0.0.1',
    // a port of its own: sipp's default, 5060, is msilo's (and another bench's)
    '-p',
    String(await freePort()),
    '-nostdin',
    '-timeout',
    `${timeout}s`,
    '-timeout_error',
    '-trace_stat',
    '-fd',
    '1',
    '-trace_logs',
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
  // each response time to the microsecond, from the scenario's <gettimeofday> log lines
  const logFile = files.find((name) => name.endsWith('_logs.log'));
  const precise = logFile
    ? readFileSync(join(dir, logFile), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('RTT|'))
        .map((line) => {
          const [, , sentSec, sentUsec, gotSec, gotUsec] = line.split('|').map(Number);
          return ((gotSec ?? 0) - (sentSec ?? 0)) * 1000 + ((gotUsec ?? 0) - (sentUsec ?? 0)) / 1000;
        })
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
    p50: percentile(precise, 50),
    p99: percentile(precise, 99),
    max: precise.at(-1) ?? Number.NaN,
    rtdP99: percentile(times, 99),
    sendGapP99: sendGapP99(dir, logFile),
  };
}

function sendGapP99(dir: string, logFile: string | undefined): number {
  if (logFile === undefined) return Number.NaN;
  const sent = readFileSync(join(dir, logFile), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('RTT|'))
    .map((line) => {
      const [, , sentSec, sentUsec] = line.split('|').map(Number);
      return (sentSec ?? 0) * 1000 + (sentUsec ?? 0) / 1000;
    })
    .sort((a, b) => a - b);
  const gaps = sent
    .slice(1)
    .map((at, i) => at - (sent[i] ?? at))
    .sort((a, b) => a - b);
  return percentile(gaps, 99);
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

/**
 * The same requests capture makes, without the edge and API: the recipient read (group, settings,
 * presence: one BatchGetItem), then the hold (the conditional PutItem, then the order index's
 * count with the presence).
 */
async function rawHoldRate(port: number, concurrency: number, count: number): Promise<number> {
  const client = DynamoDBDocumentClient.from(dynamoClient(port));
  const store = new DynamoStore(client, 'holdover');
  const recipients = new DynamoRecipients({ client, tableName: 'holdover', now: Date.now });
  const rate = await ratePerSecond(concurrency, count, async (n) => {
    const message = benchMessage(`sip:rawhold-${n}-${ulid()}@example.com`);
    await recipients.readRecipient(message.recipient);
    await store.hold(message, { dedupeKeys: [dedupeKey('call', message.callId, '1')], quota: 1000 });
  });
  client.destroy();
  return rate;
}

/** The same writes capture makes (read the user, then the hold), straight to a SQLite file. */
async function rawSqliteHoldRate(count: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'holdover-bench-sqlite-'));
  const db = connect(join(dir, 'bench.db'));
  const store = new SqliteStore(db);
  const rate = await ratePerSecond(32, count, async (n) => {
    const message = benchMessage(`sip:rawhold-${n}@example.com`);
    await store.getUser(message.recipient);
    await store.hold(message, { dedupeKeys: [dedupeKey('call', message.callId, '1')], quota: 1000 });
  });
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

interface PeerRow {
  offered: number;
  achieved: number;
  ok: number;
  failed: number;
  retransmissions: number;
  p50: number;
  p99: number;
  max: number;
  cpu: number;
}

/** Kamailio msilo's bench (../shared/peer): what it needs, installed if we may, else named. */
function peerDir(): string | undefined {
  const root = resolve(here, '..');
  return [join(root, '..', 'shared', 'peer'), join(root, '..', '..', 'shared', 'peer')].find((dir) =>
    existsSync(join(dir, 'bench-store.sh')),
  );
}

function peerMissing(): string[] {
  const missing: string[] = [];
  if (spawnSync('kamailio', ['-v']).status !== 0) missing.push('kamailio');
  const modules = spawnSync('sh', ['-c', 'ls /usr/lib/*/kamailio/modules/db_sqlite.so']).status === 0;
  if (!modules) missing.push('kamailio-sqlite-modules');
  if (spawnSync('sqlite3', ['-version']).status !== 0) missing.push('sqlite3');
  return missing;
}

function ensurePeer(): boolean {
  let missing = peerMissing();
  if (missing.length > 0 && process.getuid?.() === 0) {
    console.log(`installing ${missing.join(' ')} for msilo's store path…`);
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit' });
    missing = peerMissing();
  }
  if (missing.length > 0) {
    console.log(
      `msilo left out: missing ${missing.join(', ')} (Debian: apt-get install -y ${missing.join(' ')})`,
    );
    return false;
  }
  return true;
}

async function runPeer(dir: string): Promise<PeerRow[]> {
  const busy = await peerPortsBusy();
  if (busy !== undefined) {
    console.log(`msilo left out: ${busy}`);
    return [];
  }
  const tag = 'holdover-bench';
  await new Promise<void>((done) => {
    execFile(
      join(dir, 'bench-store.sh'),
      [String(calls), ...rates.map(String)],
      {
        cwd: dir,
        env: { ...process.env, TAG: tag },
        timeout: rates.length * (calls / 100 + 120) * 1000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout) => {
        if (error) console.log(`msilo bench: ${error.message.split('\n')[0]}\n${stdout.slice(-2000)}`);
        done();
      },
    );
  });
  const summary = join(dir, 'results', `store-sqlite-${tag}`, 'summary.md');
  if (!existsSync(summary)) return [];
  return readFileSync(summary, 'utf8')
    .split('\n')
    .filter((line) => /^\| \d/.test(line))
    .map((line) =>
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    )
    .map((cells) => ({
      offered: Number(cells[0]),
      achieved: Number(cells[1]),
      ok: Number(cells[2]),
      failed: Number(cells[3]),
      retransmissions: Number(cells[4]),
      p50: Number(cells[7]),
      p99: Number(cells[9]),
      max: Number(cells[11]),
      cpu: Number(cells[12]),
    }));
}

async function main(): Promise<void> {
  const storeLabel = storeKind === 'sqlite' ? 'SQLite (the default store)' : 'DynamoDB Local';
  console.log(
    `bench:capture — ${calls} MESSAGEs per rate at ${rates.join(', ')}/s (sipp UDP → edge → API → ${storeLabel})`,
  );
  const system = await startSystem({
    env: { POWERTOOLS_LOG_LEVEL: 'ERROR', HOLDOVER_QUOTA: '1000', HOLDOVER_STORE: storeKind },
  });
  const rows: SippFigures[] = [];
  let raw32 = 0;
  let raw8 = 0;
  let rawHold = 0;
  try {
    const dynamodbPort = Number(system.env.DYNAMODB_PORT);
    if (storeKind === 'dynamodb') {
      // DynamoDB Local (a JVM) and the API process reach their pace only after a few thousand
      // requests of each kind: warm both up the way capture uses them, unrecorded.
      console.log('warming up (2000 captures straight to the store, 500 through the edge at 50/s)…');
      await rawHoldRate(dynamodbPort, 32, 2000);
      await runSipp(system.sipPort, 50, 500);
    }
    for (const rate of rates) {
      console.log(`sipp at ${rate}/s…`);
      const figures = await runSipp(system.sipPort, rate);
      rows.push(figures);
      console.log(
        `  achieved ${figures.achieved.toFixed(0)}/s, failed ${figures.failed}, retransmissions ${figures.retransmissions}, p50 ${figures.p50.toFixed(2)} ms, p99 ${figures.p99.toFixed(2)} ms, max ${figures.max.toFixed(1)} ms (sipp rtd p99 ${figures.rtdP99} ms), send gap p99 ${figures.sendGapP99.toFixed(2)} ms`,
      );
    }
    if (storeKind === 'dynamodb') {
      console.log(`raw PutItem, ${calls} items…`);
      raw8 = await rawPutRate(dynamodbPort, 8, calls);
      raw32 = await rawPutRate(dynamodbPort, 32, calls);
      console.log(`  ${raw8.toFixed(0)}/s with 8 in flight, ${raw32.toFixed(0)}/s with 32 in flight`);
      console.log(`capture's own requests straight to the store (BatchGetItem, PutItem, Query), ${calls}…`);
      rawHold = await rawHoldRate(dynamodbPort, 32, calls);
    } else {
      console.log(`capture's own writes straight to a SQLite file (getUser + hold), ${calls}…`);
      rawHold = await rawSqliteHoldRate(calls);
    }
    console.log(`  ${rawHold.toFixed(0)}/s with 32 in flight`);
  } finally {
    await system.stop();
  }
  let peer: PeerRow[] = [];
  const dir = peerDir();
  if (values.peer !== 'off') {
    if (dir === undefined) console.log('msilo left out: ../shared/peer/bench-store.sh not found');
    else if (ensurePeer()) {
      console.log(`msilo store path (Kamailio, SQLite, 1 worker) at ${rates.join(', ')}/s…`);
      peer = await runPeer(dir);
    }
  }
  const best = Math.max(...rows.map((row) => row.achieved));
  const rawBest = Math.max(raw8, raw32);
  const result = {
    at: new Date().toISOString(),
    calls,
    store: storeKind,
    machine: `${process.platform} ${process.arch}, node ${process.version}, load average ${loadAverage()}`,
    capture: rows,
    ...(storeKind === 'dynamodb' ? { rawPutItem: { concurrency8: raw8, concurrency32: raw32 } } : {}),
    rawCaptureWrites: { concurrency32: rawHold },
    ratioBestCaptureToRawCaptureWrites: best / rawHold,
    ...(storeKind === 'dynamodb' ? { ratioBestCaptureToRawPut: best / rawBest } : {}),
    msilo: peer,
    ratioToMsilo: rows.map((row) => {
      const same = peer.find((p) => p.offered === row.offered);
      return { offered: row.offered, ratio: same ? row.achieved / same.achieved : null };
    }),
  };
  mkdirSync(resultsDir, { recursive: true });
  const name = storeKind === 'sqlite' ? 'capture' : 'capture-dynamodb';
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const table = [
    '| offered/s | achieved/s | failed | retransmissions | p50 ms | p99 ms | max ms | sipp rtd p99 ms (4 ms clock) | send gap p99 ms | msilo achieved/s | msilo failed | msilo p99 ms (4 ms clock) | achieved / msilo |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((row) => {
      const same = peer.find((p) => p.offered === row.offered);
      const theirs = same
        ? `${same.achieved.toFixed(0)} | ${same.failed} | ${same.p99} | ${(row.achieved / same.achieved).toFixed(2)}`
        : '— | — | — | —';
      return `| ${row.offered} | ${row.achieved.toFixed(0)} | ${row.failed} | ${row.retransmissions} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${row.max.toFixed(1)} | ${row.rtdP99} | ${row.sendGapP99.toFixed(1)} | ${theirs} |`;
    }),
  ].join('\n');
  const dynamoLines =
    storeKind === 'dynamodb'
      ? `Raw PutItem of equal items on the same DynamoDB Local, same run: ${raw8.toFixed(0)}/s (8 in flight), ${raw32.toFixed(0)}/s (32 in flight).\nBest capture rate / best raw PutItem rate: **${(best / rawBest).toFixed(2)}**.\n`
      : '';
  const summary = `# bench:capture (${result.at})\n\n${calls} MESSAGEs per rate, sipp over UDP → edge → capture → ${storeLabel}; msilo: Kamailio 5.6 msilo on SQLite (1 worker, ../shared/peer/bench-store.sh), same run, one after the other. Machine: ${result.machine} (2 cores shared with other work: figures are indicative).\n\nResponse times (p50, p99, max) from sipp's gettimeofday at the send and at the 202 (the scenario logs both); sipp's own rtd statistic, which msilo's p99 comes from, reads a clock that moves in 4 ms steps here, so it is shown beside them. Send gap p99: how evenly sipp offered the load (it sends in bursts at each tick of its scheduler).\n\n${table}\n\n${dynamoLines}Capture's own requests straight to the store (${storeKind === 'dynamodb' ? 'the recipient read, the hold: BatchGetItem, PutItem, Query; not the signed call’s nonce' : 'read the user, then the hold'}), 32 in flight: ${rawHold.toFixed(0)}/s; best capture / that: **${result.ratioBestCaptureToRawCaptureWrites.toFixed(2)}** (what the edge, the HTTP hop and the handler cost on top of the store).\n\nCommand: \`npm run bench:capture -- --calls ${calls} --rates ${rates.join(',')} --store ${storeKind}\`\n`;
  writeFileSync(join(resultsDir, `${name}.md`), summary);
  console.log(`\n${summary}`);
  console.log(`written to ${resolve(resultsDir, `${name}.md`)} and ${name}.json`);
}

function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

await main();
