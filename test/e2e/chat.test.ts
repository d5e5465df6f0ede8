// End to end: click-to-chat through the whole local system. The visitor is plain HTTP (as the
// page's script is); the members are sipp UASs that register, and sipp UACs that answer. A line
// reaches the one available member of a queue From the visitor AOR; the member's answer shows in
// the long poll; with nobody available the line is held and delivered when a member registers;
// a chat that ended gets its answers emailed. Every refusal of the chat routes is checked.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { signedFetch } from '../support/signed.ts';
import { sendUdp, sipRequest } from '../support/sip-client.ts';
import { type SippRun, sipp } from '../support/sipp.ts';
import { heldFor, type RunningSystem, startSystem } from '../support/system.ts';
import { waitUntil } from '../support/ua.ts';

let system: RunningSystem;
const unique = () => randomBytes(4).toString('hex');
const aor = (user: string) => `sip:${user}@example.com`;

beforeAll(async () => {
  system = await startSystem({
    env: {
      DELIVERY_TIMEOUT: '3s',
      // the members' UAs send from 127.0.0.1, trusted as a proxy that authenticated them would be
      HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32',
      HOLDOVER_SWEEP_INTERVAL: '1s',
      // a chat whose visitor is quiet for 4 s ends (the polls below keep the open ones alive)
      HOLDOVER_CHAT_IDLE: '4s',
    },
  });
});
afterAll(async () => {
  await system?.stop();
});

interface Line {
  id: string;
  from: string;
  name?: string;
  text: string;
  state: string;
}
interface View {
  chatId: string;
  status: string;
  lines: Line[];
  cursor: string;
}
interface Started {
  chatId: string;
  token: string;
  visitor: string;
}

const api = (path: string, init: RequestInit = {}) =>
  fetch(new URL(path, system.apiUrl), { signal: AbortSignal.timeout(30_000), ...init });

async function startChat(to: string, extra: Record<string, string> = {}): Promise<Started> {
  const response = await api('/v1/chats', {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: 'https://shop.example.org' },
    body: JSON.stringify({ to, name: 'Ann "the visitor" <ann>', ...extra }),
  });
  expect(response.status, await response.clone().text()).toBe(201);
  expect(response.headers.get('access-control-allow-origin')).toBe('*');
  return (await response.json()) as Started;
}

const say = (chat: Started, text: string, token = chat.token) =>
  api(`/v1/chats/${chat.chatId}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ text }),
  });

async function read(chat: Started, after = '', wait = 0): Promise<View> {
  const response = await api(`/v1/chats/${chat.chatId}/messages?after=${after}&wait=${wait}`, {
    headers: { authorization: `Bearer ${chat.token}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as View;
}

/** Long-polls as the page does until `done` holds for the view (the polls keep the chat open). */
async function follow(chat: Started, done: (view: View) => boolean, timeoutMs = 30_000): Promise<View> {
  const deadline = Date.now() + timeoutMs;
  let view = await read(chat);
  while (!done(view)) {
    if (Date.now() > deadline) throw new Error(`chat never got there: ${JSON.stringify(view)}`);
    view = await read(chat, view.cursor, 2);
  }
  return view;
}

/** Polls in the background, as an open page does, until the returned function stops it. */
function keepOpen(chat: Started): () => Promise<void> {
  let open = true;
  const loop = (async () => {
    let cursor = '';
    while (open) {
      const view = await read(chat, cursor, 1).catch(() => undefined);
      if (view) cursor = view.cursor;
    }
  })();
  return async () => {
    open = false;
    await loop;
  };
}

/** A member's UA: a sipp UAS on its own port that takes one MESSAGE, registered as `user`. */
async function registeredMember(user: string): Promise<{ aor: string; received: Promise<SippRun> }> {
  const port = await freePort();
  const received = sipp({
    scenario: 'message_uas.xml',
    localPort: port,
    calls: 1,
    traceLogs: true,
    timeoutSeconds: 30,
    extraArgs: ['-set', 'accept', '1'],
  });
  await new Promise((resolve) => setTimeout(resolve, 300)); // sipp binds its port
  const registered = await sipp({
    scenario: 'register_uac.xml',
    target: `127.0.0.1:${system.sipPort}`,
    calls: 1,
    extraArgs: ['-s', user],
    keys: { uas_port: String(port), uas_transport: 'udp', expires: '300' },
  });
  expect(registered.code, registered.errors).toBe(0);
  return { aor: aor(user), received };
}

/** The member answers the visitor from their UA (sipp): 200, the answer joined the chat. */
async function answer(chat: Started, member: string, text: string): Promise<void> {
  const visitorUser = /^sip:([^@]+)@/.exec(chat.visitor)?.[1] ?? '';
  const sent = await sipp({
    scenario: 'chat_answer_uac.xml',
    target: `127.0.0.1:${system.sipPort}`,
    calls: 1,
    inject: [`${visitorUser};${text};Bob at Support;${/^sip:([^@]+)@/.exec(member)?.[1]}`],
    timeoutSeconds: 15,
  });
  expect(sent.code, sent.errors.slice(0, 1500)).toBe(0);
}

describe('a chat with a queue', () => {
  it("takes the visitor's line to the one available member, From = the visitor AOR, and brings the answer back", async () => {
    const id = unique();
    const queue = aor(`help-${id}`);
    const away = aor(`away-${id}`);
    const here = await registeredMember(`here-${id}`);
    await system.cli(
      'groups',
      'set',
      queue,
      '--members',
      `${away},${here.aor}`,
      '--routing',
      'one',
      '--public',
    );

    const chat = await startChat(queue);
    const close = keepOpen(chat);
    expect(chat.visitor).toMatch(/^sip:chat-[a-z2-7]{26}@example\.com$/);
    expect((await say(chat, 'Do you ship to Norway?')).status).toBe(201);

    const got = await here.received;
    expect(got.code, got.errors.slice(0, 1500) + got.screen).toBe(0);
    const [, , from, , body] = /RECV [^|]*\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|/.exec(got.logs) ?? [];
    expect(from).toBe(chat.visitor);
    expect(body).toBe('Do you ship to Norway?');
    const delivered = await follow(chat, (view) => view.lines[0]?.state === 'delivered');
    expect(delivered.lines).toHaveLength(1);
    expect(delivered.lines[0]).toMatchObject({ from: chat.visitor, name: 'Ann the visitor ann' });

    await answer(chat, here.aor, 'Yes, in 3 days');
    const answered = await follow(chat, (view) => view.lines.length === 2);
    expect(answered.status).toBe('open');
    expect(answered.lines[1]).toMatchObject({
      from: here.aor,
      name: 'Bob at Support',
      text: 'Yes, in 3 days',
      state: 'delivered',
    });
    // the answer joined the chat: nothing is held for the visitor AOR, nor for the member
    expect(await heldFor(system, chat.visitor)).toEqual([]);
    expect(await heldFor(system, queue)).toEqual([]);
    await close();
  });

  it('holds the line while nobody is available and delivers it when a member registers', async () => {
    const id = unique();
    const queue = aor(`desk-${id}`);
    const late = `late-${id}`;
    await system.cli(
      'groups',
      'set',
      queue,
      '--members',
      `${aor(`gone-${id}`)},${aor(late)}`,
      '--routing',
      'one',
      '--public',
    );
    const status = await (await api(`/v1/availability/${encodeURIComponent(queue)}`)).json();
    expect(status).toMatchObject({ status: 'away' });

    const chat = await startChat(queue);
    const close = keepOpen(chat);
    expect((await say(chat, 'anyone there?')).status).toBe(201);
    expect((await read(chat)).lines.map((line) => [line.text, line.state])).toEqual([
      ['anyone there?', 'held'],
    ]);
    const held = await heldFor(system, queue);
    expect(held.map((message) => [message.from, message.body])).toEqual([[chat.visitor, 'anyone there?']]);

    const member = await registeredMember(late);
    const got = await member.received;
    expect(got.code, got.errors.slice(0, 1500) + got.screen).toBe(0);
    expect(got.logs).toContain(`|${chat.visitor}|`);
    expect(got.logs).toContain('anyone there?');
    await follow(chat, (view) => view.lines[0]?.state === 'delivered');
    await waitUntil('nothing held for the queue', async () =>
      (await heldFor(system, queue)).length === 0 ? true : undefined,
    );
    await close();
  });
});

describe('a chat that ended', () => {
  it("emails the answers to the visitor's address, escaped, and records them in the chat", async () => {
    const id = unique();
    const person = aor(`solo-${id}`);
    await system.cli('settings', person, '--public');
    const email = `visitor-${id}@example.org`;
    const chat = await startChat(person, { email });
    expect((await say(chat, 'call me back?')).status).toBe(201);
    // the visitor leaves: no poll for longer than the idle time (a poll would keep the chat open)
    await new Promise((resolve) => setTimeout(resolve, 4500));
    expect((await read(chat)).status).toBe('ended');
    expect((await say(chat, 'still there?')).status).toBe(410);

    const reply = await sendUdp(
      system.sipPort,
      sipRequest({ to: chat.visitor, from: person, body: 'Sure <b>tomorrow</b> & later' }),
    );
    expect(reply.status).toBe(202);
    const mail = await waitUntil(
      'the email',
      async () => {
        const response = await fetch(`http://127.0.0.1:${system.sesPort}/store`);
        const { emails } = (await response.json()) as {
          emails: Array<{
            destination: { to: string[] };
            subject: string;
            body: { html?: string; text?: string };
          }>;
        };
        return emails.find((candidate) => candidate.destination.to.includes(email));
      },
      20_000,
    );
    expect(mail.subject).toContain(`Answers to your chat with ${person}`);
    expect(mail.body.html).toContain('Sure &lt;b&gt;tomorrow&lt;/b&gt; &amp; later');
    expect(mail.body.html).not.toContain('<b>tomorrow');
    const view = await read(chat);
    expect(view.lines.map((line) => [line.text, line.state])).toEqual([
      ['call me back?', 'held'],
      ['Sure <b>tomorrow</b> & later', 'held'],
    ]);
    await waitUntil('nothing held for the visitor', async () =>
      (await heldFor(system, chat.visitor)).length === 0 ? true : undefined,
    );
  });

  it('answers 404 at SIP for a visitor AOR that has no chat', async () => {
    const reply = await sendUdp(
      system.sipPort,
      sipRequest({ to: aor(`chat-${'a'.repeat(26)}`), from: aor(`bob-${unique()}`), body: 'hello?' }),
    );
    expect(reply.status).toBe(404);
  });
});

describe('chat routes refuse', () => {
  it('whoever is not the chat: no token, another chat, a user token, a signed call; and a chat token opens no user route', async () => {
    const id = unique();
    const person = aor(`pub-${id}`);
    await system.cli('settings', person, '--public');
    const chat = await startChat(person);
    const other = await startChat(person);
    const path = `/v1/chats/${chat.chatId}/messages`;

    const noToken = await api(path, { method: 'POST', body: JSON.stringify({ text: 'x' }) });
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('access-control-allow-origin')).toBe('*');
    expect((await api(path)).status).toBe(401);
    expect((await say(chat, 'x', other.token)).status).toBe(403);
    const userToken = JSON.parse(await system.cli('token', person, '--json')) as { token: string };
    expect((await say(chat, 'x', userToken.token)).status).toBe(401);
    const signed = await signedFetch(
      system.secret,
      'POST',
      new URL(path, system.apiUrl),
      JSON.stringify({ text: 'x' }),
    );
    expect(signed.status).toBe(403);
    const me = await api('/v1/me', { headers: { authorization: `Bearer ${chat.token}` } });
    expect(me.status).toBe(401);
    expect((await read(chat)).lines).toEqual([]);
  });

  it('a target that is not public exactly as an unknown one, and bad input with a reason', async () => {
    const id = unique();
    const hidden = aor(`hidden-${id}`);
    await system.cli('settings', hidden, '--email', `hidden-${id}@example.com`);
    const start = (to: string) =>
      api('/v1/chats', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to, name: 'Eve' }),
      });
    const [unknown, notPublic] = await Promise.all([start(aor(`nobody-${id}`)), start(hidden)]);
    expect(unknown.status).toBe(404);
    expect(notPublic.status).toBe(404);
    expect(await notPublic.text()).toBe(await unknown.text());

    const person = aor(`pub2-${id}`);
    await system.cli('settings', person, '--public');
    const chat = await startChat(person);
    expect((await say(chat, '   ')).status).toBe(400);
    expect((await say(chat, 'x'.repeat(2001))).status).toBe(400);
    const huge = await api(`/v1/chats/${chat.chatId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${chat.token}` },
      body: JSON.stringify({ text: 'y'.repeat(20_000) }),
    });
    expect(huge.status).toBe(413);
    const preflight = await api(`/v1/chats/${chat.chatId}/messages`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example.org', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization');
  });

  it('a visitor who writes too fast (429 with Retry-After)', async () => {
    const person = aor(`fast-${unique()}`);
    await system.cli('settings', person, '--public');
    const chat = await startChat(person);
    let refused: Response | undefined;
    for (let i = 0; i < 30 && refused === undefined; i++) {
      const response = await say(chat, `line ${i}`);
      if (response.status === 429) refused = response;
      else expect(response.status).toBe(201);
    }
    expect(refused?.status).toBe(429);
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
