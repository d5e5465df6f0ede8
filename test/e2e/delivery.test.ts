// End to end: held messages reach the recipient, from the original sender, in order, when they
// become available (REGISTER, PUBLISH), through the whole local system. sipp plays the senders
// and the recipient's UA; a scripted UA (test/support/ua.ts) where a test needs finer control.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { signedFetch } from '../support/signed.ts';
import { sendUdp, sipRequest } from '../support/sip-client.ts';
import { sipp } from '../support/sipp.ts';
import { heldFor, type RunningSystem, startSystem } from '../support/system.ts';
import { TestUa, waitUntil } from '../support/ua.ts';

let system: RunningSystem;
const unique = () => randomBytes(4).toString('hex');
const aor = (user: string) => `sip:${user}@example.com`;
const pad = (n: number) => String(n).padStart(3, '0');

beforeAll(async () => {
  system = await startSystem({
    env: {
      DELIVERY_TIMEOUT: '3s',
      MWI_POLL_INTERVAL: '1s',
      // Every UA here sends from 127.0.0.1, trusted as a proxy that authenticated its users would
      // be: this suite is about delivery. Digest authentication of users is test/e2e/auth.test.ts.
      HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32',
      // This suite needs every one of its bursts (200 at 100/s) stored, however busy the machine:
      // the edge's fast 503 under overload is tested in test/unit/edge-app.test.ts and
      // test/e2e/capture.test.ts.
      EDGE_CAPTURE_SHED_AFTER: '20s',
      EDGE_MAX_PENDING_CAPTURES: '400',
    },
  });
});
afterAll(async () => {
  await system?.stop();
});

async function holdMany(
  user: string,
  count: number,
  transport: 'u1' | 't1' = 'u1',
  from = 'alice',
): Promise<void> {
  const run = await sipp({
    scenario: 'message_uac.xml',
    target: `127.0.0.1:${system.sipPort}`,
    transport,
    calls: count,
    rate: 100,
    inject: Array.from(
      { length: count },
      (_, i) => `${user};#${pad(i + 1)} from ${from} ✓;${from} Example;${from}`,
    ),
    timeoutSeconds: 60,
  });
  expect(run.code, run.errors.slice(0, 1500)).toBe(0);
  expect(await heldFor(system, aor(user))).toHaveLength(count);
}

/** The recipient's sipp UA: takes `calls` MESSAGEs, answering 200 to the first `accept`, then 480. */
function recipientUa(port: number, calls: number, transport: 'u1' | 't1' = 'u1', accept = calls) {
  return sipp({
    scenario: 'message_uas.xml',
    localPort: port,
    transport,
    calls,
    traceLogs: true,
    timeoutSeconds: 60,
    extraArgs: ['-set', 'accept', String(accept)],
  });
}

function register(user: string, uasPort: number, transport: 'udp' | 'tcp' = 'udp', expires = 300) {
  return sipp({
    scenario: 'register_uac.xml',
    target: `127.0.0.1:${system.sipPort}`,
    transport: transport === 'tcp' ? 't1' : 'u1',
    calls: 1,
    extraArgs: ['-s', user],
    keys: { uas_port: String(uasPort), uas_transport: transport, expires: String(expires) },
  });
}

interface Logged {
  callId: string;
  from: string;
  date: string;
  body: string;
}

function parseUasLog(logs: string): Logged[] {
  return logs
    .split('\n')
    .filter((line) => line.startsWith('RECV '))
    .map((line) => {
      const [, callId = '', from = '', date = '', body = ''] = line.split('|');
      return { callId: callId.trim(), from: from.trim(), date: date.trim(), body };
    });
}

describe('delivery on REGISTER', () => {
  it('delivers 200 held messages in order over UDP, from their sender, byte-exact, leaving none', async () => {
    const user = `bob-${unique()}`;
    await holdMany(user, 200);
    const uasPort = await freePort();
    const ua = recipientUa(uasPort, 200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await register(user, uasPort)).code).toBe(0);
    const run = await ua;
    expect(run.code, run.errors.slice(0, 1500) + run.screen).toBe(0);
    const received = parseUasLog(run.logs);
    expect(received.map((entry) => entry.body)).toEqual(
      Array.from({ length: 200 }, (_, i) => `#${pad(i + 1)} from alice ✓`),
    );
    expect(received.every((entry) => entry.from === 'sip:alice@example.com')).toBe(true);
    expect(received.every((entry) => / GMT$/.test(entry.date))).toBe(true);
    expect(new Set(received.map((entry) => entry.callId)).size).toBe(200);
    await waitUntil('nothing held', async () =>
      (await heldFor(system, aor(user))).length === 0 ? true : undefined,
    );
  });

  it('stops when the UA answers 480 after 50 over TCP, and delivers the other 150 in order after the next REGISTER', async () => {
    const user = `carl-${unique()}`;
    await holdMany(user, 200, 't1');
    const uasPort = await freePort();
    const first = recipientUa(uasPort, 51, 't1', 50);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await register(user, uasPort, 'tcp')).code).toBe(0);
    const firstRun = await first;
    expect(firstRun.code, firstRun.errors.slice(0, 1500) + firstRun.screen).toBe(0);
    const firstBodies = parseUasLog(firstRun.logs).map((entry) => entry.body);
    expect(firstBodies).toHaveLength(51);
    const held = await waitUntil('150 held again', async () => {
      const now = await heldFor(system, aor(user));
      return now.length === 150 && now.every((m) => m.state === 'pending') ? now : undefined;
    });
    expect(held[0]?.body?.trimEnd()).toBe(firstBodies[50]); // the refused one leads the rest

    const second = recipientUa(uasPort, 150, 't1');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await register(user, uasPort, 'tcp')).code).toBe(0);
    const secondRun = await second;
    expect(secondRun.code, secondRun.errors.slice(0, 1500) + secondRun.screen).toBe(0);
    const all = [...firstBodies.slice(0, 50), ...parseUasLog(secondRun.logs).map((entry) => entry.body)];
    expect(all).toEqual(Array.from({ length: 200 }, (_, i) => `#${pad(i + 1)} from alice ✓`));
    await waitUntil('nothing held', async () =>
      (await heldFor(system, aor(user))).length === 0 ? true : undefined,
    );
  });
});

const pidf = (entity: string, basic: 'open' | 'closed', activity?: string) =>
  [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="${entity}">`,
    `<tuple id="t1"><status><basic>${basic}</basic></status></tuple>`,
    activity
      ? `<dm:person xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" id="p1"><rpid:activities><rpid:${activity}/></rpid:activities></dm:person>`
      : '',
    '</presence>',
  ].join('');

describe('presence', () => {
  it('holds while PUBLISHed busy and delivers when PUBLISHed open', async () => {
    const ua = new TestUa();
    await ua.start();
    try {
      const dana = aor(`dana-${unique()}`);
      expect((await ua.register(system.sipPort, dana)).status).toBe(200);
      const busy = await ua.request(
        system.sipPort,
        'PUBLISH',
        dana,
        ['Event: presence', 'Expires: 600', 'Content-Type: application/pidf+xml'],
        pidf(dana, 'open', 'busy'),
      );
      expect(busy.status).toBe(200);
      // the edge answers PUBLISH first and reports it to the API after (edge/presence-reporter.ts):
      // on a fast store a MESSAGE sent at once could be captured and delivered before that lands
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(
        (await sendUdp(system.sipPort, sipRequest({ to: dana, body: 'while you are busy' }))).status,
      ).toBe(202);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(ua.messages()).toHaveLength(0);
      expect(await heldFor(system, dana)).toHaveLength(1);
      const open = await ua.request(
        system.sipPort,
        'PUBLISH',
        dana,
        ['Event: presence', 'Expires: 600', 'Content-Type: application/pidf+xml'],
        pidf(dana, 'open'),
      );
      expect(open.status).toBe(200);
      await waitUntil('the held message', () => (ua.messages().length === 1 ? true : undefined));
      expect(ua.messages()[0]?.body).toBe('while you are busy');
    } finally {
      ua.close();
    }
  });

  it('delivers each message once for 50 identical presence webhooks', async () => {
    const ua = new TestUa();
    await ua.start();
    try {
      const erin = aor(`erin-${unique()}`);
      for (let i = 0; i < 3; i++)
        expect((await sendUdp(system.sipPort, sipRequest({ to: erin, body: `m${i}` }))).status).toBe(202);
      const body = JSON.stringify({
        aor: erin,
        state: 'online',
        contact: ua.contact,
        expires: 600,
        source: 'webhook',
      });
      const answers = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const response = await signedFetch(system.secret, 'POST', `${system.apiUrl}/v1/presence`, body);
          expect(response.status).toBe(200);
          return (await response.json()) as { delivery: string };
        }),
      );
      // Every report of an available user with messages waiting starts a run (docs/design.md "Message
      // lifecycle"); the lease lets one worker deliver, and the others find nothing left.
      expect(answers.filter((answer) => answer.delivery === 'queued').length).toBeGreaterThanOrEqual(1);
      await waitUntil('the three messages', () => (ua.messages().length >= 3 ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 2000)); // time for a second copy to show
      expect(ua.messages().map((message) => message.body)).toEqual(['m0', 'm1', 'm2']);
    } finally {
      ua.close();
    }
  });

  it('delivers messages captured during a run after the older ones', async () => {
    const ua = new TestUa();
    await ua.start();
    ua.delayMs = 10;
    try {
      const fay = aor(`fay-${unique()}`);
      for (let i = 1; i <= 60; i++)
        await sendUdp(system.sipPort, sipRequest({ to: fay, body: `n${pad(i)}` }));
      expect((await ua.register(system.sipPort, fay)).status).toBe(200);
      await waitUntil('delivery under way', () => (ua.messages().length >= 5 ? true : undefined));
      for (let i = 61; i <= 80; i++) {
        expect((await sendUdp(system.sipPort, sipRequest({ to: fay, body: `n${pad(i)}` }))).status).toBe(202);
      }
      await waitUntil('all 80', () => (ua.messages().length >= 80 ? true : undefined));
      expect(ua.messages().map((m) => m.body)).toEqual(
        Array.from({ length: 80 }, (_, i) => `n${pad(i + 1)}`),
      );
    } finally {
      ua.close();
    }
  });

  it('counts waiting messages for MWI subscribers: 3 → 0 across delivery', async () => {
    const ua = new TestUa();
    await ua.start();
    try {
      const gus = aor(`gus-${unique()}`);
      for (let i = 0; i < 3; i++) await sendUdp(system.sipPort, sipRequest({ to: gus, body: `mwi ${i}` }));
      const subscribed = await ua.request(system.sipPort, 'SUBSCRIBE', gus, [
        'Event: message-summary',
        'Expires: 600',
        'Accept: application/simple-message-summary',
      ]);
      expect(subscribed.status).toBe(200);
      const first = await waitUntil('a NOTIFY', () => ua.notifies()[0]);
      expect(first.body).toMatch(/Messages-Waiting: yes/);
      expect(first.body).toMatch(/Text-Message: 3\/0/);
      expect((await ua.register(system.sipPort, gus)).status).toBe(200);
      const last = await waitUntil('a NOTIFY with no messages', () =>
        ua.notifies().find((notify) => /Text-Message: 0\/0/.test(notify.body)),
      );
      expect(last.body).toMatch(/Messages-Waiting: no/);
      expect(ua.messages()).toHaveLength(3);
    } finally {
      ua.close();
    }
  });
});

describe('crash safety', () => {
  it('delivers everything after the edge is killed mid-delivery, at most one duplicate with the same Call-ID', async () => {
    const ua = new TestUa();
    await ua.start();
    ua.delayMs = 5;
    try {
      const hal = aor(`hal-${unique()}`);
      for (let i = 1; i <= 100; i++)
        await sendUdp(system.sipPort, sipRequest({ to: hal, body: `k${pad(i)}` }));
      expect((await ua.register(system.sipPort, hal)).status).toBe(200);
      await waitUntil('delivery under way', () => (ua.messages().length >= 30 ? true : undefined));
      const runtime = JSON.parse(readFileSync(join(system.dataDir, 'runtime.json'), 'utf8')) as {
        edgePid: number;
      };
      process.kill(runtime.edgePid, 'SIGKILL');
      await waitUntil(
        'nothing held',
        async () => ((await heldFor(system, hal)).length === 0 ? true : undefined),
        60_000,
      );
      const bodies = ua.messages().map((m) => m.body);
      expect(new Set(bodies)).toEqual(new Set(Array.from({ length: 100 }, (_, i) => `k${pad(i + 1)}`)));
      expect(bodies.length - 100).toBeLessThanOrEqual(1);
      const byCallId = new Map<string, string>();
      for (const message of ua.messages()) {
        const seen = byCallId.get(message.callId);
        if (seen !== undefined) expect(seen).toBe(message.body); // a duplicate has the same Call-ID
        byCallId.set(message.callId, message.body);
      }
      expect(system.output()).toContain('restarting it');
    } finally {
      ua.close();
    }
  });
});
