// Alerts from email (docs/design.md "Alerts from email"): a mail to a group's inbound address
// becomes one IM per member. In AWS an SES receipt rule stores the raw mail in S3 and invokes this
// function with the receipt (recipients and SPF/DKIM/spam/virus verdicts); locally the SMTP
// listener (local/smtp.ts) calls `receiveMail` with the raw mail and its envelope. Thin: parse the
// mail (postal-mime) → receiveAlert (core) → metrics and logs.
import type { Context } from 'aws-lambda';
import { ulid } from 'ulid';
import { envOr } from '../shared/env.ts';
import * as z from '../shared/zod.ts';
import { captureDeps } from './adapters/capture-deps.ts';
import {
  type Envelope,
  MAX_MAIL_BYTES,
  MalformedMailError,
  parseMail,
  verdictOf,
} from './adapters/mail-parser.ts';
import { count, countWithDimension, logger, metrics, startInvocation } from './adapters/observability.ts';
import { ObjectTooLargeError, s3ObjectReader } from './adapters/s3-object.ts';
import { alertStore, groupStore } from './adapters/store.ts';
import { type AlertEvent, type AlertResult, receiveAlert, refuseUnreadable } from './core/alerts.ts';

function observe(event: AlertEvent): void {
  switch (event.kind) {
    case 'received':
      count('alertsReceived');
      logger.info('alert received', { alertId: event.alertId, group: event.group });
      return;
    case 'refused':
      countWithDimension('alertsRefused', event.reason);
      logger.info('alert refused', { reason: event.reason, ...(event.group ? { group: event.group } : {}) });
      return;
    case 'duplicate':
      logger.info('alert already dispatched (same Message-ID)', {
        alertId: event.alertId,
        group: event.group,
      });
      return;
    case 'dispatched':
      countWithDimension('alertsDispatched', event.outcome);
      logger.info('alert copy dispatched', {
        alertId: event.alertId,
        member: event.member,
        outcome: event.outcome,
      });
      return;
  }
}

const deps = {
  groups: groupStore,
  alerts: alertStore,
  capture: captureDeps,
  now: Date.now,
  newId: () => ulid(),
  observe,
};

/** One raw mail with its envelope: what the SMTP listener and the SES function both hand over. */
export async function receiveMail(raw: Uint8Array, envelope: Envelope): Promise<AlertResult> {
  const result = await parseMail(raw, envelope).then(
    (mail) => receiveAlert(mail, deps),
    (error: unknown) => {
      if (error instanceof MalformedMailError) return refuseUnreadable(error.message, deps);
      throw error;
    },
  );
  metrics.publishStoredMetrics();
  return result;
}

/** The inbound address of a mail, for the SMTP listener's RCPT TO check (550 for anything else). */
export { groupsAddressed } from './core/alerts.ts';
export { groupStore };

// --- AWS: the SES receipt rule's Lambda action (after its S3 action stored the raw mail) ---

const bucket = envOr('HOLDOVER_INBOUND_BUCKET', '');
const prefix = envOr('HOLDOVER_INBOUND_PREFIX', 'inbound/');
// one signed GetObject (adapters/s3-object.ts); path-style only to an endpoint override (a local
// stand-in has no bucket subdomains)
const endpoint = envOr('AWS_ENDPOINT_URL_S3', '');
const s3 = s3ObjectReader({
  region: envOr('AWS_REGION', 'us-east-1'),
  ...(endpoint !== '' ? { endpoint } : {}),
});

const Status = z.optional(z.object({ status: z.string() }));
const SesEventSchema = z.object({
  Records: z
    .array(
      z.object({
        ses: z.object({
          mail: z.object({
            messageId: z.string().check(z.regex(/^[\w.-]+$/)),
            source: z.optional(z.string()),
          }),
          receipt: z.object({
            recipients: z.array(z.string()).check(z.maxLength(100)),
            spfVerdict: Status,
            dkimVerdict: Status,
            spamVerdict: Status,
            virusVerdict: Status,
          }),
        }),
      }),
    )
    .check(z.minLength(1)),
});

export async function handler(event: unknown, context?: Context): Promise<void> {
  startInvocation(context);
  const { Records } = SesEventSchema.parse(event);
  for (const { ses } of Records) {
    const { receipt, mail } = ses;
    const verdicts = {
      spf: verdictOf(receipt.spfVerdict?.status),
      dkim: verdictOf(receipt.dkimVerdict?.status),
      spam: verdictOf(receipt.spamVerdict?.status),
      virus: verdictOf(receipt.virusVerdict?.status),
    };
    const key = `${prefix}${mail.messageId}`;
    const result = await s3.read(bucket, key, MAX_MAIL_BYTES).then(
      (raw) =>
        receiveMail(raw, {
          ...(mail.source ? { from: mail.source } : {}),
          to: receipt.recipients,
          verdicts: Object.fromEntries(
            Object.entries(verdicts).filter(([, verdict]) => verdict !== undefined),
          ),
        }),
      (error: unknown) => {
        if (!(error instanceof ObjectTooLargeError)) throw error; // S3 failing: the invocation is retried
        const refused = refuseUnreadable(`the mail is larger than ${MAX_MAIL_BYTES} bytes`, deps);
        metrics.publishStoredMetrics();
        return refused;
      },
    );
    // A refused mail is dropped (SES has accepted it already) and counted, never retried; its raw
    // mail stays in the bucket under `key` until the bucket's expiry (inboundMail.keepDays).
    logger.info('inbound mail handled', {
      sesMessageId: mail.messageId,
      status: result.status,
      ...(result.status === 'refused' ? { reason: result.reason, detail: result.message, key } : {}),
    });
  }
}
