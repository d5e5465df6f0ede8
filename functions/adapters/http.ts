// API Gateway HTTP API (v2) plumbing shared by every HTTP function: signature check, zod parsing
// of the body, and the one place where domain errors become HTTP statuses.
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { DomainError, InvalidRequestError, UnauthorizedError } from '../core/errors.ts';
import type { NonceStore } from '../core/ports.ts';
import { changesState, nonceReused, SignatureRefusedError, verifyRequest } from '../core/signature.ts';
import { countWithDimension, logger, metrics, startInvocation } from './observability.ts';
import { signingSecrets } from './secret.ts';
import { nonces } from './store.ts';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

export interface RouteInput<Body> {
  body: Body;
  pathParameters: Record<string, string>;
  query: Record<string, string>;
}

export interface RouteResult {
  status: number;
  body: unknown;
}

function json(status: number, body: unknown): HttpResult {
  return { statusCode: status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

export function rawBody(event: HttpEvent): Buffer {
  if (event.body === undefined) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

/** Turns zod issues into one readable line: `cseq: expected number; body: required`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ');
}

/**
 * Verifies the v2 signature of an API Gateway (payload v2) event: the method, `rawPath` and
 * `rawQueryString` (API Gateway hands the path percent-decoded; the signature's canonical path
 * makes that equal to what the caller sent), the timestamp, nonce and raw body. A call that
 * changes state is taken once: its nonce is claimed in the shared NonceStore.
 */
export async function verifySignedEvent(
  event: HttpEvent,
  body: Buffer,
  secrets: readonly string[],
  nonceStore: NonceStore,
  now: number = Date.now(),
): Promise<void> {
  const method = event.requestContext.http.method;
  const { nonce, replayUntilMs } = verifyRequest(
    secrets,
    { method, path: event.rawPath, query: event.rawQueryString, headers: event.headers, body },
    now,
  );
  if (changesState(method) && !(await nonceStore.claim(nonce, replayUntilMs))) throw nonceReused();
}

/**
 * A signed JSON route: verifies the request signature (v2, used once), parses the body with `schema`, runs the
 * use case, and maps errors. Only DomainErrors (4xx) expose their message; anything else is a 500
 * carrying the correlation id, the API Gateway request id, which every log line of the call has.
 */
export function signedRoute<Schema extends z.ZodType>(
  route: string,
  schema: Schema | undefined,
  run: (input: RouteInput<z.infer<Schema>>) => Promise<RouteResult>,
): (event: HttpEvent, context?: Context) => Promise<HttpResult> {
  return async (event, context) => {
    const correlationId = startInvocation(context, event.requestContext.requestId);
    try {
      const bytes = rawBody(event);
      await verifySignedEvent(event, bytes, await signingSecrets(), nonces);
      let body: z.infer<Schema> = undefined as z.infer<Schema>;
      if (schema !== undefined) body = parseJson(schema, bytes);
      const result = await run({
        body,
        pathParameters: definedEntries(event.pathParameters),
        query: definedEntries(event.queryStringParameters),
      });
      return json(result.status, result.body);
    } catch (error) {
      return errorResult(route, error, correlationId);
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}

function parseJson<Schema extends z.ZodType>(schema: Schema, bytes: Buffer): z.infer<Schema> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InvalidRequestError('Body is not valid JSON');
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new InvalidRequestError(describeIssues(result.error));
  return result.data;
}

function definedEntries(record: Record<string, string | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record ?? {})) if (value !== undefined) out[key] = value;
  return out;
}

/** Maps an error to its answer; a 500 carries `correlationId`, the request id its log line has too. */
export function errorResult(route: string, error: unknown, correlationId: string): HttpResult {
  if (error instanceof DomainError) {
    if (error instanceof UnauthorizedError) {
      const reason = error instanceof SignatureRefusedError ? error.reason : undefined;
      logger.warn('request refused: unauthorized', { route, reason, detail: error.message });
      countWithDimension('unauthorized', 'route', route);
      if (reason !== undefined) countWithDimension('signatureRefused', 'reason', reason);
      return json(error.status, {
        error: { code: error.code, ...(reason ? { reason } : {}), message: error.message },
      });
    }
    return json(error.status, { error: { code: error.code, message: error.message } });
  }
  logger.error('request failed', {
    route,
    correlationId,
    error: error instanceof Error ? error : String(error),
  });
  return json(500, { error: { code: 'internal', message: 'Internal error', correlationId } });
}
