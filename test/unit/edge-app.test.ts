import { describe, expect, it, vi } from 'vitest';
import type { ApiAnswer, ApiClient } from '../../edge/api-client.ts';
import { createRequestHandler, type EdgeOptions } from '../../edge/app.ts';
import type { ReceivedRequest } from '../../edge/sip/message.ts';
import { sipRequest } from '../support/sip-client.ts';
import { receivedRequestOf } from '../support/sip-request.ts';

const source = { transport: 'udp' as const, address: '127.0.0.1', port: 5070 };

function request(body: string): ReceivedRequest {
  return receivedRequestOf(sipRequest({ body, extraHeaders: ['Contact: <sip:alice@127.0.0.1:5070>'] }));
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
  it('hands MESSAGEs that arrive while a capture is in flight to the API in one batch call, each with its own answer', async () => {
    const calls: Array<{ path: string; payload: unknown; resolve: (answer: ApiAnswer) => void }> = [];
    const api = {
      post: (path: string, payload: unknown) =>
        new Promise<ApiAnswer>((resolve) => calls.push({ path, payload, resolve })),
    };
    const handle = createRequestHandler(options(api));
    const first = handle(request('first'), source);
    // nothing was in flight: the first goes out at once, alone
    expect(calls.map((call) => call.path)).toEqual(['/v1/messages']);
    const burst = ['a', 'b', 'c'].map((body) => handle(request(body), source));
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.map((call) => call.path)).toEqual(['/v1/messages', '/v1/messages/batch']);
    const batch = calls[1]?.payload as { messages: Array<{ body: string }> };
    expect(batch.messages.map((m) => Buffer.from(m.body, 'base64').toString())).toEqual(['a', 'b', 'c']);
    calls[1]?.resolve({
      status: 200,
      body: {
        results: [
          { status: 202, body: {} },
          { status: 429, body: { error: { code: 'quota', message: 'full' } } },
          { status: 202, body: {} },
        ],
      },
    });
    expect((await Promise.all(burst)).map((reply) => reply.status)).toEqual([202, 486, 202]);
    calls[0]?.resolve({ status: 202, body: {} });
    expect((await first).status).toBe(202);
  });

  it('with maxCaptureCalls out, MESSAGEs arriving one by one wait for a call to end and go in one batch', async () => {
    const calls: Array<{ path: string; payload: unknown; resolve: (answer: ApiAnswer) => void }> = [];
    const api = {
      post: (path: string, payload: unknown) =>
        new Promise<ApiAnswer>((resolve) => calls.push({ path, payload, resolve })),
    };
    const handle = createRequestHandler({ ...options(api), maxCaptureCalls: 2 });
    const first = handle(request('first'), source);
    await new Promise((resolve) => setImmediate(resolve));
    const second = handle(request('second'), source);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toHaveLength(2); // two calls out: the limit
    const later: Array<Promise<{ status: number }>> = [];
    for (const body of ['a', 'b', 'c']) {
      later.push(handle(request(body), source));
      await new Promise((resolve) => setImmediate(resolve)); // each in its own turn
    }
    expect(calls).toHaveLength(2);
    calls[0]?.resolve({ status: 202, body: {} });
    expect((await first).status).toBe(202);
    expect(calls.map((call) => call.path)).toEqual(['/v1/messages', '/v1/messages', '/v1/messages/batch']);
    const batch = calls[2]?.payload as { messages: Array<{ body: string }> };
    expect(batch.messages.map((m) => Buffer.from(m.body, 'base64').toString())).toEqual(['a', 'b', 'c']);
    calls[2]?.resolve({ status: 200, body: { results: [0, 1, 2].map(() => ({ status: 202, body: {} })) } });
    expect((await Promise.all(later)).map((reply) => reply.status)).toEqual([202, 202, 202]);
    calls[1]?.resolve({ status: 202, body: {} });
    expect((await second).status).toBe(202);
  });

  it('answers 503 for a MESSAGE whose deadline passed while it waited for a call, without sending it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const calls: Array<{ path: string; resolve: (answer: ApiAnswer) => void }> = [];
      const api = {
        post: (path: string) => new Promise<ApiAnswer>((resolve) => calls.push({ path, resolve })),
      };
      const handle = createRequestHandler({ ...options(api), maxCaptureCalls: 1 });
      const first = handle(request('first'), source);
      await new Promise((resolve) => setImmediate(resolve));
      const waiting = handle(request('waits'), source);
      await new Promise((resolve) => setImmediate(resolve));
      vi.setSystemTime(Date.now() + 20_000); // past its deadline (8 s after it arrived)
      calls[0]?.resolve({ status: 202, body: {} });
      expect((await first).status).toBe(202);
      expect((await waiting).status).toBe(503);
      expect(calls).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends a batch refused as a whole (400) one by one; a failing API answers each 503', async () => {
    const paths: string[] = [];
    let batchStatus = 400;
    let hold: (() => void) | undefined;
    const api = {
      post: async (path: string): Promise<ApiAnswer> => {
        paths.push(path);
        if (path === '/v1/messages/batch') return { status: batchStatus, body: {} };
        if (hold === undefined) await new Promise<void>((resolve) => (hold = resolve));
        return { status: 202, body: {} };
      },
    };
    const handle = createRequestHandler(options(api));
    const first = handle(request('first'), source); // in flight until released
    const replies = await Promise.all(['x', 'y'].map((body) => handle(request(body), source)));
    expect(replies.map((reply) => reply.status)).toEqual([202, 202]);
    expect(paths).toEqual(['/v1/messages', '/v1/messages/batch', '/v1/messages', '/v1/messages']);
    batchStatus = 500;
    const failing = await Promise.all(['p', 'q'].map((body) => handle(request(body), source)));
    expect(failing.map((reply) => reply.status)).toEqual([503, 503]);
    hold?.();
    expect((await first).status).toBe(202);
  });

  it('sheds with 503 at once while the oldest capture in flight has waited past shedAfterMs', async () => {
    const waiting: Array<(answer: ApiAnswer) => void> = [];
    const api = { post: () => new Promise<ApiAnswer>((resolve) => waiting.push(resolve)) };
    const handle = createRequestHandler({ ...options(api, 100), shedAfterMs: 50, maxCaptureBatch: 1 });
    const inFlight = ['1', '2', '3', '4'].map((body) => handle(request(body), source));
    // four in flight but young: the next is taken
    const fifth = handle(request('5'), source);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const started = Date.now();
    const shed = await handle(request('late'), source);
    expect(shed.status).toBe(503);
    expect(shed.headers).toContainEqual({ name: 'retry-after', value: '30' });
    expect(Date.now() - started).toBeLessThan(20);
    for (const resolve of waiting) resolve({ status: 202, body: {} });
    await new Promise((resolve) => setImmediate(resolve));
    for (const resolve of waiting) resolve({ status: 202, body: {} });
    expect((await Promise.all([...inFlight, fifth])).map((reply) => reply.status)).toEqual([
      202, 202, 202, 202, 202,
    ]);
    // the API caught up: taken again
    const after = handle(request('after'), source);
    await new Promise((resolve) => setImmediate(resolve));
    waiting.at(-1)?.({ status: 202, body: {} });
    expect((await after).status).toBe(202);
  });
});
