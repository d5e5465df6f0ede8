// Signed calls for tests, as the edge, the delivery function and the CLI make them (signature v2).
import { signUrl } from '../../functions/core/signature.ts';

/** A fetch signed with `secret` over exactly the method, path, query and body it sends. */
export function signedFetch(
  secret: string,
  method: string,
  url: string | URL,
  body = '',
  nowMs: number = Date.now(),
): Promise<Response> {
  const target = new URL(url);
  return fetch(target, {
    method,
    headers: {
      ...(body !== '' ? { 'content-type': 'application/json' } : {}),
      ...signUrl(secret, method, target, body, nowMs),
    },
    ...(body !== '' ? { body } : {}),
    signal: AbortSignal.timeout(15_000),
  });
}
