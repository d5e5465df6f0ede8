// The SIP side of the edge: transport + server transactions + validation around a request
// handler. Every request the handler sees is well formed and seen once per transaction; it
// returns the final response, which is also what any retransmission gets.

import type { SipTarget } from '../shared/sip/uri.ts';
import { MessageTooLargeError } from './sip/framer.ts';
import {
  getHeader,
  type ReceivedRequest,
  type ReceivedResponse,
  type SipHeader,
  SipParseError,
  type SipRequest,
  type SipResponse,
} from './sip/message.ts';
import { canAnswer, readRequest, readResponse } from './sip/parser.ts';
import { buildResponse, serializeResponse } from './sip/serialize.ts';
import { ServerTransactions } from './transactions.ts';
import {
  type Origin,
  type SipLogger,
  type SipSource,
  SipTransport,
  stampReceived,
  stampReceivedRequest,
} from './transport.ts';

export type { SipTarget } from '../shared/sip/uri.ts';
export type { SipLogger, SipSource } from './transport.ts';

export interface SipReply {
  status: number;
  reason: string;
  headers?: SipHeader[];
  body?: Buffer;
  /** To tag of the response when the handler needs to know it (a dialog it creates); else random. */
  toTag?: string;
}

export type SipRequestHandler = (req: ReceivedRequest, source: SipSource) => Promise<SipReply>;

export interface SipServerOptions {
  host: string;
  /** 0 picks a free port (tests); see `port` after start. */
  port: number;
  /** Largest message accepted; larger requests get 413 when they can be answered. */
  maxMessageBytes: number;
  logger?: SipLogger;
  handler: SipRequestHandler;
  /** Responses to requests the edge sent (client transactions belong to the caller). */
  onResponse?: (res: ReceivedResponse, source: SipSource) => void;
}

const noLog: SipLogger = () => {};

export class SipServer {
  private readonly options: SipServerOptions;
  private readonly log: SipLogger;
  private readonly transport: SipTransport;
  private transactions: ServerTransactions | undefined;

  constructor(options: SipServerOptions) {
    this.options = options;
    this.log = options.logger ?? noLog;
    this.transport = new SipTransport({
      host: options.host,
      port: options.port,
      maxMessageBytes: options.maxMessageBytes,
      logger: this.log,
      onMessage: (message, origin) => {
        if (message.kind === 'request') this.onRequest(message, origin);
        else this.onResponse(message, origin);
      },
      onParseError: (error, origin) => this.onParseError(error, origin),
    });
  }

  /** The bound port (the same for UDP and TCP). */
  get port(): number {
    return this.transport.port;
  }

  async start(): Promise<void> {
    const transactions = new ServerTransactions();
    this.transactions = transactions;
    try {
      await this.transport.start();
    } catch (error) {
      transactions.close();
      this.transactions = undefined;
      throw error;
    }
  }

  async stop(): Promise<void> {
    this.transactions?.close();
    this.transactions = undefined;
    await this.transport.stop();
  }

  /** Sends raw bytes (an outgoing request) to a target; TCP connections are reused per target. */
  send(bytes: Buffer, target: SipTarget): Promise<void> {
    return this.transport.send(bytes, target);
  }

  private onRequest(received: SipRequest, origin: Origin): void {
    const read = readRequest(received);
    if ('rejection' in read) {
      const { rejection } = read;
      const req = stampReceived(received, origin.address, origin.port);
      const fields = logFields(req, origin);
      if (canAnswer(req)) {
        this.log('info', 'sip request refused', {
          ...fields,
          status: rejection.status,
          reason: rejection.reason,
        });
        this.answerStatelessly(req, origin, rejection.status, rejection.reason);
      } else {
        this.log('warn', 'sip request dropped: cannot be answered', { ...fields, reason: rejection.reason });
      }
      return;
    }
    const req = stampReceivedRequest(read.request, origin.address, origin.port);
    const fields = logFields(req, origin);
    const transactions = this.transactions;
    if (!transactions) return;
    const reliable = origin.transport === 'tcp';
    const verdict = transactions.receive(req, reliable);
    switch (verdict.kind) {
      case 'ack':
      case 'pending':
        this.log('debug', `sip ${verdict.kind} absorbed`, fields);
        return;
      case 'retransmission':
        this.log('debug', 'sip retransmission answered again', fields);
        this.transport.reply(origin, verdict.response);
        return;
      case 'new':
        this.handle(req, origin, verdict.key, reliable, fields).catch((error: unknown) => {
          this.log('error', 'sip response could not be sent', { ...fields, error: describe(error) });
        });
        return;
    }
  }

  private async handle(
    req: ReceivedRequest,
    origin: Origin,
    key: string,
    reliable: boolean,
    fields: Record<string, unknown>,
  ): Promise<void> {
    const source: SipSource = { transport: origin.transport, address: origin.address, port: origin.port };
    let bytes: Buffer;
    try {
      const reply = await this.options.handler(req, source);
      if (!Number.isInteger(reply.status) || reply.status < 200 || reply.status > 699) {
        throw new Error(`handler returned status ${reply.status}, not a final response`);
      }
      const opts = {
        headers: reply.headers ?? [],
        ...(reply.body ? { body: reply.body } : {}),
        ...(reply.toTag ? { toTag: reply.toTag } : {}),
      };
      bytes = serializeResponse(buildResponse(req, reply.status, reply.reason, opts));
    } catch (error) {
      this.log('error', 'sip request handler failed', { ...fields, error: describe(error) });
      bytes = serializeResponse(buildResponse(req, 500, 'Server Internal Error'));
    }
    this.transactions?.complete(key, bytes, reliable);
    this.transport.reply(origin, bytes);
  }

  private onResponse(res: SipResponse, origin: Origin): void {
    const read = readResponse(res);
    if ('problem' in read) {
      this.log('warn', 'sip response discarded', {
        problem: read.problem,
        callId: getHeader(res, 'call-id'),
        from: peer(origin),
      });
      return;
    }
    const onResponse = this.options.onResponse;
    if (!onResponse) return;
    try {
      onResponse(read.response, { transport: origin.transport, address: origin.address, port: origin.port });
    } catch (error) {
      this.log('error', 'sip response callback failed', { error: describe(error) });
    }
  }

  private onParseError(error: SipParseError, origin: Origin): void {
    const head = error instanceof MessageTooLargeError ? error.head : undefined;
    if (head?.kind === 'request' && canAnswer(head)) {
      const req = stampReceived(head, origin.address, origin.port);
      this.log('info', 'sip request refused: too large', logFields(req, origin));
      this.answerStatelessly(req, origin, 413, 'Request Entity Too Large');
      return;
    }
    this.log('warn', 'sip message dropped: unparsable', { reason: error.reason, from: peer(origin) });
  }

  /** Answers without a transaction: the same request would get the same answer again. */
  private answerStatelessly(req: SipRequest, origin: Origin, status: number, reason: string): void {
    try {
      this.transport.reply(origin, serializeResponse(buildResponse(req, status, reason)));
    } catch (error) {
      this.log('error', 'sip error response could not be built', {
        ...logFields(req, origin),
        error: describe(error),
      });
    }
  }
}

// Correlation fields only: bodies are personal data and never logged (STYLE.md §7).
function logFields(req: SipRequest, origin: Origin): Record<string, unknown> {
  return {
    method: req.method,
    callId: getHeader(req, 'call-id'),
    cseq: getHeader(req, 'cseq'),
    from: peer(origin),
  };
}

function peer(origin: Origin): string {
  return `${origin.transport}:${origin.address}:${origin.port}`;
}

function describe(error: unknown): string {
  if (error instanceof SipParseError) return error.reason;
  return error instanceof Error ? error.message : String(error);
}
