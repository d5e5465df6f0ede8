// A minimal raw SIP sender for tests that need exact bytes (malformed or unusual requests).
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  reason: string;
  text: string;
  header: (name: string) => string | undefined;
}

function parse(bytes: Buffer): RawResponse {
  const text = bytes.toString('utf8');
  const match = /^SIP\/2\.0 (\d{3}) ([^\r\n]*)/.exec(text);
  if (!match) throw new Error(`not a SIP response: ${JSON.stringify(text.slice(0, 80))}`);
  return {
    status: Number(match[1]),
    reason: match[2] ?? '',
    text,
    header: (name) =>
      new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(text.split('\r\n\r\n')[0] ?? '')?.[1]?.trim(),
  };
}

export function sendUdp(port: number, bytes: Buffer | string, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no SIP response over UDP'));
    }, timeoutMs);
    socket.once('message', (message) => {
      clearTimeout(timer);
      socket.close();
      try {
        resolve(parse(message));
      } catch (error) {
        reject(error);
      }
    });
    socket.bind(0, '127.0.0.1', () => socket.send(bytes, port, '127.0.0.1'));
  });
}

export function sendTcp(port: number, bytes: Buffer | string, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no SIP response over TCP'));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.includes('\r\n\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        try {
          resolve(parse(received));
        } catch (error) {
          reject(error);
        }
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export interface MessageOptions {
  to?: string;
  from?: string;
  contentType?: string | null;
  body?: Buffer | string;
  extraHeaders?: string[];
  method?: string;
  callId?: string;
  transport?: 'UDP' | 'TCP';
}

/** A well-formed request with overridable parts; Content-Length always matches the body. */
export function sipRequest(options: MessageOptions = {}): Buffer {
  const body = Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body ?? 'hello', 'utf8');
  const method = options.method ?? 'MESSAGE';
  const to = options.to ?? 'sip:bob@example.com';
  const headers = [
    `${method} ${to} SIP/2.0`,
    `Via: SIP/2.0/${options.transport ?? 'UDP'} 127.0.0.1:5999;branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <${options.from ?? 'sip:alice@example.com'}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <${to}>`,
    `Call-ID: ${options.callId ?? randomBytes(8).toString('hex')}@test`,
    `CSeq: 1 ${method}`,
    ...(options.contentType === null
      ? []
      : [`Content-Type: ${options.contentType ?? 'text/plain;charset=UTF-8'}`]),
    ...(options.extraHeaders ?? []),
    `Content-Length: ${body.length}`,
  ];
  return Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`), body]);
}
