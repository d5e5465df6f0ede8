// POST /deliver end to end on loopback: the real edge (SIP server, client transactions, HTTP
// server) against a fake API that checks signatures and a fake UA on UDP and TCP that records
// what it receives and answers as each test says.

import { createHmac, randomUUID } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EdgeConfig } from '../../edge/config.ts';
import { type RunningEdge, startEdge } from '../../edge/edge.ts';
import { edgeHttpHandler } from '../../edge/http-server.ts';
import { logger } from '../../edge/log.ts';
import { SipStreamFramer } from '../../edge/sip/framer.ts';
import { getHeader, getHeaders, type SipRequest } from '../../edge/sip/message.ts';
import { parseNameAddr } from '../../edge/sip/name-addr.ts';
import { parseMessage } from '../../edge/sip/parser.ts';
import { buildResponse, serializeResponse } from '../../edge/sip/serialize.ts';
import { parseVia } from '../../edge/sip/via.ts';
import { parseTrustedProxies } from '../../edge/trusted-proxies.ts';
import { signUrl } from '../../shared/signature.ts';
import { targetOfUri } from '../../shared/sip/uri.ts';
import { freePort } from '../support/ports.ts';
import { readSignedRequest } from '../support/signed.ts';
import { sendUdp, sipRequest } from '../support/sip-client.ts';

const HOST = '127.0.0.1';
const SECRET = `test-secret-${randomUUID()}`;

// ---- a fake API: verifies the signature, records calls ----

interface ApiCall {
  method: string;
  path: string;
  body: unknown;
}

class FakeApi {
  readonly calls: ApiCall[] = [];
  private server: HttpServer | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createHttpServer(async (request, response) => {
      const raw = await readSignedRequest(SECRET, request, response);
      if (raw === undefined) return;
      const body: unknown = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
      this.calls.push({ method: request.method ?? '', path: request.url ?? '', body });
      response.writeHead(202, { 'content-type': 'application/json' }).end('{}');
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---- a fake UA on UDP and TCP ----

type Answer = number | 'silent';

interface Received {
  transport: 'udp' | 'tcp';
  request: SipRequest;
  branch: string;
}

class FakeUa {
  /** Every copy received, retransmissions included. */
  readonly received: Received[] = [];
  /** Status to answer the n-th distinct request (0-based) with, or 'silent'. */
  answer: (request: SipRequest, index: number) => Answer = () => 200;
  udpPort = 0;
  tcpPort = 0;
  private udp: UdpSocket | undefined;
  private tcp: TcpServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly answered = new Map<string, Answer>();

  /** Distinct requests (by Via branch), in arrival order. */
  get requests(): SipRequest[] {
    const seen = new Set<string>();
    const distinct: SipRequest[] = [];
    for (const copy of this.received) {
      if (seen.has(copy.branch)) continue;
      seen.add(copy.branch);
      distinct.push(copy.request);
    }
    return distinct;
  }

  reset(): void {
    this.received.length = 0;
    this.answered.clear();
    this.answer = () => 200;
  }

  /** UDP and TCP on one port, like a real UA (a large request for a UDP contact comes over TCP). */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const udp = createSocket('udp4');
      udp.on('message', (datagram, remote) => {
        const reply = this.onBytes(datagram, 'udp');
        if (reply) udp.send(reply, remote.port, remote.address);
      });
      await new Promise<void>((resolve) => udp.bind(0, HOST, resolve));
      const port = udp.address().port;
      const tcp = createTcpServer((socket) => this.adopt(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, HOST, resolve);
        });
      } catch (error) {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        if (attempt >= 5) throw error;
        continue;
      }
      this.udp = udp;
      this.tcp = tcp;
      this.udpPort = port;
      this.tcpPort = port;
      return;
    }
  }

  private adopt(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const framer = new SipStreamFramer({ maxMessageBytes: 1_000_000 });
    socket.on('data', (chunk: Buffer) => {
      for (const item of framer.push(chunk)) {
        if (item.message?.kind !== 'request') continue;
        const reply = this.onRequest(item.message, 'tcp');
        if (reply) socket.write(reply);
      }
    });
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const udp = this.udp;
    const tcp = this.tcp;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }

  private onBytes(bytes: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    const message = parseMessage(bytes);
    return message.kind === 'request' ? this.onRequest(message, transport) : undefined;
  }

  private onRequest(request: SipRequest, transport: 'udp' | 'tcp'): Buffer | undefined {
    const branch = parseVia(getHeaders(request, 'via')[0] ?? '').params.branch ?? '';
    this.received.push({ transport, request, branch });
    let answer = this.answered.get(branch);
    if (answer === undefined) {
      answer = this.answer(request, this.answered.size);
      this.answered.set(branch, answer);
    }
    if (answer === 'silent') return undefined;
    return serializeResponse(buildResponse(request, answer, answer < 300 ? 'OK' : 'Refused'));
  }
}

// ---- the edge under test ----

const api = new FakeApi();
const ua = new FakeUa();
let edge: RunningEdge;
let httpPort = 0;

function edgeConfig(overrides: Partial<EdgeConfig> = {}): EdgeConfig {
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
    // The fake UAs send from 127.0.0.1, trusted as a proxy would be: this suite is about what the
    // edge does with a request, digest authentication has its own (edge-auth.test.ts).
    trustedProxies: parseTrustedProxies('127.0.0.1/32'),
    digestAlgorithms: ['SHA-256', 'MD5'],
    credentialsCacheMs: 30_000,
    ...overrides,
  };
}

function portOf(running: RunningEdge): number {
  const address = running.http.address();
  return typeof address === 'object' && address ? address.port : 0;
}

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  await api.start();
  await ua.start();
  edge = await startEdge(edgeConfig());
  httpPort = portOf(edge);
});

afterAll(async () => {
  await edge?.stop();
  await ua.stop();
  await api.stop();
});

beforeEach(() => {
  ua.reset();
  api.calls.length = 0;
});

// ---- helpers ----

const BODIES = [
  Buffer.from('First: plain ASCII', 'utf8'),
  Buffer.from('Zweite: Grüße, 你好 ✓', 'utf8'),
  Buffer.from([0x44, 0x72, 0x69, 0x74, 0x74, 0x65, 0x3a, 0x20, 0xe9, 0xe8, 0x00, 0xff]), // not UTF-8 at all
];

function batch(target: string | undefined, prefix = randomUUID().slice(0, 8)) {
  return {
    recipient: 'sip:bob@example.com',
    ...(target ? { target } : {}),
    messages: BODIES.map((body, index) => ({
      id: `${prefix}-m${index + 1}`,
      from: `sip:sender${index + 1}@example.com`,
      fromName: `Sender ${index + 1}`,
      to: 'sip:bob@example.com',
      contentType: index === 2 ? 'text/plain;charset=ISO-8859-1' : 'text/plain;charset=UTF-8',
      body: body.toString('base64'),
      date: `2026-11-21T10:0${index}:00.000Z`,
      callId: `${prefix}-m${index + 1}@holdover`,
      ...(index === 1 ? { headers: [{ name: 'Auto-Submitted', value: 'auto-replied' }] } : {}),
    })),
  };
}

interface DeliverAnswer {
  status: number;
  json: {
    outcomes?: Array<{ id: string; status: number; reason: string }>;
    error?: { message: string; reason?: string };
  };
}

async function postDeliver(
  payload: unknown,
  headers?: Record<string, string>,
  port = httpPort,
): Promise<DeliverAnswer> {
  const body = JSON.stringify(payload);
  const url = new URL(`http://${HOST}:${port}/deliver`);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(headers ?? signUrl(SECRET, 'POST', url, body)) },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  if (response.status !== 200)
    return { status: response.status, json: JSON.parse(text) as DeliverAnswer['json'] };
  // 200 streams one JSON line per outcome, then {"done":true}
  const lines = text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(lines.at(-1)).toEqual({ done: true });
  return {
    status: 200,
    json: { outcomes: lines.slice(0, -1) as NonNullable<DeliverAnswer['json']['outcomes']> },
  };
}

function expectDelivered(requests: SipRequest[], sent: ReturnType<typeof batch>, requestUri: string): void {
  expect(requests).toHaveLength(3);
  requests.forEach((request, index) => {
    const message = sent.messages[index];
    if (!message) throw new Error('missing message');
    expect(request.method).toBe('MESSAGE');
    expect(request.uri).toBe(requestUri);
    const from = parseNameAddr(getHeader(request, 'from') ?? '');
    expect(from.uri).toBe(message.from);
    expect(from.displayName).toBe(message.fromName);
    expect(from.params.tag).toMatch(/^[0-9a-f]{16}$/);
    expect(getHeader(request, 'to')).toBe('<sip:bob@example.com>');
    expect(getHeader(request, 'call-id')).toBe(message.callId);
    expect(getHeader(request, 'cseq')).toBe('1 MESSAGE');
    expect(getHeader(request, 'date')).toBe(new Date(message.date).toUTCString());
    expect(getHeader(request, 'content-type')).toBe(message.contentType);
    expect(request.body.equals(BODIES[index] ?? Buffer.alloc(1))).toBe(true);
    expect(getHeader(request, 'x-holdover-delivery')).toBe(message.id);
  });
  expect(getHeader(requests[1] as SipRequest, 'auto-submitted')).toBe('auto-replied');
}

// ---- tests ----

describe('POST /deliver over UDP and TCP', () => {
  it('delivers 3 messages in order over UDP, with From, Date, Call-ID and exact bodies', async () => {
    const target = `sip:bob@${HOST}:${ua.udpPort}`;
    const sent = batch(target);
    const answer = await postDeliver(sent);
    expect(answer.status).toBe(200);
    expect(answer.json.outcomes).toEqual(sent.messages.map((m) => ({ id: m.id, status: 200, reason: 'OK' })));
    expectDelivered(ua.requests, sent, target);
    expect(ua.received.every((copy) => copy.transport === 'udp')).toBe(true);
    const via = parseVia(getHeaders(ua.requests[0] as SipRequest, 'via')[0] ?? '');
    expect(via).toMatchObject({ transport: 'UDP', host: HOST, port: edge.sip.port });
    expect(via.params.branch).toMatch(/^z9hG4bK/);
    expect(via.params).toHaveProperty('rport');
  });

  it('delivers 3 messages in order over TCP', async () => {
    const target = `sip:bob@${HOST}:${ua.tcpPort};transport=tcp`;
    const sent = batch(target);
    const answer = await postDeliver(sent);
    expect(answer.status).toBe(200);
    expect(answer.json.outcomes?.map((o) => o.status)).toEqual([200, 200, 200]);
    expectDelivered(ua.requests, sent, target);
    expect(ua.received).toHaveLength(3); // no retransmissions over TCP
    expect(ua.received.every((copy) => copy.transport === 'tcp')).toBe(true);
  });

  it('a tel: sender between two SIP ones: all 3 delivered in order, the tel: one From sip:…;user=phone', async () => {
    const sent = batch(`sip:bob@${HOST}:${ua.udpPort}`);
    const middle = sent.messages[1];
    if (!middle) throw new Error('missing message');
    middle.from = 'tel:+15551234';
    const answer = await postDeliver(sent);
    expect(answer.json.outcomes?.map((o) => o.status)).toEqual([200, 200, 200]);
    expect(ua.requests.map((r) => getHeader(r, 'call-id'))).toEqual(sent.messages.map((m) => m.callId));
    expect(parseNameAddr(getHeader(ua.requests[1] as SipRequest, 'from') ?? '').uri).toBe(
      'sip:+15551234@example.com;user=phone',
    );
  });

  it('the UA answering 480 to the 2nd: outcomes [200, 480] and the 3rd is not sent', async () => {
    ua.answer = (_, index) => (index === 1 ? 480 : 200);
    const sent = batch(`sip:bob@${HOST}:${ua.tcpPort};transport=tcp`);
    const answer = await postDeliver(sent);
    expect(answer.json.outcomes).toEqual([
      { id: sent.messages[0]?.id, status: 200, reason: 'OK' },
      { id: sent.messages[1]?.id, status: 480, reason: 'Refused' },
    ]);
    expect(ua.requests.map((r) => getHeader(r, 'call-id'))).toEqual(
      sent.messages.slice(0, 2).map((m) => m.callId),
    );
  });

  it('a permanent 404 on the 1st is reported and delivery continues', async () => {
    ua.answer = (_, index) => (index === 0 ? 404 : 200);
    const answer = await postDeliver(batch(`sip:bob@${HOST}:${ua.udpPort}`));
    expect(answer.json.outcomes?.map((o) => o.status)).toEqual([404, 200, 200]);
  });

  it('a UA that never answers (UDP): retransmitted, then 408 at DELIVERY_TIMEOUT (2s); the rest not sent', async () => {
    ua.answer = () => 'silent';
    const sent = batch(`sip:bob@${HOST}:${ua.udpPort}`);
    const answer = await postDeliver(sent);
    expect(answer.json.outcomes).toEqual([
      { id: sent.messages[0]?.id, status: 408, reason: 'Request Timeout' },
    ]);
    expect(ua.requests).toHaveLength(1);
    // sent at 0, T1 = 500 ms and 1500 ms before Timer F fired at 2 s
    expect(ua.received.length).toBeGreaterThanOrEqual(3);
    expect(new Set(ua.received.map((copy) => copy.branch)).size).toBe(1);
  });

  it('a message too large for a datagram, for a UDP contact, goes over TCP with its bytes intact', async () => {
    const large = Buffer.alloc(60_000);
    for (let i = 0; i < large.length; i++) large[i] = (i * 7) % 256;
    const target = `sip:bob@${HOST}:${ua.udpPort}`;
    const sent = batch(target);
    const first = sent.messages[0];
    if (!first) throw new Error('missing message');
    first.body = large.toString('base64');
    const answer = await postDeliver({ ...sent, messages: [first] });
    expect(answer.json.outcomes?.map((o) => o.status)).toEqual([200]);
    expect(ua.received.map((copy) => copy.transport)).toEqual(['tcp']);
    expect(ua.requests[0]?.body.equals(large)).toBe(true);
  });

  it('a TCP target nobody listens on → 480 (transport failure), the rest not sent', async () => {
    const closed = await freePort();
    const sent = batch(`sip:bob@${HOST}:${closed};transport=tcp`);
    const answer = await postDeliver(sent);
    expect(answer.json.outcomes).toEqual([
      { id: sent.messages[0]?.id, status: 480, reason: 'Temporarily Unavailable (transport failure)' },
    ]);
  });
});

describe('POST /deliver refusals', () => {
  const valid = () => batch(`sip:bob@${HOST}:${ua.udpPort}`);

  it('unsigned → 401, and nothing is sent', async () => {
    const answer = await postDeliver(valid(), {});
    expect(answer.status).toBe(401);
    expect(ua.received).toHaveLength(0);
  });

  const deliverUrl = () => new URL(`http://${HOST}:${httpPort}/deliver`);

  it('signed with another secret, or too long ago → 401 naming the fault, and nothing is sent', async () => {
    const payload = valid();
    const body = JSON.stringify(payload);
    const forged = await postDeliver(payload, signUrl('not-the-secret-0123', 'POST', deliverUrl(), body));
    expect(forged.status).toBe(401);
    expect(forged.json.error).toMatchObject({ reason: 'mismatch' });
    const stale = await postDeliver(
      payload,
      signUrl(SECRET, 'POST', deliverUrl(), body, Date.now() - 10 * 60_000),
    );
    expect(stale.status).toBe(401);
    expect(stale.json.error).toMatchObject({ reason: 'clock_skew' });
    expect(ua.received).toHaveLength(0);
  });

  it('signature v1 → 401: v1 is no longer accepted', async () => {
    const payload = valid();
    const body = JSON.stringify(payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const v1 = `v1=${createHmac('sha256', SECRET).update(`${timestamp}.`).update(body).digest('hex')}`;
    const answer = await postDeliver(payload, {
      'x-holdover-timestamp': timestamp,
      'x-holdover-signature': v1,
    });
    expect(answer.status).toBe(401);
    expect(answer.json.error).toMatchObject({ reason: 'unsupported_version' });
    expect(ua.received).toHaveLength(0);
  });

  it('a signature made for another path or query → 401 (mismatch)', async () => {
    const payload = valid();
    const body = JSON.stringify(payload);
    const elsewhere = signUrl(SECRET, 'POST', new URL(`http://${HOST}:${httpPort}/v1/messages`), body);
    expect((await postDeliver(payload, elsewhere)).json.error).toMatchObject({ reason: 'mismatch' });
    const withQuery = signUrl(SECRET, 'POST', new URL(`http://${HOST}:${httpPort}/deliver?x=1`), body);
    expect((await postDeliver(payload, withQuery)).json.error).toMatchObject({ reason: 'mismatch' });
    expect(ua.received).toHaveLength(0);
  });

  it('the same signed /deliver twice → delivered once, the replay gets 401 (nonce_reused)', async () => {
    const payload = valid();
    const body = JSON.stringify(payload);
    const headers = signUrl(SECRET, 'POST', deliverUrl(), body);
    const first = await postDeliver(payload, headers);
    expect(first.status).toBe(200);
    const replay = await postDeliver(payload, headers);
    expect(replay.status).toBe(401);
    expect(replay.json.error).toMatchObject({ reason: 'nonce_reused' });
    expect(ua.requests).toHaveLength(payload.messages.length);
  });

  it('a message the edge cannot send gets its own outcome (606, with the reason) and the batch goes on', async () => {
    const sent = valid();
    const second = sent.messages[1];
    if (!second) throw new Error('missing message');
    const payload = {
      ...sent,
      messages: [sent.messages[0], { ...second, body: 'not base64!', date: 'soon' }, sent.messages[2]],
    };
    const answer = await postDeliver(payload);
    expect(answer.status).toBe(200);
    expect(answer.json.outcomes?.map((o) => o.status)).toEqual([200, 606, 200]);
    expect(answer.json.outcomes?.[1]?.reason).toMatch(/body: must be base64.*date/);
    expect(ua.requests.map((r) => getHeader(r, 'call-id'))).toEqual([
      sent.messages[0]?.callId,
      sent.messages[2]?.callId,
    ]);
  });

  it('a batch whose message has no id → 400 with a clear message', async () => {
    const { id: _, ...noId } = valid().messages[0] ?? {};
    const answer = await postDeliver({ ...valid(), messages: [noId] });
    expect(answer.status).toBe(400);
    expect(answer.json.error?.message).toMatch(/messages\.0\.id/);
  });

  it('not JSON → 400', async () => {
    const body = '{not json';
    const url = new URL(`http://${HOST}:${httpPort}/deliver`);
    const response = await fetch(url, {
      method: 'POST',
      headers: signUrl(SECRET, 'POST', url, body),
      body,
    });
    expect(response.status).toBe(400);
  });

  it('no target and no OUTBOUND_PROXY → 400', async () => {
    const { target: _, ...noTarget } = valid();
    const answer = await postDeliver(noTarget);
    expect(answer.status).toBe(400);
    expect(answer.json.error?.message).toMatch(/target is required/);
  });

  it('GET /health → 200; unknown path → 404', async () => {
    expect((await fetch(`http://${HOST}:${httpPort}/health`)).status).toBe(200);
    expect((await fetch(`http://${HOST}:${httpPort}/nope`)).status).toBe(404);
  });
});

describe('behind an OUTBOUND_PROXY', () => {
  let proxied: RunningEdge | undefined;
  afterAll(async () => {
    await proxied?.stop();
  });

  it('every MESSAGE goes to the proxy with the AOR as Request-URI, target or not', async () => {
    const proxyUri = `sip:${HOST}:${ua.tcpPort};transport=tcp`;
    proxied = await startEdge(
      edgeConfig({ outboundProxy: { uri: proxyUri, target: targetOfUri(proxyUri) } }),
    );
    const sent = batch(undefined);
    const answer = await postDeliver(sent, undefined, portOf(proxied));
    expect(answer.status).toBe(200);
    expectDelivered(ua.requests, sent, 'sip:bob@example.com');
    expect(ua.received.every((copy) => copy.transport === 'tcp')).toBe(true);
  });
});

describe('a delivered MESSAGE routed back to the edge', () => {
  it('is answered 480, not captured (no delivery loop through a proxy failure route)', async () => {
    const response = await sendUdp(
      edge.sip.port,
      sipRequest({ extraHeaders: ['X-Holdover-Delivery: 01JLOOP'] }),
    );
    expect(response.status).toBe(480);
    expect(api.calls.filter((call) => call.path === '/v1/messages')).toHaveLength(0);
  });
});

describe('POST /deliver with a rotation list (HOLDOVER_SECRET="new,old")', () => {
  it('accepts a call signed with either secret, refuses a third', async () => {
    const delivered: string[] = [];
    const server = createHttpServer(
      edgeHttpHandler({
        secret: 'new-secret-0123456789,old-secret-0123456789',
        maxBodyBytes: 65_536,
        deliver: async (request, onOutcome) => {
          delivered.push(request.recipient);
          const outcomes = request.messages.map((message) => ({ id: message.id, status: 200, reason: 'OK' }));
          for (const outcome of outcomes) onOutcome(outcome);
          return outcomes;
        },
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const payload = batch(`sip:bob@${HOST}:5999`);
      const body = JSON.stringify(payload);
      const url = new URL(`http://${HOST}:${port}/deliver`);
      expect(
        (await postDeliver(payload, signUrl('new-secret-0123456789', 'POST', url, body), port)).status,
      ).toBe(200);
      expect(
        (await postDeliver(payload, signUrl('old-secret-0123456789', 'POST', url, body), port)).status,
      ).toBe(200);
      const third = await postDeliver(payload, signUrl('another-secret-0123456789', 'POST', url, body), port);
      expect(third.status).toBe(401);
      expect(third.json.error).toMatchObject({ reason: 'mismatch' });
      expect(delivered).toHaveLength(2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
