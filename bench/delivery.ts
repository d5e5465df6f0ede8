// npm run bench:delivery — 1000 held messages → REGISTER → last MESSAGE at a sipp UA, over UDP and
// over TCP: time, order inversions, retransmissions. In the same run, when Kamailio with msilo
// (and its SQLite module) is installed, msilo's dump of the same count with the peer setup in
// MSILO_PEER_DIR (its bench-dump.sh, run from a copy; that setup is not part of this repository).
// On the default store (SQLite) unless `--store dynamodb` (DynamoDB Local); the backlog is written
// straight into the store of the running system.
// Usage: npm run bench:delivery [-- --messages 1000] [-- --store sqlite|dynamodb]
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { DynamoStore } from '../functions/adapters/dynamodb/store.ts';
import { sqliteStores } from '../functions/adapters/sqlite/index.ts';
import { dedupeKey } from '../functions/core/capture.ts';
import type { HeldMessage } from '../functions/core/held-message.ts';
import type { MessageStore } from '../functions/core/ports.ts';
import { dynamoClient } from '../local/stand-ins.ts';
import { freePort } from '../test/support/ports.ts';
import { sipp } from '../test/support/sipp.ts';
import { startSystem } from '../test/support/system.ts';

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '1000' }, store: { type: 'string', default: 'sqlite' } },
});
const count = Number(values.messages);
const storeKind = values.store === 'dynamodb' ? 'dynamodb' : 'sqlite';
const resultsDir = join(import.meta.dirname, 'results');

interface Run {
  transport: 'udp' | 'tcp';
  seconds: number;
  firstMs: number;
  received: number;
  distinct: number;
  inversions: number;
  retransmissions: number;
  /** The same sipp UA answering the same count straight from a socket, seconds (uaFloor). */
  floorSeconds: number;
  /** Median time between two MESSAGEs at the UA (its answer time plus Holdover's turnaround). */
  intervalP50Ms: number;
  /** Time lost in gaps longer than 5 ms (batch boundaries, stalls), summed. */
  stallMs: number;
  /** The longest gaps: after which MESSAGE (1-based), how long. */
  gaps: Array<{ after: number; ms: number }>;
}

function inversionsOf(numbers: number[]): number {
  let inversions = 0;
  for (let i = 1; i < numbers.length; i++) if ((numbers[i] ?? 0) < (numbers[i - 1] ?? 0)) inversions++;
  return inversions;
}

async function holdBacklog(store: MessageStore, recipient: string): Promise<void> {
  const base = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const n = next++;
        const at = new Date(base + n).toISOString().replace('Z', '000Z');
        const message: HeldMessage = {
          id: ulid(base + n),
          recipient,
          sender: 'sip:alice@example.com',
          senderUri: 'sip:alice@example.com',
          senderName: 'Alice',
          callId: `${ulid()}@bench`,
          cseq: 1,
          contentType: 'text/plain;charset=UTF-8',
          body: Buffer.from(`#${String(n + 1).padStart(5, '0')} offline hello from alice`),
          receivedAt: at,
          expiresAt: new Date(base + 86_400_000).toISOString(),
          state: 'pending',
        };
        await store.hold(message, {
          dedupeKeys: [dedupeKey('call', message.callId, '1')],
          quota: count + 10,
        });
      }
    }),
  );
}

async function deliverOnce(
  system: Awaited<ReturnType<typeof startSystem>>,
  store: MessageStore,
  transport: 'udp' | 'tcp',
): Promise<Run> {
  const user = `bench-${transport}-${Date.now()}`;
  await holdBacklog(store, `sip:${user}@example.com`);
  const uasPort = await freePort();
  const ua = sipp({
    scenario: 'message_uas.xml',
    localPort: uasPort,
    transport: transport === 'tcp' ? 't1' : 'u1',
    calls: count,
    traceLogs: true,
    timeoutSeconds: 120,
    extraArgs: ['-set', 'accept', String(count), '-d', '6000', '-trace_stat', '-fd', '1'],
  });
  await new Promise((r) => setTimeout(r, 500));
  // The REGISTER goes from this process, timed as it is sent (as msilo's bench-dump.sh logs it).
  let registered: (status: string) => void = () => {};
  const answer = new Promise<string>((resolve) => {
    registered = resolve;
  });
  const registrar = await sipSocket(transport, system.sipPort, (head) => {
    if (!/^SIP\/2\.0 1\d\d/.test(head)) registered(head.slice(0, head.indexOf('\r\n')));
  });
  const register = [
    'REGISTER sip:example.com SIP/2.0',
    `Via: SIP/2.0/${transport.toUpperCase()} 127.0.0.1:${registrar.localPort};branch=z9hG4bK-bench-${Date.now()}`,
    'Max-Forwards: 70',
    `From: <sip:${user}@example.com>;tag=bench${Date.now()}`,
    `To: <sip:${user}@example.com>`,
    `Call-ID: register-${Date.now()}@bench`,
    'CSeq: 1 REGISTER',
    `Contact: <sip:${user}@127.0.0.1:${uasPort};transport=${transport}>`,
    'Expires: 300',
    'Allow: MESSAGE, OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const started = Date.now() / 1000;
  registrar.send(register);
  const status = await answer;
  registrar.close();
  if (!status.startsWith('SIP/2.0 200')) throw new Error(`REGISTER failed: ${status}`);
  const run = await ua;
  const floorSeconds = await uaFloor(transport);
  const lines = run.logs.split('\n').filter((line) => line.startsWith('RECV '));
  const times = lines.map((line) => {
    const parts = line.split('|');
    return Number(parts[5]) + Number(parts[6]) / 1e6;
  });
  const numbers = lines.map((line) => Number(/#(\d+)/.exec(line.split('|')[4] ?? '')?.[1] ?? 0));
  const statFile = readFileSync(
    join(run.dir, (await import('node:fs')).readdirSync(run.dir).find((n) => n.endsWith('_.csv')) ?? ''),
    'utf8',
  )
    .trim()
    .split('\n');
  const header = (statFile[0] ?? '').split(';');
  const last = (statFile.at(-1) ?? '').split(';');
  const retransmissions = Number(last[header.indexOf('Retransmissions(C)')] ?? 0);
  const sorted = [...times].sort((a, b) => a - b);
  const intervals = sorted.slice(1).map((t, i) => (t - (sorted[i] ?? t)) * 1000);
  const byLength = [...intervals].sort((a, b) => a - b);
  return {
    transport,
    floorSeconds,
    intervalP50Ms: byLength[Math.floor(byLength.length / 2)] ?? 0,
    stallMs: intervals.filter((ms) => ms > 5).reduce((sum, ms) => sum + ms, 0),
    gaps: intervals
      .map((ms, i) => ({ after: i + 1, ms: Math.round(ms * 10) / 10 }))
      .filter((gap) => gap.ms > 5)
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 20),
    seconds: Math.max(...times) - started,
    firstMs: (Math.min(...times) - started) * 1000,
    received: lines.length,
    distinct: new Set(numbers).size,
    inversions: inversionsOf(numbers),
    retransmissions,
  };
}

/** A socket to a SIP peer on 127.0.0.1 that hands each response (its head) to `onResponse`. */
async function sipSocket(
  transport: 'udp' | 'tcp',
  port: number,
  onResponse: (head: string) => void,
): Promise<{ send: (bytes: string) => void; close: () => void; localPort: number }> {
  if (transport === 'udp') {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    socket.on('message', (data) => onResponse(data.toString('latin1')));
    return {
      send: (bytes) => socket.send(bytes, port, '127.0.0.1'),
      close: () => socket.close(),
      localPort: socket.address().port,
    };
  }
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.setNoDelay(true);
  let buffered = '';
  socket.on('data', (data) => {
    buffered += data.toString('latin1');
    // the answers here carry no body (Content-Length: 0)
    let end = buffered.indexOf('\r\n\r\n');
    while (end >= 0) {
      onResponse(buffered.slice(0, end));
      buffered = buffered.slice(end + 4);
      end = buffered.indexOf('\r\n\r\n');
    }
  });
  return {
    send: (bytes) => socket.write(bytes),
    close: () => socket.destroy(),
    localPort: socket.localPort ?? 0,
  };
}

/**
 * The UA's own floor: the same sipp UA answering `count` MESSAGEs sent strictly one after another
 * (each after the previous 200) straight from this process, no Holdover in between. Strictly
 * sequential delivery cannot beat it.
 */
async function uaFloor(transport: 'udp' | 'tcp'): Promise<number> {
  const uasPort = await freePort();
  const ua = sipp({
    scenario: 'message_uas.xml',
    localPort: uasPort,
    transport: transport === 'tcp' ? 't1' : 'u1',
    calls: count,
    timeoutSeconds: 120,
    extraArgs: ['-set', 'accept', String(count), '-d', '6000'],
  });
  await new Promise((r) => setTimeout(r, 500));
  let answered: (() => void) | undefined;
  const { send, close, localPort } = await sipSocket(transport, uasPort, (response) => {
    if (response.startsWith('SIP/2.0 200')) answered?.();
  });
  const started = performance.now();
  for (let n = 0; n < count; n++) {
    const body = `#${String(n + 1).padStart(5, '0')} offline hello from alice`;
    const request = [
      `MESSAGE sip:bench@127.0.0.1:${uasPort} SIP/2.0`,
      `Via: SIP/2.0/${transport.toUpperCase()} 127.0.0.1:${localPort};branch=z9hG4bK-floor-${n}-${started}`,
      'Max-Forwards: 70',
      `From: <sip:alice@example.com>;tag=floor${n}`,
      'To: <sip:bench@example.com>',
      `Call-ID: floor-${n}-${started}@bench`,
      'CSeq: 1 MESSAGE',
      `Date: ${new Date().toUTCString()}`,
      'Content-Type: text/plain;charset=UTF-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
    await new Promise<void>((resolve) => {
      answered = resolve;
      send(request);
    });
  }
  const seconds = (performance.now() - started) / 1000;
  close();
  await ua.catch(() => undefined);
  return seconds;
}

function msiloDump(): Promise<string> {
  // MSILO_PEER_DIR, else ../shared/peer next to the checkout (or one level further up, for a git
  // worktree kept in a folder of its own)
  const peer =
    process.env.MSILO_PEER_DIR ??
    ([
      resolve(import.meta.dirname, '..', '..', 'shared', 'peer'),
      resolve(import.meta.dirname, '..', '..', '..', 'shared', 'peer'),
    ].find((candidate) => existsSync(candidate)) ||
      '');
  const hasMsilo =
    peer !== '' &&
    ['msilo.so', 'db_sqlite.so'].every((m) => existsSync(`/usr/lib/x86_64-linux-gnu/kamailio/modules/${m}`));
  if (!hasMsilo) {
    return Promise.resolve(
      'msilo not measured: needs kamailio, kamailio-sqlite-modules and sqlite3 (apt-get install)',
    );
  }
  const copy = mkdtempSync(join(tmpdir(), 'holdover-peer-'));
  cpSync(peer, copy, { recursive: true });
  return new Promise((done) => {
    execFile(
      'bash',
      ['bench-dump.sh', String(count), '500'],
      { cwd: copy, env: { ...process.env, OBP_TCP: '1', TAG: 'obptcp' }, timeout: 240_000 },
      (error, stdout) =>
        done(error ? `msilo dump failed: ${String(error).slice(0, 300)}\n${stdout}` : stdout),
    );
  });
}

async function main(): Promise<void> {
  console.log(
    `bench:delivery — ${count} held messages → REGISTER → last MESSAGE at a sipp UA (${storeKind} store)`,
  );
  const runs: Run[] = [];
  const system = await startSystem({
    env: {
      // this bench loads its backlog straight into the store
      HOLDOVER_STORE: storeKind,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      HOLDOVER_QUOTA: String(count + 10),
      // The REGISTER is taken as a trusted proxy's copy (no digest round trip): the figure is
      // delivery, as msilo's beside it.
      HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32',
    },
  });
  try {
    const store: MessageStore =
      storeKind === 'dynamodb'
        ? new DynamoStore(
            DynamoDBDocumentClient.from(dynamoClient(Number(system.env.DYNAMODB_PORT))),
            'holdover',
          )
        : sqliteStores(join(system.dataDir, 'holdover.db')).store;
    for (const transport of ['udp', 'tcp'] as const) {
      console.log(`delivering over ${transport}…`);
      const run = await deliverOnce(system, store, transport);
      console.log(
        `  ${run.received} received (${run.distinct} distinct) in ${run.seconds.toFixed(2)} s, first after ${run.firstMs.toFixed(0)} ms, inversions ${run.inversions}, retransmissions ${run.retransmissions}, UA floor ${run.floorSeconds.toFixed(2)} s, interval p50 ${run.intervalP50Ms.toFixed(2)} ms, in gaps > 5 ms ${run.stallMs.toFixed(0)} ms`,
      );
      runs.push(run);
    }
  } finally {
    await system.stop();
  }
  console.log('msilo dump (Kamailio, SQLite, outbound proxy over TCP)…');
  const msilo = await msiloDump();
  console.log(msilo);
  const table = [
    '| transport | received | distinct | REGISTER → first | REGISTER → last | msg/s | inversions | retransmissions | UA floor | interval p50 | in gaps > 5 ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...runs.map(
      (r) =>
        `| ${r.transport} | ${r.received} | ${r.distinct} | ${r.firstMs.toFixed(0)} ms | ${r.seconds.toFixed(2)} s | ${(r.received / r.seconds).toFixed(0)} | ${r.inversions} | ${r.retransmissions} | ${r.floorSeconds.toFixed(2)} s | ${r.intervalP50Ms.toFixed(2)} ms | ${r.stallMs.toFixed(0)} ms |`,
    ),
  ].join('\n');
  const summary = `# bench:delivery (${new Date().toISOString()})\n\n${count} held messages for one recipient, ${storeKind} store; the recipient's sipp UA registers directly at the edge; time from REGISTER sent to the last MESSAGE received (sipp's gettimeofday). UA floor: the same sipp UA answering the same count of MESSAGEs sent strictly one after another straight from the bench (no Holdover), right after: what strictly sequential delivery to this UA cannot beat.\n\n${table}\n\nmsilo, same machine, same run (msilo peer bench-dump.sh ${count} 500, OBP_TCP=1):\n\n\`\`\`\n${msilo.trim()}\n\`\`\`\n\nCommand: \`npm run bench:delivery -- --messages ${count} --store ${storeKind}\`\n`;
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `delivery-${storeKind}.md`), summary);
  writeFileSync(
    join(resultsDir, `delivery-${storeKind}.json`),
    `${JSON.stringify({ at: new Date().toISOString(), count, store: storeKind, runs, msilo }, null, 2)}\n`,
  );
  console.log(`\n${summary}`);
}

await main();
