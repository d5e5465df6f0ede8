// npm run bench:delivery — 1000 held messages → REGISTER → last MESSAGE, over UDP and over TCP,
// at two independent UAs: Kamailio (bench/kamailio/ua.cfg: registers itself with digest
// credentials, answers each MESSAGE 200 statelessly in tens of microseconds, so the figure is
// Holdover's) and sipp (≈ 1.2 ms per answer, REGISTER sent by the bench as a trusted proxy's
// copy). Time, order inversions, retransmissions, and each UA's floor (the same UA answering the
// same count sent strictly one after another straight from the bench). In the same run, when Kamailio with msilo
// (and its SQLite module) is installed, msilo's dump of the same count with the peer setup in
// MSILO_PEER_DIR (its bench-dump.sh, run from a copy; that setup is not part of this repository).
// On the default store (SQLite) unless `--store dynamodb` (DynamoDB Local); the backlog is written
// straight into the store of the running system.
// Usage: npm run bench:delivery [-- --messages 1000] [--store sqlite|dynamodb] [--ua kamailio,sipp]
//        [--msilo off] [--warmup 500]
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
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
import { setPassword, startSystem } from '../test/support/system.ts';
import { kamailioUaAvailable, startKamailioUa } from './kamailio-ua.ts';
import { peerPortsBusy } from './peer-port.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000' },
    store: { type: 'string', default: 'sqlite' },
    ua: { type: 'string', default: 'kamailio,sipp' },
    msilo: { type: 'string', default: 'on' },
    warmup: { type: 'string', default: '500' },
  },
});
const count = Number(values.messages);
const warmup = Number(values.warmup);
const storeKind = values.store === 'dynamodb' ? 'dynamodb' : 'sqlite';
const resultsDir = join(import.meta.dirname, 'results');

type UaKind = 'kamailio' | 'sipp';

/** The bench's REGISTER for the sipp UA comes from this address, trusted as a proxy's copy. */
const TRUSTED_REGISTRAR_HOST = '127.0.0.2';

interface Run {
  ua: UaKind;
  transport: 'udp' | 'tcp';
  seconds: number;
  firstMs: number;
  received: number;
  distinct: number;
  inversions: number;
  retransmissions: number;
  /** The same UA answering the same count straight from a socket, seconds (uaFloor). */
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

async function holdBacklog(store: MessageStore, recipient: string, count: number): Promise<void> {
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

type System = Awaited<ReturnType<typeof startSystem>>;

/** What a run's UA saw, for `runOf`. */
interface Seen {
  ua: UaKind;
  transport: 'udp' | 'tcp';
  /** When the REGISTER that got the 200 left, seconds since the epoch. */
  started: number;
  /** Per MESSAGE received, in arrival order: time (s since the epoch), its number, its Call-ID. */
  received: Array<{ at: number; n: number; callId: string }>;
  retransmissions: number;
  floorSeconds: number;
}

function runOf(seen: Seen): Run {
  const times = seen.received.map((m) => m.at);
  const numbers = seen.received.map((m) => m.n);
  const sorted = [...times].sort((a, b) => a - b);
  const intervals = sorted.slice(1).map((t, i) => (t - (sorted[i] ?? t)) * 1000);
  const byLength = [...intervals].sort((a, b) => a - b);
  return {
    ua: seen.ua,
    transport: seen.transport,
    floorSeconds: seen.floorSeconds,
    intervalP50Ms: byLength[Math.floor(byLength.length / 2)] ?? 0,
    stallMs: intervals.filter((ms) => ms > 5).reduce((sum, ms) => sum + ms, 0),
    gaps: intervals
      .map((ms, i) => ({ after: i + 1, ms: Math.round(ms * 10) / 10 }))
      .filter((gap) => gap.ms > 5)
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 20),
    seconds: Math.max(...times) - seen.started,
    firstMs: (Math.min(...times) - seen.started) * 1000,
    received: seen.received.length,
    distinct: new Set(numbers).size,
    inversions: inversionsOf(numbers),
    retransmissions: seen.retransmissions,
  };
}

const markerNumber = (text: string) => Number(/#(\d+)/.exec(text)?.[1] ?? 0);

/**
 * Kamailio as the UA: the backlog is held, then Kamailio starts and registers with its
 * credentials (challenge, then the REGISTER with them: the clock starts at that one, as msilo's
 * figure starts at its REGISTER); every MESSAGE it logs counts, a Call-ID seen twice is a
 * retransmission.
 */
async function deliverToKamailio(
  system: System,
  store: MessageStore,
  transport: 'udp' | 'tcp',
  count: number,
): Promise<Run> {
  const user = `kua-${transport}-${Date.now()}`;
  const password = `bench-${ulid()}`;
  await setPassword(system, `sip:${user}@example.com`, password);
  await holdBacklog(store, `sip:${user}@example.com`, count);
  const ua = await startKamailioUa({
    edgePort: system.sipPort,
    transport,
    user,
    domain: 'example.com',
    password,
  });
  try {
    const deadline = Date.now() + 120_000;
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const seen = ua.messages().length;
      if (seen >= count) break;
      if (seen !== last) {
        last = seen;
        lastChange = Date.now();
      }
      if (Date.now() > deadline || Date.now() - lastChange > 40_000) {
        throw new Error(`Kamailio UA got ${seen} of ${count} MESSAGEs; its log:\n${ua.log().slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // late retransmissions, if any, arrive within T1 (500 ms)
    await new Promise((r) => setTimeout(r, 600));
    const messages = ua.messages();
    const register = ua.registers().find((r) => r.authorized) ?? ua.registers()[0];
    if (register === undefined) throw new Error(`Kamailio UA sent no REGISTER:\n${ua.log().slice(-3000)}`);
    const firstOf = new Map<string, (typeof messages)[number]>();
    for (const m of messages) if (!firstOf.has(m.callId)) firstOf.set(m.callId, m);
    const floorSeconds = await floorAt(transport, ua.port, count);
    return runOf({
      ua: 'kamailio',
      transport,
      started: register.at,
      received: [...firstOf.values()].map((m) => ({ at: m.at, n: markerNumber(m.marker), callId: m.callId })),
      retransmissions: messages.length - firstOf.size,
      floorSeconds,
    });
  } finally {
    await ua.stop();
  }
}

async function deliverToSipp(system: System, store: MessageStore, transport: 'udp' | 'tcp'): Promise<Run> {
  const user = `bench-${transport}-${Date.now()}`;
  await holdBacklog(store, `sip:${user}@example.com`, count);
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
  const registrar = await sipSocket(
    transport,
    system.sipPort,
    (head) => {
      if (!/^SIP\/2\.0 1\d\d/.test(head)) registered(head.slice(0, head.indexOf('\r\n')));
    },
    TRUSTED_REGISTRAR_HOST,
  );
  const register = [
    'REGISTER sip:example.com SIP/2.0',
    `Via: SIP/2.0/${transport.toUpperCase()} ${TRUSTED_REGISTRAR_HOST}:${registrar.localPort};branch=z9hG4bK-bench-${Date.now()}`,
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
  const floorSeconds = await sippFloor(transport);
  const lines = run.logs.split('\n').filter((line) => line.startsWith('RECV '));
  const statFile = readFileSync(
    join(run.dir, readdirSync(run.dir).find((n) => n.endsWith('_.csv')) ?? ''),
    'utf8',
  )
    .trim()
    .split('\n');
  const header = (statFile[0] ?? '').split(';');
  const last = (statFile.at(-1) ?? '').split(';');
  return runOf({
    ua: 'sipp',
    transport,
    started,
    received: lines.map((line) => {
      const parts = line.split('|');
      return { at: Number(parts[5]) + Number(parts[6]) / 1e6, n: markerNumber(parts[4] ?? ''), callId: '' };
    }),
    retransmissions: Number(last[header.indexOf('Retransmissions(C)')] ?? 0),
    floorSeconds,
  });
}

/** A socket to a SIP peer on 127.0.0.1 that hands each response (its head) to `onResponse`. */
async function sipSocket(
  transport: 'udp' | 'tcp',
  port: number,
  onResponse: (head: string) => void,
  localHost = '127.0.0.1',
): Promise<{ send: (bytes: string) => void; close: () => void; localPort: number }> {
  if (transport === 'udp') {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, localHost, () => r()));
    socket.on('message', (data) => onResponse(data.toString('latin1')));
    return {
      send: (bytes) => socket.send(bytes, port, '127.0.0.1'),
      close: () => socket.close(),
      localPort: socket.address().port,
    };
  }
  const socket = connect({ port, host: '127.0.0.1', localAddress: localHost });
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
async function sippFloor(transport: 'udp' | 'tcp'): Promise<number> {
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
  const seconds = await floorAt(transport, uasPort, count);
  await ua.catch(() => undefined);
  return seconds;
}

/** `count` MESSAGEs to the UA at `uasPort`, each sent once the previous one's 200 arrived: seconds. */
async function floorAt(transport: 'udp' | 'tcp', uasPort: number, count: number): Promise<number> {
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
  return seconds;
}

async function msiloDump(): Promise<string> {
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
    return 'msilo not measured: needs kamailio, kamailio-sqlite-modules and sqlite3 (apt-get install)';
  }
  const busy = await peerPortsBusy();
  if (busy !== undefined) return `msilo not measured: ${busy}`;
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
  console.log(`bench:delivery — ${count} held messages → REGISTER → last MESSAGE (${storeKind} store)`);
  const uas = values.ua
    .split(',')
    .map((name) => name.trim())
    .filter((name): name is UaKind => name === 'kamailio' || name === 'sipp');
  const skipped: string[] = [];
  if (uas.includes('kamailio') && !kamailioUaAvailable()) {
    uas.splice(uas.indexOf('kamailio'), 1);
    skipped.push('Kamailio UA not measured: needs kamailio (apt-get install kamailio)');
  }
  const runs: Run[] = [];
  const system = await startSystem({
    env: {
      // this bench loads its backlog straight into the store
      HOLDOVER_STORE: storeKind,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      HOLDOVER_QUOTA: String(count + 10),
      // The sipp UA's REGISTER is taken as a trusted proxy's copy from this address (no digest
      // round trip: sipp's scenario has none); Kamailio registers itself from 127.0.0.1 with digest.
      HOLDOVER_TRUSTED_PROXIES: `${TRUSTED_REGISTRAR_HOST}/32`,
      // Kamailio 5.6's uac takes the first challenge only and knows MD5 alone
      HOLDOVER_DIGEST_ALGORITHMS: 'MD5,SHA-256',
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
    if (warmup > 0 && uas.includes('kamailio')) {
      // A running edge is warm: its delivery path compiled by V8's JIT. The first messages after
      // a start run in the interpreter; a short delivery before the measured ones, not reported.
      console.log(`warming up: ${warmup} messages to a Kamailio UA over UDP (not reported)…`);
      await deliverToKamailio(system, store, 'udp', warmup);
    }
    for (const ua of uas) {
      for (const transport of ['udp', 'tcp'] as const) {
        console.log(`delivering to ${ua} over ${transport}…`);
        const run =
          ua === 'kamailio'
            ? await deliverToKamailio(system, store, transport, count)
            : await deliverToSipp(system, store, transport);
        console.log(
          `  ${run.received} received (${run.distinct} distinct) in ${run.seconds.toFixed(3)} s, first after ${run.firstMs.toFixed(0)} ms, inversions ${run.inversions}, retransmissions ${run.retransmissions}, UA floor ${run.floorSeconds.toFixed(3)} s, interval p50 ${run.intervalP50Ms.toFixed(3)} ms, in gaps > 5 ms ${run.stallMs.toFixed(0)} ms`,
        );
        runs.push(run);
      }
    }
  } finally {
    await system.stop();
  }
  const msilo = values.msilo === 'off' ? 'msilo not measured (--msilo off)' : await msiloDump();
  console.log(msilo);
  const table = [
    '| UA | transport | received | distinct | REGISTER → first | REGISTER → last | msg/s | inversions | retransmissions | UA floor | Holdover per message | interval p50 | in gaps > 5 ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...runs.map(
      (r) =>
        `| ${r.ua} | ${r.transport} | ${r.received} | ${r.distinct} | ${r.firstMs.toFixed(0)} ms | ${r.seconds.toFixed(2)} s | ${(r.received / r.seconds).toFixed(0)} | ${r.inversions} | ${r.retransmissions} | ${r.floorSeconds.toFixed(2)} s | ${(((r.seconds - r.floorSeconds) / Math.max(1, r.received)) * 1000).toFixed(2)} ms | ${r.intervalP50Ms.toFixed(2)} ms | ${r.stallMs.toFixed(0)} ms |`,
    ),
  ].join('\n');
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const summary = `# bench:delivery (${new Date().toISOString()})

${count} held messages for one recipient, ${storeKind} store, load average ${load} before the run (2 shared cores: indicative). Time from the REGISTER that got the 200 to the last MESSAGE received, strictly one after another (RFC 3428 §8). ${warmup > 0 ? `Before the measured runs, ${warmup} messages went to a Kamailio UA unreported (a running edge's delivery path is compiled by V8's JIT; \`--warmup 0\` measures a cold start).` : 'No warm-up (--warmup 0): the first run includes V8 compiling the delivery path.'}

- **kamailio**: Kamailio 5.6 as the UA (bench/kamailio/ua.cfg): registers itself with digest credentials (uac module; the clock starts at its authorized REGISTER, the challenge round trip before it is not counted), answers each MESSAGE 200 statelessly and logs its arrival time (gettimeofday) and number; a Call-ID seen twice counts as a retransmission.
- **sipp**: sipp 3.6 as the UA (message_uas.xml, ≈ 1.2 ms per answer), REGISTER sent by the bench as a trusted proxy's copy; times from sipp's gettimeofday.
- UA floor: the same UA answering the same count of MESSAGEs sent strictly one after another straight from the bench (no Holdover), right after: what strictly sequential delivery to this UA cannot beat. Holdover per message = (REGISTER → last − floor) / count.
${skipped.map((line) => `- ${line}\n`).join('')}
${table}

msilo, same machine, same run (msilo peer bench-dump.sh ${count} 500, OBP_TCP=1; fires without waiting for answers):

\`\`\`
${msilo.trim()}
\`\`\`

Command: \`npm run bench:delivery -- --messages ${count} --store ${storeKind} --warmup ${warmup}\`
`;
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `delivery-${storeKind}.md`), summary);
  writeFileSync(
    join(resultsDir, `delivery-${storeKind}.json`),
    `${JSON.stringify({ at: new Date().toISOString(), count, store: storeKind, load, runs, msilo }, null, 2)}\n`,
  );
  console.log(`\n${summary}`);
}

await main();
