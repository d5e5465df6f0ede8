// A scriptable UDP user agent for end-to-end tests that need control sipp does not give (answer
// by rule, subscribe and read NOTIFYs, keep every copy of a retransmitted MESSAGE).
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { getHeader, getHeaders, type SipRequest, type SipResponse } from '../../edge/sip/message.ts';
import { parseMessage } from '../../edge/sip/parser.ts';
import { buildResponse, serializeResponse } from '../../edge/sip/serialize.ts';
import {
  credentialsHeader,
  type DigestAlgorithm,
  ha1Of,
  isDigestAlgorithm,
  parseDigestParams,
} from '../../shared/sip-digest.ts';

/** A password to answer digest challenges with, as a real user's UA would. */
export interface UaCredentials {
  password: string;
  /** Default: the user part of the AOR. */
  username?: string;
  /** Answer this algorithm's challenge; default: the first offered (RFC 8760 §2.4). */
  algorithm?: DigestAlgorithm;
}

export interface RequestDialog {
  callId?: string;
  fromTag?: string;
  cseq?: number;
}

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

  /** `host`: the loopback address to send from (127.0.0.2 plays a proxy in the auth tests). */
  constructor(private readonly host = '127.0.0.1') {}

  async start(): Promise<void> {
    this.socket.on('message', (bytes, remote) => this.onDatagram(bytes, remote.address, remote.port));
    await new Promise<void>((resolve) => this.socket.bind(0, this.host, resolve));
    this.port = this.socket.address().port;
  }

  get contact(): string {
    return `sip:ua@${this.host}:${this.port}`;
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
  request(
    target: number,
    method: string,
    aor: string,
    headers: string[],
    body = '',
    dialog: RequestDialog = {},
  ): Promise<SipResponse> {
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const bytes = Buffer.from(body, 'utf8');
    const text = [
      `${method} ${aor} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.host}:${this.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <${aor}>;tag=${dialog.fromTag ?? randomBytes(4).toString('hex')}`,
      `To: <${aor}>`,
      `Call-ID: ${dialog.callId ?? `${randomBytes(8).toString('hex')}@ua`}`,
      `CSeq: ${dialog.cseq ?? 1} ${method}`,
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

  register(edgePort: number, aor: string, expires = 300, credentials?: UaCredentials): Promise<SipResponse> {
    const headers = [`Expires: ${expires}`];
    if (credentials) return this.requestWithAuth(edgePort, 'REGISTER', aor, headers, '', credentials);
    return this.request(edgePort, 'REGISTER', aor, headers);
  }

  /** The last 401 a `requestWithAuth` answered (to look at the challenges offered). */
  lastChallenge: SipResponse | undefined;

  /**
   * Sends a request; a 401 is answered once with digest credentials for its realm (same Call-ID,
   * next CSeq), as a UA does. Returns the final answer to the second request (or the first one's
   * if it was not a 401).
   */
  async requestWithAuth(
    target: number,
    method: string,
    aor: string,
    headers: string[],
    body: string,
    credentials: UaCredentials,
  ): Promise<SipResponse> {
    const dialog = {
      callId: `${randomBytes(8).toString('hex')}@ua`,
      fromTag: randomBytes(4).toString('hex'),
    };
    const first = await this.request(target, method, aor, headers, body, { ...dialog, cseq: 1 });
    if (first.status !== 401) return first;
    this.lastChallenge = first;
    const authorization = answerChallenge(first, method, aor, credentials);
    return this.request(target, method, aor, [...headers, `Authorization: ${authorization}`], body, {
      ...dialog,
      cseq: 2,
    });
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

/** The Authorization value answering a 401's WWW-Authenticate (the chosen algorithm's). */
export function answerChallenge(
  challenge: SipResponse,
  method: string,
  uri: string,
  credentials: UaCredentials,
  nc = '00000001',
): string {
  const offered = getHeaders(challenge, 'www-authenticate')
    .map((value) => parseDigestParams(value))
    .filter((params) => params !== undefined);
  const chosen = offered.find((params) => {
    const algorithm = params.get('algorithm') ?? 'MD5';
    return isDigestAlgorithm(algorithm) && (credentials.algorithm ?? algorithm) === algorithm;
  });
  if (!chosen) throw new Error(`no ${credentials.algorithm ?? 'usable'} challenge in the 401`);
  const algorithm = (chosen.get('algorithm') ?? 'MD5') as DigestAlgorithm;
  const realm = chosen.get('realm') ?? '';
  const username = credentials.username ?? uri.replace(/^sips?:/, '').split('@')[0] ?? '';
  return credentialsHeader(
    {
      username,
      realm,
      nonce: chosen.get('nonce') ?? '',
      uri,
      method,
      algorithm,
      qop: 'auth',
      nc,
      cnonce: randomBytes(8).toString('hex'),
    },
    ha1Of(algorithm, username, realm, credentials.password),
  );
}
