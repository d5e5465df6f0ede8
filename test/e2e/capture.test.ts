// End to end: the whole local system (`npm start`), real SIP from sipp and raw sockets, the CLI.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUrl } from '../../shared/signature.ts';
import { freePort } from '../support/ports.ts';
import { signedFetch } from '../support/signed.ts';
import { sendTcp, sendUdp, sipRequest } from '../support/sip-client.ts';
import { sipp } from '../support/sipp.ts';
import { heldFor, type RunningSystem, startSystem } from '../support/system.ts';

let system: RunningSystem;
const unique = () => randomBytes(4).toString('hex');
const aor = (user: string) => `sip:${user}@example.com`;
const BODIES = ['Hallo Bob, schöne Grüße aus Köln', 'Emoji 🎉👋 and 日本語', '<b>&</b> stays as typed'];

beforeAll(async () => {
  // a data directory as an older version (or a careless umask) left it: the start must tighten it
  const dataDir = mkdtempSync(join(tmpdir(), 'holdover-e2e-'));
  chmodSync(dataDir, 0o755);
  system = await startSystem({ env: { HOLDOVER_QUOTA: '5' }, dataDir });
});
afterAll(async () => {
  await system?.stop();
});

describe.each(['u1', 't1'] as const)('capture with sipp as the sender (%s)', (transport) => {
  it('holds three UTF-8 MESSAGEs byte-exact, oldest first, after 202s', async () => {
    const user = `bob-${unique()}`;
    const run = await sipp({
      scenario: 'message_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      transport,
      calls: 3,
      rate: 5,
      inject: BODIES.map((body) => `${user};${body};Alice Example;alice`),
    });
    expect(run.errors).toBe('');
    expect(run.code).toBe(0);
    const held = await heldFor(system, aor(user));
    // sipp ends each body line with CRLF, and byte-exact means that CRLF is kept
    expect(held.map((message) => message.body)).toEqual(BODIES.map((body) => `${body}\r\n`));
    expect(
      held.every((message) => message.from === 'sip:alice@example.com' && message.state === 'pending'),
    ).toBe(true);
    expect(held[0]?.contentType).toBe('text/plain;charset=UTF-8');
  });
});

describe('duplicates', () => {
  it('holds the same Call-ID and CSeq once, answering 202 both times', async () => {
    const user = `dup-${unique()}`;
    const run = await sipp({
      scenario: 'message_twice_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      calls: 1,
      inject: [`${user};said twice`],
    });
    expect(run.code).toBe(0);
    expect((await heldFor(system, aor(user))).map((m) => m.body)).toEqual(['said twice\r\n']);
  });

  it('answers a UDP retransmission from the transaction and holds once', async () => {
    const user = `retx-${unique()}`;
    const run = await sipp({
      scenario: 'message_retransmit_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      calls: 1,
      inject: [`${user};sent again`],
    });
    expect(run.code).toBe(0);
    expect(await heldFor(system, aor(user))).toHaveLength(1);
  });

  it('answers the identical datagram with the identical 202', async () => {
    const user = `retx-raw-${unique()}`;
    const request = sipRequest({ to: aor(user) });
    const first = await sendUdp(system.sipPort, request);
    const second = await sendUdp(system.sipPort, request);
    expect(first.status).toBe(202);
    expect(second.text).toBe(first.text);
    expect(await heldFor(system, aor(user))).toHaveLength(1);
  });
});

describe('bad input gets a clear SIP error and nothing is held', () => {
  const cases: Array<[string, (user: string) => Buffer, number, 'udp' | 'tcp']> = [
    ['a foreign domain', () => sipRequest({ to: `sip:eve-${unique()}@elsewhere.org` }), 404, 'udp'],
    [
      'a body over 64 KiB',
      (user) => sipRequest({ to: aor(user), body: Buffer.alloc(65_537, 0x61), transport: 'TCP' }),
      413,
      'tcp',
    ],
    [
      'an unsupported content type',
      (user) => sipRequest({ to: aor(user), contentType: 'image/png' }),
      415,
      'udp',
    ],
    [
      'an unsupported charset',
      (user) => sipRequest({ to: aor(user), contentType: 'text/plain;charset=koi8-r' }),
      415,
      'udp',
    ],
    [
      'invalid UTF-8',
      (user) => sipRequest({ to: aor(user), body: Buffer.from([0x48, 0xc3, 0x28]) }),
      415,
      'udp',
    ],
    ['a body without Content-Type', (user) => sipRequest({ to: aor(user), contentType: null }), 400, 'udp'],
    ['an empty MESSAGE', (user) => sipRequest({ to: aor(user), body: '' }), 400, 'udp'],
    [
      'a missing Call-ID',
      (user) =>
        Buffer.from(
          sipRequest({ to: aor(user) })
            .toString('utf8')
            .replace(/Call-ID: [^\r]*\r\n/, ''),
        ),
      400,
      'udp',
    ],
  ];

  it.each(cases)('%s', async (_, build, status, transport) => {
    const user = `bad-${unique()}`;
    const request = build(user);
    const response =
      transport === 'udp' ? await sendUdp(system.sipPort, request) : await sendTcp(system.sipPort, request);
    expect(response.status).toBe(status);
    expect(await heldFor(system, aor(user))).toEqual([]);
  });

  it('refuses past the quota with 486 and a reason', async () => {
    const user = `full-${unique()}`;
    for (let i = 0; i < 5; i++)
      expect((await sendUdp(system.sipPort, sipRequest({ to: aor(user) }))).status).toBe(202);
    const refused = await sendUdp(system.sipPort, sipRequest({ to: aor(user), body: 'one too many' }));
    expect(refused.status).toBe(486);
    expect(refused.header('Warning')).toMatch(/5 messages waiting/);
    expect(await heldFor(system, aor(user))).toHaveLength(5);
  });

  it('answers is-composing with 200 and holds nothing', async () => {
    const user = `typing-${unique()}`;
    const body =
      '<?xml version="1.0"?><isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"><state>active</state></isComposing>';
    const response = await sendUdp(
      system.sipPort,
      sipRequest({ to: aor(user), contentType: 'application/im-iscomposing+xml', body }),
    );
    expect(response.status).toBe(200);
    expect(await heldFor(system, aor(user))).toEqual([]);
  });

  it('answers OPTIONS 200 and other methods 405 with Allow', async () => {
    const options = await sendUdp(
      system.sipPort,
      sipRequest({ method: 'OPTIONS', body: '', contentType: null }),
    );
    expect(options.status).toBe(200);
    expect(options.header('Allow')).toContain('MESSAGE');
    const invite = await sendTcp(system.sipPort, sipRequest({ method: 'INFO', transport: 'TCP' }));
    expect(invite.status).toBe(405);
    expect(invite.header('Allow')).toContain('MESSAGE');
  });

  it('survives garbage and keeps answering', async () => {
    await expect(sendUdp(system.sipPort, randomBytes(300), 500)).rejects.toThrow(/no SIP response/);
    await expect(
      sendUdp(system.sipPort, 'MESSAGE sip:bob@example.com SIP/2.0\r\n\r\n', 500),
    ).rejects.toThrow();
    const options = await sendUdp(
      system.sipPort,
      sipRequest({ method: 'OPTIONS', body: '', contentType: null }),
    );
    expect(options.status).toBe(200);
  });
});

describe('the API takes only signed calls, each once, for the request it was made for', () => {
  const payload = JSON.stringify({
    callId: 'x',
    cseq: 1,
    from: 'sip:a@example.com',
    to: 'sip:b@example.com',
    contentType: 'text/plain',
    body: 'aGk=',
  });
  const captureUrl = () => new URL(`${system.apiUrl}/v1/messages`);
  const post = (headers: Record<string, string>) =>
    fetch(captureUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: payload,
    });
  const v1 = () => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac('sha256', system.secret)
      .update(`${timestamp}.`)
      .update(payload)
      .digest('hex');
    return { 'x-holdover-timestamp': timestamp, 'x-holdover-signature': `v1=${signature}` };
  };
  const refusal = async (response: Response) => {
    expect(response.status).toBe(401);
    const { error } = (await response.json()) as { error: { code: string; reason: string } };
    expect(error.code).toBe('unauthorized');
    return error.reason;
  };

  it.each([
    ['unsigned', () => ({}), 'missing_header'],
    [
      'signed with the wrong secret',
      () => signUrl('not-the-secret-at-all', 'POST', captureUrl(), payload),
      'mismatch',
    ],
    [
      'stale',
      () => signUrl(system.secret, 'POST', captureUrl(), payload, Date.now() - 10 * 60_000),
      'clock_skew',
    ],
    ['signed with v1', v1, 'unsupported_version'],
  ])('%s → 401 naming the fault', async (_, headers, reason) => {
    expect(await refusal(await post(headers()))).toBe(reason);
  });

  it('a correctly signed call is accepted once; the same call replayed → 401 nonce_reused', async () => {
    const headers = signUrl(system.secret, 'POST', captureUrl(), payload);
    expect((await post(headers)).status).toBe(202);
    expect(await refusal(await post(headers))).toBe('nonce_reused');
  });

  it("a signature for GET /v1/stats does not open a user's messages, nor their settings", async () => {
    const stats = new URL(`${system.apiUrl}/v1/stats`);
    const headers = signUrl(system.secret, 'GET', stats, '');
    expect((await fetch(stats, { headers })).status).toBe(200);
    const held = `${system.apiUrl}/v1/users/${encodeURIComponent(aor('b'))}/messages`;
    expect(await refusal(await fetch(held, { headers }))).toBe('mismatch');
    expect(await refusal(await fetch(`${system.apiUrl}/v1/stats?limit=1`, { headers }))).toBe('mismatch');
  });

  it("a signed PUT of settings replayed onto another user's path → 401, their email unchanged", async () => {
    const mine = `${system.apiUrl}/v1/users/${encodeURIComponent(aor(`mallory-${unique()}`))}/settings`;
    const victim = aor(`victim-${unique()}`);
    const theirs = `${system.apiUrl}/v1/users/${encodeURIComponent(victim)}/settings`;
    const body = JSON.stringify({ email: 'mallory@evil.example' });
    const headers = {
      'content-type': 'application/json',
      ...signUrl(system.secret, 'PUT', new URL(mine), body),
    };
    expect((await fetch(mine, { method: 'PUT', headers, body })).status).toBe(200);
    expect(await refusal(await fetch(theirs, { method: 'PUT', headers, body }))).toBe('mismatch');
    const read = await signedFetch(system.secret, 'GET', theirs);
    expect(read.status).toBe(200);
    const { settings } = (await read.json()) as { settings: { email?: string } };
    expect(settings.email).not.toBe('mallory@evil.example');
  });

  it('a path-encoded AOR signs and verifies the same on both sides (held messages read back)', async () => {
    const response = await signedFetch(
      system.secret,
      'GET',
      `${system.apiUrl}/v1/users/${encodeURIComponent('sip:nobody-yet@example.com')}/messages?limit=5`,
    );
    expect(response.status).toBe(200);
    expect(((await response.json()) as { messages: unknown[] }).messages).toEqual([]);
  });
});

describe('when the API is unreachable', () => {
  let edge: ChildProcess | undefined;
  afterAll(() => {
    edge?.kill('SIGKILL');
  });

  it('the edge answers 503 with Retry-After, never a false 202', async () => {
    const sipPort = await freePort();
    const httpPort = await freePort();
    const deadApi = await freePort();
    edge = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, '../../edge/main.ts')], {
      env: {
        ...process.env,
        SIP_PORT: String(sipPort),
        EDGE_HTTP_PORT: String(httpPort),
        HOLDOVER_API_URL: `http://127.0.0.1:${deadApi}`,
        HOLDOVER_SECRET: system.secret,
        POWERTOOLS_LOG_LEVEL: 'ERROR',
      },
      stdio: 'ignore',
    });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const ok = await fetch(`http://127.0.0.1:${httpPort}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const response = await sendUdp(sipPort, sipRequest());
    expect(response.status).toBe(503);
    expect(Number(response.header('Retry-After'))).toBeGreaterThan(0);
  });
});

describe('local hardening', () => {
  it('keeps the data directory and every file in it for the owner only (0700 / 0600)', async () => {
    await system.cli('stats'); // the CLI reads runtime.json; the store has written its file by now
    const modes: Record<string, string> = {};
    const walk = (dir: string) => {
      modes[dir] = (statSync(dir).mode & 0o777).toString(8);
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else modes[path] = (statSync(path).mode & 0o777).toString(8);
      }
    };
    walk(system.dataDir);
    const files = Object.keys(modes).filter((path) => !statSync(path).isDirectory());
    // what holds secrets and every held body: the runtime file, the store's file (and its WAL), the logs
    expect(files).toContain(join(system.dataDir, 'runtime.json'));
    expect(files).toContain(join(system.dataDir, 'holdover.db'));
    expect(files).toContain(join(system.dataDir, 'holdover.db-wal'));
    expect(files.some((path) => path.startsWith(join(system.dataDir, 'logs')))).toBe(true);
    for (const [path, mode] of Object.entries(modes)) {
      expect(`${path} ${mode}`).toBe(`${path} ${statSync(path).isDirectory() ? '700' : '600'}`);
    }
  });

  it('binds every listener to 127.0.0.1; on the default store (SQLite) no DynamoDB Local nor SQS stand-in listens', () => {
    const ports = {
      api: new URL(system.apiUrl).port,
      edgeHttp: system.edgeHttpPort,
      sip: system.sipPort,
      ses: system.sesPort,
    };
    const sockets = listeningSockets();
    for (const idle of [system.env.DYNAMODB_PORT, system.env.SQS_PORT]) {
      expect(sockets.filter((socket) => socket.port === Number(idle))).toEqual([]);
    }
    for (const [name, port] of Object.entries(ports)) {
      const bound = sockets.filter((socket) => socket.port === Number(port));
      expect(bound.length, `${name} (${port}) listens`).toBeGreaterThan(0);
      for (const socket of bound)
        expect(`${name} ${socket.protocol} ${socket.address}`).toBe(`${name} ${socket.protocol} 127.0.0.1`);
    }
  });
});

interface ListeningSocket {
  protocol: string;
  address: string;
  port: number;
}

/** TCP sockets in LISTEN and bound UDP sockets of this machine, from /proc/net. */
function listeningSockets(): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const protocol of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const lines = readFileSync(`/proc/net/${protocol}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (local === undefined || (protocol.startsWith('tcp') && state !== '0A')) continue;
      const [hex = '', portHex = '0'] = local.split(':');
      sockets.push({ protocol, address: addressOf(hex), port: Number.parseInt(portHex, 16) });
    }
  }
  return sockets;
}

function addressOf(hex: string): string {
  if (hex.length === 8) {
    // little-endian IPv4
    return [6, 4, 2, 0].map((at) => Number.parseInt(hex.slice(at, at + 2), 16)).join('.');
  }
  return /^0+$/.test(hex) ? '::' : `ipv6:${hex}`;
}
