// Use case: alerts from email (docs/design.md "Alerts from email"). A mail to a group's inbound
// address becomes one IM per member, through the capture path: delivered at once to the members
// available now (capture starts their delivery run), held for the others, with the group's expiry
// policy (`drop` by default: no mail loop). Only the group's alert senders may write; a mail
// failing the mail service's SPF/DKIM/spam/virus checks is refused; a Message-ID is dispatched once.
//
// handlers (functions/inbound-email.ts for SES → S3, local/smtp.ts for `npm start`) → receiveAlert
// → ports (GroupStore, AlertStore, and what capture needs). No AWS import.
import { createHash } from 'node:crypto';
import { ALERT_OUTCOMES, type AlertOutcome } from '../../shared/contract/views.ts';
import { DomainError } from '../../shared/errors.ts';
import * as z from '../../shared/zod.ts';
import { type CaptureDeps, captureMessage } from './capture.ts';
import { type Group, type GroupStore, groupsByInboundAddress, isAvailable } from './groups.ts';
import { htmlToText, tidyText } from './html-text.ts';

/** A member's outcome: the first two change as the copy is delivered or expires; the rest are final. */
export { ALERT_OUTCOMES, type AlertOutcome, htmlToText };
export const FINAL_OUTCOMES: ReadonlySet<AlertOutcome> = new Set([
  'delivered',
  'emailed',
  'dropped',
  'failed',
]);

/** Why an alert was refused: the `reason` dimension of the alertsRefused metric. */
export type AlertRefusal =
  | 'unknown-recipient'
  | 'sender-not-allowed'
  | 'spf'
  | 'dkim'
  | 'spam'
  | 'virus'
  | 'no-sender'
  | 'unreadable';

/** An alert record is kept this long (TTL, garbage collection only). */
export const ALERT_RETENTION_MS = 30 * 86_400_000;

export interface MemberOutcome {
  member: string;
  outcome: AlertOutcome;
  /** The held message of the member's copy, once captured. */
  messageId?: string;
  /** When the outcome was recorded (ISO). */
  at: string;
  /** Why it failed, for the operator. */
  detail?: string;
}

/** One mail to one group, and what became of each member's copy. */
export interface AlertRecord {
  /** Derived from the group and the mail's Message-ID, so the same mail is one alert. */
  id: string;
  group: string;
  /** The sender's address (From), lower case. */
  from: string;
  subject: string;
  messageId?: string;
  receivedAt: string;
  /** False until every member's copy was captured (or failed): a retried mail completes it. */
  dispatched: boolean;
  members: MemberOutcome[];
}

export interface AlertPage {
  alerts: AlertRecord[];
  next?: string;
}

export interface AlertStore {
  /**
   * Creates the alert unless one with its id exists (one conditional write): `existing` is then
   * the stored one.
   */
  openAlert(alert: AlertRecord): Promise<{ opened: true } | { opened: false; existing: AlertRecord }>;
  /**
   * Records members' outcomes. A final outcome is never replaced by a non-final one (a copy
   * delivered before its dispatch was recorded stays delivered). Nothing if the alert is gone.
   */
  recordOutcomes(alertId: string, outcomes: MemberOutcome[]): Promise<void>;
  markDispatched(alertId: string): Promise<void>;
  getAlert(id: string): Promise<AlertRecord | undefined>;
  /** Newest first; `group`: only that group's. */
  listAlerts(page?: { group?: string; limit?: number; after?: string }): Promise<AlertPage>;
}

/** SES's receipt verdicts (absent locally: the loopback listener has none). */
export type Verdict = 'PASS' | 'FAIL' | 'GRAY' | 'PROCESSING_FAILED' | 'DISABLED';

/** A mail as the mail parser gave it: the adapters (SMTP listener, SES function) fill it in. */
export interface InboundMail {
  /** The From header's address (parsed by the MIME parser), else the envelope sender. */
  from?: string;
  fromName?: string;
  /** The envelope recipients (RCPT TO, or SES's receipt recipients). */
  to: string[];
  subject?: string;
  text?: string;
  html?: string;
  /** An XML body (text/xml, application/xml, or +xml), as text. */
  xml?: string;
  messageId?: string;
  verdicts?: { spf?: Verdict; dkim?: Verdict; spam?: Verdict; virus?: Verdict };
}

export interface AlertDeps {
  groups: GroupStore;
  alerts: AlertStore;
  capture: CaptureDeps;
  now: () => number;
  newId: () => string;
  /** Told of each member's dispatch (metrics, logs). */
  observe?: (event: AlertEvent) => void;
}

export type AlertEvent =
  | { kind: 'received'; group: string; alertId: string }
  | { kind: 'refused'; reason: AlertRefusal; group?: string }
  | { kind: 'duplicate'; group: string; alertId: string }
  | { kind: 'dispatched'; group: string; alertId: string; member: string; outcome: AlertOutcome };

export type AlertResult =
  | { status: 'refused'; reason: AlertRefusal; message: string }
  | { status: 'dispatched' | 'duplicate'; alerts: AlertRecord[] };

const MemberOutcomeSchema = z.object({
  member: z.string(),
  outcome: z.enum(ALERT_OUTCOMES),
  messageId: z.optional(z.string()),
  at: z.string(),
  detail: z.optional(z.string()),
});

const StoredAlertSchema = z.object({
  id: z.string(),
  group: z.string(),
  from: z.string(),
  subject: z.string(),
  messageId: z.optional(z.string()),
  receivedAt: z.string(),
  dispatched: z.boolean(),
  members: z.array(MemberOutcomeSchema),
});

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/** An alert as an adapter stored it (a SQLite row's JSON, a DynamoDB item), checked. */
export function parseStoredAlert(value: unknown): AlertRecord {
  const { members, ...rest } = StoredAlertSchema.parse(value);
  return {
    ...(definedOnly(rest) as AlertRecord),
    members: members.map((member) => definedOnly(member) as MemberOutcome),
  };
}

export function parseStoredOutcome(value: unknown): MemberOutcome {
  return definedOnly(MemberOutcomeSchema.parse(value)) as MemberOutcome;
}

/**
 * A member list with `updates` applied (pure; the adapters that read before they write use it):
 * a final outcome is never replaced by a non-final one; a member not listed is added.
 */
export function mergeOutcomes(
  members: readonly MemberOutcome[],
  updates: readonly MemberOutcome[],
): MemberOutcome[] {
  const merged = members.map((entry) => ({ ...entry }));
  for (const update of updates) {
    const index = merged.findIndex((entry) => entry.member === update.member);
    const current = merged[index];
    if (current === undefined) merged.push({ ...update });
    else if (!FINAL_OUTCOMES.has(current.outcome) || FINAL_OUTCOMES.has(update.outcome)) {
      merged[index] = { ...current, ...update };
    }
  }
  return merged;
}

/** The opaque cursor of a listing, newest first: the last alert's time and id. */
export function alertCursor(alert: Pick<AlertRecord, 'receivedAt' | 'id'>): string {
  return Buffer.from(`${alert.receivedAt}|${alert.id}`).toString('base64url');
}

export function parseAlertCursor(cursor: string): { receivedAt: string; id: string } | undefined {
  const [receivedAt, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  return receivedAt && id ? { receivedAt, id } : undefined;
}

// --- addresses ---

/**
 * A mailbox in lower case (`ops@example.com`), or undefined when `text` is none: one `@` past a
 * non-empty local part (the last `@`: a quoted local part may hold others), a dotted domain.
 */
export function mailboxOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let address = text.trim();
  if (address.startsWith('<') && address.endsWith('>')) address = address.slice(1, -1).trim();
  const at = address.lastIndexOf('@');
  if (at <= 0) return undefined;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  if (/[\s<>,;]/.test(local) && !/^".*"$/.test(local)) return undefined;
  if (!/^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$|^[a-z0-9-]+$/.test(domain)) return undefined;
  return `${local.toLowerCase()}@${domain}`;
}

/** Whether `sender` (a mailbox) is one of `allowed`: exact addresses, or `@domain` for a whole domain. */
export function senderAllowed(sender: string, allowed: readonly string[]): boolean {
  const mailbox = mailboxOf(sender);
  if (mailbox === undefined) return false;
  const domain = mailbox.slice(mailbox.lastIndexOf('@') + 1);
  return allowed.some((entry) => {
    const rule = entry.trim().toLowerCase();
    return rule.startsWith('@') ? rule.slice(1) === domain : rule === mailbox;
  });
}

/** The mail's sender as a SIP display name: one line, no control characters, bounded. */
export function displayNameOf(address: string, name: string | undefined): string {
  const clean = (text: string) => text.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
  const shown = name ? `${clean(name)} (${clean(address)})` : clean(address);
  return [...shown].slice(0, 200).join('');
}

// --- the text of the IM ---

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** What a member reads of the mail: its text part; else its HTML as text; else its XML, as it is. */
export function mailText(mail: Pick<InboundMail, 'text' | 'html' | 'xml'>): string {
  if (mail.text !== undefined && mail.text.trim() !== '') return tidyText(mail.text);
  if (mail.html !== undefined && mail.html.trim() !== '') return htmlToText(mail.html);
  if (mail.xml !== undefined) return tidyText(mail.xml);
  return '';
}

const encoder = new TextEncoder();

/**
 * The IM's body: the subject, a blank line, the text; trimmed to `maxBytes` (UTF-8) at a character
 * boundary, with a note saying so.
 */
export function alertBody(subject: string, text: string, maxBytes: number): string {
  const whole = text === '' ? subject : `${subject}\n\n${text}`;
  const size = encoder.encode(whole).byteLength;
  if (size <= maxBytes) return whole;
  const note = (shown: number) =>
    `\n\n[trimmed: the alert is ${size} bytes, only the first ${shown} are shown]`;
  const budget = maxBytes - encoder.encode(note(size)).byteLength;
  let kept = '';
  let bytes = 0;
  for (const char of whole) {
    const length = encoder.encode(char).byteLength;
    if (bytes + length > budget) break;
    kept += char;
    bytes += length;
  }
  return `${kept}${note(bytes)}`;
}

// --- the use case ---

const verdictRefusals = ['spf', 'dkim', 'spam', 'virus'] as const;

function alertIdOf(group: string, messageId: string | undefined, newId: () => string): string {
  if (messageId === undefined || messageId.trim() === '') return newId();
  const key = messageId.trim().replace(/^<|>$/g, '');
  return `A${createHash('sha256').update(`${group}\n${key}`).digest('base64url').slice(0, 26)}`;
}

/** A member's copy's Call-ID: the same for the same alert and member, so a retry is a duplicate. */
function callIdOf(alertId: string, member: string): string {
  return `alert-${createHash('sha256').update(`${alertId}\n${member}`).digest('base64url').slice(0, 32)}`;
}

/** The groups a mail is for (by inbound address, each once), and the addresses nobody has. */
export async function groupsAddressed(
  groups: GroupStore,
  recipients: readonly string[],
): Promise<{ found: Group[]; unknown: string[] }> {
  const mailboxes = recipients.map((recipient) => mailboxOf(recipient));
  const byAddress = await groupsByInboundAddress(
    groups,
    mailboxes.filter((mailbox): mailbox is string => mailbox !== undefined),
  );
  const found = new Map<string, Group>();
  const unknown: string[] = [];
  recipients.forEach((recipient, i) => {
    const mailbox = mailboxes[i];
    const group = mailbox ? byAddress.get(mailbox.trim().toLowerCase()) : undefined;
    if (group) found.set(group.aor, group);
    else unknown.push(recipient);
  });
  return { found: [...found.values()], unknown };
}

/** Refuses a mail the mail service judged failing; undefined when it may go on. */
export function verdictRefusal(mail: InboundMail): AlertRefusal | undefined {
  return verdictRefusals.find((name) => mail.verdicts?.[name] === 'FAIL');
}

/** A mail the parser could not read (too large, not MIME): refused, never retried, counted. */
export function refuseUnreadable(why: string, deps: Pick<AlertDeps, 'observe'>): AlertResult {
  deps.observe?.({ kind: 'refused', reason: 'unreadable' });
  return { status: 'refused', reason: 'unreadable', message: why };
}

export async function receiveAlert(mail: InboundMail, deps: AlertDeps): Promise<AlertResult> {
  const refuse = (reason: AlertRefusal, message: string, group?: string): AlertResult => {
    deps.observe?.({ kind: 'refused', reason, ...(group ? { group } : {}) });
    return { status: 'refused', reason, message };
  };
  const failed = verdictRefusal(mail);
  if (failed) return refuse(failed, `the mail failed the ${failed.toUpperCase()} check`);
  const sender = mailboxOf(mail.from);
  if (sender === undefined) return refuse('no-sender', 'the mail has no sender address');
  const { found } = await groupsAddressed(deps.groups, mail.to);
  if (found.length === 0) return refuse('unknown-recipient', 'no group has this inbound address');
  const allowed = found.filter((group) => senderAllowed(sender, group.alertSenders));
  if (allowed.length === 0) {
    return refuse(
      'sender-not-allowed',
      `${sender} may not send alerts to ${found.map((group) => group.email).join(', ')}`,
      found[0]?.aor,
    );
  }
  for (const group of found) {
    if (!allowed.includes(group))
      deps.observe?.({ kind: 'refused', reason: 'sender-not-allowed', group: group.aor });
  }
  const subject = displayLine(mail.subject ?? '') || '(no subject)';
  const text = mailText(mail);
  const records: AlertRecord[] = [];
  let fresh = false;
  for (const group of allowed) {
    const record = await dispatchTo(group, { sender, subject, text, mail }, deps);
    fresh ||= record.fresh;
    records.push(record.alert);
  }
  return { status: fresh ? 'dispatched' : 'duplicate', alerts: records };
}

function displayLine(text: string): string {
  return text.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim().slice(0, 998);
}

async function dispatchTo(
  group: Group,
  facts: { sender: string; subject: string; text: string; mail: InboundMail },
  deps: AlertDeps,
): Promise<{ alert: AlertRecord; fresh: boolean }> {
  const nowMs = deps.now();
  const at = new Date(nowMs).toISOString();
  const alert: AlertRecord = {
    id: alertIdOf(group.aor, facts.mail.messageId, deps.newId),
    group: group.aor,
    from: facts.sender,
    subject: facts.subject,
    ...(facts.mail.messageId ? { messageId: facts.mail.messageId.slice(0, 998) } : {}),
    receivedAt: at,
    dispatched: false,
    members: group.members.map((member) => ({ member, outcome: 'held', at })),
  };
  const opened = await deps.alerts.openAlert(alert);
  if (!opened.opened && opened.existing.dispatched) {
    deps.observe?.({ kind: 'duplicate', group: group.aor, alertId: alert.id });
    return { alert: opened.existing, fresh: false };
  }
  // Opened now, or by a dispatch that did not finish (a crash, a retried mail): capture each
  // member's copy, which is stored once per member whatever the number of tries (its Call-ID).
  const record = opened.opened ? alert : opened.existing;
  if (opened.opened) deps.observe?.({ kind: 'received', group: group.aor, alertId: alert.id });
  const body = alertBody(facts.subject, facts.text, deps.capture.policy.maxBodyBytes);
  const fromName = displayNameOf(facts.sender, facts.mail.fromName);
  const outcomes = await Promise.all(
    record.members.map(async ({ member }): Promise<MemberOutcome | undefined> => {
      try {
        const user = await deps.capture.users.getUser(member, { countHeld: false });
        const result = await captureMessage(
          {
            callId: callIdOf(record.id, member),
            cseq: 1,
            from: group.aor,
            fromName,
            to: member,
            contentType: 'text/plain;charset=utf-8',
            body: encoder.encode(body),
            subject: facts.subject,
            autoSubmitted: true,
            alert: { id: record.id, onExpire: group.onExpire },
          },
          deps.capture,
        );
        if (result.status !== 'held') return undefined; // a copy captured by an earlier try
        const outcome: AlertOutcome = isAvailable(user, deps.now()) ? 'delivering' : 'held';
        deps.observe?.({ kind: 'dispatched', group: group.aor, alertId: record.id, member, outcome });
        return { member, outcome, messageId: result.id, at: new Date(deps.now()).toISOString() };
      } catch (error) {
        const detail = error instanceof DomainError ? error.message : 'the copy could not be stored';
        deps.observe?.({
          kind: 'dispatched',
          group: group.aor,
          alertId: record.id,
          member,
          outcome: 'failed',
        });
        return { member, outcome: 'failed', detail, at: new Date(deps.now()).toISOString() };
      }
    }),
  );
  const recorded = outcomes.filter((outcome): outcome is MemberOutcome => outcome !== undefined);
  if (recorded.length > 0) await deps.alerts.recordOutcomes(record.id, recorded);
  await deps.alerts.markDispatched(record.id);
  return { alert: (await deps.alerts.getAlert(record.id)) ?? record, fresh: true };
}

// --- the outcome of a member's copy, once settled ---

/**
 * Records what became of alert copies (delivered, emailed, dropped, failed). Called where a
 * message's final state is settled (delivery, expiry); a message that is no alert is skipped, and
 * a failure to record never undoes the settlement.
 */
export async function settleAlertCopies(
  alerts: AlertStore | undefined,
  messages: ReadonlyArray<{ id: string; recipient: string; alert?: { id: string } }>,
  outcome: AlertOutcome,
  nowMs: number,
): Promise<void> {
  if (alerts === undefined) return;
  const byAlert = new Map<string, MemberOutcome[]>();
  for (const message of messages) {
    if (message.alert === undefined) continue;
    const list = byAlert.get(message.alert.id) ?? [];
    list.push({
      member: message.recipient,
      outcome,
      messageId: message.id,
      at: new Date(nowMs).toISOString(),
    });
    byAlert.set(message.alert.id, list);
  }
  await Promise.all(
    [...byAlert].map(([alertId, outcomes]) =>
      alerts.recordOutcomes(alertId, outcomes).catch(() => undefined),
    ),
  );
}
