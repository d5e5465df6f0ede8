// The metric names, declared once: the contract between what emits them (the functions through
// functions/adapters/observability.ts, the edge through edge/log.ts) and what reads them (the
// dashboard and alarms in infra/monitoring.ts). All in CloudWatch Embedded Metric Format,
// namespace `Holdover`, dimension `service`; counts unless noted. Infra, the functions and the
// edge all read it.

import { classifyFinal, type FinalVerdict } from './contract/delivery.ts';

export const METRICS_NAMESPACE = 'Holdover';
/** The `service` dimension of the functions' metrics and their logs' service name. */
export const FUNCTIONS_SERVICE = 'holdover';
/** The `service` dimension of the edge's metrics and its logs' service name. */
export const EDGE_SERVICE = 'holdover-edge';

/** What the functions emit (service=holdover). */
export const BUSINESS_METRICS = {
  /** capture: a message stored (202). */
  captured: 'captured',
  /** chats: a chat started (POST /v1/chats). */
  chatStarted: 'chatStarted',
  /** chats: a visitor's line captured. */
  chatLine: 'chatLine',
  /** capture: a member's MESSAGE to a visitor AOR joined its chat. */
  chatAnswer: 'chatAnswer',
  /** capture: a retransmission or duplicate answered with the first copy's result. */
  duplicate: 'duplicate',
  /** capture: refused with a 4xx; extra dimension `reason` (quota, too-large, charset…). */
  refused: 'refused',
  /** every signed route: a bad or stale signature; extra dimension `route`. */
  unauthorized: 'unauthorized',
  /** every route: a caller who proved who they are but may not use it; extra dimension `route`. */
  forbidden: 'forbidden',
  /** every signed route, and the edge's /deliver (service holdover-edge): extra dimension `reason`. */
  signatureRefused: 'signatureRefused',
  /** delivery: the recipient's UA answered 2xx. */
  delivered: 'delivered',
  /** delivery: milliseconds from capture to the recipient's 2xx. */
  deliveryLatency: 'deliveryLatency',
  /** delivery: a permanent 4xx; the sender is told. */
  bounced: 'bounced',
  /** delivery: a notice (bounce, IMDN, auto-reply) answered 2xx, or failed for good. */
  noticeSent: 'noticeSent',
  noticeRefused: 'noticeRefused',
  /** delivery: a bounced message whose notice failed for good, kept as a dead letter. */
  deadLetters: 'deadLetters',
  /** presence: a presence change stored, and the delivery runs it queued. */
  presenceChanged: 'presenceChanged',
  deliveryRunsQueued: 'deliveryRunsQueued',
  /** sweeper: messages claimed for email (expired or vacation), and expiry-index entries read. */
  expired: 'expired',
  sweepIndexReads: 'sweepIndexReads',
  /** sweeper, every run: seconds the most overdue message waits past its expiry; 0 normally. */
  overdueSeconds: 'overdueSeconds',
  /** email: messages emailed in a digest, bounced to their sender, or dropped (user policy). */
  emailed: 'emailed',
  bouncedOnExpiry: 'bouncedOnExpiry',
  droppedOnExpiry: 'droppedOnExpiry',
  /** inbound email: an alert (one mail, one group) accepted for its members. */
  alertsReceived: 'alertsReceived',
  /** inbound email: a mail refused; extra dimension `reason` (sender-not-allowed, spf, dkim, spam…). */
  alertsRefused: 'alertsRefused',
  /** inbound email: a member's copy dispatched; extra dimension `outcome` (delivering, held, failed). */
  alertsDispatched: 'alertsDispatched',
} as const;

/**
 * What the edge emits (service=holdover-edge), aggregated in-process and written as EMF lines to
 * stdout once a minute (the task's awslogs driver sends them to CloudWatch Logs, which extracts
 * the metrics; no CloudWatch agent is needed).
 */
export const EDGE_METRICS = {
  /** SIP requests handled (retransmissions excluded); extra dimension `method`. */
  sipRequests: 'sipRequests',
  /** Final answers to them; extra dimension `statusClass` (2xx … 6xx). */
  sipAnswers: 'sipAnswers',
  /** Capture calls to the API in flight: the peak of the minute. */
  capturesInFlight: 'capturesInFlight',
  /** MESSAGEs answered 503 at once because too many captures were in flight (shedding). */
  shed: 'shed',
  /** Digest challenges sent (401), and requests refused for a wrong or missing password (403). */
  authChallenges: 'authChallenges',
  authRefusals: 'authRefusals',
  /** Digest attempts refused (503) for too many wrong passwords; extra dimension `reason` (aor, source). */
  sipAuthThrottled: 'sipAuthThrottled',
  /** Calls to the API that failed: unreachable, timed out, or answered 5xx. */
  apiFailures: 'apiFailures',
  /** Messages the edge delivered, by outcome; extra dimension `outcome` (delivered, stopped, refused). */
  deliveries: 'deliveries',
  /** Milliseconds from sending a delivered MESSAGE to its final answer (SIP round trip). */
  deliveryRoundTrip: 'deliveryRoundTrip',
  /** The edge's /deliver refused a signature: shares the functions' name, extra dimension `reason`. */
  signatureRefused: 'signatureRefused',
} as const;

export type BusinessMetric = (typeof BUSINESS_METRICS)[keyof typeof BUSINESS_METRICS];
export type EdgeMetric = (typeof EDGE_METRICS)[keyof typeof EDGE_METRICS];

/** Metrics emitted with one dimension besides `service`, and its name. */
export const DIMENSION_OF = {
  refused: 'reason',
  unauthorized: 'route',
  forbidden: 'route',
  signatureRefused: 'reason',
  sipRequests: 'method',
  sipAnswers: 'statusClass',
  deliveries: 'outcome',
  alertsRefused: 'reason',
  alertsDispatched: 'outcome',
  sipAuthThrottled: 'reason',
} as const;

export type DimensionedMetric = keyof typeof DIMENSION_OF;

/** The `reason` of sipAuthThrottled: too many wrong passwords for the AOR, or from the source. */
export type SipAuthThrottleReason = 'aor' | 'source';

/** How the edge counts a delivery's final status, by the one rule (shared/contract/delivery.ts). */
export type DeliveryOutcomeClass = 'delivered' | 'stopped' | 'refused';

const OUTCOME_CLASS: Record<FinalVerdict, DeliveryOutcomeClass> = {
  delivered: 'delivered',
  away: 'stopped',
  retry: 'stopped',
  bounce: 'refused',
};

export function deliveryOutcomeClass(status: number): DeliveryOutcomeClass {
  return OUTCOME_CLASS[classifyFinal(status)];
}
