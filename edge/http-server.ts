// The edge's HTTP side: `GET /health` for the load balancer and `npm start`, and the signed
// `POST /deliver` the delivery function calls (docs/design.md "Security": the same signature v2 both
// ways, refused with 401 naming the fault; every call to the edge is taken once, so any reused
// nonce is refused).

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  DELIVERY_DONE,
  type DeliverRequest,
  DeliverRequestSchema,
  type DeliveryLine,
  type DeliveryOutcome,
} from '../shared/contract/delivery.ts';
import { MemoryNonces } from '../shared/memory-nonces.ts';
import {
  type NonceStore,
  nonceReused,
  parseSecrets,
  pathAndQuery,
  SignatureRefusedError,
  verifyRequest,
} from '../shared/signature.ts';
import { NoRouteError } from './delivery.ts';
import { countWithDimension, logger } from './log.ts';

export interface EdgeHttpOptions {
  /** HOLDOVER_SECRET: one secret, or a comma-separated list of which any verifies. */
  secret: string;
  /** Nonces already taken; default: this process's own bounded memory. */
  nonces?: NonceStore;
  deliver: (
    request: DeliverRequest,
    onOutcome: (outcome: DeliveryOutcome) => void,
  ) => Promise<DeliveryOutcome[]>;
  /** Called once the answer to a /deliver call has been written (MWI re-reads the count). */
  onDelivered?: (recipient: string) => void;
  /** Largest request body accepted. */
  maxBodyBytes: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

interface Verifier {
  secrets: readonly string[];
  nonces: NonceStore;
}

export function edgeHttpHandler(options: EdgeHttpOptions): RequestListener {
  const verifier: Verifier = {
    secrets: parseSecrets(options.secret),
    nonces: options.nonces ?? new MemoryNonces(),
  };
  return (request, response) => {
    route(request, response, options, verifier).catch((error: unknown) => {
      if (error instanceof HttpError) {
        answer(response, error.status, {
          error: {
            code: error.code,
            ...(error.reason ? { reason: error.reason } : {}),
            message: error.message,
          },
        });
        return;
      }
      const correlationId = randomUUID();
      logger.error('edge http request failed', {
        correlationId,
        path: request.url,
        error: error instanceof Error ? error.message : String(error),
      });
      answer(response, 500, { error: { code: 'internal', message: 'Internal error', correlationId } });
    });
  };
}

async function route(
  request: IncomingMessage,
  response: ServerResponse,
  options: EdgeHttpOptions,
  verifier: Verifier,
): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://edge').pathname;
  if (path === '/health') {
    if (request.method !== 'GET') throw new HttpError(405, 'method_not_allowed', 'use GET');
    answer(response, 200, { status: 'ok' });
    return;
  }
  if (path === '/deliver') {
    if (request.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST');
    await deliver(request, response, options, verifier);
    return;
  }
  throw new HttpError(404, 'not_found', `no route ${path}`);
}

async function deliver(
  request: IncomingMessage,
  response: ServerResponse,
  options: EdgeHttpOptions,
  verifier: Verifier,
): Promise<void> {
  const body = await readBody(request, options.maxBodyBytes);
  await verify(request, body, verifier);
  const deliverRequest = parseJson(DeliverRequestSchema, body);
  // Each outcome is streamed as one JSON line the moment the UA answered, then {"done":true}.
  // If the edge dies mid-batch, the caller keeps what it heard: only the message in flight then
  // is sent again (with the same Call-ID).
  const line = (value: DeliveryLine) => {
    if (!response.headersSent) response.writeHead(200, { 'content-type': 'application/x-ndjson' });
    response.write(`${JSON.stringify(value)}\n`);
    // Node holds a response's writes until the next tick (it corks the socket); the next MESSAGE
    // may leave before that. On the wire now, so an edge killed right after sending it has
    // reported this outcome: only that next message is in flight.
    response.socket?.uncork();
  };
  try {
    await options.deliver(deliverRequest, line);
  } catch (error) {
    if (error instanceof NoRouteError) throw new HttpError(400, 'invalid_request', error.message);
    if (response.headersSent) {
      response.destroy(); // an incomplete stream: the caller retries what it did not hear about
      return;
    }
    throw error;
  }
  response.once('finish', () => options.onDelivered?.(deliverRequest.recipient));
  line(DELIVERY_DONE);
  response.end();
}

/** The signature v2 check; any nonce seen before is refused (every call to the edge counts). */
async function verify(request: IncomingMessage, body: Buffer, verifier: Verifier): Promise<void> {
  try {
    const { nonce, replayUntilMs } = verifyRequest(verifier.secrets, {
      method: request.method ?? 'GET',
      ...pathAndQuery(request.url ?? '/'),
      headers: signatureHeaders(request),
      body,
    });
    if (!(await verifier.nonces.claim(nonce, replayUntilMs))) throw nonceReused();
  } catch (error) {
    if (!(error instanceof SignatureRefusedError)) throw error;
    logger.warn('edge http request refused: signature', { reason: error.reason, path: request.url });
    countWithDimension('signatureRefused', 'reason', error.reason);
    throw new HttpError(401, 'unauthorized', error.message, error.reason);
  }
}

function signatureHeaders(request: IncomingMessage): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name] = Array.isArray(value) ? value[0] : value;
  }
  return headers;
}

function parseJson<Schema extends z.core.$ZodType>(schema: Schema, bytes: Buffer): z.infer<Schema> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_request', 'Body is not valid JSON');
  }
  const result = z.safeParse(schema, parsed);
  if (!result.success) {
    const message = result.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
      .join('; ');
    throw new HttpError(400, 'invalid_request', message);
  }
  return result.data;
}

function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new HttpError(413, 'too_large', `body is larger than ${maxBytes} bytes`));
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
