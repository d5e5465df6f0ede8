// The one "come back later" of the queue consumers: a job that must wait (the UA answered
// 408/480/5xx, the edge went away, the mail service throttles) throws it; the SQS consumer
// (functions/adapters/sqs-batch.ts) logs it as postponed and retries the job with backoff.

export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    message: string,
    /** When the job should come back; default the consumer's backoff for its receive count. */
    readonly delaySeconds?: number,
  ) {
    super(message);
  }
}
