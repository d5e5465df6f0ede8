// SIP over UDP and TCP on one host and port (RFC 3261 §18). Incoming bytes are framed and
// parsed here; what to answer is decided by the caller. Answers follow §18.2.2 and RFC 3581:
// over UDP always to the source address and port of the request, over TCP on the connection
// it came on. A host named in a Via is never contacted.

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { SipTarget, SipTransportName } from '../shared/sip/uri.ts';
import { MessageTooLargeError, SipStreamFramer } from './sip/framer.ts';
import {
  type ReceivedRequest,
  type SipHeader,
  type SipMessage,
  SipParseError,
  type SipRequest,
  splitList,
} from './sip/message.ts';
import { parseMessage, skipLineBreaks } from './sip/parser.ts';
import { formatVia, parseVia, type Via } from './sip/via.ts';

/** Where a message came from, as the request handler sees it. */
export interface SipSource {
  transport: SipTransportName;
  address: string;
  port: number;
}

/** A SipSource plus the connection to answer on (TCP). */
export interface Origin extends SipSource {
  connectionId?: number;
}

export type SipLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type SipLogger = (level: SipLogLevel, message: string, fields: Record<string, unknown>) => void;

export interface SipTransportOptions {
  host: string;
  /** 0 picks a free port, the same for UDP and TCP. */
  port: number;
  maxMessageBytes: number;
  /** A framed, parsed message no larger than maxMessageBytes. */
  onMessage: (message: SipMessage, origin: Origin) => void;
  /**
   * Bytes that could not be framed, or a message over maxMessageBytes (MessageTooLargeError,
   * with its header section when it could be read). Called synchronously, so a reply sent
   * from here (a 413) is written before a TCP connection is closed.
   */
  onParseError: (error: SipParseError, origin: Origin) => void;
  logger?: SipLogger;
  /** A TCP connection idle this long is closed. Default 5 minutes. */
  idleTimeoutMs?: number;
  /** Most simultaneous inbound TCP connections. Default 4096. */
  maxConnections?: number;
}

const noLog: SipLogger = () => {};

export class SipTransport {
  private readonly options: SipTransportOptions;
  private readonly log: SipLogger;
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private boundPort = 0;
  private nextConnectionId = 1;
  private readonly connections = new Map<number, Socket>();
  /** Outgoing TCP connections by "host:port", reused for later sends. */
  private readonly outbound = new Map<string, Promise<Socket>>();
  private stopped = false;

  constructor(options: SipTransportOptions) {
    this.options = options;
    this.log = options.logger ?? noLog;
  }

  /** The port bound for both UDP and TCP (useful after starting with port 0). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    this.stopped = false;
    // With port 0 the UDP port is chosen first and TCP may find it taken: try a few.
    const attempts = this.options.port === 0 ? 5 : 1;
    for (let attempt = 1; ; attempt++) {
      const udp = await this.bindUdp(this.options.port);
      const port = udp.address().port;
      try {
        this.tcp = await this.listenTcp(port);
        this.udp = udp;
        this.boundPort = port;
        return;
      } catch (error) {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        if (attempt >= attempts) throw error;
      }
    }
  }

  /** Closes both sockets and every TCP connection; resolves when all are closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const socket of this.connections.values()) socket.destroy();
    this.connections.clear();
    this.outbound.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }

  /** Answers a received message: to the UDP source, or on its TCP connection. */
  reply(origin: Origin, bytes: Buffer): void {
    if (origin.transport === 'udp') {
      this.udp?.send(bytes, origin.port, origin.address, (error) => {
        if (error) {
          this.log('warn', 'sip udp send failed', {
            to: `${origin.address}:${origin.port}`,
            error: error.message,
          });
        }
      });
      return;
    }
    const socket = origin.connectionId === undefined ? undefined : this.connections.get(origin.connectionId);
    if (!socket || socket.destroyed) {
      // RFC 3261 §18.2.2 would open a new connection; the peer's source port of a closed
      // connection is not listening, so the response is dropped and the client retries.
      this.log('warn', 'sip tcp connection gone, response dropped', {
        to: `${origin.address}:${origin.port}`,
      });
      return;
    }
    socket.write(bytes);
  }

  /** Sends bytes to a target (outgoing requests); TCP connections are reused per target. */
  async send(bytes: Buffer, target: SipTarget): Promise<void> {
    if (target.transport === 'udp') {
      const udp = this.udp;
      if (!udp) throw new Error('SIP transport is not started');
      await new Promise<void>((resolve, reject) => {
        udp.send(bytes, target.port, target.host, (error) => (error ? reject(error) : resolve()));
      });
      return;
    }
    const socket = await this.outboundConnection(target);
    await new Promise<void>((resolve, reject) => {
      socket.write(bytes, (error) => (error ? reject(error) : resolve()));
    });
  }

  private bindUdp(port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const udp = createSocket(isIPv6(this.options.host) ? 'udp6' : 'udp4');
      udp.once('error', reject);
      udp.bind(port, this.options.host, () => {
        udp.off('error', reject);
        udp.on('error', (error) => this.log('warn', 'sip udp socket error', { error: error.message }));
        udp.on('message', (datagram, remote) => this.onDatagram(datagram, remote));
        resolve(udp);
      });
    });
  }

  private listenTcp(port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.adopt(socket));
      server.maxConnections = this.options.maxConnections ?? 4096;
      server.once('error', reject);
      server.listen(port, this.options.host, () => {
        server.off('error', reject);
        server.on('error', (error) => this.log('warn', 'sip tcp server error', { error: error.message }));
        resolve(server);
      });
    });
  }

  private onDatagram(datagram: Buffer, remote: RemoteInfo): void {
    // CRLF keep-alives (RFC 5626 §3.5.1 style) need no answer and are not errors.
    if (skipLineBreaks(datagram, 0) === datagram.length) return;
    const origin: Origin = { transport: 'udp', address: remote.address, port: remote.port };
    let message: SipMessage;
    try {
      message = parseMessage(datagram);
    } catch (error) {
      this.parseError(error, origin);
      return;
    }
    if (datagram.length > this.options.maxMessageBytes) {
      this.parseError(new MessageTooLargeError(message), origin);
      return;
    }
    this.deliver(message, origin);
  }

  /** Takes charge of a TCP connection, inbound or outbound: framing, errors, idle timeout. */
  private adopt(socket: Socket): number {
    const connectionId = this.nextConnectionId++;
    this.connections.set(connectionId, socket);
    const origin: Origin = {
      transport: 'tcp',
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      connectionId,
    };
    const framer = new SipStreamFramer({ maxMessageBytes: this.options.maxMessageBytes });
    socket.setNoDelay(true);
    socket.setTimeout(this.options.idleTimeoutMs ?? 300_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      for (const item of framer.push(chunk)) {
        if (item.message) {
          this.deliver(item.message, origin);
        } else if (item.error) {
          this.parseError(item.error, origin);
          // The stream position is lost: flush what was written and close.
          socket.end(() => socket.destroy());
        }
      }
    });
    socket.on('error', (error) => this.log('debug', 'sip tcp connection error', { error: error.message }));
    socket.on('close', () => this.connections.delete(connectionId));
    return connectionId;
  }

  private outboundConnection(target: SipTarget): Promise<Socket> {
    const key = `${target.host}:${target.port}`;
    const existing = this.outbound.get(key);
    if (existing) return existing;
    const connecting = new Promise<Socket>((resolve, reject) => {
      const socket = connect(target.port, target.host);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        if (this.stopped) {
          socket.destroy();
          reject(new Error('SIP transport stopped'));
          return;
        }
        this.adopt(socket);
        resolve(socket);
      });
      socket.once('close', () => {
        if (this.outbound.get(key) === connecting) this.outbound.delete(key);
      });
    });
    this.outbound.set(key, connecting);
    connecting.catch(() => {
      if (this.outbound.get(key) === connecting) this.outbound.delete(key);
    });
    return connecting;
  }

  private deliver(message: SipMessage, origin: Origin): void {
    try {
      this.options.onMessage(message, origin);
    } catch (error) {
      this.log('error', 'sip message callback failed', { error: describe(error) });
    }
  }

  private parseError(error: unknown, origin: Origin): void {
    const parseError =
      error instanceof SipParseError
        ? error
        : new SipParseError(`Unexpected parser failure: ${describe(error)}`);
    try {
      this.options.onParseError(parseError, origin);
    } catch (callbackError) {
      this.log('error', 'sip parse error callback failed', { error: describe(callbackError) });
    }
  }
}

/**
 * Records in the top Via where the request really came from (RFC 3261 §18.2.1, RFC 3581 §4):
 * `received` when the source address differs from the sent-by host, or whenever the client
 * asked for `rport`, whose empty value is then filled with the source port. Returns the
 * request unchanged when there is nothing to add or the top Via cannot be read.
 */
export function stampReceived(req: SipRequest, address: string, port: number): SipRequest {
  const header = req.headers.find((candidate) => candidate.name === 'via');
  if (!header) return req;
  let via: Via;
  try {
    via = parseVia(splitList(header.value)[0] ?? '');
  } catch {
    return req;
  }
  return stampVia(req, via, address, port)?.request ?? req;
}

/** `stampReceived` of a request read once (its top Via already parsed), its view kept in step. */
export function stampReceivedRequest(req: ReceivedRequest, address: string, port: number): ReceivedRequest {
  const stamped = stampVia(req, req.topVia, address, port);
  return stamped ? { ...req, headers: stamped.request.headers, topVia: stamped.via } : req;
}

function stampVia<Request extends SipRequest>(
  req: Request,
  top: Via,
  address: string,
  port: number,
): { request: Request; via: Via } | undefined {
  const wantsRport = top.params.rport === null;
  const sentByHost = top.host.startsWith('[') ? top.host.slice(1, -1) : top.host;
  if (!wantsRport && sentByHost === address.toLowerCase()) return undefined;
  const via: Via = { ...top, params: { ...top.params, received: address } };
  if (wantsRport) via.params.rport = String(port);
  const index = req.headers.findIndex((header) => header.name === 'via');
  const header = req.headers[index];
  if (!header) return undefined;
  const values = splitList(header.value);
  values[0] = formatVia(via);
  const headers: SipHeader[] = req.headers.slice();
  headers[index] = { name: 'via', value: values.join(', ') };
  return { request: { ...req, headers }, via };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
