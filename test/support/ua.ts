// A scriptable UDP user agent for end-to-end tests that need control sipp does not give (answer
// by rule, subscribe and read NOTIFYs, keep every copy of a retransmitted MESSAGE).
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { getHeader, type SipRequest, type SipResponse } from '../../edge/sip/message.ts';
import { parseMessage } from '../../edge/sip/parser.ts';
import { buildResponse, serializeResponse } from '../../edge/sip/serialize.ts';

export interface Received {
  method: string;
  callId: string;
  from: string;
  body: string;
  date?: string;
  request: SipRequest;
}

export class TestUa {
  readonly received: Received[] = [];
  /** Status to answer each MESSAGE with (index = count of MESSAGEs so far). */
  answer: (index: number) => number = () => 200;
  /** Delay before answering a MESSAGE, ms. */
  delayMs = 0;
  private readonly socket: Socket = createSocket('udp4');
  private readonly waiting = new Map<string, (response: SipResponse) => void>();
  private closed = false;
  port = 0;

  async start(): Promise<void> {
    this.socket.on('message', (bytes, remote) => this.onDatagram(bytes, remote.address, remote.port));
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.port = this.socket.address().port;
  }

  get contact(): string {
    return `sip:ua@127.0.0.1:${this.port}`;
  }

  messages(): Received[] {
    return this.received.filter((entry) => entry.method === 'MESSAGE');
  }

  notifies(): Received[] {
    return this.received.filter((entry) => entry.method === 'NOTIFY');
  }

  private onDatagram(bytes: Buffer, address: string, port: number): void {
    let message: ReturnType<typeof parseMessage>;
    try {
      message = parseMessage(bytes);
    } catch {
      return;
    }
    if (message.kind === 'response') {
      const branch = /branch=([^;,\s]+)/.exec(getHeader(message, 'via') ?? '')?.[1] ?? '';
      this.waiting.get(branch)?.(message);
      return;
    }
    const index = this.messages().length;
    const date = getHeader(message, 'date');
    this.received.push({
      method: message.method,
      callId: getHeader(message, 'call-id') ?? '',
      from: getHeader(message, 'from') ?? '',
      body: message.body.toString('utf8'),
      ...(date ? { date } : {}),
      request: message,
    });
    const status = message.method === 'MESSAGE' ? this.answer(index) : 200;
    const reply = () =>
      // a delayed answer may come due after the test closed the UA
      !this.closed &&
      this.socket.send(
        serializeResponse(buildResponse(message, status, status === 200 ? 'OK' : 'Refused')),
        port,
        address,
      );
    if (this.delayMs > 0 && message.method === 'MESSAGE') setTimeout(reply, this.delayMs);
    else reply();
  }

  /** Sends a request from this UA's socket (so its Contact is this UA) and awaits the final answer. */
  request(target: number, method: string, aor: string, headers: string[], body = ''): Promise<SipResponse> {
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const bytes = Buffer.from(body, 'utf8');
    const text = [
      `${method} ${aor} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <${aor}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <${aor}>`,
      `Call-ID: ${randomBytes(8).toString('hex')}@ua`,
      `CSeq: 1 ${method}`,
      `Contact: <${this.contact}>`,
      ...headers,
      `Content-Length: ${bytes.length}`,
      '',
      '',
    ].join('\r\n');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${method}`)), 5000);
      this.waiting.set(branch, (response) => {
        if (response.status < 200) return;
        clearTimeout(timer);
        this.waiting.delete(branch);
        resolve(response);
      });
      this.socket.send(Buffer.concat([Buffer.from(text), bytes]), target, '127.0.0.1');
    });
  }

  register(edgePort: number, aor: string, expires = 300): Promise<SipResponse> {
    return this.request(edgePort, 'REGISTER', aor, [`Expires: ${expires}`]);
  }

  close(): void {
    this.closed = true;
    this.socket.close();
  }
}

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
