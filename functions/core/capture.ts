// Use case: capture a MESSAGE for an absent recipient (DESIGN.md "Capture").
// handler (functions/capture.ts) → captureMessage → ports (MessageStore, SettingsStore).
import { createHash } from 'node:crypto';
import { domainOf, normalizeAor } from './aor.ts';
import {
  CPIM,
  charsetOf,
  decodeText,
  IS_COMPOSING,
  isHoldable,
  isTextType,
  parseContentType,
} from './content.ts';
import { type CpimEnvelope, parseCpim } from './cpim.ts';
import { parseDuration } from './duration.ts';
import { ForeignDomainError, QuotaExceededError, TooLargeError, UnsupportedMediaError } from './errors.ts';
import type { CpimFacts, HeldMessage } from './held-message.ts';
import type { MessageStore, SettingsStore } from './ports.ts';

export interface CapturePolicy {
  /** SIP domains served; anything else is refused (no open relay). */
  domains: ReadonlySet<string>;
  defaultExpireAfterMs: number;
  maxBodyBytes: number;
  quota: number;
}

export interface CaptureDeps {
  store: MessageStore;
  settings: SettingsStore;
  policy: CapturePolicy;
  now: () => number;
  newId: (nowMs: number) => string;
}

/** A MESSAGE as the edge saw it. */
export interface CapturedMessage {
  callId: string;
  cseq: number;
  /** URI from the From header. */
  from: string;
  fromName?: string;
  /** URI from the To header: the recipient's address-of-record. */
  to: string;
  contentType: string;
  body: Uint8Array;
  subject?: string;
  /** The MESSAGE's Expires header, seconds: it can only shorten how long we hold. */
  expires?: number;
}

export type CaptureResult =
  | { status: 'held' | 'duplicate'; id: string; expiresAt: string }
  | { status: 'ignored'; reason: string };

export async function captureMessage(message: CapturedMessage, deps: CaptureDeps): Promise<CaptureResult> {
  const { policy } = deps;
  const recipient = normalizeAor(message.to);
  if (!policy.domains.has(domainOf(recipient))) {
    throw new ForeignDomainError(`${domainOf(recipient)} is not a domain served here`);
  }
  if (message.body.byteLength > policy.maxBodyBytes) {
    throw new TooLargeError(`Body is ${message.body.byteLength} bytes; the limit is ${policy.maxBodyBytes}`);
  }
  const type = parseContentType(message.contentType);
  if (type.mediaType === IS_COMPOSING) return { status: 'ignored', reason: 'is-composing indication' };

  const cpim = type.mediaType === CPIM ? parseCpim(message.body) : undefined;
  checkReadable(cpim ? cpim.contentType : message.contentType, cpim ? cpim.body : message.body);

  const nowMs = deps.now();
  const settings = await deps.settings.getSettings(recipient);
  let holdMs = settings?.expireAfter ? parseDuration(settings.expireAfter) : policy.defaultExpireAfterMs;
  if (message.expires !== undefined && message.expires > 0) holdMs = Math.min(holdMs, message.expires * 1000);

  const sender = senderAor(message.from);
  const heldMessage: HeldMessage = {
    id: deps.newId(nowMs),
    recipient,
    sender,
    senderUri: message.from,
    ...(message.fromName ? { senderName: message.fromName } : {}),
    callId: message.callId,
    cseq: message.cseq,
    contentType: message.contentType,
    body: message.body,
    ...(cpim ? { cpim: cpimFacts(cpim) } : {}),
    ...(message.subject ? { subject: message.subject } : {}),
    receivedAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + holdMs).toISOString(),
    state: 'pending',
  };

  const dedupeKeys = [dedupeKey('call', message.callId, String(message.cseq))];
  if (cpim?.imdnMessageId) dedupeKeys.push(dedupeKey('imdn', sender, cpim.imdnMessageId));

  const outcome = await deps.store.hold(heldMessage, { dedupeKeys, quota: policy.quota });
  switch (outcome.outcome) {
    case 'held':
      return { status: 'held', id: heldMessage.id, expiresAt: heldMessage.expiresAt };
    case 'duplicate':
      return { status: 'duplicate', id: outcome.id, expiresAt: outcome.expiresAt };
    case 'quota':
      throw new QuotaExceededError(
        `${recipient} already has ${outcome.held} messages waiting (limit ${policy.quota})`,
      );
  }
}

function checkReadable(contentType: string, body: Uint8Array): void {
  const type = parseContentType(contentType);
  if (!isHoldable(type.mediaType)) {
    throw new UnsupportedMediaError(
      `Content type ${type.mediaType} is not held; send text/plain, text/html or message/cpim`,
    );
  }
  if (isTextType(type.mediaType)) decodeText(body, charsetOf(type).label);
}

function senderAor(from: string): string {
  try {
    return normalizeAor(from);
  } catch {
    // tel: and other schemes have no AOR of ours; the URI itself identifies the sender.
    return from;
  }
}

function cpimFacts(envelope: CpimEnvelope): CpimFacts {
  const { from, dateTime, imdnMessageId, imdnDisposition } = envelope;
  return {
    ...(from ? { from } : {}),
    ...(dateTime ? { dateTime } : {}),
    ...(imdnMessageId ? { imdnMessageId } : {}),
    ...(imdnDisposition ? { imdnDisposition } : {}),
  };
}

/** Fixed-size key for a dedupe marker: Call-IDs may be long and contain any token character. */
export function dedupeKey(kind: 'call' | 'imdn', ...parts: string[]): string {
  return `${kind}:${createHash('sha256').update(parts.join('\n')).digest('base64url')}`;
}
