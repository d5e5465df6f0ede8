// API Gateway HTTP API (v2) plumbing shared by every HTTP function: who calls (signature, bearer
// token, OIDC) against the route's declaration in infra/catalogue.ts, zod parsing of the body,
// and the one place where domain errors become HTTP statuses.
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { type Caller, HOLDOVER_FUNCTIONS } from '../../infra/catalogue.ts';
import { normalizeAor } from '../../shared/aor.ts';
import {
  DomainError,
  ForbiddenError,
  InvalidRequestError,
  RateLimitedError,
  SignInThrottledError,
  UnauthorizedError,
} from '../../shared/errors.ts';
import {
  changesState,
  nonceReused,
  SIGNATURE_HEADER,
  SignatureRefusedError,
  verifyRequest,
} from '../../shared/signature.ts';
import * as z from '../../shared/zod.ts';
import { verifyChatToken } from '../core/chat.ts';
import type { NonceStore } from '../core/ports.ts';
import { type Role, TokenRefusedError, verifyToken } from '../core/session.ts';
import { countWithDimension, logger, metrics, startInvocation } from './observability.ts';
import { signingSecrets } from './secret.ts';
import { nonces, sessionStore } from './store.ts';

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

function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', ...BASE_HEADERS, ...headers },
    body: JSON.stringify(body),
  };
}

export function rawBody(event: HttpEvent): Buffer {
  if (event.body === undefined) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

/** Turns zod issues into one readable line: `cseq: expected number; body: required`. */
export function describeIssues(error: z.core.$ZodError): string {
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

/** Who is calling, as proven by the request (see `Caller` in infra/catalogue.ts). */
export type Identity =
  | { kind: 'operator' }
  | { kind: 'token'; aor: string; role: Role; jti?: string; expiresAtMs?: number; via: 'session' | 'oidc' }
  | { kind: 'chat'; chatId: string }
  | { kind: 'public' };

export interface AuthorizedInput<Body> extends RouteInput<Body> {
  caller: Identity;
  /** Request headers, names in lower case. */
  headers: Record<string, string>;
  /** The call's correlation id (a 500 carries it; errorResult takes it). */
  correlationId: string;
  /** Where the call came from (API Gateway's sourceIp): per-client rate limits. */
  clientAddress: string;
}

/** An answer beyond JSON: extra headers, or another content type (the console's page). */
export interface RawResult {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Security headers on every answer of the API (the console's page adds its CSP). */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

/**
 * With an OIDC issuer configured in AWS (API Gateway's JWT authorizer checked the token before
 * the function runs), this claim of the verified token names the user: `sip:<value>`.
 */
const oidcClaim = process.env.HOLDOVER_OIDC_CLAIM || undefined;

const JwtAuthorizerSchema = z.object({
  jwt: z.object({ claims: z.record(z.string(), z.unknown()) }),
});

function whoMayCall(name: string): readonly Caller[] {
  const entry = HOLDOVER_FUNCTIONS.find((candidate) => candidate.name === name);
  if (entry?.trigger.kind !== 'http') {
    throw new Error(`${name} is not an HTTP route of infra/catalogue.ts: declare it there with its "who"`);
  }
  return entry.trigger.who;
}

const NO_CREDENTIALS =
  'Request is not signed and carries no token: sign it with the shared secret (operator), or sign in ' +
  '(POST /v1/session) and send "Authorization: Bearer <token>"';

/**
 * Establishes who calls and whether they may: a signed call is an operator's, a bearer token a
 * person's (checked for signature, expiry and sign-out on every use). 401 when the caller is not
 * proven, 403 when a proven caller is not among `who` (a user token on another user's data).
 */
export async function identify(
  event: HttpEvent,
  body: Buffer,
  who: readonly Caller[],
  pathParameters: Record<string, string>,
  now: number = Date.now(),
): Promise<Identity> {
  // A public route asks nothing (a stale token in the header changes nothing there).
  if (who.includes('public')) return { kind: 'public' };
  const headers = event.headers ?? {};
  if (who.includes('chat')) return chatCaller(headers, pathParameters, now);
  // In AWS with an OIDC issuer, API Gateway verified the organisation's token before we run.
  if (oidcClaim !== undefined) {
    const authorizer = JwtAuthorizerSchema.safeParse(Reflect.get(event.requestContext, 'authorizer'));
    const value = authorizer.success ? authorizer.data.jwt.claims[oidcClaim] : undefined;
    if (typeof value === 'string' && value !== '') {
      const aor = normalizeAor(value.startsWith('sip:') ? value : `sip:${value}`);
      return allowed({ kind: 'token', aor, role: 'user', via: 'oidc' }, who, pathParameters);
    }
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1];
  const takesTokens = who.some((caller) => caller === 'admin' || caller === 'user' || caller === 'self');
  if (headers[SIGNATURE_HEADER] !== undefined || (bearer === undefined && who.includes('operator'))) {
    // The signature's own check names the fault (missing_header, clock_skew, mismatch, …).
    try {
      await verifySignedEvent(event, body, await signingSecrets(), nonces, now);
    } catch (error) {
      if (error instanceof SignatureRefusedError && error.reason === 'missing_header' && takesTokens) {
        throw new SignatureRefusedError('missing_header', NO_CREDENTIALS);
      }
      throw error;
    }
    if (!who.includes('operator')) {
      throw new ForbiddenError('This route is for a signed-in person, not for signed calls');
    }
    return { kind: 'operator' };
  }
  if (bearer !== undefined) {
    const claims = await verifyToken(await signingSecrets(), bearer, now);
    if (await sessionStore.isRevoked(claims.jti, now)) {
      throw new TokenRefusedError('revoked', 'This token was signed out: sign in again');
    }
    return allowed({ kind: 'token', ...claims, via: 'session' }, who, pathParameters);
  }
  throw new UnauthorizedError(NO_CREDENTIALS);
}

/**
 * A chat's visitor: a chat token (functions/core/chat.ts), for the chat of the route's {chatId}
 * only. Nothing else opens a chat: not a signature, not a person's token (its key and audience
 * differ, so it fails as a chat token does on any other route).
 */
async function chatCaller(
  headers: Record<string, string | undefined>,
  pathParameters: Record<string, string>,
  now: number,
): Promise<Identity> {
  if (headers[SIGNATURE_HEADER] !== undefined) {
    throw new ForbiddenError("This route is for a chat's visitor (its chat token), not for signed calls");
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1];
  if (bearer === undefined) {
    throw new UnauthorizedError(
      'No chat token: start a chat (POST /v1/chats) and send "Authorization: Bearer <token>"',
    );
  }
  const { chatId } = await verifyChatToken(await signingSecrets(), bearer, now);
  if (pathParameters.chatId !== chatId) throw new ForbiddenError('This token is for another chat');
  return { kind: 'chat', chatId };
}

function allowed(
  caller: Extract<Identity, { kind: 'token' }>,
  who: readonly Caller[],
  pathParameters: Record<string, string>,
): Identity {
  if (caller.role === 'admin' && who.includes('admin')) return caller;
  if (who.includes('user')) return caller;
  if (who.includes('self') && pathParameters.aor !== undefined) {
    if (normalizeAor(decodeURIComponent(pathParameters.aor)) === caller.aor) return caller;
    throw new ForbiddenError(`This token is for ${caller.aor}: it reads and changes only that user's data`);
  }
  throw new ForbiddenError(
    who.includes('admin') ? 'This route is for operators and admins' : 'This route is for operators only',
  );
}

/**
 * A JSON route of the catalogue entry `name`: establishes the caller against the entry's `who`
 * (infra/catalogue.ts, the one place it is declared), parses the body with `schema`, runs the use
 * case, and maps errors. Only DomainErrors (4xx) expose their message; anything else is a 500
 * carrying the correlation id, the API Gateway request id, which every log line of the call has.
 */
export function authorizedRoute<Schema extends z.ZodMiniType>(
  name: string,
  schema: Schema | undefined,
  run: (input: AuthorizedInput<z.infer<Schema>>) => Promise<RouteResult | RawResult>,
): (event: HttpEvent, context?: Context) => Promise<HttpResult> {
  const who = whoMayCall(name);
  return async (event, context) => {
    const correlationId = startInvocation(context, event.requestContext.requestId);
    try {
      const bytes = rawBody(event);
      const pathParameters = definedEntries(event.pathParameters);
      const caller = await identify(event, bytes, who, pathParameters);
      let body: z.infer<Schema> = undefined as z.infer<Schema>;
      if (schema !== undefined) body = parseJson(schema, bytes);
      const result = await run({
        body,
        pathParameters,
        query: definedEntries(event.queryStringParameters),
        caller,
        headers: definedEntries(event.headers),
        correlationId,
        clientAddress: event.requestContext.http.sourceIp,
      });
      if ('text' in result) {
        return {
          statusCode: result.status,
          headers: { ...BASE_HEADERS, ...result.headers },
          body: result.text,
        };
      }
      return json(result.status, result.body);
    } catch (error) {
      return errorResult(name, error, correlationId);
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}

const LimitSchema = z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(1000)), 100);

/** `?limit=` of a listing: 1 to 1000, default 100. */
export function limitOf(text: string | undefined): number {
  const limit = LimitSchema.safeParse(text);
  if (!limit.success) throw new InvalidRequestError('limit must be a whole number from 1 to 1000');
  return limit.data;
}

function parseJson<Schema extends z.ZodMiniType>(schema: Schema, bytes: Buffer): z.infer<Schema> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InvalidRequestError('Body is not valid JSON');
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw new InvalidRequestError(
      describeIssues(result.error),
      result.error.issues.map((issue) => ({
        path: issue.path.length > 0 ? issue.path.join('.') : 'body',
        message: issue.message,
      })),
    );
  }
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
      const reason =
        error instanceof SignatureRefusedError || error instanceof TokenRefusedError
          ? error.reason
          : undefined;
      logger.warn('request refused: unauthorized', { route, reason, detail: error.message });
      countWithDimension('unauthorized', route);
      if (error instanceof SignatureRefusedError) countWithDimension('signatureRefused', error.reason);
      return json(error.status, {
        error: { code: error.code, ...(reason ? { reason } : {}), message: error.message },
      });
    }
    if (error instanceof SignInThrottledError || error instanceof RateLimitedError) {
      return json(
        error.status,
        { error: { code: error.code, message: error.message, retryAfterSeconds: error.retryAfterSeconds } },
        { 'retry-after': String(error.retryAfterSeconds) },
      );
    }
    if (error instanceof InvalidRequestError && error.issues) {
      return json(error.status, {
        error: { code: error.code, message: error.message, issues: error.issues },
      });
    }
    if (error instanceof ForbiddenError) {
      logger.warn('request refused: forbidden', { route, detail: error.message });
      countWithDimension('forbidden', route);
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
