// REGISTER, PUBLISH and SUBSCRIBE/NOTIFY end to end on loopback: the real edge against a fake
// API (checks signatures, records presence reports, serves message counts) and a fake UA on UDP
// that sends requests, reads the answers and answers the NOTIFYs it gets.

import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EdgeConfig } from '../../edge/config.ts';
import { type RunningEdge, startEdge } from '../../edge/edge.ts';
import { logger } from '../../edge/log.ts';
import { getHeader, getHeaders, type SipRequest, type SipResponse } from '../../edge/sip/message.ts';
import { parseNameAddr } from '../../edge/sip/name-addr.ts';
import { parseMessage } from '../../edge/sip/parser.ts';
import { buildResponse, serializeResponse } from '../../edge/sip/serialize.ts';
import { parseTrustedProxies } from '../../edge/trusted-proxies.ts';
import { signUrl } from '../../shared/signature.ts';
import { freePort } from '../support/ports.ts';
import { readSignedRequest } from '../support/signed.ts';

const HOST = '127.0.0.1';
const SECRET = `test-secret-${randomUUID()}`;
const WAIT_MS = 5000;

// ---- a fake API ----

interface ApiCall {
  method: string;
  path: string;
  body: unknown;
}

class FakeApi {
  readonly calls: ApiCall[] = [];
  /** Messages held per AOR, as GET /v1/users/{aor}/summary reports them. */
  readonly waiting = new Map<string, number>();
  /** When false, /v1/presence answers 503 (the API is failing). */
  presenceUp = true;
  port = 0;
  private server: HttpServer | undefined;

  async start(): Promise<void> {
    this.server = createHttpServer(async (request, response) => {
      const raw = await readSignedRequest(SECRET, request, response);
      if (raw === undefined) return;
      const path = request.url ?? '';
      const body: unknown = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
      this.calls.push({ method: request.method ?? '', path, body });
      const json = (status: number, value: unknown) =>
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      const summary = /^\/v1\/users\/([^/]+)\/summary$/.exec(path);
      if (request.method === 'GET' && summary?.[1]) {
        const aor = decodeURIComponent(summary[1]);
        json(200, { aor, waiting: this.waiting.get(aor) ?? 0 });
      } else if (path === '/v1/presence') {
        json(this.presenceUp ? 200 : 503, {});
      } else if (path === '/v1/messages') {
        const to = (body as { to: string }).to.replace(/^<|>$/g, '');
        this.waiting.set(to, (this.waiting.get(to) ?? 0) + 1);
        json(202, { id: randomUUID() });
      } else {
        json(404, {});
      }
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  presenceReports(aor: string): Array<Record<string, unknown>> {
    return this.calls
      .filter((call) => call.path === '/v1/presence' && (call.body as { aor: string }).aor === aor)
      .map((call) => call.body as Record<string, unknown>);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---- a fake UA on UDP ----

class FakeUa {
  readonly notifies: SipRequest[] = [];
  port = 0;
  private socket: UdpSocket | undefined;
  private readonly waiters = new Map<string, (response: SipResponse) => void>();
  private edgePort = 0;

  async start(edgePort: number): Promise<void> {
    this.edgePort = edgePort;
    const socket = createSocket('udp4');
    this.socket = socket;
    socket.on('message', (datagram, remote) => {
      const message = parseMessage(datagram);
      if (message.kind === 'response') {
        if (message.status < 200) return;
        const key = `${getHeader(message, 'call-id')} ${getHeader(message, 'cseq')}`;
        this.waiters.get(key)?.(message);
        this.waiters.delete(key);
        return;
      }
      if (message.method === 'NOTIFY') {
        if (!this.notifies.some((n) => getHeaders(n, 'via')[0] === getHeaders(message, 'via')[0])) {
          this.notifies.push(message);
        }
      }
      // NOTIFYs and delivered MESSAGEs alike are accepted
      socket.send(serializeResponse(buildResponse(message, 200, 'OK')), remote.port, remote.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
    this.port = socket.address().port;
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  get contact(): string {
    return `sip:bob@${HOST}:${this.port}`;
  }

  /** Sends a request to the edge (or another one) and resolves with its final response. */
  send(lines: string[], body = '', edgePort = this.edgePort): Promise<SipResponse> {
    const text = `${[...lines, `Content-Length: ${Buffer.byteLength(body)}`].join('\r\n')}\r\n\r\n${body}`;
    const request = parseMessage(Buffer.from(text));
    const key = `${getHeader(request, 'call-id')} ${getHeader(request, 'cseq')}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${key}`)), WAIT_MS);
      this.waiters.set(key, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      this.socket?.send(Buffer.from(text), edgePort, HOST);
    });
  }
}

function headersFor(
  method: string,
  aor: string,
  options: { callId?: string; cseq?: number; toTag?: string } = {},
) {
  return [
    `${method} ${aor} SIP/2.0`,
    `Via: SIP/2.0/UDP ${HOST}:${ua.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <${aor}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <${aor}>${options.toTag ? `;tag=${options.toTag}` : ''}`,
    `Call-ID: ${options.callId ?? randomUUID()}`,
    `CSeq: ${options.cseq ?? 1} ${method}`,
  ];
}

async function waitFor<T>(read: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---- the edge under test ----

const api = new FakeApi();
const ua = new FakeUa();
let edge: RunningEdge;

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
    // long enough that a NOTIFY in a test comes from the trigger under test, not the poll
    mwiPollIntervalMs: 60_000,
    // short lifetimes let a binding lapse within a test
    minExpiresSeconds: 1,
    domains: ['example.com'],
    // The fake UAs send from 127.0.0.1, trusted as a proxy would be: this suite is about what the
    // edge does with a request, digest authentication has its own (edge-auth.test.ts).
    trustedProxies: parseTrustedProxies('127.0.0.1/32'),
    digestAlgorithms: ['SHA-256', 'MD5'],
    credentialsCacheMs: 30_000,
    ...overrides,
  };
}

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  await api.start();
  edge = await startEdge(edgeConfig());
  await ua.start(edge.sip.port);
});

afterAll(async () => {
  await edge?.stop();
  await ua.stop();
  await api.stop();
});

beforeEach(() => {
  ua.notifies.length = 0;
  api.presenceUp = true;
});

/** A fresh AOR per test, so reports of one test never satisfy another. */
function freshAor(): string {
  return `sip:u${randomBytes(4).toString('hex')}@example.com`;
}

// ---- REGISTER ----

describe('REGISTER', () => {
  it('→ 200 echoing the Contact with expires and a Date; online is posted with the contact', async () => {
    const aor = freshAor();
    const response = await ua.send([
      ...headersFor('REGISTER', aor),
      `Contact: <${ua.contact}>`,
      'Expires: 600',
    ]);
    expect(response.status).toBe(200);
    expect(getHeaders(response, 'contact')).toEqual([`<${ua.contact}>;expires=600`]);
    expect(getHeader(response, 'date')).toMatch(/GMT$/);
    const report = await waitFor(() => api.presenceReports(aor)[0], 'online report');
    expect(report).toEqual({ aor, state: 'online', contact: ua.contact, expires: 600, source: 'register' });
  });

  it('Expires: 0 → offline is posted', async () => {
    const aor = freshAor();
    await ua.send([...headersFor('REGISTER', aor), `Contact: <${ua.contact}>`]);
    const response = await ua.send([
      ...headersFor('REGISTER', aor),
      `Contact: <${ua.contact}>`,
      'Expires: 0',
    ]);
    expect(response.status).toBe(200);
    const reports = await waitFor(() => {
      const all = api.presenceReports(aor);
      return all.length >= 2 ? all : undefined;
    }, 'offline report');
    expect(reports.map((report) => report.state)).toEqual(['online', 'offline']);
    expect(reports[1]).toEqual({ aor, state: 'offline', source: 'register' });
  });

  it('a binding with a short expiry lapses → offline is posted', async () => {
    const aor = freshAor();
    await ua.send([...headersFor('REGISTER', aor), `Contact: <${ua.contact}>;expires=1`]);
    const offline = await waitFor(
      () => api.presenceReports(aor).find((report) => report.state === 'offline'),
      'lapse to offline',
    );
    expect(offline).toEqual({ aor, state: 'offline', source: 'register' });
  });

  it('a domain not served → 404; the API is not called', async () => {
    const aor = 'sip:eve@elsewhere.org';
    const response = await ua.send([...headersFor('REGISTER', aor), `Contact: <${ua.contact}>`]);
    expect(response.status).toBe(404);
    expect(api.presenceReports(aor)).toEqual([]);
  });

  it('the API failing does not fail the registration', async () => {
    api.presenceUp = false;
    const aor = freshAor();
    const response = await ua.send([...headersFor('REGISTER', aor), `Contact: <${ua.contact}>`]);
    expect(response.status).toBe(200);
    await waitFor(() => api.presenceReports(aor)[0], 'the attempted report');
  });

  it('OPTIONS lists the methods now handled', async () => {
    const response = await ua.send(headersFor('OPTIONS', 'sip:bob@example.com'));
    expect(getHeader(response, 'allow')).toBe('MESSAGE, OPTIONS, REGISTER, PUBLISH, SUBSCRIBE');
  });
});

// ---- PUBLISH ----

function pidf(aor: string, basic: 'open' | 'closed', activity?: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"
  xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="${aor}">
  <tuple id="t1"><status><basic>${basic}</basic></status></tuple>
  ${activity ? `<dm:person id="p1"><rpid:activities><rpid:${activity}/></rpid:activities></dm:person>` : ''}
</presence>`;
}

function publish(aor: string, body: string, extra: string[] = []): Promise<SipResponse> {
  return ua.send(
    [
      ...headersFor('PUBLISH', aor),
      'Event: presence',
      ...extra,
      ...(body ? ['Content-Type: application/pidf+xml'] : []),
    ],
    body,
  );
}

describe('PUBLISH presence', () => {
  it('busy, closed and open → busy, offline, online; each answered with a new SIP-ETag', async () => {
    const aor = freshAor();
    const busy = await publish(aor, pidf(aor, 'open', 'busy'), ['Expires: 600']);
    expect(busy.status).toBe(200);
    expect(getHeader(busy, 'expires')).toBe('600');
    const firstTag = getHeader(busy, 'sip-etag') ?? '';
    expect(firstTag).not.toBe('');
    const closed = await publish(aor, pidf(aor, 'closed'), [`SIP-If-Match: ${firstTag}`]);
    const secondTag = getHeader(closed, 'sip-etag') ?? '';
    expect(secondTag).not.toBe(firstTag);
    await publish(aor, pidf(aor, 'open'), [`SIP-If-Match: ${secondTag}`]);
    const reports = await waitFor(() => {
      const all = api.presenceReports(aor);
      return all.length >= 3 ? all : undefined;
    }, 'three publish reports');
    expect(reports).toEqual([
      { aor, state: 'busy', source: 'publish' },
      { aor, state: 'offline', source: 'publish' },
      { aor, state: 'online', source: 'publish' },
    ]);
  });

  it('a refresh by ETag keeps the state; a stale or unknown ETag → 412', async () => {
    const aor = freshAor();
    const first = await publish(aor, pidf(aor, 'open', 'away'));
    const etag = getHeader(first, 'sip-etag') ?? '';
    const refresh = await publish(aor, '', [`SIP-If-Match: ${etag}`, 'Expires: 600']);
    expect(refresh.status).toBe(200);
    expect(getHeader(refresh, 'sip-etag')).not.toBe(etag);
    expect((await publish(aor, '', [`SIP-If-Match: ${etag}`])).status).toBe(412);
    expect((await publish(aor, '', ['SIP-If-Match: never-issued'])).status).toBe(412);
    await waitFor(() => api.presenceReports(aor)[0], 'the away report');
    expect(api.presenceReports(aor)).toEqual([{ aor, state: 'away', source: 'publish' }]);
  });

  it('Expires: 0 removes the publication: back to online while registered', async () => {
    const aor = freshAor();
    await ua.send([...headersFor('REGISTER', aor), `Contact: <${ua.contact}>`]);
    const dnd = await publish(aor, pidf(aor, 'open', 'do-not-disturb'));
    await publish(aor, '', [`SIP-If-Match: ${getHeader(dnd, 'sip-etag')}`, 'Expires: 0']);
    const reports = await waitFor(() => {
      const all = api.presenceReports(aor);
      return all.length >= 3 ? all : undefined;
    }, 'removal report');
    expect(reports.map((report) => `${report.source}:${report.state}`)).toEqual([
      'register:online',
      'publish:dnd',
      'publish:online',
    ]);
  });

  it('another event → 489; malformed PIDF → 400 with a Warning', async () => {
    const aor = freshAor();
    const wrongEvent = await ua.send(
      [...headersFor('PUBLISH', aor), 'Event: dialog', 'Content-Type: application/pidf+xml'],
      pidf(aor, 'open'),
    );
    expect(wrongEvent.status).toBe(489);
    const malformed = await publish(aor, '<presence><tuple>');
    expect(malformed.status).toBe(400);
    expect(getHeader(malformed, 'warning')).toMatch(/^399 holdover "Malformed presence document/);
  });
});

// ---- SUBSCRIBE message-summary ----

interface SubscribeOptions {
  expires?: number;
  callId?: string;
  cseq?: number;
  toTag?: string;
  fromTag?: string;
  /** The SIP port of the edge to subscribe at (default: the shared one). */
  edgePort?: number;
}

function subscribe(aor: string, options: SubscribeOptions = {}) {
  const lines = headersFor('SUBSCRIBE', aor, options);
  if (options.fromTag) lines[3] = `From: <${aor}>;tag=${options.fromTag}`;
  return ua.send(
    [
      ...lines,
      `Contact: <${ua.contact}>`,
      'Event: message-summary',
      'Accept: application/simple-message-summary',
      ...(options.expires === undefined ? [] : [`Expires: ${options.expires}`]),
    ],
    '',
    options.edgePort,
  );
}

const textMessage = (notify: SipRequest) => /Text-Message: (\d+)\/0/.exec(notify.body.toString())?.[1];

describe('SUBSCRIBE message-summary', () => {
  let polling: RunningEdge | undefined;
  afterAll(async () => {
    await polling?.stop();
  });

  it('→ 200, then a NOTIFY with the count; a change (seen by the poll) → a second NOTIFY; Expires 0 → terminated', async () => {
    polling = await startEdge(edgeConfig({ mwiPollIntervalMs: 300 }));
    const edgePort = polling.sip.port;
    const aor = freshAor();
    api.waiting.set(aor, 2);
    const callId = randomUUID();
    const fromTag = randomBytes(4).toString('hex');
    const ok = await subscribe(aor, { expires: 600, callId, fromTag, edgePort });
    expect(ok.status).toBe(200);
    expect(getHeader(ok, 'expires')).toBe('600');
    const toTag = parseNameAddr(getHeader(ok, 'to') ?? '').params.tag ?? '';
    expect(toTag).not.toBe('');

    const first = await waitFor(() => ua.notifies[0], 'the first NOTIFY');
    expect(first.uri).toBe(ua.contact);
    expect(getHeader(first, 'call-id')).toBe(callId);
    expect(parseNameAddr(getHeader(first, 'from') ?? '')).toMatchObject({ uri: aor, params: { tag: toTag } });
    expect(parseNameAddr(getHeader(first, 'to') ?? '').params.tag).toBe(fromTag);
    expect(getHeader(first, 'event')).toBe('message-summary');
    expect(getHeader(first, 'subscription-state')).toMatch(/^active;expires=(600|599)$/);
    expect(getHeader(first, 'content-type')).toBe('application/simple-message-summary');
    expect(first.body.toString()).toBe(
      `Messages-Waiting: yes\r\nMessage-Account: ${aor}\r\nText-Message: 2/0\r\n`,
    );

    // a change made elsewhere (expiry to email): the poll notices it
    api.waiting.set(aor, 0);
    const second = await waitFor(() => ua.notifies[1], 'the NOTIFY after the change');
    expect(textMessage(second)).toBe('0');
    expect(second.body.toString()).toContain('Messages-Waiting: no');
    expect(getHeader(second, 'cseq')).toBe('2 NOTIFY');

    const end = await subscribe(aor, { expires: 0, callId, fromTag, toTag, cseq: 2, edgePort });
    expect(end.status).toBe(200);
    const last = await waitFor(
      () => ua.notifies.find((n) => getHeader(n, 'subscription-state')?.startsWith('terminated')),
      'the terminating NOTIFY',
    );
    expect(getHeader(last, 'subscription-state')).toBe('terminated;reason=timeout');
    expect(getHeader(last, 'cseq')).toBe('3 NOTIFY');
  });

  it('a MESSAGE the API accepted for a subscribed user → a NOTIFY with the new count', async () => {
    const aor = freshAor();
    api.waiting.set(aor, 1);
    await subscribe(aor, { expires: 600 });
    await waitFor(() => ua.notifies[0], 'the first NOTIFY');
    const message = await ua.send(
      [...headersFor('MESSAGE', aor), 'Content-Type: text/plain'],
      'are you there?',
    );
    expect(message.status).toBe(202);
    const second = await waitFor(() => ua.notifies[1], 'the NOTIFY after the MESSAGE');
    expect(textMessage(second)).toBe('2');
  });

  it('a signed /deliver for a subscribed user re-reads the count', async () => {
    const aor = freshAor();
    api.waiting.set(aor, 3);
    await subscribe(aor, { expires: 600 });
    await waitFor(() => ua.notifies[0], 'the first NOTIFY');
    api.waiting.set(aor, 0); // the API removed what was delivered
    const address = edge.http.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const body = JSON.stringify({
      recipient: aor,
      target: ua.contact,
      messages: [
        {
          id: 'd1',
          from: 'sip:alice@example.com',
          to: aor,
          contentType: 'text/plain',
          body: Buffer.from('hi').toString('base64'),
          date: new Date().toISOString(),
          callId: 'd1@holdover',
        },
      ],
    });
    const url = new URL(`http://${HOST}:${port}/deliver`);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signUrl(SECRET, 'POST', url, body) },
      body,
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"id":"d1","status":200,"reason":"OK"}\n{"done":true}\n');
    const second = await waitFor(() => ua.notifies[1], 'the NOTIFY after the delivery');
    expect(textMessage(second)).toBe('0');
  });

  it('another event → 489 with Allow-Events; an unknown dialog → 481', async () => {
    const aor = freshAor();
    const wrong = await ua.send([
      ...headersFor('SUBSCRIBE', aor),
      `Contact: <${ua.contact}>`,
      'Event: presence',
    ]);
    expect(wrong.status).toBe(489);
    expect(getHeader(wrong, 'allow-events')).toBe('presence, message-summary');
    expect((await subscribe(aor, { toTag: 'not-a-dialog' })).status).toBe(481);
  });
});

// ---- an independent UA: sipp registers, subscribes, takes the NOTIFYs, unsubscribes ----

function mwiScenario(user: string): string {
  const request = (lines: string[]) => `<send retrans="500"><![CDATA[

${lines.join('\n')}
Content-Length: 0

]]></send>`;
  const dialogHeaders = (cseq: string, toTag: string) => [
    'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport',
    'Max-Forwards: 70',
    `From: <sip:${user}@example.com>;tag=[pid]SIPpTag00[call_number]`,
    `To: <sip:${user}@example.com>${toTag}`,
    'Call-ID: [call_id]',
    `CSeq: ${cseq}`,
    `Contact: <sip:${user}@[local_ip]:[local_port]>`,
  ];
  const ok = `<send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>`;
  return `<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="register and subscribe to message-summary">
${request([`REGISTER sip:example.com SIP/2.0`, ...dialogHeaders('1 REGISTER', ''), 'Expires: 600'])}
<recv response="200"/>
${request([
  `SUBSCRIBE sip:${user}@example.com SIP/2.0`,
  ...dialogHeaders('2 SUBSCRIBE', ''),
  'Event: message-summary',
  'Accept: application/simple-message-summary',
  'Expires: 600',
])}
<recv response="200"/>
<recv request="NOTIFY">
  <action>
    <ereg regexp="Text-Message: 4/0" search_in="body" check_it="true" assign_to="count"/>
    <ereg regexp="active;expires=" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="state"/>
  </action>
</recv>
${ok}
${request([
  `SUBSCRIBE sip:${user}@example.com SIP/2.0`,
  ...dialogHeaders('3 SUBSCRIBE', '[peer_tag_param]'),
  'Event: message-summary',
  'Expires: 0',
])}
<recv response="200"/>
<recv request="NOTIFY">
  <action>
    <ereg regexp="terminated" search_in="hdr" header="Subscription-State:" check_it="true" assign_to="ended"/>
  </action>
</recv>
${ok}
<Reference variables="count,state,ended"/>
</scenario>
`;
}

describe('with sipp as the UA', () => {
  it('REGISTER, SUBSCRIBE, NOTIFY with the count, unSUBSCRIBE and the terminating NOTIFY all pass sipp', async () => {
    const user = `sipp${randomBytes(4).toString('hex')}`;
    const aor = `sip:${user}@example.com`;
    api.waiting.set(aor, 4);
    const dir = mkdtempSync(join(tmpdir(), 'holdover-edge-sipp-'));
    try {
      writeFileSync(join(dir, 'mwi.xml'), mwiScenario(user));
      const localPort = await freePort();
      const run = await new Promise<{ code: number; output: string }>((resolve) => {
        execFile(
          'sipp',
          [
            ...['-sf', join(dir, 'mwi.xml'), '-t', 'u1', '-m', '1', '-i', HOST, '-p', String(localPort)],
            ...['-nostdin', '-timeout', '20s', '-timeout_error', '-trace_err'],
            `${HOST}:${edge.sip.port}`,
          ],
          { cwd: dir, timeout: 30_000 },
          (error, stdout, stderr) => {
            const code = error && typeof error.code === 'number' ? error.code : error ? -1 : 0;
            resolve({ code, output: `${stdout}\n${stderr}` });
          },
        );
      });
      expect(run.code, run.output.slice(-2000)).toBe(0);
      const reports = await waitFor(() => api.presenceReports(aor)[0], 'the online report');
      expect(reports).toMatchObject({ state: 'online', source: 'register' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
