// Signed calls for tests, as the edge, the delivery function and the CLI make them (signature v2).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathAndQuery, signUrl, verifyRequest } from '../../shared/signature.ts';

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

/**
 * Reads a request's body and checks its signature as the API does (a stand-in API's side of the
 * edge's calls): the raw body, or undefined after answering 401 to one not signed with `secret`.
 */
export function readSignedRequest(
  secret: string,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('error', reject);
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      try {
        verifyRequest([secret], {
          method: request.method ?? '',
          ...pathAndQuery(request.url ?? '/'),
          headers: request.headers as Record<string, string>,
          body: raw,
        });
      } catch {
        response.writeHead(401).end();
        resolve(undefined);
        return;
      }
      resolve(raw);
    });
  });
}
