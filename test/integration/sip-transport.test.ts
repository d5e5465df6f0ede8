// A real SipServer on loopback, driven over real UDP and TCP sockets.

import { randomUUID } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SipStreamFramer } from '../../edge/sip/framer.ts';
import {
  getHeader,
  getHeaders,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../edge/sip/message.ts';
import { parseMessage } from '../../edge/sip/parser.ts';
import { parseVia } from '../../edge/sip/via.ts';
import { type SipReply, SipServer, type SipSource } from '../../edge/sip-server.ts';

const HOST = '127.0.0.1';
const WAIT_MS = 3000;
const QUIET_MS = 300;

interface HandledRequest {
  req: SipRequest;
  source: SipSource;
}

let server: SipServer;
let handled: HandledRequest[] = [];

async function handler(req: SipRequest, source: SipSource): Promise<SipReply> {
  handled.push({ req, source });
  const subject = getHeader(req, 'subject');
  if (subject === 'throw') throw new Error('handler exploded');
  if (subject === 'slow') await new Promise((resolve) => setTimeout(resolve, 400));
  return { status: 202, reason: 'Accepted', headers: [{ name: 'x-handled', value: 'yes' }] };
}

beforeAll(async () => {
  server = new SipServer({ host: HOST, port: 0, maxMessageBytes: 4096, handler });
  await server.start();
});

afterAll(async () => {
  await server.stop();
});

beforeEach(() => {
  handled = [];
});

interface RequestOptions {
  transport?: 'UDP' | 'TCP';
  via?: string;
  callId?: string;
  subject?: string;
  body?: string;
  omit?: string[];
}

function sipRequest(options: RequestOptions = {}): Buffer {
  const body = options.body ?? 'Hello';
  const lines = [
    'MESSAGE sip:bob@example.com SIP/2.0',
    `Via: ${options.via ?? `SIP/2.0/${options.transport ?? 'UDP'} client.example.net;branch=z9hG4bK${randomUUID()}`}`,
    'Max-Forwards: 70',
    'To: <sip:bob@example.com>',
    'From: <sip:alice@example.net>;tag=a1',
    `Call-ID: ${options.callId ?? randomUUID()}`,
    'CSeq: 1 MESSAGE',
    ...(options.subject ? [`Subject: ${options.subject}`] : []),
    'Content-Type: text/plain',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ].filter((line) => !options.omit?.some((name) => line.startsWith(`${name}:`)));
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

// ---- UDP client ----------------------------------------------------------------------

class UdpClient {
  readonly received: SipMessage[] = [];
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: UdpSocket) {
    socket.on('message', (datagram) => {
      this.received.push(parseMessage(datagram));
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static async open(): Promise<UdpClient> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
    return new UdpClient(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(bytes: Buffer): void {
    this.socket.send(bytes, server.port, HOST);
  }

  /** Resolves once `count` responses arrived; rejects after WAIT_MS. */
  async responses(count: number): Promise<SipResponse[]> {
    const deadline = Date.now() + WAIT_MS;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} UDP responses, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received.filter((message): message is SipResponse => message.kind === 'response');
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

// ---- TCP client ----------------------------------------------------------------------

class TcpClient {
  readonly received: SipMessage[] = [];
  closed = false;
  private readonly framer = new SipStreamFramer();

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const item of this.framer.push(chunk)) if (item.message) this.received.push(item.message);
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  static async open(): Promise<TcpClient> {
    const socket = connect(server.port, HOST);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new TcpClient(socket);
  }

  write(bytes: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(bytes, (error) => (error ? reject(error) : resolve())),
    );
  }

  async responses(count: number): Promise<SipResponse[]> {
    await until(() => this.received.length >= count, `${count} TCP responses`);
    return this.received.filter((message): message is SipResponse => message.kind === 'response');
  }

  close(): void {
    this.socket.destroy();
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let udp: UdpClient;
const tcpClients: TcpClient[] = [];

async function tcpClient(): Promise<TcpClient> {
  const client = await TcpClient.open();
  tcpClients.push(client);
  return client;
}

beforeEach(async () => {
  udp = await UdpClient.open();
});

afterEach(async () => {
  await udp.close();
  for (const client of tcpClients.splice(0)) client.close();
});

function topVia(res: SipResponse): ReturnType<typeof parseVia> {
  return parseVia(getHeaders(res, 'via')[0] ?? '');
}

describe('SipServer over UDP', () => {
  it('answers 202 at the source port, filling rport and received (RFC 3581)', async () => {
    const via = `SIP/2.0/UDP ${HOST}:${udp.port};branch=z9hG4bK${randomUUID()};rport`;
    udp.send(sipRequest({ via }));
    const [res] = await udp.responses(1);
    expect(res?.status).toBe(202);
    expect(res && getHeader(res, 'x-handled')).toBe('yes');
    expect(res && topVia(res).params).toMatchObject({ rport: String(udp.port), received: HOST });
    expect(handled).toHaveLength(1);
    expect(handled[0]?.source).toEqual({ transport: 'udp', address: HOST, port: udp.port });
  });

  it('adds received when the Via names another host, and answers at the source anyway', async () => {
    udp.send(sipRequest({ via: `SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK${randomUUID()}` }));
    const [res] = await udp.responses(1);
    expect(res?.status).toBe(202);
    const via = res && topVia(res);
    expect([via?.host, via?.port, via?.params.received]).toEqual(['192.0.2.1', 5060, HOST]);
  });

  it('answers the same datagram sent three times with three identical responses, calling the handler once', async () => {
    const datagram = sipRequest();
    for (let copy = 1; copy <= 3; copy++) {
      udp.send(datagram);
      await udp.responses(copy);
    }
    expect(handled).toHaveLength(1);
    const [first, second, third] = udp.received;
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(first && first.kind === 'response' && first.status).toBe(202);
  });

  it('absorbs retransmissions that arrive while the handler is still working', async () => {
    const datagram = sipRequest({ subject: 'slow' });
    udp.send(datagram);
    await sleep(50);
    udp.send(datagram);
    udp.send(datagram);
    await udp.responses(1);
    await sleep(QUIET_MS);
    expect(udp.received).toHaveLength(1);
    expect(handled).toHaveLength(1);
  });

  it('answers 500 when the handler throws', async () => {
    udp.send(sipRequest({ subject: 'throw' }));
    const [res] = await udp.responses(1);
    expect([res?.status, res?.reason]).toEqual([500, 'Server Internal Error']);
  });

  it('answers an invalid request (no Call-ID) with 400 without calling the handler', async () => {
    udp.send(sipRequest({ omit: ['Call-ID'] }));
    const [res] = await udp.responses(1);
    expect([res?.status, res?.reason]).toEqual([400, 'Missing Call-ID']);
    expect(handled).toHaveLength(0);
  });

  it('answers 413 to a datagram over the size limit, without calling the handler', async () => {
    udp.send(sipRequest({ body: 'x'.repeat(5000) }));
    const [res] = await udp.responses(1);
    expect(res?.status).toBe(413);
    expect(handled).toHaveLength(0);
  });

  it('absorbs an ACK silently', async () => {
    const ack = Buffer.from(
      sipRequest({ body: '' }).toString().replace('MESSAGE sip:', 'ACK sip:').replace('1 MESSAGE', '1 ACK'),
    );
    udp.send(ack);
    await sleep(QUIET_MS);
    expect(udp.received).toHaveLength(0);
    expect(handled).toHaveLength(0);
  });

  it('survives garbage datagrams and still answers afterwards', async () => {
    const garbage = [
      Buffer.alloc(0),
      Buffer.from('\r\n\r\n'),
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.from([0, 255, 13, 10, 13, 10, 0x80]),
      Buffer.from('MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;;,;\r\nl: 99\r\n\r\nx'),
      Buffer.from('SIP/2.0 200 OK\r\nVia: x\r\n\r\n'),
      Buffer.alloc(4000, 'A'),
    ];
    for (const bytes of garbage) udp.send(bytes);
    udp.send(sipRequest());
    await until(() => udp.received.some((res) => res.kind === 'response' && res.status === 202), 'a 202');
    await sleep(QUIET_MS);
    // The one framable request with a broken Via gets its 400; the rest is dropped.
    const statuses = udp.received.map((res) => (res.kind === 'response' ? res.status : 0));
    expect(statuses.sort()).toEqual([202, 400]);
    expect(handled).toHaveLength(1);
  });
});

describe('SipServer over TCP', () => {
  it('answers a request split across several writes', async () => {
    const client = await tcpClient();
    const bytes = sipRequest({ transport: 'TCP' });
    for (const cut of [
      [0, 10],
      [10, 60],
      [60, bytes.length - 3],
      [bytes.length - 3, bytes.length],
    ]) {
      await client.write(bytes.subarray(cut[0], cut[1]));
      await sleep(20);
    }
    const [res] = await client.responses(1);
    expect(res?.status).toBe(202);
    expect(handled[0]?.source.transport).toBe('tcp');
  });

  it('answers two requests sent in one write, on the same connection', async () => {
    const client = await tcpClient();
    const callIds = [randomUUID(), randomUUID()];
    await client.write(Buffer.concat(callIds.map((callId) => sipRequest({ transport: 'TCP', callId }))));
    const responses = await client.responses(2);
    expect(responses.map((res) => res.status)).toEqual([202, 202]);
    expect(responses.map((res) => getHeader(res, 'call-id')).sort()).toEqual([...callIds].sort());
  });

  it('closes a connection that sends garbage, and keeps serving new ones', async () => {
    const garbage = await tcpClient();
    await garbage.write(Buffer.from([0x47, 0x45, 0x54, 0x20, 0, 255, 10, 13, 10, 13, 10]));
    await until(() => garbage.closed, 'the garbage connection to be closed');

    const noLength = await tcpClient();
    await noLength.write('MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n\r\n');
    await until(() => noLength.closed, 'the connection without Content-Length to be closed');

    const client = await tcpClient();
    await client.write(sipRequest({ transport: 'TCP' }));
    const [res] = await client.responses(1);
    expect(res?.status).toBe(202);
  });

  it('answers 413 to an oversized request and closes the connection', async () => {
    const client = await tcpClient();
    const bytes = sipRequest({ transport: 'TCP', body: 'y'.repeat(5000) });
    await client.write(bytes.subarray(0, bytes.indexOf('\r\n\r\n') + 4));
    const [res] = await client.responses(1);
    expect(res?.status).toBe(413);
    await until(() => client.closed, 'the connection to be closed');
    expect(handled).toHaveLength(0);
  });

  it('answers an invalid request with 400 and keeps the connection open', async () => {
    const client = await tcpClient();
    await client.write(sipRequest({ transport: 'TCP', omit: ['Call-ID'] }));
    const [res] = await client.responses(1);
    expect(res?.status).toBe(400);
    await client.write(sipRequest({ transport: 'TCP' }));
    const responses = await client.responses(2);
    expect(responses[1]?.status).toBe(202);
    expect(client.closed).toBe(false);
  });
});

describe('SipServer lifecycle', () => {
  it('stop() closes open TCP connections and both sockets; start() works again', async () => {
    const own = new SipServer({ host: HOST, port: 0, maxMessageBytes: 4096, handler });
    await own.start();
    const socket = connect(own.port, HOST);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    await own.stop();
    await closed;
    expect(socket.destroyed).toBe(true);

    await own.start();
    const client = await UdpClient.open();
    client.socket.send(sipRequest(), own.port, HOST);
    await client.responses(1);
    expect(client.received).toHaveLength(1);
    await client.close();
    await own.stop();
  });
});
