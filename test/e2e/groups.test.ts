// End to end: groups and availability through the whole local system. Members are scripted UAs
// (test/support/ua.ts) and a sipp UAS; senders are sipp UACs and raw UDP MESSAGEs. Groups are set
// with the CLI, as an operator does.

import { randomBytes } from 'node:crypto';
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
const uas: TestUa[] = [];

beforeAll(async () => {
  system = await startSystem({
    env: {
      DELIVERY_TIMEOUT: '3s',
      // Every UA here sends from 127.0.0.1, trusted as a proxy that authenticated its users would
      // be: this suite is about routing. Digest authentication of users is test/e2e/auth.test.ts.
      HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32',
      // Every request here comes from 127.0.0.1: room for the suite, a limit the last test reaches.
      HOLDOVER_AVAILABILITY_RATE: '40',
    },
  });
});
afterAll(async () => {
  for (const ua of uas) ua.close();
  await system?.stop();
});

async function member(user: string, register = true): Promise<{ aor: string; ua: TestUa }> {
  const ua = new TestUa();
  await ua.start();
  uas.push(ua);
  const address = aor(user);
  if (register) expect((await ua.register(system.sipPort, address)).status).toBe(200);
  return { aor: address, ua };
}

const availability = (address: string, headers: Record<string, string> = {}) =>
  fetch(new URL(`/v1/availability/${encodeURIComponent(address)}`, system.apiUrl), {
    headers,
    signal: AbortSignal.timeout(10_000),
  });

describe('a distribution list (routing all)', () => {
  it('gives every member a copy, from the original sender: registered ones at once, the other on REGISTER', async () => {
    const id = unique();
    const ann = await member(`ann-${id}`);
    const ben = await member(`ben-${id}`);
    const catUser = `cat-${id}`;
    const list = `team-${id}`;
    await system.cli(
      'groups',
      'set',
      aor(list),
      '--members',
      [ann.aor, ben.aor, aor(catUser)].join(','),
      '--routing',
      'all',
    );
    // sipp sends to the group
    const sent = await sipp({
      scenario: 'message_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      calls: 1,
      inject: [`${list};to the whole team;Alice;alice-${id}`],
      timeoutSeconds: 20,
    });
    expect(sent.code, sent.errors.slice(0, 1500)).toBe(0);
    for (const { ua } of [ann, ben]) {
      await waitUntil('the copy', () => (ua.messages().length === 1 ? true : undefined));
      expect(ua.messages()[0]?.body.trimEnd()).toBe('to the whole team');
      expect(ua.messages()[0]?.from).toContain(`sip:alice-${id}@example.com`);
    }
    // cat is offline: her copy waits for her, then reaches a sipp UAS when she registers
    const held = await heldFor(system, aor(catUser));
    expect(held.map((message) => message.body?.trimEnd())).toEqual(['to the whole team']);
    const uasPort = await freePort();
    const cat = sipp({
      scenario: 'message_uas.xml',
      localPort: uasPort,
      calls: 1,
      traceLogs: true,
      timeoutSeconds: 20,
      extraArgs: ['-set', 'accept', '1'],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const registered = await sipp({
      scenario: 'register_uac.xml',
      target: `127.0.0.1:${system.sipPort}`,
      calls: 1,
      extraArgs: ['-s', catUser],
      keys: { uas_port: String(uasPort), uas_transport: 'udp', expires: '300' },
    });
    expect(registered.code).toBe(0);
    const got = await cat;
    expect(got.code, got.errors.slice(0, 1500) + got.screen).toBe(0);
    expect(got.logs).toContain('to the whole team');
    await waitUntil('nothing held for cat', async () =>
      (await heldFor(system, aor(catUser))).length === 0 ? true : undefined,
    );
  });
});

describe('a queue (routing one)', () => {
  it('gives a MESSAGE to the one available member, From = the original sender', async () => {
    const id = unique();
    const away = await member(`away-${id}`, false);
    const here = await member(`here-${id}`);
    const queue = aor(`support-${id}`);
    await system.cli('groups', 'set', queue, '--members', `${away.aor},${here.aor}`, '--routing', 'one');
    const visitor = `sip:visitor-${id}@example.net`;
    expect(
      (await sendUdp(system.sipPort, sipRequest({ to: queue, from: visitor, body: 'help?' }))).status,
    ).toBe(202);
    await waitUntil('the line', () => (here.ua.messages().length === 1 ? true : undefined));
    expect(here.ua.messages()[0]?.from).toContain(visitor);
    expect(here.ua.messages()[0]?.body).toBe('help?');
    expect(away.ua.messages()).toHaveLength(0);
    expect(await heldFor(system, queue)).toEqual([]);
  });

  it('holds for the group while nobody is available, and hands it to the first member who registers', async () => {
    const id = unique();
    const first = await member(`first-${id}`, false);
    const second = await member(`second-${id}`, false);
    const queue = aor(`desk-${id}`);
    await system.cli('groups', 'set', queue, '--members', `${first.aor},${second.aor}`, '--routing', 'one');
    const visitor = `sip:late-${id}@example.net`;
    expect(
      (await sendUdp(system.sipPort, sipRequest({ to: queue, from: visitor, body: 'anyone there?' }))).status,
    ).toBe(202);
    const held = await heldFor(system, queue);
    expect(held.map((message) => [message.to, message.body])).toEqual([[queue, 'anyone there?']]);

    expect((await second.ua.register(system.sipPort, second.aor)).status).toBe(200);
    await waitUntil('the held line', () => (second.ua.messages().length === 1 ? true : undefined), 15_000);
    expect(second.ua.messages()[0]?.from).toContain(visitor);
    expect(second.ua.messages()[0]?.body).toBe('anyone there?');
    expect(first.ua.messages()).toHaveLength(0);
    await waitUntil('nothing held for the group', async () =>
      (await heldFor(system, queue)).length === 0 ? true : undefined,
    );
  });
});

describe('availability', () => {
  it('answers for a public group in JSON and text/plain, with open CORS, cacheable, preflight answered', async () => {
    const id = unique();
    const ann = await member(`pub-a-${id}`);
    const ben = await member(`pub-b-${id}`, false);
    const queue = aor(`sales-${id}`);
    await system.cli(
      'groups',
      'set',
      queue,
      '--members',
      `${ann.aor},${ben.aor}`,
      '--routing',
      'one',
      '--public',
    );
    const json = await availability(queue, { origin: 'https://shop.example.org' });
    expect(json.status).toBe(200);
    expect(json.headers.get('access-control-allow-origin')).toBe('*');
    expect(json.headers.get('cache-control')).toBe('public, max-age=5');
    expect(await json.json()).toEqual({ aor: queue, kind: 'group', status: 'active', available: 1 });
    const plain = await availability(queue, { accept: 'text/plain' });
    expect(plain.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await plain.text()).toBe('active');

    const preflight = await fetch(new URL(`/v1/availability/${encodeURIComponent(queue)}`, system.apiUrl), {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example.org', 'access-control-request-method': 'GET' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('GET');

    // ann goes away: the group is known but nobody is available
    expect((await ann.ua.register(system.sipPort, ann.aor, 0)).status).toBe(200);
    // (the edge reports the REGISTER to the API just after answering it)
    const away = await waitUntil('away', async () => {
      const body = (await (await availability(queue)).json()) as { status: string };
      return body.status === 'away' ? body : undefined;
    });
    expect(away).toEqual({ aor: queue, kind: 'group', status: 'away', available: 0 });
  });

  it('answers for a public user; a user or group not public answers exactly like an unknown AOR', async () => {
    const id = unique();
    const pub = await member(`visible-${id}`);
    const hidden = await member(`hidden-${id}`);
    await system.cli('settings', pub.aor, '--public');
    const privateGroup = aor(`private-${id}`);
    await system.cli('groups', 'set', privateGroup, '--members', hidden.aor, '--routing', 'all');
    expect(await (await availability(pub.aor)).json()).toEqual({
      aor: pub.aor,
      kind: 'user',
      status: 'active',
      available: 1,
    });

    const answer = async (address: string) => {
      const response = await availability(address);
      const headers = Object.fromEntries(
        [...response.headers].filter(
          ([name]) => !['date', 'content-length', 'x-amzn-requestid'].includes(name),
        ),
      );
      return { status: response.status, headers, body: await response.text() };
    };
    const unknown = aor(`nobody-${id}`);
    const [u, h, g] = await Promise.all([answer(unknown), answer(hidden.aor), answer(privateGroup)]);
    expect(u.status).toBe(200);
    expect(JSON.parse(u.body)).toEqual({ aor: unknown, status: 'na', available: 0 });
    // the same but for the address echoed
    expect(h).toEqual({ ...u, body: u.body.replace(unknown, hidden.aor) });
    expect(g).toEqual({ ...u, body: u.body.replace(unknown, privateGroup) });
    expect(await (await availability(hidden.aor, { accept: 'text/plain' })).text()).toBe('na');
  });
});

describe('group routes', () => {
  it('refuse unsigned calls (401), and answer signed ones', async () => {
    const id = unique();
    const path = `/v1/groups/${encodeURIComponent(aor(`ops-${id}`))}`;
    const url = new URL(path, system.apiUrl);
    const body = JSON.stringify({ members: [aor(`x-${id}`)], routing: 'all' });
    for (const [method, target] of [
      ['PUT', url],
      ['GET', url],
      ['DELETE', url],
      ['GET', new URL('/v1/groups', system.apiUrl)],
    ] as const) {
      const response = await fetch(target, {
        method,
        ...(method === 'PUT' ? { body, headers: { 'content-type': 'application/json' } } : {}),
      });
      expect(response.status, `${method} ${target.pathname}`).toBe(401);
    }
    expect((await signedFetch(system.secret, 'PUT', url, body)).status).toBe(200);
    const listed = JSON.parse(await system.cli('groups', 'list', '--json')) as Array<{ aor: string }>;
    expect(listed.map((group) => group.aor)).toContain(aor(`ops-${id}`));
    // members outside the served domains are refused
    const foreign = await signedFetch(
      system.secret,
      'PUT',
      url,
      JSON.stringify({ members: ['sip:eve@other.org'], routing: 'all' }),
    );
    expect(foreign.status).toBe(400);
    expect(await system.cli('groups', 'remove', aor(`ops-${id}`))).toContain('removed');
    expect((await signedFetch(system.secret, 'GET', url)).status).toBe(404);
  });
});

describe('availability rate limit', () => {
  it('answers 429 with Retry-After (and CORS) once a client address has asked too often', async () => {
    const unknown = aor(`rate-${unique()}`);
    let refused: Response | undefined;
    for (let i = 0; i < 100 && refused === undefined; i++) {
      const response = await availability(unknown);
      if (response.status === 429) refused = response;
      else expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    expect(refused?.status).toBe(429);
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused?.headers.get('access-control-allow-origin')).toBe('*');
  });
});
