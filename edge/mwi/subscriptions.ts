// Message-waiting indication (RFC 3842 over RFC 6665, body per RFC 3458): a user SUBSCRIBEs
// to `message-summary` and gets a NOTIFY with how many messages Holdover holds for them, at
// once and whenever the count changes. The count comes from the API (signed
// `GET /v1/users/{aor}/summary`); the edge re-reads it after it captured a MESSAGE for the
// user, after a delivery to them, and on a periodic poll that catches changes made elsewhere
// (expiry to email). Subscriptions live in memory: after a restart the UA re-subscribes when
// its subscription runs out. This file keeps the subscriptions and their dialogs; the NOTIFY is built
// in notify.ts, the count read in summary-api.ts.

import { randomBytes } from 'node:crypto';
import type { SipTarget, SipTransportName } from '../../shared/sip/uri.ts';
import { targetOfUri, UnsupportedTargetError } from '../../shared/sip/uri.ts';
import type { BuildRequest, ClientOutcome, Schedule } from '../client-transactions.ts';
import { realSchedule } from '../client-transactions.ts';
import { logger } from '../log.ts';
import { contactOf, type LocalSipAddress } from '../outgoing-request.ts';
import { getHeader, getHeaders, type ReceivedRequest } from '../sip/message.ts';
import { parseNameAddr, parseParams } from '../sip/name-addr.ts';
import { ALLOW_EVENTS, eventPackage, grantedExpiry, refuse, servedAor } from '../sip-replies.ts';
import type { SipReply, SipSource } from '../sip-server.ts';
import {
  buildNotify,
  messageSummaryBody,
  SUMMARY_EVENT,
  SUMMARY_TYPE,
  type SubscriptionDialog,
} from './notify.ts';

interface Subscription {
  key: string;
  aor: string;
  dialog: SubscriptionDialog;
  /** Transport of our Contact: the one the SUBSCRIBE came on. */
  contactTransport: SipTransportName;
  cseq: number;
  expiresAt: number;
  cancelExpiry: () => void;
  /** The count last sent; undefined before the first successful read. */
  notifiedWaiting: number | undefined;
  /** NOTIFYs go out one at a time per dialog (RFC 6665 §4.2.2). */
  queue: Promise<void>;
  /** active → ending (its terminating NOTIFY is owed) → done (nothing more is sent). */
  state: 'active' | 'ending' | 'done';
}

export interface MessageWaitingOptions {
  domains: readonly string[];
  local: LocalSipAddress;
  /** Every NOTIFY goes here when set (OUTBOUND_PROXY). */
  outboundProxy?: SipTarget;
  /** Sends a request in a client transaction of its own (ClientTransactions.originate). */
  originate: (build: BuildRequest, target: SipTarget) => Promise<ClientOutcome>;
  waitingFor: (aor: string) => Promise<number>;
  pollIntervalMs: number;
  /** Shortest lifetime granted (SIP_MIN_EXPIRES, default 60 s). */
  minExpiresSeconds?: number;
  schedule?: Schedule;
  now?: () => number;
}

// A subscriber that cannot be reached, or no longer knows the dialog, loses it (RFC 6665 §4.2.2).
const ENDS_SUBSCRIPTION = new Set([408, 480, 481]);

export class MessageWaiting {
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly refreshChains = new Map<string, Promise<void>>();
  private readonly queuedRefreshes = new Map<string, Promise<void>>();
  private readonly options: MessageWaitingOptions;
  private readonly schedule: Schedule;
  private readonly now: () => number;
  private cancelPoll: (() => void) | undefined;
  private closed = false;

  constructor(options: MessageWaitingOptions) {
    this.options = options;
    this.schedule = options.schedule ?? realSchedule;
    this.now = options.now ?? Date.now;
  }

  /** Starts the periodic re-read of the counts of subscribed users. */
  start(): void {
    const poll = () => {
      this.cancelPoll = this.schedule(poll, this.options.pollIntervalMs);
      for (const aor of new Set([...this.subscriptions.values()].map((subscription) => subscription.aor))) {
        void this.refresh(aor);
      }
    };
    this.cancelPoll = this.schedule(poll, this.options.pollIntervalMs);
  }

  /**
   * Stops polling and expiry timers and sends nothing more; resolves when the NOTIFYs in flight
   * ended (close the client transactions too, so that is at once).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelPoll?.();
    const queues: Promise<void>[] = [];
    for (const subscription of this.subscriptions.values()) {
      subscription.cancelExpiry();
      queues.push(subscription.queue);
    }
    this.subscriptions.clear();
    await Promise.all([...queues, ...this.refreshChains.values()]);
  }

  /** Whether anyone is subscribed to the AOR (cheap: decides whether a refresh reads the API). */
  isSubscribed(aor: string): boolean {
    for (const subscription of this.subscriptions.values()) if (subscription.aor === aor) return true;
    return false;
  }

  /** Answers a SUBSCRIBE; the NOTIFY it calls for follows once the count is read. */
  subscribe(request: ReceivedRequest, source: SipSource): SipReply {
    if (eventPackage(request) !== SUMMARY_EVENT) {
      return refuse(489, 'Bad Event', 'only message-summary can be subscribed to here', [ALLOW_EVENTS]);
    }
    const target = servedAor(request, this.options.domains);
    if ('refusal' in target) return target.refusal;
    const accept = getHeaders(request, 'accept');
    if (
      accept.length > 0 &&
      !accept.some((type) => type.split(';')[0]?.trim().toLowerCase() === SUMMARY_TYPE)
    ) {
      return refuse(406, 'Not Acceptable', `NOTIFY bodies are ${SUMMARY_TYPE}`, [
        { name: 'accept', value: SUMMARY_TYPE },
      ]);
    }
    const granted = grantedExpiry(undefined, getHeader(request, 'expires'), this.options.minExpiresSeconds);
    if ('refusal' in granted) return granted.refusal;
    const { callId, from, to } = request;
    const remoteTag = from.params.tag;
    if (!remoteTag) return refuse(400, 'Bad Request', 'SUBSCRIBE needs a From tag');

    const localTag = to.params.tag;
    if (localTag) {
      const existing = this.subscriptions.get(dialogKey(callId, remoteTag, localTag));
      if (!existing) return { status: 481, reason: 'Subscription Does Not Exist' };
      // a refresh may move the subscriber (target refresh, RFC 6665 §4.1.2.1)
      const [newContact] = request.contacts;
      if (newContact !== undefined) existing.dialog = { ...existing.dialog, remoteTarget: newContact.uri };
      return this.renew(existing, granted.seconds);
    }

    const [contact] = request.contacts;
    if (contact === undefined) return refuse(400, 'Bad Request', 'SUBSCRIBE needs a Contact');
    const remoteTarget = contact.uri;
    const routeSet = getHeaders(request, 'record-route');
    const eventId = eventIdOf(getHeader(request, 'event') ?? '');
    const newTag = randomBytes(8).toString('hex');
    const subscription: Subscription = {
      key: dialogKey(callId, remoteTag, newTag),
      aor: target.aor,
      dialog: {
        callId,
        local: `${getHeader(request, 'to')};tag=${newTag}`,
        remote: getHeader(request, 'from') ?? '',
        remoteTarget,
        routeSet,
        ...(eventId ? { eventId } : {}),
      },
      contactTransport: source.transport,
      cseq: 0,
      expiresAt: this.now() + granted.seconds * 1000,
      cancelExpiry: () => {},
      notifiedWaiting: undefined,
      queue: Promise.resolve(),
      state: granted.seconds === 0 ? 'ending' : 'active',
    };
    try {
      this.targetOf(subscription);
    } catch (error) {
      if (error instanceof UnsupportedTargetError) return refuse(400, 'Bad Request', error.message);
      throw error;
    }
    if (granted.seconds > 0) {
      this.subscriptions.set(subscription.key, subscription);
      subscription.cancelExpiry = this.schedule(() => this.expire(subscription), granted.seconds * 1000);
    }
    // After the 200 has been sent: the first NOTIFY carries the current count (RFC 6665 §4.2.1.2);
    // an Expires: 0 SUBSCRIBE is a one-time fetch, answered by a terminating NOTIFY.
    setImmediate(() => void this.firstNotify(subscription));
    return this.accepted(subscription, granted.seconds, routeSet, newTag);
  }

  /**
   * Re-reads the count for a subscribed AOR and notifies the subscriptions that have not seen
   * it yet. Calls made while one is waiting to run share it.
   */
  refresh(aor: string): Promise<void> {
    if (this.closed || !this.isSubscribed(aor)) return Promise.resolve();
    const queued = this.queuedRefreshes.get(aor);
    if (queued) return queued;
    const previous = this.refreshChains.get(aor) ?? Promise.resolve();
    const next = previous.then(() => {
      this.queuedRefreshes.delete(aor);
      return this.refreshNow(aor);
    });
    this.queuedRefreshes.set(aor, next);
    this.refreshChains.set(aor, next);
    void next.then(() => {
      if (this.refreshChains.get(aor) === next) this.refreshChains.delete(aor);
    });
    return next;
  }

  private async refreshNow(aor: string): Promise<void> {
    if (!this.isSubscribed(aor)) return;
    const waiting = await this.readWaiting(aor);
    if (waiting === undefined) return;
    for (const subscription of this.subscriptions.values()) {
      if (subscription.aor !== aor || subscription.notifiedWaiting === waiting) continue;
      subscription.notifiedWaiting = waiting;
      this.enqueueNotify(subscription);
    }
  }

  private async firstNotify(subscription: Subscription): Promise<void> {
    const waiting = await this.readWaiting(subscription.aor);
    if (waiting !== undefined) subscription.notifiedWaiting = waiting;
    this.enqueueNotify(subscription);
  }

  private renew(subscription: Subscription, seconds: number): SipReply {
    subscription.cancelExpiry();
    if (seconds === 0) {
      this.end(subscription, { afterReply: true });
    } else {
      subscription.expiresAt = this.now() + seconds * 1000;
      subscription.cancelExpiry = this.schedule(() => this.expire(subscription), seconds * 1000);
      setImmediate(() => this.enqueueNotify(subscription));
    }
    return this.accepted(subscription, seconds, [], undefined);
  }

  private expire(subscription: Subscription): void {
    if (this.subscriptions.get(subscription.key) === subscription) this.end(subscription);
  }

  /** Removes the subscription and sends its terminating NOTIFY. */
  private end(subscription: Subscription, options: { afterReply?: boolean } = {}): void {
    subscription.cancelExpiry();
    this.subscriptions.delete(subscription.key);
    if (subscription.state === 'active') subscription.state = 'ending';
    // Answering a SUBSCRIBE, the NOTIFY waits until the 200 is on its way (the server sends it
    // as soon as the handler returns), so the subscriber sees them in the usual order.
    if (options.afterReply) setImmediate(() => this.enqueueNotify(subscription));
    else this.enqueueNotify(subscription);
  }

  private accepted(
    subscription: Subscription,
    seconds: number,
    routeSet: string[],
    toTag?: string,
  ): SipReply {
    return {
      status: 200,
      reason: 'OK',
      headers: [
        ...routeSet.map((route) => ({ name: 'record-route', value: route })),
        { name: 'expires', value: String(seconds) },
        { name: 'contact', value: contactOf(this.options.local, subscription.contactTransport) },
      ],
      ...(toTag ? { toTag } : {}),
    };
  }

  private enqueueNotify(subscription: Subscription): void {
    // The state is read when the NOTIFY is built, so a queued one carries the latest count.
    subscription.queue = subscription.queue
      .then(() => this.notify(subscription))
      .catch((error: unknown) => {
        logger.error('mwi notify failed', {
          aor: subscription.aor,
          callId: subscription.dialog.callId,
          error: error instanceof Error ? error.message : String(error),
        });
      });
  }

  private async notify(subscription: Subscription): Promise<void> {
    if (subscription.state === 'done' || this.closed) return;
    const remaining = Math.ceil((subscription.expiresAt - this.now()) / 1000);
    const ending = subscription.state === 'ending' || remaining <= 0;
    if (ending) subscription.state = 'done';
    const waiting = subscription.notifiedWaiting;
    const target = this.targetOf(subscription);
    subscription.cseq += 1;
    const started = this.now();
    const outcome = await this.options.originate(
      (via) =>
        buildNotify({
          dialog: subscription.dialog,
          cseq: subscription.cseq,
          subscriptionState: ending ? 'terminated;reason=timeout' : `active;expires=${remaining}`,
          ...(waiting === undefined ? {} : { body: messageSummaryBody(subscription.aor, waiting) }),
          ...via,
        }),
      target,
    );
    logger.info('mwi notify', {
      aor: subscription.aor,
      callId: subscription.dialog.callId,
      cseq: subscription.cseq,
      waiting,
      subscriptionState: ending ? 'terminated' : 'active',
      status: outcome.status,
      ms: this.now() - started,
    });
    if (!ending && ENDS_SUBSCRIPTION.has(outcome.status)) {
      subscription.cancelExpiry();
      subscription.state = 'done';
      this.subscriptions.delete(subscription.key);
    }
  }

  /** OUTBOUND_PROXY, else the first Record-Route (loose routing), else the subscriber's Contact. */
  private targetOf(subscription: Subscription): SipTarget {
    if (this.options.outboundProxy) return this.options.outboundProxy;
    const firstRoute = subscription.dialog.routeSet[0];
    let uri = subscription.dialog.remoteTarget;
    if (firstRoute) {
      try {
        uri = parseNameAddr(firstRoute).uri;
      } catch {
        throw new UnsupportedTargetError(`Record-Route "${firstRoute}" is not a name-addr`);
      }
    }
    return targetOfUri(uri);
  }

  private async readWaiting(aor: string): Promise<number | undefined> {
    try {
      return await this.options.waitingFor(aor);
    } catch (error) {
      logger.error('mwi summary unavailable', {
        aor,
        error: error instanceof Error ? error.message : String(error),
      });
      return undefined;
    }
  }
}

function dialogKey(callId: string, remoteTag: string, localTag: string): string {
  return `${callId}\u0000${remoteTag}\u0000${localTag}`;
}

function eventIdOf(event: string): string | undefined {
  const semi = event.indexOf(';');
  if (semi < 0) return undefined;
  try {
    return parseParams(event.slice(semi)).id ?? undefined;
  } catch {
    return undefined;
  }
}
