// The API's replay check against DynamoDB Local: a nonce is taken once across every instance
// (each DynamoNonces here stands for one Lambda instance), and again only after its window.
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoNonces } from '../../functions/adapters/dynamodb/nonces.ts';
import { signUrl } from '../../shared/signature.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';

let dynamo: LocalDynamo;
let verifySignedEvent: typeof import('../../functions/adapters/http.ts').verifySignedEvent;
const secret = 'nonce-test-secret-0123456789';

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  // http.ts wires the process-wide store at import, as in Lambda: give it a table name
  process.env.HOLDOVER_TABLE ??= dynamo.tableName;
  ({ verifySignedEvent } = await import('../../functions/adapters/http.ts'));
});
afterAll(async () => {
  await dynamo?.stop();
});

const nonce = () => `n-${Math.random().toString(36).slice(2)}-${Date.now()}`;

describe('DynamoNonces', () => {
  it('claims a nonce once; a second instance sees the first claim', async () => {
    const first = new DynamoNonces(dynamo.client, dynamo.tableName);
    const second = new DynamoNonces(dynamo.client, dynamo.tableName);
    const value = nonce();
    expect(await first.claim(value, Date.now() + 600_000)).toBe(true);
    expect(await second.claim(value, Date.now() + 600_000)).toBe(false);
    expect(await first.claim(value, Date.now() + 600_000)).toBe(false);
  });

  it('of ten concurrent claims of one nonce exactly one wins', async () => {
    const value = nonce();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        new DynamoNonces(dynamo.client, dynamo.tableName).claim(value, Date.now() + 600_000),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('an item past its TTL (not yet deleted by DynamoDB) no longer blocks', async () => {
    let clock = Date.now();
    const nonces = new DynamoNonces(dynamo.client, dynamo.tableName, () => clock);
    const value = nonce();
    expect(await nonces.claim(value, clock + 10_000)).toBe(true);
    clock += 20_000;
    expect(await nonces.claim(value, clock + 10_000)).toBe(true);
  });
});

describe('verifySignedEvent (the API side of every signed route)', () => {
  const eventFor = (method: string, url: URL, headers: Record<string, string>, body: string) =>
    ({
      version: '2.0',
      routeKey: `${method} ${url.pathname}`,
      // API Gateway HTTP API: rawPath percent-decoded, rawQueryString as sent
      rawPath: decodeURIComponent(url.pathname),
      rawQueryString: url.search.slice(1),
      headers,
      requestContext: { http: { method } },
      body,
      isBase64Encoded: false,
    }) as unknown as APIGatewayProxyEventV2;

  it('refuses a replayed PUT on another instance, lets a replayed GET through', async () => {
    const put = new URL('https://api.example/v1/users/sip%3Abob%40example.com/settings');
    const body = '{"email":"bob@example.com"}';
    const headers = signUrl(secret, 'PUT', put, body);
    const instanceA = new DynamoNonces(dynamo.client, dynamo.tableName);
    const instanceB = new DynamoNonces(dynamo.client, dynamo.tableName);
    const event = eventFor('PUT', put, headers, body);
    await expect(verifySignedEvent(event, Buffer.from(body), [secret], instanceA)).resolves.toBeUndefined();
    await expect(verifySignedEvent(event, Buffer.from(body), [secret], instanceB)).rejects.toMatchObject({
      reason: 'nonce_reused',
      status: 401,
    });

    const get = new URL('https://api.example/v1/users/sip%3Abob%40example.com/messages?limit=10');
    const getHeaders = signUrl(secret, 'GET', get, '');
    const read = eventFor('GET', get, getHeaders, '');
    await verifySignedEvent(read, Buffer.alloc(0), [secret], instanceA);
    await expect(verifySignedEvent(read, Buffer.alloc(0), [secret], instanceB)).resolves.toBeUndefined();
  });

  it('verifies with any secret of a rotation list', async () => {
    const nonces = new DynamoNonces(dynamo.client, dynamo.tableName);
    const url = new URL('https://api.example/v1/presence');
    const body = '{}';
    const list = ['new-secret-0123456789', 'old-secret-0123456789'];
    for (const signer of list) {
      const event = eventFor('POST', url, signUrl(signer, 'POST', url, body), body);
      await expect(verifySignedEvent(event, Buffer.from(body), list, nonces)).resolves.toBeUndefined();
    }
    const stranger = eventFor('POST', url, signUrl('third-secret-0123456789', 'POST', url, body), body);
    await expect(verifySignedEvent(stranger, Buffer.from(body), list, nonces)).rejects.toMatchObject({
      reason: 'mismatch',
    });
  });
});
