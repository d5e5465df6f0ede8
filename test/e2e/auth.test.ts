// End to end: nobody but the recipient can take their held messages (docs/design.md "Security", issue
// 8). REGISTER, PUBLISH and SUBSCRIBE are digest-challenged at the edge against the credentials an
// operator set with `npx holdover users set`; a MESSAGE claiming to come from a user with
// credentials is challenged too; a trusted proxy (127.0.0.2 here, a loopback address apart from
// every UA's 127.0.0.1) is taken as it is. sipp answers the challenge with its own digest code
// ([authentication], -au/-ap); the scripted UA (test/support/ua.ts) does it with SHA-256.
//
// sipp 3.6 (Debian 12) computes MD5 only and reads only the first challenge, so this system offers
// MD5 first (HOLDOVER_DIGEST_ALGORITHMS=MD5,SHA-256); the default order, SHA-256 first, is pinned
// in test/integration/edge-auth.test.ts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHeader, getHeaders } from '../../edge/sip/message.ts';
import { freePort } from '../support/ports.ts';
import { sendUdp, sipRequest } from '../support/sip-client.ts';
import { sipp } from '../support/sipp.ts';
import { heldFor, type RunningSystem, setPassword, startSystem } from '../support/system.ts';
import { answerChallenge, TestUa, waitUntil } from '../support/ua.ts';

let system: RunningSystem;
const unique = () => randomBytes(4).toString('hex');
const aor = (user: string) => `sip:${user}@example.com`;

beforeAll(async () => {
  system = await startSystem({
    env: {
      HOLDOVER_DIGEST_ALGORITHMS: 'MD5,SHA-256',
      HOLDOVER_TRUSTED_PROXIES: '127.0.0.2/32',
      DELIVERY_TIMEOUT: '3s',
    },
  });
});
afterAll(async () => {
  await system?.stop();
});

/** `count` MESSAGEs from alice (who has no credentials: accepted as she is) held for `user`. */
async function hold(user: string, count: number): Promise<void> {
  const run = await sipp({
    scenario: 'message_uac.xml',
    target: `127.0.0.1:${system.sipPort}`,
    calls: count,
    inject: Array.from({ length: count }, (_, i) => `${user};held #${i + 1};Alice;alice`),
  });
  expect(run.code, run.errors + run.screen).toBe(0);
  expect(await heldFor(system, aor(user))).toHaveLength(count);
}

function registerWithSipp(user: string, password: string, uasPort: number) {
  return sipp({
    scenario: 'register_auth_uac.xml',
    target: `127.0.0.1:${system.sipPort}`,
    calls: 1,
    // sipp's digest uri is its target unless told: the edge wants the Request-URI.
    extraArgs: ['-s', user, '-au', user, '-ap', password, '-auth_uri', 'example.com'],
    keys: { uas_port: String(uasPort), uas_transport: 'udp', expires: '300' },
    timeoutSeconds: 10,
  });
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 2000));

describe('REGISTER', () => {
  it('without credentials is challenged (401), and a thief with a wrong password gets 403: nothing is delivered', async () => {
    const user = `carol-${unique()}`;
    await setPassword(system, aor(user), 'carol-secret-1');
    await hold(user, 3);

    const thief = new TestUa();
    await thief.start();
    try {
      const challenged = await thief.register(system.sipPort, aor(user));
      expect(challenged.status).toBe(401);
      const offered = getHeaders(challenged, 'www-authenticate');
      expect(offered).toHaveLength(2);
      expect(offered[0]).toMatch(/^Digest realm="example\.com", nonce="[^"]+", algorithm=MD5, qop="auth"$/);
      expect(offered[1]).toMatch(/algorithm=SHA-256, qop="auth"$/);

      const guessed = await thief.register(system.sipPort, aor(user), 300, { password: 'not-her-password' });
      expect(guessed.status).toBe(403);
      const sippGuess = await registerWithSipp(user, 'not-her-password', thief.port);
      expect(sippGuess.code).not.toBe(0);

      await settle();
      expect(thief.messages()).toHaveLength(0);
      const still = await heldFor(system, aor(user));
      expect(still.map((message) => message.state)).toEqual(['pending', 'pending', 'pending']);
      // the CLI shows the same
      expect(await system.cli('held', aor(user))).toContain('3 messages held');
    } finally {
      thief.close();
    }
  });

  it('with the right password (sipp, MD5) registers, and the held messages are delivered', async () => {
    const user = `dave-${unique()}`;
    await setPassword(system, aor(user), 'dave-secret-2');
    await hold(user, 2);
    const uasPort = await freePort();
    const ua = sipp({
      scenario: 'message_uas.xml',
      localPort: uasPort,
      calls: 2,
      traceLogs: true,
      timeoutSeconds: 20,
      extraArgs: ['-set', 'accept', '2'],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const registered = await registerWithSipp(user, 'dave-secret-2', uasPort);
    expect(registered.code, registered.errors + registered.screen).toBe(0);
    const received = await ua;
    expect(received.code, received.errors + received.screen).toBe(0);
    const bodies = received.logs
      .split('\n')
      .filter((line) => line.startsWith('RECV '))
      .map((line) => line.split('|')[4]?.trimEnd());
    expect(bodies).toEqual(['held #1', 'held #2']);
    await waitUntil('nothing held', async () =>
      (await heldFor(system, aor(user))).length === 0 ? true : undefined,
    );
  });

  it('answers SHA-256 too, and refuses the same nonce-count twice (a replayed REGISTER)', async () => {
    const user = `erin-${unique()}`;
    await setPassword(system, aor(user), 'erin-secret-3');
    const ua = new TestUa();
    await ua.start();
    try {
      const dialog = { callId: `${unique()}@ua`, fromTag: unique() };
      const first = await ua.request(system.sipPort, 'REGISTER', aor(user), ['Expires: 300'], '', {
        ...dialog,
        cseq: 1,
      });
      expect(first.status).toBe(401);
      const authorization = answerChallenge(first, 'REGISTER', aor(user), {
        password: 'erin-secret-3',
        algorithm: 'SHA-256',
      });
      expect(authorization).toContain('algorithm=SHA-256');
      const headers = ['Expires: 300', `Authorization: ${authorization}`];
      const ok = await ua.request(system.sipPort, 'REGISTER', aor(user), headers, '', { ...dialog, cseq: 2 });
      expect(ok.status).toBe(200);
      expect(getHeader(ok, 'contact')).toContain(ua.contact);
      const replay = await ua.request(system.sipPort, 'REGISTER', aor(user), headers, '', {
        ...dialog,
        cseq: 3,
      });
      expect(replay.status).toBe(401);
      expect(getHeader(replay, 'www-authenticate')).not.toContain('stale=true');
    } finally {
      ua.close();
    }
  });
});

describe('a user without credentials', () => {
  it('cannot REGISTER, PUBLISH or SUBSCRIBE: 403', async () => {
    const user = aor(`frank-${unique()}`);
    const ua = new TestUa();
    await ua.start();
    try {
      const registered = await ua.register(system.sipPort, user);
      expect(registered.status).toBe(403);
      expect(getHeader(registered, 'warning')).toContain('users set');
      const published = await ua.request(system.sipPort, 'PUBLISH', user, [
        'Event: presence',
        'Expires: 300',
        'Content-Type: application/pidf+xml',
      ]);
      expect(published.status).toBe(403);
      const subscribed = await ua.request(system.sipPort, 'SUBSCRIBE', user, [
        'Event: message-summary',
        'Expires: 300',
        'Accept: application/simple-message-summary',
      ]);
      expect(subscribed.status).toBe(403);
    } finally {
      ua.close();
    }
  });
});

describe('MESSAGE', () => {
  it('claiming to be from a user with credentials is challenged (401) and not stored; from others it is taken', async () => {
    const impersonated = `gina-${unique()}`;
    await setPassword(system, aor(impersonated), 'gina-secret-4');
    const recipient = `hugo-${unique()}`;
    const forged = await sendUdp(
      system.sipPort,
      sipRequest({ to: aor(recipient), from: aor(impersonated), body: 'send me your password' }),
    );
    expect(forged.status).toBe(401);
    expect(forged.header('www-authenticate')).toContain('realm="example.com"');
    const outsider = await sendUdp(
      system.sipPort,
      sipRequest({ to: aor(recipient), from: `sip:someone-${unique()}@elsewhere.example`, body: 'hello' }),
    );
    expect(outsider.status).toBe(202);
    const held = await heldFor(system, aor(recipient));
    expect(held.map((message) => message.body)).toEqual(['hello']);
  });
});

describe('a trusted proxy (HOLDOVER_TRUSTED_PROXIES=127.0.0.2/32)', () => {
  it("has its REGISTER copy taken without a challenge, and the held messages go to the user's contact", async () => {
    const user = `ivy-${unique()}`;
    await setPassword(system, aor(user), 'ivy-secret-5');
    await hold(user, 1);
    const proxy = new TestUa('127.0.0.2');
    await proxy.start();
    try {
      const copy = await proxy.register(system.sipPort, aor(user));
      expect(copy.status).toBe(200);
      await waitUntil('the held message delivered to the registered contact', () =>
        proxy.messages().length === 1 ? true : undefined,
      );
      expect(proxy.messages()[0]?.body.trimEnd()).toBe('held #1');
    } finally {
      proxy.close();
    }
  });
});

describe('npx holdover users', () => {
  it('lists users with credentials (never a hash), removes them, and imports a CSV line by line', async () => {
    const first = aor(`jan-${unique()}`);
    const second = aor(`kim-${unique()}`);
    const dir = mkdtempSync(join(tmpdir(), 'holdover-users-'));
    const csv = join(dir, 'users.csv');
    writeFileSync(
      csv,
      ['aor,password', `${first},long-enough-1`, 'not an address,whatever-long', `${second},short`, ''].join(
        '\n',
      ),
    );
    const imported = await system.cliWithInput('', 'users', 'import', csv);
    expect(imported.code).toBe(3);
    expect(imported.stdout).toContain(`line 2: ${first} set`);
    expect(imported.stdout).toMatch(/line 3: failed: .*not a SIP address/);
    expect(imported.stdout).toMatch(/line 4: failed: .*at least 8 characters/);

    const listed = JSON.parse(await system.cli('users', 'list', '--json')) as Array<Record<string, unknown>>;
    const entry = listed.find((user) => user.aor === first);
    expect(entry).toMatchObject({ aor: first, admin: false });
    expect(Object.keys(entry ?? {}).sort()).toEqual(['admin', 'aor', 'createdAt', 'updatedAt']);
    expect(listed.some((user) => user.aor === second)).toBe(false);

    const admin = await system.cliWithInput(
      'admin-password\n',
      'users',
      'set',
      second,
      '--password-stdin',
      '--admin',
    );
    expect(admin.code, admin.stderr).toBe(0);
    expect(await system.cli('users', 'list')).toMatch(new RegExp(`${second}\\s+\\(admin\\)`));

    expect(await system.cli('users', 'remove', first)).toContain('removed');
    const after = JSON.parse(await system.cli('users', 'list', '--json')) as Array<{ aor: string }>;
    expect(after.some((user) => user.aor === first)).toBe(false);
    const again = await system.cliWithInput('', 'users', 'remove', first);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('has no credentials');
  });
});
