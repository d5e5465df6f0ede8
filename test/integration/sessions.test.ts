// Sessions and who may call which route, through the real handlers (as API Gateway invokes them)
// against DynamoDB Local: sign-in with the SIP password, the slow-down (429 + Retry-After), a
// user token on its own and on another user's data, an admin token on operator routes, sign-out,
// expired and tampered tokens, unsigned calls.
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../functions/core/session.ts';
import { signUrl } from '../../shared/signature.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';

const SECRET = 'sessions-test-secret-0123456789';
type Handler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
let dynamo: LocalDynamo;
let routes: Record<string, Handler>;

beforeAll(async () => {
  dynamo = await startLocalDynamo('holdover-sessions-test');
  // The handlers wire their adapters at import, as in Lambda.
  Object.assign(process.env, {
    HOLDOVER_TABLE: dynamo.tableName,
    HOLDOVER_SECRET: SECRET,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    // as the construct sets it when an OIDC issuer is configured (API Gateway checked the token)
    HOLDOVER_OIDC_CLAIM: 'email',
  });
  const [session, me, users, settings, credentials, stats, webConsole] = await Promise.all([
    import('../../functions/session.ts'),
    import('../../functions/me.ts'),
    import('../../functions/users.ts'),
    import('../../functions/settings.ts'),
    import('../../functions/credentials.ts'),
    import('../../functions/stats.ts'),
    import('../../functions/console.ts'),
  ]);
  routes = {
    'POST /v1/session': session.signInHandler,
    'DELETE /v1/session': session.signOutHandler,
    'POST /v1/users/{aor}/token': session.mintHandler,
    'GET /v1/me': me.meHandler,
    'GET /v1/me/messages': me.messagesHandler,
    'GET /v1/me/settings': me.getSettingsHandler,
    'PUT /v1/me/settings': me.putSettingsHandler,
    'GET /v1/users/{aor}/messages': users.heldHandler,
    'GET /v1/users/{aor}/settings': settings.getHandler,
    'PUT /v1/users/{aor}/credentials': credentials.putHandler,
    'GET /v1/users': credentials.listHandler,
    'GET /v1/credentials/{aor}': credentials.getHandler,
    'GET /v1/stats': stats.handler,
    'GET /': webConsole.pageHandler,
  };
});
afterAll(async () => {
  await dynamo?.stop();
});

interface Call {
  token?: string;
  signed?: boolean;
  body?: unknown;
  aor?: string;
  /** The verified claims API Gateway's JWT authorizer would hand over. */
  oidcClaims?: Record<string, unknown>;
}

/** Invokes the handler of `routeKey` as API Gateway would, with a token or a v2 signature. */
async function call(routeKey: string, options: Call = {}) {
  const [method = 'GET', template = '/'] = routeKey.split(' ');
  const path = options.aor ? template.replace('{aor}', options.aor) : template;
  const body = options.body === undefined ? '' : JSON.stringify(options.body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.signed) Object.assign(headers, signUrl(SECRET, method, new URL(`http://local${path}`), body));
  const handler = routes[routeKey];
  if (!handler) throw new Error(`no handler for ${routeKey}`);
  const result = await handler({
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers,
    ...(options.aor ? { pathParameters: { aor: options.aor } } : {}),
    requestContext: {
      http: { method, path },
      ...(options.oidcClaims ? { authorizer: { jwt: { claims: options.oidcClaims, scopes: [] } } } : {}),
    } as APIGatewayProxyEventV2['requestContext'],
    ...(body ? { body } : {}),
    isBase64Encoded: false,
  });
  return {
    status: result.statusCode,
    headers: result.headers ?? {},
    body: result.body ? JSON.parse(result.body.startsWith('<') ? '{}' : result.body) : {},
  };
}

async function person(options: { admin?: boolean } = {}) {
  const aor = `sip:p-${ulid().toLowerCase()}@example.com`;
  const password = `pw-${ulid()}`;
  const set = await call('PUT /v1/users/{aor}/credentials', {
    signed: true,
    aor,
    body: { password, ...(options.admin ? { admin: true } : {}) },
  });
  expect(set.status).toBe(200);
  const signedIn = await call('POST /v1/session', { body: { aor, password } });
  expect(signedIn.status).toBe(200);
  return { aor, password, token: signedIn.body.token as string };
}

describe('POST /v1/session', () => {
  it('gives a token of at most an hour for the right SIP password, with the role', async () => {
    const bob = await person();
    const signedIn = await call('POST /v1/session', { body: { aor: bob.aor, password: bob.password } });
    expect(signedIn.body).toMatchObject({ aor: bob.aor, role: 'user' });
    expect(Date.parse(signedIn.body.expiresAt) - Date.now()).toBeLessThanOrEqual(3600_000);
    const me = await call('GET /v1/me', { token: signedIn.body.token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ aor: bob.aor, role: 'user', held: 0 });
  });

  it('refuses a wrong password with 401, then slows down with 429 and Retry-After', async () => {
    const bob = await person();
    for (let i = 0; i < 5; i++) {
      const wrong = await call('POST /v1/session', { body: { aor: bob.aor, password: 'wrong password' } });
      expect(wrong.status).toBe(401);
      expect(wrong.body.error.message).toMatch(/Wrong address or password/);
    }
    const slowed = await call('POST /v1/session', { body: { aor: bob.aor, password: bob.password } });
    expect(slowed.status).toBe(429);
    expect(Number(slowed.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await call('POST /v1/session', { body: { aor: bob.aor, password: bob.password } })).status).toBe(
      200,
    );
  });

  it('says what is missing in a malformed body', async () => {
    const answer = await call('POST /v1/session', { body: { aor: 'sip:x@example.com' } });
    expect(answer.status).toBe(400);
    expect(answer.body.error.issues).toEqual([expect.objectContaining({ path: 'password' })]);
  });
});

describe('who may call', () => {
  it('a user token reads its own data and changes its own settings, not another user’s (403)', async () => {
    const bob = await person();
    const eve = await person();
    expect((await call('GET /v1/me/messages', { token: bob.token })).body).toEqual({ messages: [] });
    const saved = await call('PUT /v1/me/settings', { token: bob.token, body: { expireAfter: '7d' } });
    expect(saved.status).toBe(200);
    expect((await call('GET /v1/me/settings', { token: bob.token })).body.settings).toEqual({
      expireAfter: '7d',
    });
    expect((await call('GET /v1/users/{aor}/messages', { token: bob.token, aor: bob.aor })).status).toBe(200);
    const foreign = await call('GET /v1/users/{aor}/messages', { token: eve.token, aor: bob.aor });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.message).toMatch(/only that user's data/);
    expect((await call('GET /v1/users/{aor}/settings', { token: eve.token, aor: bob.aor })).status).toBe(403);
  });

  it('a user token on an operator route gets 403; an admin token gets through', async () => {
    const bob = await person();
    const ada = await person({ admin: true });
    expect((await call('GET /v1/stats', { token: bob.token })).status).toBe(403);
    expect((await call('GET /v1/users', { token: bob.token })).status).toBe(403);
    expect((await call('GET /v1/stats', { token: ada.token })).status).toBe(200);
    const listed = await call('GET /v1/users', { token: ada.token });
    expect(listed.status).toBe(200);
    expect(listed.body.users.map((user: { aor: string }) => user.aor)).toContain(bob.aor);
    expect((await call('GET /v1/users/{aor}/messages', { token: ada.token, aor: bob.aor })).status).toBe(200);
    // the edge's read of the hashes stays with signed calls, admin or not
    expect((await call('GET /v1/credentials/{aor}', { token: ada.token, aor: bob.aor })).status).toBe(403);
  });

  it('neither signed nor with a token: 401 saying how to authenticate; the console page is public', async () => {
    const unsigned = await call('GET /v1/stats');
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.error.message).toMatch(/sign in \(POST \/v1\/session\)/);
    expect((await call('GET /v1/me')).status).toBe(401);
    // a public route ignores a token, even a stale one
    const bob = await person();
    const again = await call('POST /v1/session', {
      token: 'stale.token.here',
      body: { aor: bob.aor, password: bob.password },
    });
    expect(again.status).toBe(200);
    const page = await call('GET /', { token: 'stale.token.here' });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
  });

  it('an operator mints a token for scripts; a signed call has no business on /v1/me (403)', async () => {
    const bob = await person();
    const minted = await call('POST /v1/users/{aor}/token', { signed: true, aor: bob.aor });
    expect(minted.status).toBe(200);
    expect((await call('GET /v1/me', { token: minted.body.token })).body.aor).toBe(bob.aor);
    expect((await call('POST /v1/users/{aor}/token', { token: bob.token, aor: bob.aor })).status).toBe(403);
    expect((await call('GET /v1/me', { signed: true })).status).toBe(403);
  });
});

describe('an OIDC issuer (in AWS)', () => {
  it('names the user by the configured claim on their own routes, and reaches nothing else', async () => {
    const olga = `olga-${ulid().toLowerCase()}`;
    const me = await call('GET /v1/me', { oidcClaims: { email: `${olga}@example.com` } });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ aor: `sip:${olga}@example.com`, role: 'user' });
    expect((await call('GET /v1/stats', { oidcClaims: { email: `${olga}@example.com` } })).status).toBe(403);
    expect((await call('GET /v1/me', { oidcClaims: { sub: 'no-email' } })).status).toBe(401);
  });
});

describe('tokens refused', () => {
  it('after sign-out', async () => {
    const bob = await person();
    expect((await call('DELETE /v1/session', { token: bob.token })).body).toEqual({ signedOut: true });
    const after = await call('GET /v1/me', { token: bob.token });
    expect(after.status).toBe(401);
    expect(after.body.error.reason).toBe('revoked');
  });

  it('when expired or tampered with', async () => {
    const bob = await person();
    const old = await mintToken([SECRET], { aor: bob.aor, role: 'user' }, Date.now() - 3601_000);
    const expired = await call('GET /v1/me', { token: old.token });
    expect(expired.status).toBe(401);
    expect(expired.body.error.reason).toBe('expired');
    const [header, payload = '', signature] = bob.token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url');
    const tampered = await call('GET /v1/stats', { token: `${header}.${forged}.${signature}` });
    expect(tampered.status).toBe(401);
    expect(tampered.body.error.reason).toBe('mismatch');
  });
});
