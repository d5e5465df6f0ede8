// CORS of the public routes (GET /v1/availability/{aor}, the chat routes /v1/chats…): the allowed
// origins (HOLDOVER_CORS_ORIGINS, comma-separated, default *) and the preflights, functions of
// their own that touch nothing (OPTIONS /v1/availability/{aor}, /v1/chats, /v1/chats/{chatId}/messages).
import { corsOrigins } from '../shared/settings.ts';
import type { HttpEvent, HttpResult } from './adapters/http.ts';

const allowOrigins = corsOrigins();

/** The CORS headers of an answer to `event` (a listed Origin is echoed; `*` allows any). */
export function corsHeaders(event: HttpEvent): Record<string, string> {
  if (allowOrigins.includes('*')) return { 'access-control-allow-origin': '*' };
  const origin = event.headers.origin ?? '';
  return allowOrigins.includes(origin)
    ? { 'access-control-allow-origin': origin, vary: 'Origin, Accept' }
    : { vary: 'Origin, Accept' };
}

/** A preflight's answer: 204 with the CORS headers and what a caller may send (cached 10 min). */
function preflight(event: HttpEvent, methods: string, headers: string): HttpResult {
  return {
    statusCode: 204,
    headers: {
      ...corsHeaders(event),
      'access-control-allow-methods': methods,
      'access-control-allow-headers': headers,
      'access-control-max-age': '600',
    },
    body: '',
  };
}

/** The availability route's preflight: a GET with an Accept header. */
export async function preflightHandler(event: HttpEvent): Promise<HttpResult> {
  return preflight(event, 'GET, OPTIONS', 'Accept');
}

/**
 * The chat routes' preflight: a page on another origin POSTs JSON with the chat token in the
 * Authorization header (no cookies: credentials are never allowed).
 */
export async function chatPreflightHandler(event: HttpEvent): Promise<HttpResult> {
  return preflight(event, 'GET, POST, OPTIONS', 'Authorization, Content-Type, Accept');
}
