import { describe, expect, it } from 'vitest';
import type { ApiAnswer, ApiClient } from '../../edge/api-client.ts';
import { createRequestHandler, type EdgeOptions } from '../../edge/app.ts';
import type { SipRequest } from '../../edge/sip/message.ts';
import { parseMessage } from '../../edge/sip/parser.ts';
import { sipRequest } from '../support/sip-client.ts';

const source = { transport: 'udp' as const, address: '127.0.0.1', port: 5070 };

function request(body: string): SipRequest {
  const message = parseMessage(sipRequest({ body, extraHeaders: ['Contact: <sip:alice@127.0.0.1:5070>'] }));
  if (message.kind !== 'request') throw new Error('not a request');
  return message;
}

function options(api: Partial<ApiClient>, maxPendingCaptures?: number): EdgeOptions {
  return {
    api: api as ApiClient,
    maxBodyBytes: 65_536,
    retryAfterSeconds: 30,
    registrar: { register: () => ({ status: 200, reason: 'OK' }) },
    publications: { publish: () => ({ status: 200, reason: 'OK' }) },
    messageWaiting: { subscribe: () => ({ status: 200, reason: 'OK' }) },
    ...(maxPendingCaptures !== undefined ? { maxPendingCaptures } : {}),
  };
}

describe('edge MESSAGE handling', () => {
  it('passes arrival time, reply target and the Auto-Submitted mark to the capture API', async () => {
    const posted: unknown[] = [];
    const handle = createRequestHandler(
      options({
        post: async (_path: string, payload: unknown): Promise<ApiAnswer> => {
          posted.push(payload);
          return { status: 202, body: {} };
        },
      }),
    );
    const before = Date.now();
    const reply = await handle(request('hi'), source);
    expect(reply.status).toBe(202);
    // the capture must be answered (or not stored) 2 s before the edge stops waiting (10 s)
    const { deadline } = posted[0] as { deadline: number };
    expect(deadline).toBeGreaterThanOrEqual(before + 8000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 8000);
    expect(posted[0]).toMatchObject({
      replyTo: 'sip:alice@127.0.0.1:5070',
      body: Buffer.from('hi').toString('base64'),
      receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
    });
  });

  it('answers 503 with Retry-After at once when too many captures are in flight', async () => {
    const waiting: Array<(answer: ApiAnswer) => void> = [];
    const api = { post: () => new Promise<ApiAnswer>((resolve) => waiting.push(resolve)) };
    const handle = createRequestHandler(options(api, 1));
    const first = handle(request('first'), source);
    const second = await handle(request('second'), source);
    expect(second.status).toBe(503);
    expect(second.headers).toContainEqual({ name: 'retry-after', value: '30' });
    waiting[0]?.({ status: 202, body: {} });
    expect((await first).status).toBe(202);
    const third = handle(request('third'), source);
    waiting[1]?.({ status: 202, body: {} });
    expect((await third).status).toBe(202);
  });
});
