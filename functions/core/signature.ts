import { createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from './errors.ts';

/**
 * Request signing between the edge and the API, both ways, and for operator calls (DESIGN.md
 * "Security"): `X-Holdover-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`.
 */
export const TIMESTAMP_HEADER = 'x-holdover-timestamp';
export const SIGNATURE_HEADER = 'x-holdover-signature';
export const MAX_SKEW_SECONDS = 300;

export function signatureOf(secret: string, timestamp: string, body: Uint8Array | string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

export function signedHeaders(
  secret: string,
  body: Uint8Array | string,
  nowMs: number = Date.now(),
): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return { [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signatureOf(secret, timestamp, body) };
}

/** Throws UnauthorizedError unless the request is signed with `secret` within the time window. */
export function verifySignature(
  secret: string,
  headers: Readonly<Record<string, string | undefined>>,
  body: Uint8Array | string,
  nowMs: number = Date.now(),
): void {
  const timestamp = headers[TIMESTAMP_HEADER];
  const signature = headers[SIGNATURE_HEADER];
  if (timestamp === undefined || signature === undefined) {
    throw new UnauthorizedError(
      'Request is not signed: X-Holdover-Timestamp and X-Holdover-Signature are required',
    );
  }
  if (!/^\d{1,12}$/.test(timestamp)) throw new UnauthorizedError('X-Holdover-Timestamp must be unix seconds');
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) {
    throw new UnauthorizedError('Signature timestamp is outside the 5-minute window: check the clock');
  }
  const expected = Buffer.from(signatureOf(secret, timestamp, body));
  const given = Buffer.from(signature);
  // Compare equal-length buffers only; the length itself leaks nothing secret.
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new UnauthorizedError('Signature does not match: check that both sides use the same secret');
  }
}
