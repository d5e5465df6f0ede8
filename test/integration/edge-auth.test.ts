// Digest authentication at the real edge on loopback, against a fake API that serves users'
// HA1s (GET /v1/credentials/{aor}, signed) and records what the edge reports: the default offer
// (SHA-256 first, then MD5), a stale nonce, the credentials cache, an API that cannot answer,
// and the throttle of wrong passwords per AOR and per source (a second edge with a short window).
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EdgeConfig } from '../../edge/config.ts';
import { nonceKeyOf } from '../../edge/digest-auth.ts';
import { type RunningEdge, startEdge } from '../../edge/edge.ts';
import { logger, metrics } from '../../edge/log.ts';
import { getHeader, getHeaders } from '../../edge/sip/message.ts';
import { parseTrustedProxies } from '../../edge/trusted-proxies.ts';
import { credentialsHeader, ha1Of, ha1s, mintNonce } from '../../shared/sip-digest.ts';
import { readSignedRequest } from '../support/signed.ts';
import { sendUdp, sipRequest } from '../support/sip-client.ts';
import { TestUa, waitUntil } from '../support/ua.ts';

const HOST = '127.0.0.1';
const SECRET = `test-secret-${randomUUID()}`;

class FakeApi {
  /** Password per AOR; the API hands out HA1s only. */
  readonly passwords = new Map<string, string>();
  readonly calls: Array<{ method: string; path: string; body: unknown }> = [];
  failing = false;
  port = 0;
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer(async (request, response) => {
      const raw = await readSignedRequest(SECRET, request, response);
      if (raw === undefined) return;
      const path = request.url ?? '';
      this.calls.push({
        method: request.method ?? '',
        path,
        body: raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined,
      });
      const json = (status: number, value: unknown) =>
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (this.failing) return json(500, { error: { message: 'down' } });
      const credentials = /^\/v1\/credentials\/([^/?]+)$/.exec(path);
      if (credentials?.[1]) {
        const aor = decodeURIComponent(credentials[1]);
        const password = this.passwords.get(aor);
        if (password === undefined) return json(404, { error: { message: 'no credentials' } });
        const [user = '', realm = ''] = aor.replace(/^sip:/, '').split('@');
        return json(200, { aor, realm, ha1: ha1s(user, realm, password), admin: false });
      }
      if (path === '/v1/presence') return json(200, {});
      if (path === '/v1/messages') return json(202, { id: randomUUID() });
      return json(404, {});
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  lookups(aor: string): number {
    return this.calls.filter((call) => call.path === `/v1/credentials/${encodeURIComponent(aor)}`).length;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const api = new FakeApi();
let edge: RunningEdge;
let ua: TestUa;

function edgeConfig(): EdgeConfig {
  return {
    sipHost: HOST,
    sipPort: 0,
    sipAdvertisedHost: HOST,
    httpHost: HOST,
    httpPort: 0,
    apiUrl: `http://${HOST}:${api.port}`,
    secret: SECRET,
    maxBodyBytes: 65_536,
    retryAfterSeconds: 30,
    maxPendingCaptures: 200,
    deliveryTimeoutMs: 2000,
    mwiPollIntervalMs: 60_000,
    minExpiresSeconds: 60,
    domains: ['example.com'],
    trustedProxies: parseTrustedProxies(''),
    digestAlgorithms: ['SHA-256', 'MD5'],
    credentialsCacheMs: 30_000,
  };
}

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  await api.start();
  edge = await startEdge(edgeConfig());
  ua = new TestUa();
  await ua.start();
});
afterAll(async () => {
  ua?.close();
  await edge?.stop();
  await api.stop();
});
beforeEach(() => {
  api.failing = false;
});

const user = () => `u${randomUUID().slice(0, 8)}`;

describe('the digest challenge', () => {
  it('offers SHA-256 first, then MD5, with one nonce, qop="auth" and the AOR domain as realm', async () => {
    const aor = `sip:${user()}@example.com`;
    api.passwords.set(aor, 'password-1');
    const challenge = await ua.register(edge.sip.port, aor);
    expect(challenge.status).toBe(401);
    const offered = getHeaders(challenge, 'www-authenticate');
    expect(offered).toHaveLength(2);
    const [sha256, md5] = offered;
    expect(sha256).toMatch(
      /^Digest realm="example\.com", nonce="([A-Za-z0-9_-]+)", algorithm=SHA-256, qop="auth"$/,
    );
    expect(md5).toMatch(/^Digest realm="example\.com", nonce="[A-Za-z0-9_-]+", algorithm=MD5, qop="auth"$/);
    const nonceOf = (value = '') => /nonce="([^"]+)"/.exec(value)?.[1];
    expect(nonceOf(sha256)).toBe(nonceOf(md5));

    const registered = await ua.register(edge.sip.port, aor, 300, { password: 'password-1' });
    expect(registered.status).toBe(200);
    expect(api.calls.filter((call) => call.path === '/v1/presence').map((call) => call.body)).toContainEqual(
      expect.objectContaining({ aor, state: 'online', contact: ua.contact }),
    );
  });

  it('answers the right password on an expired nonce with stale=true, the wrong one with 403', async () => {
    const name = user();
    const aor = `sip:${name}@example.com`;
    api.passwords.set(aor, 'password-2');
    const old = mintNonce(nonceKeyOf(SECRET), 'example.com', Date.now() - 10 * 60_000);
    const answer = (password: string) =>
      credentialsHeader(
        {
          username: name,
          realm: 'example.com',
          nonce: old,
          uri: aor,
          method: 'REGISTER',
          algorithm: 'SHA-256',
          qop: 'auth',
          nc: '00000001',
          cnonce: 'abcdef',
        },
        ha1Of('SHA-256', name, 'example.com', password),
      );
    const stale = await ua.request(edge.sip.port, 'REGISTER', aor, [
      'Expires: 300',
      `Authorization: ${answer('password-2')}`,
    ]);
    expect(stale.status).toBe(401);
    expect(getHeaders(stale, 'www-authenticate').every((value) => value.endsWith(', stale=true'))).toBe(true);
    const wrong = await ua.request(edge.sip.port, 'REGISTER', aor, [
      'Expires: 300',
      `Authorization: ${answer('password-x')}`,
    ]);
    expect(wrong.status).toBe(403);
  });

  it('ignores credentials for another realm (an upstream proxy’s) and challenges for its own', async () => {
    const aor = `sip:${user()}@example.com`;
    api.passwords.set(aor, 'password-3');
    const response = await ua.request(edge.sip.port, 'REGISTER', aor, [
      'Expires: 300',
      'Authorization: Digest username="x", realm="proxy.example.net", nonce="n", uri="sip:example.com", response="00", qop=auth, nc=00000001, cnonce="c"',
    ]);
    expect(response.status).toBe(401);
  });
});

describe('credentials from the API', () => {
  it('are read once per user within the cache time, absent ones too', async () => {
    const known = `sip:${user()}@example.com`;
    api.passwords.set(known, 'password-4');
    const unknown = `sip:${user()}@example.com`;
    for (let i = 0; i < 3; i++) {
      expect((await ua.register(edge.sip.port, known)).status).toBe(401);
      expect((await ua.register(edge.sip.port, unknown)).status).toBe(403);
    }
    expect(api.lookups(known)).toBe(1);
    expect(api.lookups(unknown)).toBe(1);
  });

  it('that cannot be read make the edge answer 503 with Retry-After, never let the request through', async () => {
    api.failing = true;
    const response = await ua.register(edge.sip.port, `sip:${user()}@example.com`);
    expect(response.status).toBe(503);
    expect(getHeader(response, 'retry-after')).toBe('30');
    const message = await sendUdp(
      edge.sip.port,
      sipRequest({ from: `sip:${user()}@example.com`, to: 'sip:bob@example.com' }),
    );
    expect(message.status).toBe(503);
  });

  it('are not asked for a MESSAGE from outside the served domains, which is taken as it is', async () => {
    const before = api.calls.length;
    const message = await sendUdp(
      edge.sip.port,
      sipRequest({ from: 'sip:someone@elsewhere.example', to: 'sip:bob@example.com' }),
    );
    expect(message.status).toBe(202);
    expect(api.calls.slice(before).map((call) => call.path)).toEqual(['/v1/messages']);
  });

  it('challenge a MESSAGE from a user who has them; answered, it is captured', async () => {
    const name = user();
    const from = `sip:${name}@example.com`;
    api.passwords.set(from, 'password-5');
    const callId = randomUUID();
    const challenged = await sendUdp(edge.sip.port, sipRequest({ from, to: 'sip:bob@example.com', callId }));
    expect(challenged.status).toBe(401);
    const nonce = /nonce="([^"]+)"/.exec(challenged.header('www-authenticate') ?? '')?.[1] ?? '';
    const authorization = credentialsHeader(
      {
        username: name,
        realm: 'example.com',
        nonce,
        uri: 'sip:bob@example.com',
        method: 'MESSAGE',
        algorithm: 'SHA-256',
        qop: 'auth',
        nc: '00000001',
        cnonce: 'feedface',
      },
      ha1Of('SHA-256', name, 'example.com', 'password-5'),
    );
    const before = api.calls.length;
    const answered = await sendUdp(
      edge.sip.port,
      sipRequest({
        from,
        to: 'sip:bob@example.com',
        callId,
        extraHeaders: [`Authorization: ${authorization}`],
      }),
    );
    expect(answered.status).toBe(202);
    expect(api.calls.slice(before).map((call) => call.path)).toEqual(['/v1/messages']);
  });
});

describe('wrong passwords, again and again', () => {
  // 3 per AOR and 6 per source within 4 s, so the test sees the window pass; from 127.0.0.3 a
  // trusted proxy. Other loopback addresses are other sources.
  const WINDOW_MS = 4000;
  let guarded: RunningEdge;
  const uas: TestUa[] = [];
  const uaAt = async (host: string) => {
    const at = new TestUa(host);
    await at.start();
    uas.push(at);
    return at;
  };

  beforeAll(async () => {
    guarded = await startEdge({
      ...edgeConfig(),
      trustedProxies: parseTrustedProxies('127.0.0.3'),
      sipAuthThrottle: { aorLimit: 3, sourceLimit: 6, windowMs: WINDOW_MS, maxKeys: 100 },
    });
  });
  afterAll(async () => {
    for (const at of uas) at.close();
    await guarded?.stop();
  });

  it('refuse the AOR from any source, even the right password, with 503 and Retry-After, until the window passes', async () => {
    const counted = vi.spyOn(metrics, 'countBy');
    const attacker = await uaAt('127.0.0.1');
    const owner = await uaAt('127.0.0.2');
    const proxy = await uaAt('127.0.0.3');
    const aor = `sip:${user()}@example.com`;
    const other = `sip:${user()}@example.com`;
    api.passwords.set(aor, 'right-password-1');
    api.passwords.set(other, 'right-password-2');
    const port = guarded.sip.port;

    for (let i = 0; i < 3; i++) {
      expect((await attacker.register(port, aor, 300, { password: `guess-${i}` })).status).toBe(403);
    }
    const right = await attacker.register(port, aor, 300, { password: 'right-password-1' });
    expect(right.status).toBe(503);
    const retryAfter = Number(getHeader(right, 'retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_MS / 1000);
    expect((await owner.register(port, aor, 300, { password: 'right-password-1' })).status).toBe(503);
    expect(counted).toHaveBeenCalledWith('sipAuthThrottled', 'aor');
    // another AOR from another source is not affected; a trusted proxy is never challenged
    expect((await owner.register(port, other, 300, { password: 'right-password-2' })).status).toBe(200);
    expect((await proxy.register(port, aor)).status).toBe(200);

    // once the window has passed, the right password works, and resets the AOR's count
    await waitUntil('the AOR to be let through again', async () => {
      const answer = await owner.register(port, aor, 300, { password: 'right-password-1' });
      return answer.status === 200 ? true : undefined;
    });
    for (let i = 0; i < 2; i++) {
      expect((await owner.register(port, aor, 300, { password: `again-${i}` })).status).toBe(403);
    }
    expect((await owner.register(port, aor, 300, { password: 'right-password-1' })).status).toBe(200);
    expect((await owner.register(port, aor, 300, { password: 'again-x' })).status).toBe(403);
    expect((await owner.register(port, aor, 300, { password: 'right-password-1' })).status).toBe(200);
    counted.mockRestore();
  });

  it('refuse a source that guessed at many AORs, for any AOR, while other sources go on', async () => {
    const counted = vi.spyOn(metrics, 'countBy');
    const sprayer = await uaAt('127.0.0.4');
    const honest = await uaAt('127.0.0.5');
    const port = guarded.sip.port;
    for (let i = 0; i < 6; i++) {
      const aor = `sip:${user()}@example.com`;
      api.passwords.set(aor, `password-${i}`);
      expect((await sprayer.register(port, aor, 300, { password: 'Summer2026!' })).status).toBe(403);
    }
    const mine = `sip:${user()}@example.com`;
    api.passwords.set(mine, 'sprayer-own-password');
    const refused = await sprayer.register(port, mine, 300, { password: 'sprayer-own-password' });
    expect(refused.status).toBe(503);
    expect(Number(getHeader(refused, 'retry-after'))).toBeGreaterThanOrEqual(1);
    expect(counted).toHaveBeenCalledWith('sipAuthThrottled', 'source');
    expect((await honest.register(port, mine, 300, { password: 'sprayer-own-password' })).status).toBe(200);
    counted.mockRestore();
  });
});
