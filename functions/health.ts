// GET /v1/health — unsigned liveness of the API and its store; says nothing about stored data.
import type { Context } from 'aws-lambda';
import type { HttpEvent, HttpResult } from './adapters/http.ts';
import { logger, startInvocation } from './adapters/observability.ts';
import { storeHealth } from './adapters/store.ts';

export async function handler(event: HttpEvent, context?: Context): Promise<HttpResult> {
  startInvocation(context, event.requestContext.requestId);
  try {
    const { ok, detail } = await storeHealth();
    return health(ok, detail);
  } catch (error) {
    logger.warn('health check failed', { error: error instanceof Error ? error.message : String(error) });
    return health(false, { table: 'unreachable' });
  }
}

function health(ok: boolean, parts: Record<string, string>): HttpResult {
  return {
    statusCode: ok ? 200 : 503,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ status: ok ? 'ok' : 'unavailable', parts }),
  };
}
