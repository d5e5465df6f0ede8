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

export class InvalidRequestError extends DomainError {
  readonly status = 400;
  readonly code = 'invalid_request';
  override readonly name = 'InvalidRequestError';
  constructor(
    message: string,
    readonly issues?: readonly FieldIssue[],
  ) {
    super(message);
  }
}

export class UnauthorizedError extends DomainError {
  readonly status = 401;
  readonly code = 'unauthorized';
  override readonly name = 'UnauthorizedError';
}

/** The recipient's domain is not one we serve: refusing it keeps us from being an open relay. */
export class ForeignDomainError extends DomainError {
  readonly status = 404;
  readonly code = 'foreign_domain';
  override readonly name = 'ForeignDomainError';
}

export class NotFoundError extends DomainError {
  readonly status = 404;
  readonly code = 'not_found';
  override readonly name = 'NotFoundError';
}

export class TooLargeError extends DomainError {
  readonly status = 413;
  readonly code = 'too_large';
  override readonly name = 'TooLargeError';
}

/** Unsupported content type or charset, or a body that is not valid in its declared charset. */
export class UnsupportedMediaError extends DomainError {
  readonly status = 415;
  readonly code = 'unsupported_media';
  override readonly name = 'UnsupportedMediaError';
}

/** The recipient already has as many held messages as the quota allows (SIP 486 at the edge). */
export class QuotaExceededError extends DomainError {
  readonly status = 429;
  readonly code = 'quota_exceeded';
  override readonly name = 'QuotaExceededError';
}

/** Authenticated, but this caller may not use this route or see this user's data. */
export class ForbiddenError extends DomainError {
  readonly status = 403;
  readonly code = 'forbidden';
  override readonly name = 'ForbiddenError';
}

/** Too many failed sign-ins for one address: try again after `retryAfterSeconds` (HTTP 429). */
export class SignInThrottledError extends DomainError {
  readonly status = 429;
  readonly code = 'too_many_attempts';
  override readonly name = 'SignInThrottledError';
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many failed sign-ins for this address: try again in ${retryAfterSeconds} s`);
  }
}

/**
 * The caller's deadline passed before the message could be stored (the edge has stopped waiting
 * and answers 503): nothing is written, so a 503 never hides a stored message.
 */
export class DeadlineExceededError extends DomainError {
  readonly status = 503;
  readonly code = 'deadline_exceeded';
  override readonly name = 'DeadlineExceededError';
}
