/**
 * Domain errors, mapped to HTTP statuses in one place (adapters/http.ts) and from there to SIP
 * statuses at the edge. Only these errors' messages ever reach a caller (Middy's rule: expose 4xx
 * only); anything else becomes a generic 500 with a logged correlation id.
 */
export abstract class DomainError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
}

/** One field's problem, for a form to show next to the field (`path` as in the body: `vacation.until`). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** A domain error class of its own name, HTTP status and machine-readable code. */
function domainError<Code extends string>(name: string, status: number, code: Code) {
  return class extends DomainError {
    readonly status = status;
    readonly code = code;
    override readonly name = name;
  };
}

export class InvalidRequestError extends domainError('InvalidRequestError', 400, 'invalid_request') {
  constructor(
    message: string,
    readonly issues?: readonly FieldIssue[],
  ) {
    super(message);
  }
}

export class UnauthorizedError extends domainError('UnauthorizedError', 401, 'unauthorized') {}

/** The recipient's domain is not one we serve: refusing it keeps us from being an open relay. */
export class ForeignDomainError extends domainError('ForeignDomainError', 404, 'foreign_domain') {}

export class NotFoundError extends domainError('NotFoundError', 404, 'not_found') {}

export class TooLargeError extends domainError('TooLargeError', 413, 'too_large') {}

/** Unsupported content type or charset, or a body that is not valid in its declared charset. */
export class UnsupportedMediaError extends domainError('UnsupportedMediaError', 415, 'unsupported_media') {}

/** The recipient already has as many held messages as the quota allows (SIP 486 at the edge). */
export class QuotaExceededError extends domainError('QuotaExceededError', 429, 'quota_exceeded') {}

/** Authenticated, but this caller may not use this route or see this user's data. */
export class ForbiddenError extends domainError('ForbiddenError', 403, 'forbidden') {}

/** Too many failed sign-ins for one address: try again after `retryAfterSeconds` (HTTP 429). */
export class SignInThrottledError extends domainError('SignInThrottledError', 429, 'too_many_attempts') {
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many failed sign-ins for this address: try again in ${retryAfterSeconds} s`);
  }
}

/**
 * The caller's deadline passed before the message could be stored (the edge has stopped waiting
 * and answers 503): nothing is stored, so a 503 never hides a stored message.
 */
export class DeadlineExceededError extends domainError('DeadlineExceededError', 503, 'deadline_exceeded') {}

/** A caller (a client address, a chat) asked too often: try again after `retryAfterSeconds` (HTTP 429). */
export class RateLimitedError extends domainError('RateLimitedError', 429, 'rate_limited') {
  constructor(
    readonly retryAfterSeconds: number,
    what = 'requests',
  ) {
    super(`Too many ${what}; try again in ${retryAfterSeconds} s`);
  }
}
