// The batch capture route (POST /v1/messages/batch) through the local API Gateway against
// DynamoDB Local: one signed call, each MESSAGE captured on its own with its own answer.
import type { Server } from 'node:http';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../functions/adapters/dynamodb/store.ts';
import { createApiGateway } from '../../local/api-gateway.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/stand-ins.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';
import { freePort } from '../support/ports.ts';
import { signedFetch } from '../support/signed.ts';

const secret = 'batch-test-secret-0123456789';
let dynamo: LocalDynamo;
let server: Server;
let baseUrl: string;
let store: DynamoStore;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  Object.assign(process.env, {
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    HOLDOVER_TABLE: dynamo.tableName,
    HOLDOVER_SECRET: secret,
    // never called: every recipient here is offline, so no delivery run is queued
    HOLDOVER_DELIVERY_QUEUE_URL: 'http://127.0.0.1:9/000000000000/unused',
    HOLDOVER_QUOTA: '2',
  });
  const capture = await import('../../functions/capture.ts');
  server = createApiGateway(
    [{ method: 'POST', path: '/v1/messages/batch', handler: capture.batchHandler }],
    () => {},
  );
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${port}`;
  store = new DynamoStore(dynamo.client, dynamo.tableName);
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await dynamo?.stop();
});

// Each a millisecond after the last, as the edge stamps arrivals (strictly increasing).
let arrivals = Date.now();
const message = (to: string, text: string, callId = `batch-${ulid()}`) => ({
  callId,
  cseq: 1,
  from: 'sip:alice@example.com',
  to,
  contentType: 'text/plain;charset=UTF-8',
  body: Buffer.from(text, 'utf8').toString('base64'),
  receivedAt: new Date(++arrivals).toISOString(),
});

const post = (payload: unknown) =>
  signedFetch(secret, 'POST', `${baseUrl}/v1/messages/batch`, JSON.stringify(payload));

describe('POST /v1/messages/batch', () => {
  it('captures each message on its own and answers each as the single route would, in order', async () => {
    const bob = `sip:bob-${ulid().toLowerCase()}@example.com`;
    const first = message(bob, 'one');
    const response = await post({
      messages: [
        first,
        { ...message(bob, 'one again'), callId: first.callId }, // the same Call-ID+CSeq
        message(bob, 'two'),
        message('sip:carol@elsewhere.example.org', 'not served'),
      ],
    });
    expect(response.status).toBe(200);
    const { results } = (await response.json()) as { results: Array<{ status: number; body: unknown }> };
    expect(results.map((result) => result.status)).toEqual([202, 202, 202, 404]);
    // the first two are one message: one held, the other its duplicate with the same id
    const pair = results.slice(0, 2).map((result) => result.body as { status: string; id: string });
    expect(pair.map((answer) => answer.status).sort()).toEqual(['duplicate', 'held']);
    expect(pair[1]?.id).toBe(pair[0]?.id);
    const held = (await store.listHeld(bob)).messages;
    expect(held.map((m) => Buffer.from(m.body).toString('utf8'))).toEqual([
      expect.stringMatching(/^one/),
      'two',
    ]);
    // the quota (2 here): a third message for bob is refused with 429 (the edge says 486)
    const full = await post({ messages: [message(bob, 'three'), message(bob, 'four')] });
    const answers = ((await full.json()) as { results: Array<{ status: number }> }).results;
    expect(answers.map((answer) => answer.status)).toEqual([429, 429]);
    expect((await store.listHeld(bob)).messages).toHaveLength(2);
  });

  it('reads a recipient once for the messages of a batch to them, and still writes and counts each', async () => {
    const { dynamodb } = await import('../../functions/adapters/clients.ts');
    const sent: string[] = [];
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    try {
      const frank = `sip:frank-${ulid().toLowerCase()}@example.com`;
      const gina = `sip:gina-${ulid().toLowerCase()}@example.com`;
      const response = await post({
        messages: [message(frank, '1'), message(gina, '1'), message(frank, '2'), message(frank, '3')],
      });
      const { results } = (await response.json()) as { results: Array<{ status: number }> };
      expect(sent.filter((name) => name === 'BatchGetItemCommand')).toHaveLength(2); // frank, gina
      // each counted after its own write: the quota (2) is never passed. Racing for the last
      // places, all three may see each other and be refused (429, never dropped unanswered);
      // whatever was answered 202 is held, nothing else.
      expect(results[1]?.status).toBe(202);
      const frankHeld = [results[0], results[2], results[3]].filter((result) => result?.status === 202);
      const frankRefused = [results[0], results[2], results[3]].filter((result) => result?.status === 429);
      expect(frankHeld.length + frankRefused.length).toBe(3);
      expect((await store.listHeld(frank)).messages).toHaveLength(frankHeld.length);
      expect(frankHeld.length).toBeLessThanOrEqual(2);
    } finally {
      dynamodb.middlewareStack.remove('recordCommands');
    }
  });

  it('takes the call once: the same signed batch again is refused (nonce), nothing stored twice', async () => {
    const dana = `sip:dana-${ulid().toLowerCase()}@example.com`;
    const body = JSON.stringify({ messages: [message(dana, 'once')] });
    const url = `${baseUrl}/v1/messages/batch`;
    const { signUrl } = await import('../../shared/signature.ts');
    const headers = { 'content-type': 'application/json', ...signUrl(secret, 'POST', new URL(url), body) };
    const first = await fetch(url, { method: 'POST', headers, body });
    expect(first.status).toBe(200);
    const replay = await fetch(url, { method: 'POST', headers, body });
    expect(replay.status).toBe(401);
    expect((await store.listHeld(dana)).messages).toHaveLength(1);
  });

  it('refuses a malformed batch as a whole with 400 (the edge then sends each on its own)', async () => {
    const response = await post({ messages: [message('sip:erin@example.com', 'ok'), { callId: '' }] });
    expect(response.status).toBe(400);
    const empty = await post({ messages: [] });
    expect(empty.status).toBe(400);
  });
});
